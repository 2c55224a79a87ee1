/**
 * A simulated cluster of speakers for the membership protocol: the real MeshNode, wire encoding, keys and
 * ownership code, N nodes in one process over a simulated network (delay, jitter, loss, one-way cuts),
 * event-loop stalls, a simulated API server for the Lease votes, and a simulated clock driven by an
 * event queue. It records, per address, every moment two nodes answered it or none did, and how long
 * after a fault the new owner answered. Used by the mesh unit tests and by bench/mesh-sim.bench.ts.
 */
import { generateKeyPairs, type KeyPairs, type PublicKeys } from '../../src/mesh/identity.ts';
import type { MemberStatus } from '../../src/mesh/members.ts';
import { defaultParams, type MeshMember, MeshNode, type MeshParams } from '../../src/mesh/node.ts';
import { Roster } from '../../src/mesh/roster.ts';
import type { Incarnation } from '../../src/mesh/wire.ts';
import { Handover } from '../../src/speaker/handover.ts';
import { Ownership } from '../../src/speaker/ownership.ts';

/** Binary heap of timed events; equal times run in scheduling order. */
class EventQueue {
  private heap: { at: number; seq: number; fn: () => void }[] = [];
  private seq = 0;

  push(at: number, fn: () => void): void {
    const e = { at, seq: this.seq++, fn };
    const h = this.heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.less(h[parent]!, e)) break;
      h[i] = h[parent]!;
      i = parent;
    }
    h[i] = e;
  }

  private less(a: { at: number; seq: number }, b: { at: number; seq: number }): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  peekAt(): number | undefined {
    return this.heap[0]?.at;
  }

  pop(): { at: number; fn: () => void } | undefined {
    const h = this.heap;
    const top = h[0];
    if (!top) return undefined;
    const last = h.pop()!;
    if (h.length > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        const cur = m === i ? last : h[m]!;
        let best = cur;
        if (l < h.length && this.less(h[l]!, best)) {
          m = l;
          best = h[l]!;
        }
        if (r < h.length && this.less(h[r]!, best)) {
          m = r;
          best = h[r]!;
        }
        if (m === i) break;
        h[i] = h[m]!;
        i = m;
      }
      h[i] = last;
    }
    return top;
  }

  get size(): number {
    return this.heap.length;
  }
}

/** Deterministic pseudo-random numbers (mulberry32), so a run can be repeated. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimOptions {
  nodes: number;
  addresses: number;
  params?: MeshParams;
  /** One-way delay and its random extra (ms). */
  delayMs?: number;
  jitterMs?: number;
  /** Probability each datagram is lost. */
  loss?: number;
  /** Lease write latency and watch delivery latency (ms). */
  apiWriteMs?: number;
  apiWatchMs?: number;
  seed?: number;
  /** Skip the ownership table (membership-only runs at sizes where N tables would not fit). */
  ownership?: boolean;
  /**
   * How many of the addresses every node tracks (answering, handover): at thousands of nodes, N copies of
   * a 10,000-address table would not fit in one process. Nodes listed in `fullTableNodes` keep them all,
   * which is where the plan's cost is measured.
   */
  tracked?: number;
  fullTableNodes?: number[];
}

export interface WindowStat {
  address: string;
  from: number;
  ms: number;
}

export interface SimCounters {
  datagramsSent: number;
  bytesSent: number;
  datagramsReceived: number;
  bytesReceived: number;
  maxDatagram: number;
}

interface Trace {
  answerers: Set<number>;
  doubleSince: number | undefined;
  noneSince: number | undefined;
}

export class SimNode {
  readonly index: number;
  readonly name: string;
  readonly address: string;
  readonly keys: KeyPairs;
  /** Public keys in its Lease: during a rotation, both. */
  publishedKeys: PublicKeys[];
  gen = 1;
  mesh!: MeshNode;
  ownership: Ownership | undefined;
  alive = true;
  stalledUntil = 0;
  /** Addresses this node answers right now (after the fence and the handover). */
  answering = new Set<string>();
  held = new Set<string>();
  handover: Handover | undefined;
  fenceOpen = false;
  fenceCheckAt = 0;
  counters: SimCounters = {
    datagramsSent: 0,
    bytesSent: 0,
    datagramsReceived: 0,
    bytesReceived: 0,
    maxDatagram: 0,
  };
  leaseStatus: MemberStatus = 'joining';
  leaseInc: Incarnation = { gen: 1, round: 0 };
  inTrouble = false;
  lastLeaseWrite = Number.NEGATIVE_INFINITY;
  planWorkMs = 0;

  constructor(index: number, name: string, address: string, keys: KeyPairs) {
    this.index = index;
    this.name = name;
    this.address = address;
    this.keys = keys;
    this.publishedKeys = [keys.public];
  }
}

export class MeshSim {
  readonly nodes: SimNode[] = [];
  readonly params: MeshParams;
  readonly random: () => number;
  now = 0;
  private readonly queue = new EventQueue();
  private readonly opts: Required<Omit<SimOptions, 'params' | 'seed' | 'tracked' | 'fullTableNodes'>>;
  /** The addresses every node tracks, and the nodes that hold all of them. */
  readonly trackedAddresses: string[];
  private readonly fullTable: Set<number>;
  /** "from>to" address pairs whose datagrams are dropped. */
  readonly cuts = new Set<string>();
  apiDown = false;
  readonly addressList: string[];
  private readonly traces = new Map<string, Trace>();
  readonly doubles: WindowStat[] = [];
  readonly gaps: WindowStat[] = [];
  readonly moves: { at: number; address: string; from: number | undefined; to: number | undefined }[] = [];
  private readonly lastOwnerOf = new Map<string, number | undefined>();
  private readonly eligible: ReadonlySet<string>;

  constructor(opts: SimOptions) {
    this.params = opts.params ?? defaultParams();
    this.random = seededRandom(opts.seed ?? 1);
    this.opts = {
      nodes: opts.nodes,
      addresses: opts.addresses,
      delayMs: opts.delayMs ?? 0.3,
      jitterMs: opts.jitterMs ?? 0.4,
      loss: opts.loss ?? 0,
      apiWriteMs: opts.apiWriteMs ?? 8,
      apiWatchMs: opts.apiWatchMs ?? 10,
      ownership: opts.ownership ?? true,
    };
    this.addressList = Array.from(
      { length: opts.addresses },
      (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}`,
    );
    this.trackedAddresses = this.addressList.slice(0, opts.tracked ?? opts.addresses);
    this.fullTable = new Set(opts.fullTableNodes ?? []);
    const names: string[] = [];
    for (let i = 0; i < opts.nodes; i++) {
      const name = `node-${String(i + 1).padStart(4, '0')}`;
      names.push(name);
      this.nodes.push(new SimNode(i, name, `10.200.${(i >> 8) & 255}.${i & 255}`, generateKeyPairs(1)));
    }
    this.eligible = new Set(names);
  }

  private rosterCache: Roster | undefined;
  /** When each node's Lease was last seen renewed, as every node's watch delivers it. */
  private readonly leaseRenewed = new Map<string, number>();
  private readonly memberCache = new Map<string, { key: string; member: MeshMember }>();

  /**
   * The roster as every speaker's Lease informer would show it: one shared Roster, rebuilt only when a
   * Lease changes what the mesh reads (a renewal alone does not), with unchanged members reused.
   */
  roster(): Roster {
    if (this.rosterCache) return this.rosterCache;
    const members: MeshMember[] = [];
    for (const n of this.nodes) {
      if (n.leaseStatus === 'leaving') continue;
      const key = `${n.gen}/${n.leaseInc.round}/${n.leaseStatus}/${n.publishedKeys.map((k) => k.version).join(',')}/${n.keys.public.dh.toString('base64')}`;
      let cached = this.memberCache.get(n.name);
      if (cached?.key !== key) {
        cached = {
          key,
          member: {
            name: n.name,
            gen: n.gen,
            round: n.leaseInc.round,
            status: n.leaseStatus,
            address: n.address,
            port: 7946,
            keys: n.publishedKeys,
          },
        };
        this.memberCache.set(n.name, cached);
      }
      members.push(cached.member);
    }
    this.rosterCache = new Roster(members);
    return this.rosterCache;
  }

  /**
   * Starts every node as after a long quiet run: Leases say alive at generation 1, every node holds the
   * addresses it owns, and the ownership table is the same everywhere (what each would compute on its own;
   * computing it once and copying it is the simulation's shortcut at thousands of nodes). The nodes still
   * go through the real join (acknowledgements, alive statements); run a second or so before measuring.
   */
  startConverged(): void {
    for (const n of this.nodes) {
      n.leaseStatus = 'alive';
      n.leaseInc = { gen: 1, round: 0 };
    }
    this.rosterCache = undefined;
    const roster = this.roster();
    let template: Ownership | undefined;
    let full: Ownership | undefined;
    if (this.opts.ownership) {
      template = new Ownership();
      for (const a of this.trackedAddresses) template.setAddress(a, this.eligible);
      template.setLive(this.eligible);
      if (this.fullTable.size) {
        full = new Ownership();
        for (const a of this.addressList) full.setAddress(a, this.eligible);
        full.setLive(this.eligible);
      }
    }
    for (const n of this.nodes) {
      this.boot(n, roster, 0);
      if (template) {
        n.ownership = (this.fullTable.has(n.index) ? full : template)!.clone();
        n.handover = new Handover(n.ownership, n.name);
      }
    }
    for (const n of this.nodes) this.scheduleTick(n, this.random() * this.params.intervalMs);
  }

  private boot(n: SimNode, roster: Roster, round: number): void {
    n.mesh = new MeshNode(
      { name: n.name, gen: n.gen, keys: [n.keys] },
      {
        params: this.params,
        clock: { now: () => this.now },
        leaseRenewedAt: (name) => this.leaseRenewed.get(name),
        transport: { send: (address, _port, data) => this.transmit(n, address, data) },
        random: this.random,
        round,
        events: {
          onChange: () => this.evaluateSoon(n),
          onReleaseRequest: (name) => {
            // As the speaker answers: confirm unless it still holds something the asker owns.
            if (n.handover?.mayConfirm(name)) n.mesh.sendReleased(name);
          },
          onSelfState: (inc, status) => this.writeLease(n, inc, status),
          onTrouble: (t) => {
            n.inTrouble = t;
            if (t) this.renewLease(n);
          },
        },
      },
    );
    n.mesh.setRoster(roster);
  }

  private byAddress = new Map<string, SimNode>();

  private nodeAt(address: string): SimNode | undefined {
    if (this.byAddress.size === 0) for (const n of this.nodes) this.byAddress.set(n.address, n);
    return this.byAddress.get(address);
  }

  /** Sees every datagram sent (a capture on the wire), before loss and cuts. */
  tap: ((from: SimNode, to: string, data: Buffer) => void) | undefined;

  /** Puts a datagram on the wire to `to` as if sent from `fromAddress` (a forger's or a replayer's). */
  inject(to: SimNode, data: Buffer, fromAddress: string): void {
    this.queue.push(this.now + this.opts.delayMs, () => this.deliver(to, data, fromAddress));
  }

  private transmit(from: SimNode, to: string, data: Buffer): void {
    this.tap?.(from, to, data);
    from.counters.datagramsSent++;
    from.counters.bytesSent += data.length;
    from.counters.maxDatagram = Math.max(from.counters.maxDatagram, data.length);
    if (this.cuts.has(`${from.address}>${to}`)) return;
    if (this.opts.loss > 0 && this.random() < this.opts.loss) return;
    const target = this.nodeAt(to);
    if (!target) return;
    const at = this.now + this.opts.delayMs + this.random() * this.opts.jitterMs;
    this.queue.push(at, () => this.deliver(target, data, from.address));
  }

  private deliver(n: SimNode, data: Buffer, from: string): void {
    if (!n.alive) return;
    if (this.now < n.stalledUntil) {
      // A stopped process reads its socket when it wakes, in arrival order.
      this.queue.push(n.stalledUntil, () => this.deliver(n, data, from));
      return;
    }
    n.counters.datagramsReceived++;
    n.counters.bytesReceived += data.length;
    n.mesh.receive(data, from);
    if (n.mesh.mayAnswer() !== n.fenceOpen) this.applyFence(n);
  }

  private scheduleTick(n: SimNode, delay: number): void {
    const gen = n.gen;
    this.queue.push(this.now + delay, () => {
      if (!n.alive || n.gen !== gen) return;
      if (this.now < n.stalledUntil) {
        this.queue.push(n.stalledUntil, () => this.runTick(n, gen));
        return;
      }
      this.runTick(n, gen);
    });
  }

  private runTick(n: SimNode, gen: number): void {
    if (!n.alive || n.gen !== gen) return;
    n.mesh.tick();
    // Judged after the datagrams already due now, as setImmediate runs after the poll phase.
    this.queue.push(this.now, () => {
      if (!n.alive || n.gen !== gen) return;
      n.mesh.judge();
    });
    this.scheduleTick(n, this.params.intervalMs);
  }

  private pendingEval = new Set<SimNode>();

  private evaluateSoon(n: SimNode): void {
    if (this.pendingEval.has(n)) return;
    this.pendingEval.add(n);
    this.queue.push(this.now, () => {
      this.pendingEval.delete(n);
      this.evaluate(n);
    });
  }

  /**
   * What the node answers now, as the speaker's L2 side decides it: its owned addresses, each one held
   * from another live node only once that node released it (or the join timeout passed), and nothing
   * while its fence is closed. The fence's closing time is scheduled, so a lapse is seen to the instant.
   */
  evaluate(n: SimNode): void {
    if (!n.alive) return;
    if (this.now < n.stalledUntil) {
      this.queue.push(n.stalledUntil, () => this.evaluate(n));
      return;
    }
    const started = performance.now();
    let next = new Set<string>();
    if (n.handover) {
      // The speaker's own hand-over rule (src/speaker/handover.ts).
      const d = n.handover.decide(n.mesh);
      for (const h of d.waitingOn) n.mesh.requestRelease(h);
      if (d.waitingOn.size > 0) this.queue.push(this.now + 300, () => this.evaluate(n));
      next = new Set(d.mine);
      n.handover.setHeld(next);
      for (const to of d.releasedTo) n.mesh.sendReleased(to);
    }
    n.planWorkMs += performance.now() - started;
    n.held = next;
    this.applyFence(n);
  }

  /**
   * What the node answers at this instant: its held addresses while its fence is open, nothing while it
   * is closed (the speaker asks at every request). The closing time is scheduled, and every datagram the
   * node takes in may open it again, so the trace follows the fence to the instant.
   */
  private applyFence(n: SimNode): void {
    if (!n.alive || this.now < n.stalledUntil) return;
    const open = n.mesh.mayAnswer();
    n.fenceOpen = open;
    this.setAnswering(n, open ? n.held : new Set());
    const until = n.mesh.answerableUntil();
    if (open && Number.isFinite(until) && until > this.now && until !== n.fenceCheckAt) {
      n.fenceCheckAt = until;
      this.queue.push(until, () => this.applyFence(n));
    }
  }

  private setAnswering(n: SimNode, next: Set<string>): void {
    for (const a of n.answering) if (!next.has(a)) this.traceChange(a, n.index, false);
    for (const a of next) if (!n.answering.has(a)) this.traceChange(a, n.index, true);
    n.answering = next;
  }

  private traceChange(address: string, node: number, answering: boolean): void {
    let t = this.traces.get(address);
    if (!t) {
      t = { answerers: new Set(), doubleSince: undefined, noneSince: undefined };
      this.traces.set(address, t);
    }
    if (answering) t.answerers.add(node);
    else t.answerers.delete(node);
    const count = t.answerers.size;
    if (count >= 2 && t.doubleSince === undefined) t.doubleSince = this.now;
    if (count < 2 && t.doubleSince !== undefined) {
      this.doubles.push({ address, from: t.doubleSince, ms: this.now - t.doubleSince });
      t.doubleSince = undefined;
    }
    if (count === 0 && t.noneSince === undefined) t.noneSince = this.now;
    if (count > 0 && t.noneSince !== undefined) {
      this.gaps.push({ address, from: t.noneSince, ms: this.now - t.noneSince });
      t.noneSince = undefined;
    }
    if (count === 1) {
      const owner = [...t.answerers][0];
      const last = this.lastOwnerOf.get(address);
      if (last !== owner) {
        if (last !== undefined || this.lastOwnerOf.has(address))
          this.moves.push({ at: this.now, address, from: last, to: owner });
        this.lastOwnerOf.set(address, owner);
      }
    }
  }

  /** Closes open windows at the end of a run so they are counted. */
  closeWindows(): void {
    for (const [address, t] of this.traces) {
      if (t.doubleSince !== undefined)
        this.doubles.push({ address, from: t.doubleSince, ms: this.now - t.doubleSince });
      if (t.noneSince !== undefined)
        this.gaps.push({ address, from: t.noneSince, ms: this.now - t.noneSince });
      t.doubleSince = this.now;
      t.noneSince = t.answerers.size === 0 ? this.now : undefined;
      if (t.answerers.size < 2) t.doubleSince = undefined;
    }
  }

  answerersOf(address: string): number[] {
    return [...(this.traces.get(address)?.answerers ?? [])];
  }

  // ---- the simulated API server: Lease writes and the watch -----------------------------------------

  private writeLease(n: SimNode, inc: Incarnation, status: MemberStatus): void {
    const same = n.leaseStatus === status && n.leaseInc.gen === inc.gen && n.leaseInc.round === inc.round;
    this.leaseWrite(
      n,
      () => {
        n.leaseInc = inc;
        n.leaseStatus = status;
      },
      !same,
    );
  }

  private renewLease(n: SimNode): void {
    this.leaseWrite(n, () => {}, false);
    // Renewed as the speaker does while short of acknowledgements (clusters where the API server votes).
    const gen = n.gen;
    this.queue.push(this.now + 2 * this.params.intervalMs, () => {
      if (n.alive && n.gen === gen && n.inTrouble) this.renewLease(n);
    });
  }

  /** A Lease write: `change` edits what the Lease says (nothing, for a renewal). */
  private leaseWrite(n: SimNode, change: () => void, rosterChanges = true): void {
    if (this.apiDown) return;
    const sentAt = this.now;
    const gen = n.gen;
    n.lastLeaseWrite = sentAt;
    this.queue.push(this.now + this.opts.apiWriteMs, () => {
      if (this.apiDown) return;
      change();
      if (rosterChanges) this.rosterCache = undefined;
      if (n.alive && n.gen === gen) this.later(n, () => n.mesh.apiAcknowledged(sentAt));
      this.queue.push(this.now + this.opts.apiWatchMs, () => {
        const roster = this.roster();
        // Every node's watch delivers the renewal now: one record for all (a map per node is N²).
        this.leaseRenewed.set(n.name, this.now);
        for (const m of this.nodes) {
          if (!m.alive) continue;
          this.later(m, () => {
            if (rosterChanges) m.mesh.setRoster(roster);
            if (m === n) m.mesh.apiEcho(sentAt);
          });
        }
      });
    });
  }

  /** Runs `fn` on node `n` now, or when its stall ends. */
  private later(n: SimNode, fn: () => void): void {
    if (this.now < n.stalledUntil) this.queue.push(n.stalledUntil, () => n.alive && fn());
    else fn();
  }

  // ---- faults --------------------------------------------------------------------------------------

  /** The process dies: no more datagrams, no more answers (its Lease stays, as after a crash). */
  kill(n: SimNode): void {
    n.alive = false;
    this.setAnswering(n, new Set());
  }

  /** A new process on the node: a new generation and new keys, through the Lease, then joining. */
  restart(n: SimNode): void {
    n.alive = true;
    n.gen++;
    (n as { keys: KeyPairs }).keys = generateKeyPairs(1);
    n.publishedKeys = [n.keys.public];
    n.leaseStatus = 'joining';
    n.leaseInc = { gen: n.gen, round: 0 };
    n.held = new Set();
    this.rosterCache = undefined;
    this.leaseWrite(n, () => {});
    this.queue.push(this.now + this.opts.apiWriteMs + this.opts.apiWatchMs + 1, () => {
      this.boot(n, this.roster(), 0);
      if (this.opts.ownership) {
        n.ownership = new Ownership();
        for (const a of this.fullTable.has(n.index) ? this.addressList : this.trackedAddresses)
          n.ownership.setAddress(a, this.eligible);
        n.handover = new Handover(n.ownership, n.name);
      }
      this.scheduleTick(n, 0);
    });
  }

  /**
   * A key rotation as the speaker does it: the new pair published in the Lease beside the old one, used
   * for sending two seconds later, the old one dropped ten seconds after that.
   */
  rotateKeys(n: SimNode): void {
    const old = n.keys;
    const next = generateKeyPairs((old.public.version % 255) + 1);
    n.mesh.addKeys(next);
    this.leaseWrite(n, () => {
      n.publishedKeys = [old.public, next.public];
    });
    this.queue.push(this.now + 2000, () => {
      n.mesh.useKeys(next.public.version);
      (n as { keys: KeyPairs }).keys = next;
      this.queue.push(this.now + 10_000, () => {
        n.mesh.dropKeys(old.public.version);
        this.leaseWrite(n, () => {
          n.publishedKeys = [next.public];
        });
      });
    });
  }

  /**
   * SIGSTOP for `ms`: nothing is answered meanwhile (a stopped process reads no request), and on waking
   * the node judges what it may answer before it answers anything.
   */
  stall(n: SimNode, ms: number): void {
    n.stalledUntil = Math.max(n.stalledUntil, this.now + ms);
    this.setAnswering(n, new Set());
    this.queue.push(n.stalledUntil, () => this.evaluate(n));
  }

  /** Graceful shutdown (SIGTERM): leaving statement, then gone. */
  shutdown(n: SimNode): void {
    n.mesh.leave();
    this.setAnswering(n, new Set());
    this.queue.push(this.now + 5, () => {
      n.alive = false;
      n.leaseStatus = 'leaving';
      this.rosterCache = undefined;
      const roster = this.roster();
      this.queue.push(this.now + this.opts.apiWatchMs, () => {
        for (const m of this.nodes) if (m.alive) this.later(m, () => m.mesh.setRoster(roster));
      });
    });
  }

  cut(from: SimNode, to: SimNode): void {
    this.cuts.add(`${from.address}>${to.address}`);
  }

  heal(): void {
    this.cuts.clear();
  }

  /** Splits the nodes into groups that hear only each other. */
  partition(groups: SimNode[][]): void {
    for (const g of groups)
      for (const other of groups) if (other !== g) for (const a of g) for (const b of other) this.cut(a, b);
  }

  // ---- running -------------------------------------------------------------------------------------

  at(ms: number, fn: () => void): void {
    this.queue.push(ms, fn);
  }

  run(untilMs: number): void {
    for (;;) {
      const at = this.queue.peekAt();
      if (at === undefined || at > untilMs) break;
      const e = this.queue.pop()!;
      this.now = Math.max(this.now, e.at);
      e.fn();
    }
    this.now = untilMs;
  }

  /** The node that answers `address` now, when exactly one does. */
  answerer(address: string): SimNode | undefined {
    const a = this.answerersOf(address);
    return a.length === 1 ? this.nodes[a[0]!] : undefined;
  }
}
