/**
 * The speaker's membership: the mesh protocol (src/mesh) on a UDP socket, fed with the roster from the
 * speakers' Leases, and this node's own Lease kept current (docs/membership.md). It answers three
 * questions for the rest of the speaker: which nodes may own addresses now, whether this node may answer
 * at this very moment (its fence), and whether it is connected at all (to peers or the API server).
 *
 * A speaker that cannot take part in the mesh (its node has no address, or no peer has ever acknowledged
 * it) runs on its Lease alone: renewed every two seconds, alive for others while they see it renewed, and
 * answering only while its own renewals succeed. Slower failover, still never two answerers.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { KubeRest } from '../k8s/rest.ts';
import type { Logger } from '../log.ts';
import { generateKeyPairs, type KeyPairs } from '../mesh/identity.ts';
import type { MemberStatus } from '../mesh/members.ts';
import { defaultParams, type MeshMember, MeshNode, type MeshNotice } from '../mesh/node.ts';
import { quorumsFor } from '../mesh/ring.ts';
import { type MeshAnnouncement, NodeLeaseWriter, PeerLeases, type SpeakerLease } from './node-lease.ts';

export interface MembershipOptions {
  node: string;
  namespace: string;
  meshPort: number;
  intervalMs: number;
  deadAfterMs: number;
  /** How long after start a node that no peer has acknowledged falls back to its Lease alone. */
  meshlessAfterMs?: number;
  onChange(): void;
  /** A node asks whether this one still holds addresses it now owns (answered by the L2 side). */
  onReleaseRequest?(node: string): void;
}

const HEALTHY_RENEW_MS = 60_000;
const HEALTHY_DURATION_S = 300;
const LEASE_ONLY_RENEW_MS = 2_000;
const LEASE_ONLY_DURATION_S = 6;
/** A Lease-only node answers while its last successful renewal is younger than this (< the 6 s others allow). */
const LEASE_ONLY_FENCE_MS = 4_000;
const SHORT_RENEW_MS = 1_000;
/**
 * How long after its Lease's statement came back a node waits before peers that judge it by its Lease are
 * taken to have acted on it (their watches lag its own by about this much at most).
 */
const LEASE_SEEN_SETTLE_MS = 2_000;
/** How often a node on its Lease alone that serves addresses tries the mesh again. */
const MESH_RETRY_MS = 5 * 60_000;
/**
 * A node on its Lease alone that stands by tries sooner: the first retry after this long, each failed one
 * doubling the wait up to MESH_RETRY_MS. It answers nothing meanwhile, so a retry costs it nothing, and a
 * healed partition (one longer than the ten seconds that send a node to its Lease) is over in seconds.
 */
const MESH_RETRY_STANDBY_MS = 20_000;

export class SpeakerMembership {
  private readonly opts: MembershipOptions;
  private readonly log: Logger;
  private readonly writer: NodeLeaseWriter;
  private readonly leases: PeerLeases;
  private readonly now = () => performance.now();
  private keys: KeyPairs[] = [];
  private keyVersion = 1;
  private gen = 0;
  private mesh: MeshNode | undefined;
  private socket: Socket | undefined;
  private selfAddress: string | undefined;
  private leaseOnly = false;
  private meshlessReason = '';
  private pendingWrite = false;
  private writeAgain = false;
  private lastWriteOk = Number.NEGATIVE_INFINITY;
  /** The leaseDurationSeconds of that write: how long peers judging by Leases count this node alive after it. */
  private lastWriteOkDurationMs = 0;
  /**
   * Whether a peer on its Lease alone would have this node among its ring neighbours (it counts on this
   * node's Lease then): a change reschedules this node's renewal.
   */
  private watchedByLeaseOnlyPeer = false;
  private lastWriteAt = Number.NEGATIVE_INFINITY;
  private readonly echoes = new Map<string, number>();
  private ownEchoAt = Number.NEGATIVE_INFINITY;
  /** Peers on their Lease alone whose Lease is current and says alive. */
  private leaseOnlyLive = new Set<string>();
  /** Peers in the mesh (their Lease has an address) whose Lease is current and says alive. */
  private meshLiveByLease = new Set<string>();
  private candidateCache:
    | {
        mesh: ReadonlySet<string> | undefined;
        leaseOnlyLive: ReadonlySet<string>;
        meshLiveByLease: ReadonlySet<string>;
        settled: boolean;
        names: ReadonlySet<string>;
      }
    | undefined;
  /** Peers whose Lease is current: the roster the ring is built from. */
  private rosterLive = new Set<string>();
  private tick: NodeJS.Timeout | undefined;
  private renew: NodeJS.Timeout | undefined;
  private inTrouble = false;
  private meshLostAt: number | undefined;
  private lastMeshConnected = true;
  private stopped = false;
  /** Since when this node has been out of the mesh without an acknowledgement (joining, suspended). */
  private meshlessSince: number | undefined;
  private leaseOnlySince = 0;
  private leaseOnlyAnnouncedAt = 0;
  /**
   * What peers that judge this node by its Lease see of it (on its Lease alone, or its mesh status and
   * round), when the first write saying so went out, and when that write (or a later one) came back in
   * the watch: those peers act on it a moment after that.
   */
  private seen: { statement: string; sentAt: number; echoedAt: number } = {
    statement: '',
    sentAt: Number.POSITIVE_INFINITY,
    echoedAt: Number.POSITIVE_INFINITY,
  };
  private everLeaseOnly = false;
  /** Offers to the mesh since this node was last in it (the wait before the next one doubles with each). */
  private meshRetries = 0;

  constructor(rest: KubeRest, opts: MembershipOptions, log: Logger) {
    this.opts = opts;
    this.log = log;
    this.writer = new NodeLeaseWriter(rest, opts.namespace, opts.node, log, this.now);
    this.leases = new PeerLeases(this.now, log);
  }

  /** Claims this process's generation and makes its keys; call before informers report Leases. */
  async prepare(signal: AbortSignal): Promise<void> {
    this.gen = await this.writer.claimGeneration(signal);
    this.keys = [generateKeyPairs(this.keyVersion)];
    this.log.info({ generation: this.gen }, 'claimed a speaker generation');
  }

  /** Starts the mesh (or Lease-only mode) once caches are synced and this node's address is known. */
  async start(selfAddress: string | undefined): Promise<void> {
    this.selfAddress = selfAddress;
    if (!selfAddress) this.goLeaseOnly('this node has no InternalIP or ExternalIP in its status');
    this.mesh = this.createMesh(0);
    this.refreshLiveness(true);
    await this.publish();
    if (selfAddress) await this.openSocket(selfAddress);
    this.tick = setInterval(() => {
      // On its Lease alone the mesh is paused: nobody can hear it, and judging silence it cannot break
      // would only cycle it through suspicion and rejoining.
      if (!this.leaseOnly) this.mesh?.tick();
      // Judged after the poll phase: heartbeats that arrived while the loop was busy are read first.
      setImmediate(() => {
        if (!this.leaseOnly) this.mesh?.judge();
        this.checkMeshless();
        this.refreshLiveness(false);
        // Losing (or regaining) every neighbour changes how often the API server must hear from us.
        const meshConnected = this.mesh?.connected() ?? false;
        if (meshConnected !== this.lastMeshConnected) {
          this.lastMeshConnected = meshConnected;
          this.scheduleRenewal();
        }
      });
    }, this.opts.intervalMs);
    this.scheduleRenewal();
  }

  /** The mesh side of this process at `round` of its generation (a new round is a new incarnation). */
  private createMesh(round: number): MeshNode {
    const mesh = new MeshNode(
      { name: this.opts.node, gen: this.gen, keys: this.keys },
      {
        params: defaultParams(this.opts.intervalMs, this.opts.deadAfterMs),
        round,
        clock: { now: this.now },
        transport: { send: (address, port, data) => this.send(address, port, data) },
        leaseRenewedAt: (name) => this.leases.get(name)?.changedAt,
        events: {
          onChange: () => this.opts.onChange(),
          onSelfState: () => this.publish(),
          onReleaseRequest: (node) => this.opts.onReleaseRequest?.(node),
          onTrouble: (t) => {
            this.inTrouble = t;
            this.scheduleRenewal();
          },
          onNotice: (n) => this.notice(n),
        },
      },
    );
    return mesh;
  }

  private async openSocket(address: string): Promise<void> {
    const socket = createSocket({ type: isIPv6(address) ? 'udp6' : 'udp4', reuseAddr: true });
    socket.on('message', (msg, rinfo) => {
      if (!this.leaseOnly) this.mesh?.receive(msg, rinfo.address);
    });
    socket.on('error', (err) => this.log.warn({ err: err.message }, 'mesh socket error'));
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once('error', reject);
        socket.bind(this.opts.meshPort, address, () => {
          socket.off('error', reject);
          resolve();
        });
      });
      this.socket = socket;
    } catch (err) {
      socket.close();
      this.goLeaseOnly(`cannot listen on ${address}:${this.opts.meshPort}/udp: ${(err as Error).message}`);
    }
  }

  private send(address: string, port: number, data: Buffer): void {
    this.socket?.send(data, port, address, (err) => {
      if (err) this.log.debug({ peer: address, err: err.message }, 'mesh datagram not sent');
    });
  }

  private notice(n: MeshNotice): void {
    switch (n.kind) {
      case 'suspect':
        this.log.warn({ peer: n.subject }, 'no heartbeat from a neighbour: suspecting it');
        break;
      case 'declared-dead':
        this.log.warn({ peer: n.subject, by: n.by }, 'declared a speaker dead');
        break;
      case 'fenced':
        if (n.fenced)
          this.log.warn(
            { acks: n.acks, needed: n.needed },
            'too few neighbours hear this node: not answering ARP/NDP',
          );
        else this.log.info({ acks: n.acks, needed: n.needed }, 'heard by enough neighbours again: answering');
        break;
      case 'self':
        this.log.info(
          { status: n.status, generation: n.inc.gen, round: n.inc.round, reason: n.reason },
          'membership state',
        );
        break;
      case 'refused':
        this.log.warn({ from: n.from, reason: n.reason, refused: n.count }, 'mesh datagram refused');
        break;
      case 'trouble':
        this.log.info(
          { inTrouble: n.inTrouble },
          n.inTrouble ? 'short of neighbours: the API server votes' : 'neighbours back',
        );
        break;
    }
  }

  private goLeaseOnly(reason: string): void {
    if (this.leaseOnly) return;
    this.leaseOnly = true;
    this.meshlessReason = reason;
    this.leaseOnlySince = this.now();
    this.leaseOnlyAnnouncedAt = this.now();
    this.log.warn(
      { reason },
      'membership through the Lease alone: failover takes seconds instead of under one',
    );
    void this.publish();
    this.scheduleRenewal();
    this.refreshLiveness(false);
    this.opts.onChange();
  }

  /**
   * A node that no neighbour has acknowledged for a while (since it started, or since it lost its place)
   * cannot get heartbeats through: it falls back to its Lease. Now and then (meshRetryMs) it offers itself
   * to the mesh again, and goes back to the Lease if nobody answers.
   */
  private checkMeshless(): void {
    if (!this.mesh || !this.selfAddress || !this.socket) return;
    const now = this.now();
    if (this.leaseOnly) {
      if (now - this.leaseOnlySince < this.meshRetryMs()) return;
      this.meshRetries++;
      this.leaseOnly = false;
      this.meshlessSince = now;
      // A new incarnation: what the paused mesh believed is minutes old, and its peers may have declared
      // it dead meanwhile. It joins afresh, and takes addresses back only by the hand-over rule.
      this.mesh = this.createMesh(this.mesh.state().inc.round + 1);
      this.refreshRoster();
      this.log.info({ attempt: this.meshRetries }, 'offering this node to the mesh again');
      void this.publish();
      this.scheduleRenewal();
      this.opts.onChange();
      return;
    }
    if (this.mesh.state().status === 'alive' || this.mesh.neighbourNames().length === 0) {
      if (this.meshlessSince !== undefined && this.everLeaseOnly)
        this.log.info('back in the mesh: membership through heartbeats again');
      this.meshlessSince = undefined;
      this.everLeaseOnly = false;
      this.meshRetries = 0;
      return;
    }
    this.meshlessSince ??= now;
    const limit = this.opts.meshlessAfterMs ?? 10_000;
    if (now - this.meshlessSince > limit) {
      this.everLeaseOnly = true;
      this.goLeaseOnly(
        `no neighbour acknowledged a heartbeat for ${Math.round((now - this.meshlessSince) / 1000)} s (UDP ${this.opts.meshPort} blocked?)`,
      );
    }
  }

  /**
   * How long a node on its Lease alone waits before offering itself to the mesh again. While it serves
   * addresses (no node is alive in the mesh), a retry hands them away for as long as it takes to fail, so
   * it waits the full five minutes; while it stands by beside two or more mesh nodes, a retry costs nothing.
   */
  private meshRetryMs(): number {
    // With a single node alive in the mesh, this one would be its only neighbour: a retry that fails (UDP
    // still blocked) leaves it without the acknowledgement it needs, and it steps back. Two or more keep
    // each other's quorum.
    if (this.meshLiveByLease.size < 2) return MESH_RETRY_MS;
    return Math.min(MESH_RETRY_MS, MESH_RETRY_STANDBY_MS * 2 ** this.meshRetries);
  }

  // ---- the roster, from Leases -----------------------------------------------------------------------

  /** From the Lease informer. */
  observeLease(lease: SpeakerLease): void {
    const node = this.leases.observe(lease);
    if (!node) return;
    if (node === this.opts.node) {
      const renew = lease.spec?.renewTime ?? '';
      const sentAt = this.echoes.get(renew);
      if (sentAt !== undefined) {
        this.ownEchoAt = Math.max(this.ownEchoAt, this.now());
        this.mesh?.apiEcho(sentAt);
        if (sentAt >= this.seen.sentAt && this.seen.echoedAt === Number.POSITIVE_INFINITY) {
          this.seen.echoedAt = this.now();
          // Settled then (seenSettled): claim addresses, and take those of Lease-judged holders.
          setTimeout(() => this.opts.onChange(), LEASE_SEEN_SETTLE_MS + 1).unref();
        }
      }
      return;
    }
    this.refreshLiveness(true);
  }

  forgetLease(lease: SpeakerLease): void {
    if (this.leases.forget(lease)) this.refreshLiveness(true);
  }

  /**
   * A peer that goes to its Lease alone changes how often, and for how long, its would-be ring neighbours
   * must renew their own: renewal is rescheduled at once (it then falls due), rather than at the end of a
   * minute-long wait. Only those few: had every node renewed every 2 s, one node with UDP blocked would
   * cost the API server N/2 writes a second (500 at 1,000 nodes).
   */
  private noticeLeaseOnlyPeers(): void {
    const mesh = this.mesh;
    const watched = [...this.leaseOnlyLive].some((n) => !mesh || mesh.wouldWatch(n));
    if (watched === this.watchedByLeaseOnlyPeer) return;
    this.watchedByLeaseOnlyPeer = watched;
    if (watched)
      this.log.info(
        { peers: [...this.leaseOnlyLive] },
        "a speaker on its Lease alone counts on this node's Lease: renewing it every 2 s",
      );
    else this.log.info("no speaker on its Lease alone counts on this node's Lease any more");
    this.scheduleRenewal();
  }

  private refreshRoster(): void {
    if (!this.mesh) return;
    const members: MeshMember[] = [];
    for (const [node, { lease }] of this.leases.all()) {
      // Gone for good (left, or its Lease expired while our view of the API is current): off the ring.
      if (node === this.opts.node || !lease.address || lease.status === 'leaving') continue;
      if (!this.rosterLive.has(node)) continue;
      members.push({
        name: node,
        gen: lease.gen,
        round: lease.round,
        status: lease.status,
        address: lease.address,
        port: lease.port,
        keys: lease.keys,
      });
    }
    this.mesh.setRoster(members);
  }

  /**
   * Liveness from Leases: renewed within their duration, judged only while our own view is current (an API
   * outage expires nobody). Lease-only peers are candidates while theirs is fresh and says alive (and no
   * node serves in the mesh); a node in Lease-only mode judges every peer that way, since it hears no mesh.
   */
  private refreshLiveness(rosterTouched: boolean): void {
    const fastRenewals = this.judgedByLease();
    const viewFresh =
      this.now() - this.ownEchoAt < 2 * (fastRenewals ? LEASE_ONLY_RENEW_MS : HEALTHY_RENEW_MS) + 1000;
    const fresh = this.leases.fresh(viewFresh, this.rosterLive);
    const rosterChanged =
      fresh.size !== this.rosterLive.size || [...fresh].some((n) => !this.rosterLive.has(n));
    this.rosterLive = fresh;
    const next = new Set<string>();
    const nextMesh = new Set<string>();
    for (const node of fresh) {
      const l = this.leases.get(node)!.lease;
      if (node === this.opts.node || l.status !== 'alive') continue;
      (l.address ? nextMesh : next).add(node);
    }
    const same = (a: ReadonlySet<string>, b: ReadonlySet<string>) =>
      a.size === b.size && [...a].every((n) => b.has(n));
    let changed = false;
    if (!same(next, this.leaseOnlyLive)) {
      this.leaseOnlyLive = next;
      changed = true;
    }
    if (!same(nextMesh, this.meshLiveByLease)) {
      this.meshLiveByLease = nextMesh;
      changed = true;
    }
    if (rosterChanged || rosterTouched) this.refreshRoster();
    else if (changed) this.opts.onChange();
    this.noticeLeaseOnlyPeers();
  }

  /**
   * Whether someone counts on this node's Lease to tell it is alive (it is on its Lease alone, or a peer
   * that would be its ring neighbour is): its Lease is then renewed every 2 s for 6 s, and the views built
   * from Leases must be that fresh.
   */
  private judgedByLease(): boolean {
    return this.leaseOnly || this.watchedByLeaseOnlyPeer;
  }

  /**
   * Whether a peer is on its Lease alone and its Lease is current: one that died, or left, judges nobody,
   * and counting its Lease (kept in the API for the next process on its node) would keep nodes on 2 s
   * renewals for good. Checked per ARP/NDP question (mayAnswer), so a set kept by refreshLiveness.
   */
  private hasLeaseOnlyPeers(): boolean {
    return this.leaseOnlyLive.size > 0;
  }

  // ---- this node's Lease ------------------------------------------------------------------------------

  private announcement(): MeshAnnouncement {
    const s = this.mesh?.state() ?? { inc: { gen: this.gen, round: 0 }, status: 'joining' as MemberStatus };
    return {
      gen: this.gen,
      round: s.inc.round,
      status: this.leaseOnly ? 'alive' : s.status,
      ...(this.leaseOnly || !this.selfAddress ? {} : { address: this.selfAddress }),
      port: this.opts.meshPort,
      keys: this.keys.map((k) => k.public),
    };
  }

  /** Writes the Lease now (one write at a time; a request meanwhile writes once more after). */
  private async publish(): Promise<void> {
    if (this.stopped) return;
    if (this.pendingWrite) {
      this.writeAgain = true;
      return;
    }
    this.pendingWrite = true;
    try {
      do {
        this.writeAgain = false;
        const a = this.announcement();
        const statement = this.leaseOnly ? 'lease-only' : `${a.status}/${a.round}`;
        if (statement !== this.seen.statement)
          this.seen = { statement, sentAt: this.now(), echoedAt: Number.POSITIVE_INFINITY };
        const durationS = this.leaseDurationS();
        const r = await this.writer.write(a, durationS, (renewTime, sentAt) =>
          this.rememberEcho(renewTime, sentAt),
        );
        this.lastWriteAt = r.sentAt;
        if (r.ok) {
          this.lastWriteOk = r.sentAt;
          this.lastWriteOkDurationMs = durationS * 1000;
          this.rememberEcho(this.writer.lastRenewTime ?? '', r.sentAt);
          this.mesh?.apiAcknowledged(r.sentAt);
          if (this.leaseOnly) this.opts.onChange();
        }
      } while (this.writeAgain && !this.stopped);
    } finally {
      this.pendingWrite = false;
    }
  }

  /**
   * The renewTime written identifies its echo in the watch; the last few are enough. Remembered before
   * the request goes out, since the watch may deliver the change before the write's own answer arrives.
   */
  private rememberEcho(renewTime: string, sentAt: number): void {
    this.echoes.set(renewTime, sentAt);
    if (this.echoes.size > 16) this.echoes.delete(this.echoes.keys().next().value!);
  }

  /**
   * A peer on its Lease alone judges this node by its Lease too: a short duration lets it take this node's
   * addresses over within seconds of its death, not minutes.
   */
  private leaseDurationS(): number {
    return this.judgedByLease() ? LEASE_ONLY_DURATION_S : HEALTHY_DURATION_S;
  }

  private renewIntervalMs(): number {
    if (this.judgedByLease()) return LEASE_ONLY_RENEW_MS;
    if (this.inTrouble) return 2 * this.opts.intervalMs;
    if (this.mesh && !this.mesh.connected()) return SHORT_RENEW_MS;
    return HEALTHY_RENEW_MS;
  }

  private scheduleRenewal(): void {
    if (this.renew) clearTimeout(this.renew);
    if (this.stopped) return;
    let due = this.lastWriteAt + this.renewIntervalMs();
    // A Lease last written short (someone judged this node by it) runs out within seconds: left to the
    // minute-long cycle, every peer would take this node off its ring (and its addresses over) meanwhile.
    // It is written long at once, and retried every second until that goes through.
    if (this.lastWriteOkDurationMs < this.leaseDurationS() * 1000)
      due = Math.min(due, this.lastWriteAt + SHORT_RENEW_MS);
    const wait = Math.max(0, due - this.now());
    this.renew = setTimeout(async () => {
      await this.publish();
      this.scheduleRenewal();
    }, wait);
  }

  // ---- what the speaker asks --------------------------------------------------------------------------

  /**
   * Nodes that may own addresses. Nodes on their Lease alone stand by while any node serves in the mesh:
   * their Lease is their only voice, so handing an address to one and back costs the Lease hand-over's
   * silence (about two seconds) each way, and its failover is slower. They serve when no node is alive in
   * the mesh (every node on its Lease alone, or the mesh nodes dead).
   */
  candidates(): ReadonlySet<string> {
    const mesh = this.leaseOnly ? undefined : this.mesh?.candidates();
    const settled = this.leaseOnly && this.seenSettled();
    // The same set object until something changes: the ownership table then knows at once that nothing
    // did, instead of comparing thousands of names on every evaluation.
    const c = this.candidateCache;
    if (
      c &&
      c.mesh === mesh &&
      c.leaseOnlyLive === this.leaseOnlyLive &&
      c.meshLiveByLease === this.meshLiveByLease &&
      c.settled === settled
    )
      return c.names;
    let names: Set<string>;
    if (this.leaseOnly) {
      const standby = this.meshLiveByLease.size > 0;
      names = new Set(standby ? this.meshLiveByLease : this.leaseOnlyLive);
      if (settled && !standby) names.add(this.opts.node);
      const was = c ? c.settled && c.meshLiveByLease.size === 0 : false;
      const now = settled && !standby;
      if (now !== was || (c && c.meshLiveByLease.size > 0 !== standby))
        this.log.info(
          { live: [...names] },
          now
            ? 'on the Lease alone: claiming addresses'
            : standby
              ? 'on the Lease alone: standing by while nodes in the mesh serve'
              : 'on the Lease alone: not claiming addresses',
        );
    } else {
      names = new Set(mesh ?? []);
      if (names.size === 0) for (const n of this.leaseOnlyLive) names.add(n);
      if (c && c.leaseOnlyLive !== this.leaseOnlyLive)
        this.log.debug({ live: [...this.leaseOnlyLive] }, 'speakers judged by their Leases');
    }
    this.candidateCache = {
      mesh,
      leaseOnlyLive: this.leaseOnlyLive,
      meshLiveByLease: this.meshLiveByLease,
      settled,
      names,
    };
    return names;
  }

  /**
   * Whether peers that judge this node by its Lease act on what it says now: its current statement
   * (Lease-only, or alive at this round) came back through the watch, and a moment more passed for the
   * others' watches. A node gone to its Lease alone claims addresses only then; until then the nodes that
   * took its addresses over keep them.
   */
  private seenSettled(): boolean {
    return this.now() - this.seen.echoedAt >= LEASE_SEEN_SETTLE_MS;
  }

  /**
   * Peers on their Lease alone while this node is the only one alive in the mesh: they serve whenever it is
   * not alive, however briefly (a step back and rejoin takes a tenth of a second), so after any pause it
   * takes addresses back from them by the hand-over rule, once its Lease says alive again (releases).
   */
  fallbackHolders(): ReadonlySet<string> {
    if (this.leaseOnly || !this.mesh) return new Set();
    for (const n of this.mesh.candidates()) if (n !== this.opts.node) return new Set();
    return this.leaseOnlyLive;
  }

  /**
   * Whether this node may answer ARP/NDP now (checked per request). Where peers judge this node by its
   * Lease (it is on its Lease alone, or some peer is and cannot hear the mesh), its Lease writes must be
   * succeeding too: those peers take its addresses once its Lease stops moving.
   */
  mayAnswer(): boolean {
    const sinceWrite = this.now() - this.lastWriteOk;
    if (this.leaseOnly) return sinceWrite < LEASE_ONLY_FENCE_MS && this.seenSettled();
    // Those peers count this node alive until its last Lease written runs out (from when they saw it, which
    // is after it was sent): it stops answering a margin before that, not before its next renewal is due.
    if (
      this.hasLeaseOnlyPeers() &&
      sinceWrite >= this.lastWriteOkDurationMs - (LEASE_ONLY_DURATION_S * 1000 - LEASE_ONLY_FENCE_MS)
    )
      return false;
    return this.mesh?.mayAnswer() ?? false;
  }

  /**
   * Whether this node is in touch with anyone: BGP routes are withdrawn when it is not. Losing the mesh
   * starts Lease writes every second (renewIntervalMs), so the API server's answer to those decides
   * within a few seconds; until then the node counts as connected.
   */
  connected(): boolean {
    const now = this.now();
    if (!this.leaseOnly && (this.mesh?.connected() ?? false)) {
      this.meshLostAt = undefined;
      return true;
    }
    this.meshLostAt ??= now;
    if (now - this.lastWriteOk < 3 * SHORT_RENEW_MS + 1000) return true;
    return now - this.meshLostAt < 3 * SHORT_RENEW_MS + 1000;
  }

  /**
   * Holders that let go of this node's addresses. A peer judged by its Lease cannot say so (no heartbeats
   * reach it, or none reach this node), but it gives up an address as soon as it sees this node's Lease
   * claim it: once that Lease has settled (seenSettled), every such peer counts as having let go.
   */
  releases(): ReadonlySet<string> {
    const mesh = this.leaseOnly ? undefined : this.mesh?.releases();
    // On its Lease alone a node judges every peer by its Lease, those in the mesh too.
    const judgedByLease = this.leaseOnly
      ? [...this.leaseOnlyLive, ...this.meshLiveByLease]
      : [...this.leaseOnlyLive];
    if (judgedByLease.length === 0 || !this.seenSettled()) return mesh ?? new Set();
    const all = new Set(mesh);
    for (const n of judgedByLease) all.add(n);
    return all;
  }

  aliveAt(): number | undefined {
    return this.leaseOnly ? this.leaseOnlyAnnouncedAt : this.mesh?.aliveAt();
  }

  requestRelease(node: string): void {
    this.mesh?.requestRelease(node);
  }

  sendReleased(node: string): void {
    this.mesh?.sendReleased(node);
  }

  /** For readiness and status. */
  describe(): { status: string; reason: string; neighbours: string[]; generation: number } {
    const s = this.mesh?.state();
    const q = quorumsFor(this.mesh?.neighbourNames().length ?? 0);
    return {
      status: this.leaseOnly ? 'lease-only' : (s?.status ?? 'starting'),
      reason: this.leaseOnly
        ? this.meshlessReason
        : this.mayAnswer()
          ? ''
          : `waiting for ${q.ack} of its voters to hear it`,
      neighbours: this.mesh?.neighbourNames() ?? [],
      generation: this.gen,
    };
  }

  /** A new key pair, published in the Lease first; sent with once peers had time to see it. */
  async rotateKeys(): Promise<void> {
    if (!this.mesh) return;
    this.keyVersion = (this.keyVersion % 255) + 1;
    const next = generateKeyPairs(this.keyVersion);
    this.keys = [this.keys[0]!, next];
    this.mesh.addKeys(next);
    await this.publish();
    this.log.info({ keyVersion: next.public.version }, 'published new mesh keys');
    // Peers take the new keys in through their Lease watch; give them a moment before sending with them.
    await new Promise((r) => setTimeout(r, 2000));
    this.mesh.useKeys(next.public.version);
    this.keys = [next, ...this.keys.filter((k) => k !== next)];
    await new Promise((r) => setTimeout(r, 10_000));
    const old = this.keys.filter((k) => k !== next);
    for (const k of old) this.mesh.dropKeys(k.public.version);
    this.keys = [next];
    await this.publish();
    this.log.info({ keyVersion: next.public.version }, 'mesh key rotation complete');
  }

  /**
   * Graceful exit, first half: tell the peers (they take over at once) and stop answering. The caller
   * then releases its addresses and calls finishLeaving.
   */
  announceLeaving(): void {
    this.mesh?.leave();
    if (this.tick) clearInterval(this.tick);
    if (this.renew) clearTimeout(this.renew);
  }

  /**
   * Second half: close the socket once the leaving statements are out, and mark the Lease leaving. It is
   * kept, not deleted, so the next process on this node continues its generation count.
   */
  async finishLeaving(): Promise<void> {
    await new Promise((r) => setTimeout(r, 20));
    this.socket?.close();
    await this.writer.write({ ...this.announcement(), status: 'leaving' }, LEASE_ONLY_DURATION_S);
    this.stopped = true;
  }

  stop(): void {
    this.stopped = true;
    if (this.tick) clearInterval(this.tick);
    if (this.renew) clearTimeout(this.renew);
    this.socket?.close();
  }
}
