/**
 * One speaker's part in the membership protocol (docs/membership.md): heartbeats to its ring neighbours
 * that carry acknowledgements back, suspicions signed by the neighbours that stop hearing a node, death
 * declared when a quorum of them agree, gossip that spreads every statement in a few hops, and the fence
 * that keeps a node from answering once too few neighbours hear it, before anyone can declare it dead.
 *
 * Pure protocol: time comes from an injected clock and datagrams go out through an injected transport, so
 * the same code runs in the speaker, in unit tests on a fake clock, and a thousand times over in the
 * simulation (bench/mesh-sim). The driver calls tick() every interval and judge() after the datagrams
 * that arrived meanwhile were received (setImmediate in the speaker), so that a busy event loop never
 * makes a live peer look silent.
 */
import { timingSafeEqual } from 'node:crypto';
import {
  type KeyPairs,
  MAC_BYTES,
  Mac,
  nodeId,
  type PublicKeys,
  pairKey,
  signStatement,
  verifyStatement,
} from './identity.ts';
import { type MemberBelief, type MemberStatus, MemberTable } from './members.ts';
import { ReplayWindow } from './replay.ts';
import { quorumsFor, type Ring } from './ring.ts';
import { type MeshMember, Roster } from './roster.ts';
import {
  compareIncarnation,
  type Datagram,
  type DeadStatement,
  decodeBody,
  encodeDatagram,
  type Header,
  type HeartbeatBody,
  type Incarnation,
  KIND,
  type Kind,
  peekHeader,
  type SelfStatement,
  type Signature,
  STATEMENT,
  type Statement,
  type SuspectStatement,
  signedBytes,
  statementRoom,
  statementSize,
} from './wire.ts';

export interface MeshClock {
  now(): number;
}

export interface MeshTransport {
  send(address: string, port: number, data: Buffer): void;
}

export type { MeshMember } from './roster.ts';

export interface MeshParams {
  /** Heartbeat interval. */
  intervalMs: number;
  /** A neighbour silent this long is suspected. */
  suspectAfterMs: number;
  /** A node answers only while its acknowledged heartbeats are younger than this (< suspectAfterMs). */
  fenceAfterMs: number;
  /** Below the ack quorum this long: tell the API server (faster Lease renewals) where it votes. */
  troubleAfterMs: number;
  /** A successful Lease write counts as the API server's acknowledgement this long after it was sent. */
  apiAckValidMs: number;
  /** A Lease unchanged this long (seen from a fresh watch) is the API server's vote that a node is gone. */
  apiStaleMs: number;
  /** Fenced this long while alive: step back (suspended) so that others take the addresses. */
  suspendAfterMs: number;
  /** How often a node asks a holder that has not confirmed its release (it repeats its alive statement). */
  releaseRequestMs: number;
  /** How long after a roster change the previous neighbours still count for the fence. */
  transitionMs: number;
  /** A member dead, suspended or gone this long leaves the ring: its neighbours get live ones instead. */
  evictAfterMs: number;
  /** Random members each new statement is pushed to. */
  gossipFanout: number;
  /** Heartbeat rounds that carry each new statement to the neighbours. */
  piggybackRounds: number;
}

export function defaultParams(intervalMs = 100, suspectAfterMs = 400): MeshParams {
  if (suspectAfterMs < 3 * intervalMs) throw new Error('the suspicion time must be at least three intervals');
  // The fence needs only to close before a suspicion can ripen (membership.md, "why it holds"): an
  // acknowledgement is dated by the heartbeat's send time, which precedes its receipt, so any margin
  // below the suspicion time is safe; a tenth leaves room for clock-rate error and scheduling.
  const fenceAfterMs = suspectAfterMs - Math.max(20, Math.floor(suspectAfterMs / 10));
  return {
    intervalMs,
    suspectAfterMs,
    fenceAfterMs,
    troubleAfterMs: 2 * intervalMs + Math.floor(intervalMs / 2),
    apiAckValidMs: 4 * intervalMs,
    apiStaleMs: 6 * intervalMs,
    suspendAfterMs: suspectAfterMs + 2 * intervalMs,
    releaseRequestMs: 250,
    transitionMs: 2000,
    evictAfterMs: 10_000,
    gossipFanout: 3,
    piggybackRounds: 6,
  };
}

export interface MeshSelf {
  name: string;
  gen: number;
  /** The keys to start with (the first one sends); addKeys/useKeys/dropKeys rotate them. */
  keys: KeyPairs[];
}

export interface MeshEvents {
  /** Candidates, the fence or this node's own state changed: recompute what to answer. */
  onChange(): void;
  /** This node's own state changed: write it to its Lease (anti-entropy, and for the next start). */
  onSelfState?(inc: Incarnation, status: MemberStatus): void;
  /** A node that owns addresses this one may hold asks for confirmation that it let them go. */
  onReleaseRequest?(name: string): void;
  /** Whether the API server should hear from this node more often (it is short of mesh acknowledgements). */
  onTrouble?(inTrouble: boolean): void;
  /** Something worth a log line, already rate-limited (once per condition start and end). */
  onNotice?(notice: MeshNotice): void;
}

export type MeshNotice =
  | { kind: 'suspect'; subject: string }
  | { kind: 'declared-dead'; subject: string; by: string[] }
  | { kind: 'fenced'; fenced: boolean; acks: number; needed: number }
  | { kind: 'self'; status: MemberStatus; inc: Incarnation; reason: string }
  | { kind: 'refused'; from: string; reason: string; count: number }
  | { kind: 'trouble'; inTrouble: boolean };

interface PeerState {
  member: MeshMember;
  id: string;
  /** Sequences accepted from it (replay guard), for its generation; its latest is what we acknowledge. */
  replay: ReplayWindow;
  /** Its incarnation as its latest heartbeat declared it, and when that heartbeat arrived. */
  heardInc: Incarnation | undefined;
  lastHeardAt: number | undefined;
  /** From when its silence counts: it became a neighbour, or alive at a new incarnation, or we started. */
  watchingSince: number;
  /** Send time of our latest heartbeat it acknowledged, in our current incarnation. */
  ackedSendAt: number;
  ackedRound: number;
  /** It holds us dead or gone at our incarnation (it said so in its heartbeat). */
  refutesUs: boolean;
  theirDigest: bigint | undefined;
  mismatches: number;
  lastSyncAt: number;
  /** When this node last answered a heartbeat from it although it is not a neighbour. */
  repliedAt: number;
  /** Token bucket against floods, refilled per second. */
  tokens: number;
  tokensAt: number;
}

/** Send times of the last heartbeats, by sequence: acknowledgements come back within a second. */
const SEND_TIME_SLOTS = 1024;
const RATE_PER_SECOND = 400;
const RATE_BURST = 800;
const PAIR_KEY_CACHE = 512;

function incKey(id: string, inc: Incarnation): string {
  return `${id}/${inc.gen}/${inc.round}`;
}

const keyTexts = new WeakMap<PublicKeys, string>();

/** A public key's bytes as text, computed once per key object (it is looked up for every datagram). */
function keyText(k: PublicKeys): string {
  let t = keyTexts.get(k);
  if (t === undefined) {
    t = k.dh.toString('base64');
    keyTexts.set(k, t);
  }
  return t;
}

/** Node accepts IPv4 peers on an IPv6 socket as ::ffff:a.b.c.d. */
function plainAddress(a: string): string {
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

export class MeshNode {
  readonly id: string;
  private readonly self: { name: string; gen: number; keys: KeyPairs[] };
  private sendingVersion: number;
  private readonly params: MeshParams;
  private readonly clock: MeshClock;
  private readonly transport: MeshTransport;
  private readonly events: MeshEvents;
  private readonly random: () => number;

  private inc: Incarnation;
  private status: MemberStatus = 'joining';
  private statusSince: number;
  private readonly startedAt: number;
  private readonly members: MemberTable;
  /** State kept only for the members this node talks to (neighbours, gossip partners). */
  private readonly peers = new Map<string, PeerState>();
  private roster = new Roster([]);
  private ring: Ring = this.roster.ring;
  private neighbours: string[] = [];
  /** Members long known dead, suspended or gone, by id, with when each was first seen so. */
  private readonly downSince = new Map<string, number>();
  private readonly evicted = new Set<string>();
  private readonly offRing = (id: string): boolean => this.evicted.has(id);
  /** Earlier neighbour sets that still count for the fence, until the time given. */
  private transitional: { ids: string[]; until: number }[] = [];

  private seq = 0;
  private readonly sentAt = new Float64Array(SEND_TIME_SLOTS);
  private readonly sentSeq = new Float64Array(SEND_TIME_SLOTS).fill(-1);
  private readonly sentRound = new Int32Array(SEND_TIME_SLOTS);
  private readonly pairMacs = new Map<string, Mac>();

  /** Suspicions by subject incarnation ("id/gen/round") then by signer id. */
  private readonly suspicions = new Map<string, Map<string, SuspectStatement>>();
  /** Subjects we ourselves suspect, by incarnation key: never acknowledged again at that incarnation. */
  private readonly ownSuspicions = new Map<string, { stmt: SuspectStatement; sentAt: number }>();
  /** Deaths that need the API server's vote too (clusters of two or four), re-judged on each tick. */
  private readonly apiAssisted = new Map<string, { subject: string; inc: Incarnation }>();
  private readonly piggyback: { stmt: Statement; left: number }[] = [];
  private readonly seenStatements = new Set<string>();
  private seenOrder: string[] = [];

  private apiAckSentAt = Number.NEGATIVE_INFINITY;
  private apiEchoSentAt = Number.NEGATIVE_INFINITY;
  private readonly leaseRenewedAt: (name: string) => number | undefined;

  private aliveSince: number | undefined;
  private readonly releasedBy = new Set<string>();
  private readonly releaseAskedAt = new Map<string, number>();
  private lastTickAt: number | undefined;
  private unhealthyUntil = Number.NEGATIVE_INFINITY;
  private wakingUntil = Number.NEGATIVE_INFINITY;
  private synced = false;
  private syncAnswered = false;
  private syncAskedAt: number | undefined;
  private lastSyncAsk = Number.NEGATIVE_INFINITY;
  private lastFenced: boolean | undefined;
  private trouble = false;
  private candidateCache: { version: string; names: ReadonlySet<string> } | undefined;
  private lastCandidatesVersion = '';
  private refused = 0;
  private left = false;

  constructor(
    self: MeshSelf,
    opts: {
      params: MeshParams;
      clock: MeshClock;
      transport: MeshTransport;
      events: MeshEvents;
      /** For the gossip targets; seeded in the simulation. */
      random?: () => number;
      /** Incarnation to start at (the Lease's generation, round 0 unless told otherwise). */
      round?: number;
      /**
       * When (this clock) the named member's Lease was last seen renewed, if it was: the API server's vote.
       * The host keeps it (the speaker's Lease informer already does), so a node holds no per-member map
       * of its own and N nodes of a simulation can share one.
       */
      leaseRenewedAt: (name: string) => number | undefined;
    },
  ) {
    this.self = { name: self.name, gen: self.gen, keys: [...self.keys] };
    this.sendingVersion = self.keys[0]!.public.version;
    this.id = nodeId(self.name);
    this.params = opts.params;
    this.clock = opts.clock;
    this.transport = opts.transport;
    this.events = opts.events;
    this.random = opts.random ?? Math.random;
    this.leaseRenewedAt = opts.leaseRenewedAt;
    this.inc = { gen: self.gen, round: opts.round ?? 0 };
    this.startedAt = this.clock.now();
    this.statusSince = this.startedAt;
    this.members = new MemberTable(this.id);
    this.members.setOwn(this.inc, 'joining', undefined, this.startedAt);
  }

  // ---- what the speaker asks ---------------------------------------------------------------------------

  /** This node's incarnation and state. */
  state(): { inc: Incarnation; status: MemberStatus } {
    return { inc: { ...this.inc }, status: this.status };
  }

  /**
   * Whether this node may answer for its addresses now: it is alive, and enough voters heard it recently
   * that a quorum declaring it dead cannot exist (checked at each answer, so a stalled process that wakes
   * up answers nothing until fresh acknowledgements arrive).
   */
  mayAnswer(): boolean {
    if (this.status !== 'alive' || this.left) return false;
    if (this.waking()) return false;
    return this.fenceCheck().ok;
  }

  /**
   * Just out of a stall (its ticks came late, or are late now): what it believes may be stale, and the
   * statements that would correct it may still be waiting in its socket. It answers nothing for two more
   * intervals, by which time the event loop has read them.
   */
  private waking(): boolean {
    const now = this.clock.now();
    if (now < this.wakingUntil) return true;
    return this.lastTickAt !== undefined && now - this.lastTickAt > 2 * this.params.intervalMs;
  }

  /**
   * Until when mayAnswer() stays true if no further acknowledgement arrives: the time the quorum of fresh
   * voters lapses. -Infinity when it is false now, Infinity for a node with no neighbours.
   */
  answerableUntil(): number {
    if (this.status !== 'alive' || this.left || this.waking()) return Number.NEGATIVE_INFINITY;
    const now = this.clock.now();
    let until = Number.POSITIVE_INFINITY;
    for (const ids of [
      this.neighbours,
      ...this.transitional.filter((t) => t.until > now).map((t) => t.ids),
    ]) {
      if (ids.length === 0) continue;
      const q = quorumsFor(ids.length);
      const expiries = ids.map((id) => {
        const p = this.peers.get(id);
        return p && p.ackedRound === this.inc.round
          ? p.ackedSendAt + this.params.fenceAfterMs
          : Number.NEGATIVE_INFINITY;
      });
      if (q.apiVoter) expiries.push(this.apiAckSentAt + this.params.apiAckValidMs);
      expiries.sort((a, b) => b - a);
      until = Math.min(until, expiries[q.ack - 1] ?? Number.NEGATIVE_INFINITY);
    }
    return until > now ? until : Number.NEGATIVE_INFINITY;
  }

  /** Whether some peer or the API server acknowledged this node recently: BGP stays up while either does. */
  connected(): boolean {
    if (this.neighbours.length === 0) return true;
    const now = this.clock.now();
    if (now - this.apiAckSentAt < this.params.apiAckValidMs * 4) return true;
    return this.neighbours.some(
      (id) => now - (this.peers.get(id)?.ackedSendAt ?? -Infinity) < this.params.fenceAfterMs,
    );
  }

  /**
   * Names of the nodes that may own addresses: alive in this node's view, this node included if it is.
   * Kept as exceptions to the roster, and rebuilt only when they change.
   */
  candidates(): ReadonlySet<string> {
    const version = this.candidatesVersion();
    if (this.candidateCache?.version === version) return this.candidateCache.names;
    const selfAlive = this.status === 'alive' && !this.left;
    const excluded = new Set<string>(this.members.exceptions());
    for (const id of this.roster.entries.keys()) {
      if (id === this.id || excluded.has(id)) continue;
      const b = this.members.get(id);
      if (b && this.apiAssisted.has(incKey(id, b.inc)) && this.apiVotesDead(id)) excluded.add(id);
    }
    let names: ReadonlySet<string>;
    if (!selfAlive) names = this.roster.namesExcept(excluded.add(this.id));
    else if (this.roster.entries.has(this.id)) names = this.roster.namesExcept(excluded);
    else names = new Set([...this.roster.namesExcept(excluded), this.self.name]);
    this.candidateCache = { version, names };
    return names;
  }

  /** Changes whenever candidates() may: own state, beliefs, the roster, and the API server's votes. */
  private candidatesVersion(): string {
    let api = '';
    for (const [key, a] of this.apiAssisted) if (this.apiVotesDead(a.subject)) api += `${key};`;
    return `${this.status}/${this.left}/${this.members.version}/${api}`;
  }

  /** Nodes that confirmed they released this node's addresses in its current incarnation. */
  releases(): ReadonlySet<string> {
    return this.releasedBy;
  }

  /** When this node became alive in its current incarnation (the handover clock), if it is. */
  aliveAt(): number | undefined {
    return this.aliveSince;
  }

  /**
   * Asks `name`, which holds addresses this node now owns, to confirm it let go: a release request with
   * this node's alive statement (in case it missed it), at most every releaseRequestMs per holder.
   */
  requestRelease(name: string): void {
    if (this.status !== 'alive' || this.left || this.releasedBy.has(name)) return;
    const id = this.roster.idOf(name);
    const p = id ? this.peer(id) : undefined;
    if (!p) return;
    const now = this.clock.now();
    if (now - (this.releaseAskedAt.get(name) ?? Number.NEGATIVE_INFINITY) < this.params.releaseRequestMs)
      return;
    this.releaseAskedAt.set(name, now);
    const alive = this.members.ownProof();
    if (alive)
      this.send(p, { kind: KIND.gossip, header: this.header(KIND.gossip, p), body: { statements: [alive] } });
    this.send(p, {
      kind: KIND.releaseRequest,
      header: this.header(KIND.releaseRequest, p),
      body: { inc: this.inc },
    });
  }

  /** Beliefs that differ from what the Leases say, for status and diagnostics. */
  beliefs(): Map<string, MemberBelief> {
    const out = new Map<string, MemberBelief>();
    for (const [id, b] of this.members.overrides()) {
      const m = this.roster.get(id);
      if (m) out.set(m.name, b);
    }
    return out;
  }

  neighbourNames(): string[] {
    return this.neighbours.map((id) => this.roster.get(id)?.name ?? id);
  }

  /** Whether this node would be among `name`'s neighbours if that node joined the ring. */
  wouldWatch(name: string): boolean {
    return this.ring.neighboursIfJoined(nodeId(name)).includes(this.id);
  }

  // ---- inputs from the speaker -------------------------------------------------------------------------

  /**
   * The mesh members from the Leases (this node's own entry may be among them and is ignored). A Roster
   * can be shared between nodes; a member list is indexed first.
   */
  setRoster(roster: Roster | readonly MeshMember[]): void {
    const next = roster instanceof Roster ? roster : new Roster(roster);
    if (next === this.roster) return;
    const now = this.clock.now();
    this.roster = next;
    for (const [id, p] of this.peers) {
      const m = next.get(id);
      if (!m) {
        this.peers.delete(id);
        continue;
      }
      if (m.gen !== p.member.gen) {
        p.replay.reset();
        p.heardInc = undefined;
        p.lastHeardAt = undefined;
        p.watchingSince = now;
      }
      p.member = m;
    }
    const aliveBefore = new Set(this.neighbours.filter((id) => this.members.get(id)?.status === 'alive'));
    this.members.setRoster(next);
    this.ring = next.withSelf(this.id);
    this.updateNeighbours(now);
    // A neighbour that became alive through its Lease is watched from now.
    for (const id of this.neighbours)
      if (!aliveBefore.has(id) && this.members.get(id)?.status === 'alive')
        this.peer(id)!.watchingSince = now;
    this.notifyIfChanged();
  }

  private updateNeighbours(now: number): void {
    const neighbours = this.ring.neighbours(this.id, this.offRing);
    const old = this.neighbours;
    if (old.join() === neighbours.join()) return;
    if (old.length > 0) this.transitional.push({ ids: old, until: now + this.params.transitionMs });
    for (const id of neighbours) if (!old.includes(id)) this.peer(id)!.watchingSince = now;
    this.neighbours = neighbours;
  }

  /**
   * Members dead, suspended or gone for evictAfterMs leave the ring (in every node's view at about the
   * same time: the clock starts when each learns it), so their neighbours get live ones instead of
   * waiting for their Leases to expire. They come back as soon as they are alive or joining again.
   */
  private judgeEvictions(now: number): void {
    const isDown = (id: string) => {
      const st = this.members.get(id)?.status;
      return st === 'dead' || st === 'suspended' || st === 'leaving';
    };
    let changed = false;
    for (const id of this.members.exceptions()) {
      if (!isDown(id)) continue;
      const since = this.downSince.get(id);
      if (since === undefined) this.downSince.set(id, now);
      else if (!this.evicted.has(id) && now - since >= this.params.evictAfterMs) {
        this.evicted.add(id);
        changed = true;
      }
    }
    for (const id of [...this.downSince.keys()]) {
      if (isDown(id)) continue;
      this.downSince.delete(id);
      if (this.evicted.delete(id)) changed = true;
    }
    if (changed) this.updateNeighbours(now);
  }

  /** The state kept for a member this node talks to, made on first use. */
  private peer(id: string): PeerState | undefined {
    let p = this.peers.get(id);
    if (p) return p;
    const member = this.roster.get(id);
    if (!member || id === this.id) return undefined;
    const now = this.clock.now();
    p = {
      member,
      id,
      replay: new ReplayWindow(),
      heardInc: undefined,
      lastHeardAt: undefined,
      watchingSince: now,
      ackedSendAt: Number.NEGATIVE_INFINITY,
      ackedRound: -1,
      refutesUs: false,
      theirDigest: undefined,
      mismatches: 0,
      lastSyncAt: Number.NEGATIVE_INFINITY,
      repliedAt: Number.NEGATIVE_INFINITY,
      tokens: RATE_BURST,
      tokensAt: now,
    };
    this.peers.set(id, p);
    return p;
  }

  /** A new key pair that peers may already use towards this node (it is published in the Lease). */
  addKeys(keys: KeyPairs): void {
    if (!this.self.keys.some((k) => k.public.version === keys.public.version)) this.self.keys.push(keys);
  }

  /** Send and sign with this key version from now on (peers have had time to learn it). */
  useKeys(version: number): void {
    if (this.self.keys.some((k) => k.public.version === version)) this.sendingVersion = version;
  }

  /** Forget a key version once no peer uses it any more. */
  dropKeys(version: number): void {
    if (version === this.sendingVersion) return;
    this.self.keys = this.self.keys.filter((k) => k.public.version !== version);
    this.pairMacs.clear();
  }

  /** This node's Lease write, sent at `sentAt`, was accepted by the API server. */
  apiAcknowledged(sentAt: number): void {
    this.apiAckSentAt = Math.max(this.apiAckSentAt, sentAt);
  }

  /** This node's own Lease write sent at `sentAt` came back through the watch: our view is current to it. */
  apiEcho(sentAt: number): void {
    this.apiEchoSentAt = Math.max(this.apiEchoSentAt, sentAt);
  }

  /** Tell a joining node that this node no longer answers for the addresses it now owns. */
  sendReleased(name: string): void {
    const id = this.roster.idOf(name);
    const p = id ? this.peer(id) : undefined;
    const b = id ? this.members.get(id) : undefined;
    if (!p || !b) return;
    this.send(p, { kind: KIND.released, header: this.header(KIND.released, p), body: { inc: b.inc } });
  }

  // ---- the periodic work -------------------------------------------------------------------------------

  /** Sends this interval's heartbeats. */
  tick(): void {
    if (this.left) return;
    const now = this.clock.now();
    // Lifeguard's local health: a tick that comes late means this process was stalled or starved, and
    // its view of who is silent is not to be trusted for a while. It then neither accuses its neighbours
    // nor gives up on itself until it has run on time for a suspicion period again.
    if (this.lastTickAt !== undefined && now - this.lastTickAt > 2 * this.params.intervalMs) {
      this.unhealthyUntil = now + this.params.suspectAfterMs;
      this.wakingUntil = now + 2 * this.params.intervalMs;
    }
    this.lastTickAt = now;
    this.transitional = this.transitional.filter((t) => t.until > now);
    const targets = new Set(this.neighbours);
    for (const t of this.transitional) for (const id of t.ids) targets.add(id);
    const statements = this.takePiggyback();
    const digest = this.members.digest();
    for (const id of targets) {
      const p = this.peers.get(id);
      if (p) this.sendHeartbeat(p, statements, digest);
    }
  }

  /**
   * A heartbeat: the acknowledgement of the peer's latest datagram (withheld when we suspected that
   * incarnation or hold it dead or gone, which we then say), our digest, and piggybacked statements.
   */
  private sendHeartbeat(p: PeerState, statements: Statement[], digest: bigint): void {
    const b = this.members.get(p.id);
    const refuted =
      !!b &&
      !!p.heardInc &&
      compareIncarnation(p.heardInc, b.inc) <= 0 &&
      b.status !== 'alive' &&
      b.status !== 'joining';
    const acking = p.heardInc && !this.ownSuspicions.has(incKey(p.id, p.heardInc)) && !refuted;
    this.send(p, {
      kind: KIND.heartbeat,
      header: this.header(KIND.heartbeat, p),
      body: { ack: acking ? p.replay.latest : 0n, refuted, digest, statements },
    });
  }

  /** Judges silence, quorums and this node's own standing; call after pending datagrams were read. */
  judge(): void {
    if (this.left) return;
    const now = this.clock.now();
    // Only a node in good standing accuses others: one that is joining, or short of acknowledgements
    // itself, may be the one whose network is broken (Lifeguard's lesson).
    const accusing = this.status === 'alive' && this.fenceCheck().ok && now >= this.unhealthyUntil;
    for (const id of accusing ? this.neighbours : []) {
      const p = this.peers.get(id)!;
      const b = this.members.get(id);
      if (b?.status !== 'alive') continue;
      const key = incKey(id, b.inc);
      const mine = this.ownSuspicions.get(key);
      if (mine) {
        if (now - mine.sentAt >= 4 * this.params.intervalMs) this.spreadSuspicion(mine.stmt);
        continue;
      }
      const heardThisInc =
        p.heardInc && compareIncarnation(p.heardInc, b.inc) >= 0 ? p.lastHeardAt : undefined;
      const since = Math.max(
        heardThisInc ?? Number.NEGATIVE_INFINITY,
        p.watchingSince,
        b.since,
        this.startedAt,
      );
      if (now - since > this.params.suspectAfterMs) this.suspect(id, b.inc);
    }
    for (const [key, entry] of this.apiAssisted) {
      const b = this.members.get(entry.subject);
      if (!b || incKey(entry.subject, b.inc) !== key || b.status !== 'alive') this.apiAssisted.delete(key);
    }
    this.judgeEvictions(now);
    this.judgeSelf(now);
    this.requestSyncs(now);
    this.notifyIfChanged();
  }

  /** Graceful exit: tell everyone this node is leaving, so they take over without waiting for silence. */
  leave(): void {
    if (this.left) return;
    const stmt = this.selfStatement(STATEMENT.leaving);
    this.setStatus('leaving', 'shutting down', stmt);
    this.left = true;
    const targets =
      this.roster.size <= 64
        ? [...this.roster.entries.keys()]
        : [...this.neighbours, ...this.randomMembers(2 * this.params.gossipFanout)];
    for (const id of new Set(targets)) {
      const p = this.peer(id);
      if (p)
        this.send(p, {
          kind: KIND.gossip,
          header: this.header(KIND.gossip, p),
          body: { statements: [stmt] },
        });
    }
    this.notifyIfChanged();
  }

  // ---- receiving ---------------------------------------------------------------------------------------

  receive(buf: Buffer, fromAddress: string): void {
    if (this.left) return;
    const h = peekHeader(buf);
    if ('error' in h) {
      this.refuse(fromAddress, h.error);
      return;
    }
    if (h.receiver !== this.id) {
      this.refuse(fromAddress, 'addressed to another node');
      return;
    }
    const member = this.roster.get(h.sender);
    if (!member || h.sender === this.id) {
      this.refuse(fromAddress, 'sender not in the roster');
      return;
    }
    if (plainAddress(fromAddress) !== member.address) {
      this.refuse(fromAddress, `not ${member.name}'s address`);
      return;
    }
    const p = this.peer(h.sender)!;
    const now = this.clock.now();
    p.tokens = Math.min(RATE_BURST, p.tokens + ((now - p.tokensAt) * RATE_PER_SECOND) / 1000);
    p.tokensAt = now;
    if (p.tokens < 1) {
      this.refuse(fromAddress, 'rate limited');
      return;
    }
    p.tokens -= 1;
    if (h.inc.gen !== p.member.gen) {
      this.refuse(fromAddress, `generation ${h.inc.gen} is not the Lease's ${p.member.gen}`);
      return;
    }
    const mac = this.macFor(p, h.senderKeyVersion, h.receiverKeyVersion);
    if (!mac) {
      this.refuse(fromAddress, 'unknown key version');
      return;
    }
    const body = buf.subarray(0, buf.length - MAC_BYTES);
    if (!timingSafeEqual(mac.tag(body), buf.subarray(buf.length - MAC_BYTES))) {
      this.refuse(fromAddress, 'bad authentication');
      return;
    }
    const d = decodeBody(buf, h);
    if ('error' in d) {
      this.refuse(fromAddress, d.error);
      return;
    }
    if (!p.replay.accept(h.seq)) return; // seen before
    if (!p.heardInc || compareIncarnation(h.inc, p.heardInc) > 0) p.heardInc = h.inc;
    if (compareIncarnation(h.inc, p.heardInc) === 0) p.lastHeardAt = now;
    switch (d.kind) {
      case KIND.heartbeat:
        this.onHeartbeat(p, d.body);
        break;
      case KIND.gossip:
        for (const s of d.body.statements) this.takeStatement(s, p.id);
        break;
      case KIND.syncReply:
        for (const s of d.body.statements) this.takeStatement(s, p.id);
        this.syncAnswered = true;
        break;
      case KIND.syncRequest:
        // Always answered: a requester asks at most a few times a second (joining) or once a second.
        this.answerSync(p, d.body.digest);
        break;
      case KIND.released:
        if (compareIncarnation(d.body.inc, this.inc) === 0) {
          this.releasedBy.add(p.member.name);
          this.events.onChange();
        }
        break;
      case KIND.releaseRequest: {
        // Answered by the speaker, which knows what it holds; only for the incarnation we hold alive.
        const b = this.members.get(p.id);
        if (b?.status === 'alive' && compareIncarnation(b.inc, d.body.inc) === 0)
          this.events.onReleaseRequest?.(p.member.name);
        break;
      }
    }
  }

  private onHeartbeat(p: PeerState, body: HeartbeatBody): void {
    // A member that counts this node among its neighbours while this node does not count it (it was
    // off the ring, or the two views of the ring differ for a moment) still gets an acknowledgement,
    // at most once an interval, so that it can come back.
    if (!this.neighbours.includes(p.id) && !this.transitional.some((t) => t.ids.includes(p.id))) {
      const now = this.clock.now();
      if (now - p.repliedAt >= this.params.intervalMs) {
        p.repliedAt = now;
        this.sendHeartbeat(p, [], this.members.digest());
      }
    }
    if (body.ack > 0n && body.ack <= BigInt(Number.MAX_SAFE_INTEGER)) {
      const ack = Number(body.ack);
      const slot = ack % SEND_TIME_SLOTS;
      if (this.sentSeq[slot] === ack && this.sentRound[slot] === this.inc.round) {
        const at = this.sentAt[slot]!;
        if (at > p.ackedSendAt || p.ackedRound !== this.inc.round) {
          p.ackedSendAt = at;
          p.ackedRound = this.inc.round;
        }
      }
    }
    p.refutesUs = body.refuted;
    for (const s of body.statements) this.takeStatement(s, p.id);
    if (p.theirDigest !== body.digest) p.mismatches = 0;
    p.theirDigest = body.digest;
    p.mismatches = body.digest === this.members.digest() ? 0 : p.mismatches + 1;
  }

  // ---- statements --------------------------------------------------------------------------------------

  private keysOf(id: string, version: number): PublicKeys | undefined {
    if (id === this.id) return this.self.keys.find((k) => k.public.version === version)?.public;
    return this.roster.get(id)?.keys.find((k) => k.version === version);
  }

  private verifySelfStatement(s: SelfStatement): boolean {
    const m = this.roster.get(s.subject);
    if (!m || s.signature.by !== s.subject || s.inc.gen !== m.gen) return false;
    const key = this.keysOf(s.subject, s.signature.keyVersion);
    return !!key && verifyStatement(key, signedBytes(s.type, s.subject, s.inc), s.signature.signature);
  }

  /** A suspicion counts only from a current neighbour of its subject, signed with that neighbour's key. */
  private verifySuspicion(subject: string, inc: Incarnation, sig: Signature): boolean {
    if (!this.ring.watches(sig.by, subject, this.offRing)) return false;
    const key = this.keysOf(sig.by, sig.keyVersion);
    return !!key && verifyStatement(key, signedBytes(STATEMENT.suspect, subject, inc, sig.by), sig.signature);
  }

  private subjectGen(subject: string): number | undefined {
    return subject === this.id ? this.inc.gen : this.roster.get(subject)?.gen;
  }

  private takeStatement(s: Statement, from: string | undefined): void {
    const key = `${s.type}/${s.subject}/${s.inc.gen}/${s.inc.round}/${s.type === STATEMENT.suspect ? s.signature.by : ''}`;
    if (this.seenStatements.has(key)) return;
    const gen = this.subjectGen(s.subject);
    if (gen === undefined || s.inc.gen !== gen) return;
    switch (s.type) {
      case STATEMENT.suspect: {
        // Cheap checks first: a suspicion of an incarnation we do not hold alive, or one we already
        // have, costs no signature check.
        const b = this.members.get(s.subject);
        if (b?.status !== 'alive' || compareIncarnation(b.inc, s.inc) !== 0) return;
        if (this.suspicions.get(incKey(s.subject, s.inc))?.has(s.signature.by)) return;
        if (!this.verifySuspicion(s.subject, s.inc, s.signature)) return;
        this.remember(key);
        this.addSuspicion(s);
        return;
      }
      case STATEMENT.dead: {
        if (s.subject !== this.id && !this.members.wouldChange(s)) return;
        if (s.subject === this.id && compareIncarnation(s.inc, this.inc) !== 0) return;
        const q = quorumsFor(this.ring.neighbours(s.subject, this.offRing).length);
        const signers = new Set<string>();
        for (const sig of s.signatures) {
          if (signers.has(sig.by) || !this.verifySuspicion(s.subject, s.inc, sig)) continue;
          signers.add(sig.by);
        }
        if (signers.size < q.suspect) {
          // Not a full quorum of neighbours; in a cluster where the API server votes, the signatures may
          // still count as suspicions together with its vote.
          for (const sig of s.signatures)
            if (signers.has(sig.by))
              this.addSuspicion({ type: STATEMENT.suspect, subject: s.subject, inc: s.inc, signature: sig });
          return;
        }
        this.remember(key);
        if (s.subject === this.id) {
          this.declaredDeadSelf(s);
          return;
        }
        if (this.members.apply(s, this.clock.now())) this.spread(s, from);
        return;
      }
      default: {
        if (s.subject === this.id || !this.members.wouldChange(s)) return;
        if (!this.verifySelfStatement(s)) return;
        this.remember(key);
        if (this.members.apply(s, this.clock.now())) {
          const p = this.peers.get(s.subject);
          if (s.type === STATEMENT.alive && p) p.watchingSince = this.clock.now();
          this.spread(s, from);
        }
      }
    }
  }

  private remember(key: string): void {
    this.seenStatements.add(key);
    this.seenOrder.push(key);
    if (this.seenOrder.length > 4096) {
      for (const k of this.seenOrder.splice(0, 2048)) this.seenStatements.delete(k);
    }
  }

  private addSuspicion(s: SuspectStatement): void {
    const b = this.members.get(s.subject);
    if (!b || compareIncarnation(s.inc, b.inc) !== 0) return;
    const key = incKey(s.subject, s.inc);
    let set = this.suspicions.get(key);
    if (!set) {
      set = new Map();
      this.suspicions.set(key, set);
    }
    if (set.has(s.signature.by)) return;
    set.set(s.signature.by, s);
    this.tryDeclare(s.subject, s.inc);
  }

  private tryDeclare(subject: string, inc: Incarnation): void {
    const b = this.members.get(subject);
    if (b?.status !== 'alive' || compareIncarnation(b.inc, inc) !== 0) return;
    const key = incKey(subject, inc);
    const set = this.suspicions.get(key);
    if (!set) return;
    const watchers = this.ring.neighbours(subject, this.offRing);
    const q = quorumsFor(watchers.length);
    const valid = [...set.values()].filter((s) => watchers.includes(s.signature.by));
    if (valid.length >= q.suspect) {
      const dead: DeadStatement = {
        type: STATEMENT.dead,
        subject,
        inc,
        signatures: valid.slice(0, q.suspect).map((s) => s.signature),
      };
      this.remember(`${dead.type}/${subject}/${inc.gen}/${inc.round}/`);
      if (this.members.apply(dead, this.clock.now())) {
        this.events.onNotice?.({
          kind: 'declared-dead',
          subject: this.nameOf(subject),
          by: dead.signatures.map((s) => this.nameOf(s.by)),
        });
        this.spread(dead, undefined);
      }
      return;
    }
    if (q.apiVoter && valid.length >= q.suspect - 1) this.apiAssisted.set(key, { subject, inc });
  }

  /** The API server's vote on `subject`: our watch is current, and its Lease has not moved for a while. */
  private apiVotesDead(subject: string): boolean {
    const now = this.clock.now();
    if (now - this.apiEchoSentAt > this.params.apiStaleMs) return false;
    const member = this.roster.get(subject);
    const changed = (member && this.leaseRenewedAt(member.name)) ?? this.startedAt;
    return now - changed > this.params.apiStaleMs;
  }

  private suspect(subject: string, inc: Incarnation): void {
    const stmt: SuspectStatement = {
      type: STATEMENT.suspect,
      subject,
      inc,
      signature: this.sign(signedBytes(STATEMENT.suspect, subject, inc, this.id)),
    };
    this.ownSuspicions.set(incKey(subject, inc), { stmt, sentAt: this.clock.now() });
    this.events.onNotice?.({ kind: 'suspect', subject: this.nameOf(subject) });
    this.addSuspicion(stmt);
    this.spreadSuspicion(stmt);
  }

  /** To the subject's other neighbours (who count suspicions) and the subject (so it knows). */
  private spreadSuspicion(stmt: SuspectStatement): void {
    const entry = this.ownSuspicions.get(incKey(stmt.subject, stmt.inc));
    if (entry) entry.sentAt = this.clock.now();
    const targets = new Set([stmt.subject, ...this.ring.neighbours(stmt.subject, this.offRing)]);
    targets.delete(this.id);
    for (const id of targets) {
      const p = this.peer(id);
      if (p)
        this.send(p, {
          kind: KIND.gossip,
          header: this.header(KIND.gossip, p),
          body: { statements: [stmt] },
        });
    }
  }

  /** A new statement: to a few random members at once, and to the neighbours on the next heartbeats. */
  private spread(s: Statement, from: string | undefined): void {
    this.piggyback.push({ stmt: s, left: this.params.piggybackRounds });
    for (const id of this.randomMembers(this.params.gossipFanout, from)) {
      const p = this.peer(id);
      if (p)
        this.send(p, { kind: KIND.gossip, header: this.header(KIND.gossip, p), body: { statements: [s] } });
    }
    this.events.onChange();
  }

  /** Up to `n` distinct random members other than this node and `except`, without copying the ring. */
  private randomMembers(n: number, except?: string): string[] {
    const all = this.ring.members();
    const eligible =
      all.length - (this.ring.has(this.id) ? 1 : 0) - (except && this.ring.has(except) ? 1 : 0);
    const want = Math.min(n, eligible);
    const out = new Set<string>();
    while (out.size < want) {
      const id = all[Math.floor(this.random() * all.length)]!;
      if (id !== this.id && id !== except) out.add(id);
    }
    return [...out];
  }

  private nameOf(id: string): string {
    return id === this.id ? this.self.name : (this.roster.get(id)?.name ?? id);
  }

  private takePiggyback(): Statement[] {
    const out: Statement[] = [];
    let room = statementRoom(17);
    for (const entry of this.piggyback) {
      const size = statementSize(entry.stmt);
      if (size > room || out.length === 255) break;
      room -= size;
      out.push(entry.stmt);
      entry.left--;
    }
    for (let i = this.piggyback.length - 1; i >= 0; i--)
      if (this.piggyback[i]!.left <= 0) this.piggyback.splice(i, 1);
    return out;
  }

  // ---- sync --------------------------------------------------------------------------------------------

  private requestSyncs(now: number): void {
    const mine = this.members.digest();
    for (const id of this.neighbours) {
      const p = this.peers.get(id)!;
      if (p.theirDigest === undefined || p.theirDigest === mine) continue;
      if (p.mismatches < 3 || now - p.lastSyncAt < 1000) continue;
      p.lastSyncAt = now;
      this.send(p, {
        kind: KIND.syncRequest,
        header: this.header(KIND.syncRequest, p),
        body: { digest: mine },
      });
    }
  }

  private answerSync(p: PeerState, theirDigest: bigint): void {
    const statements = [...this.members.proofs(), ...this.members.recentAlive(this.clock.now() - 60_000)];
    const unique = [
      ...new Map(statements.map((s) => [`${s.type}/${s.subject}/${s.inc.gen}/${s.inc.round}`, s])).values(),
    ];
    let batch: Statement[] = [];
    let room = statementRoom(0);
    const flush = () => {
      if (batch.length)
        this.send(p, {
          kind: KIND.syncReply,
          header: this.header(KIND.syncReply, p),
          body: { statements: batch },
        });
      batch = [];
      room = statementRoom(0);
    };
    let sent = false;
    for (const s of unique) {
      const size = statementSize(s);
      if (size > room || batch.length === 255) {
        flush();
        sent = true;
      }
      batch.push(s);
      room -= size;
    }
    if (batch.length || !sent) {
      this.send(p, {
        kind: KIND.syncReply,
        header: this.header(KIND.syncReply, p),
        body: { statements: batch },
      });
      batch = [];
    }
    // It differs from us: it may hold what we miss, too.
    const now = this.clock.now();
    if (theirDigest !== this.members.digest() && now - p.lastSyncAt >= 1000) {
      p.lastSyncAt = now;
      this.send(p, {
        kind: KIND.syncRequest,
        header: this.header(KIND.syncRequest, p),
        body: { digest: this.members.digest() },
      });
    }
  }

  // ---- this node's own standing ------------------------------------------------------------------------

  private fenceCheck(): { ok: boolean; acks: number; needed: number; meshAcks: number; meshNeeded: number } {
    const now = this.clock.now();
    const sets = [this.neighbours, ...this.transitional.filter((t) => t.until > now).map((t) => t.ids)];
    let ok = true;
    let acks = 0;
    let needed = 0;
    let meshAcks = 0;
    let meshNeeded = 0;
    sets.forEach((ids, i) => {
      if (ids.length === 0) return;
      const q = quorumsFor(ids.length);
      const mesh = ids.filter((id) => {
        const p = this.peers.get(id);
        return !!p && p.ackedRound === this.inc.round && now - p.ackedSendAt < this.params.fenceAfterMs;
      }).length;
      const api = q.apiVoter && now - this.apiAckSentAt < this.params.apiAckValidMs ? 1 : 0;
      if (mesh + api < q.ack) ok = false;
      if (i === 0) {
        acks = mesh + api;
        needed = q.ack;
        meshAcks = mesh;
        meshNeeded = q.ack;
      }
    });
    return { ok, acks, needed, meshAcks, meshNeeded };
  }

  private judgeSelf(now: number): void {
    const f = this.fenceCheck();
    // Short of mesh acknowledgements: where the API server votes, it must hear from us before our
    // neighbours' suspicions ripen, so that a partition is not mistaken for a death. Judged on fresher
    // acknowledgements than the fence, so the Lease writes start well before any suspicion.
    const trouble =
      this.freshMeshAcks(this.params.troubleAfterMs) < f.meshNeeded &&
      quorumsFor(this.neighbours.length).apiVoter;
    if (trouble !== this.trouble) {
      this.trouble = trouble;
      this.events.onTrouble?.(trouble);
      this.events.onNotice?.({ kind: 'trouble', inTrouble: trouble });
    }
    if (this.status === 'alive') {
      const fenced = !f.ok;
      if (fenced !== this.lastFenced) {
        this.lastFenced = fenced;
        this.events.onNotice?.({ kind: 'fenced', fenced, acks: f.acks, needed: f.needed });
        this.events.onChange();
      }
      if (fenced && now - this.lastAckedAt() >= this.params.suspendAfterMs && now >= this.unhealthyUntil) {
        this.stepBack('suspended', `heard by ${f.acks} of the ${f.needed} voters it needs`);
      }
      return;
    }
    if (this.status === 'joining' && f.ok) {
      if (!this.synced && !this.askedForSync(now)) return;
      this.synced = true;
      const stmt = this.selfStatement(STATEMENT.alive);
      this.aliveSince = now;
      this.releasedBy.clear();
      this.releaseAskedAt.clear();
      for (const id of this.neighbours) this.peers.get(id)!.watchingSince = now;
      this.setStatus('alive', 'heard by enough neighbours', stmt);
      this.lastFenced = false;
      this.spread(stmt, undefined);
    }
  }

  private freshMeshAcks(withinMs: number): number {
    const now = this.clock.now();
    return this.neighbours.filter((id) => {
      const p = this.peers.get(id);
      return !!p && p.ackedRound === this.inc.round && now - p.ackedSendAt < withinMs;
    }).length;
  }

  /** When the most recent acknowledgement that still keeps the quorum was for a heartbeat sent. */
  private lastAckedAt(): number {
    const q = quorumsFor(this.neighbours.length);
    const times = this.neighbours
      .map((id) => this.peers.get(id))
      .filter((p) => p && p.ackedRound === this.inc.round)
      .map((p) => p!.ackedSendAt);
    if (q.apiVoter) times.push(this.apiAckSentAt);
    times.sort((a, b) => b - a);
    return times[Math.max(0, q.ack - 1)] ?? Math.max(this.statusSince, this.startedAt);
  }

  /**
   * A joining node first asks its neighbours what they know (deaths, suspensions, rejoins) and takes part
   * once one of them answered, or after a second: it must not claim addresses on a stale view.
   */
  private askedForSync(now: number): boolean {
    if (this.neighbours.length === 0 || this.syncAnswered) return true;
    if (this.syncAskedAt === undefined) this.syncAskedAt = now;
    else if (now - this.syncAskedAt > 1000) return true;
    if (now - this.lastSyncAsk >= 250) {
      this.lastSyncAsk = now;
      for (const id of this.neighbours) {
        const p = this.peers.get(id);
        if (p)
          this.send(p, {
            kind: KIND.syncRequest,
            header: this.header(KIND.syncRequest, p),
            body: { digest: 0n },
          });
      }
    }
    return false;
  }

  private declaredDeadSelf(s: DeadStatement): void {
    if (compareIncarnation(s.inc, this.inc) !== 0 || this.status === 'leaving') return;
    this.stepBack('dead', 'declared dead by its neighbours');
  }

  /** Out of the candidates (suspended, or found declared dead), then back as joining at the next round. */
  private stepBack(status: 'suspended' | 'dead', reason: string): void {
    const proof = status === 'suspended' ? this.selfStatement(STATEMENT.suspended) : undefined;
    if (proof) this.spread(proof, undefined);
    this.setStatus(status, reason, proof);
    this.inc = { gen: this.inc.gen, round: this.inc.round + 1 };
    this.aliveSince = undefined;
    this.releasedBy.clear();
    this.synced = false;
    this.syncAnswered = false;
    this.syncAskedAt = undefined;
    this.lastFenced = undefined;
    this.setStatus('joining', 'rejoining at a new round');
  }

  private setStatus(status: MemberStatus, reason: string, proof?: SelfStatement): void {
    this.status = status;
    this.statusSince = this.clock.now();
    this.members.setOwn(this.inc, status, proof, this.statusSince);
    this.events.onNotice?.({ kind: 'self', status, inc: { ...this.inc }, reason });
    this.events.onSelfState?.({ ...this.inc }, status);
    this.events.onChange();
  }

  private selfStatement(type: SelfStatement['type']): SelfStatement {
    return {
      type,
      subject: this.id,
      inc: { ...this.inc },
      signature: this.sign(signedBytes(type, this.id, this.inc)),
    };
  }

  private sendingKeys(): KeyPairs {
    return this.self.keys.find((k) => k.public.version === this.sendingVersion) ?? this.self.keys[0]!;
  }

  private sign(data: Buffer): Signature {
    const keys = this.sendingKeys();
    return { by: this.id, keyVersion: keys.public.version, signature: signStatement(keys, data) };
  }

  private notifyIfChanged(): void {
    const v = this.candidatesVersion();
    if (v !== this.lastCandidatesVersion) {
      this.lastCandidatesVersion = v;
      this.events.onChange();
    }
  }

  // ---- sending -----------------------------------------------------------------------------------------

  private header(kind: Kind, p: PeerState): Header {
    return {
      kind,
      senderKeyVersion: this.sendingVersion,
      receiverKeyVersion: p.member.keys[0]?.version ?? 0,
      sender: this.id,
      receiver: p.id,
      inc: this.inc,
      seq: 0n,
    };
  }

  private macFor(p: PeerState, theirVersion: number, myVersion: number): Mac | undefined {
    const theirs = p.member.keys.find((k) => k.version === theirVersion);
    const mine = this.self.keys.find((k) => k.public.version === myVersion);
    if (!theirs || !mine) return undefined;
    // Keyed by the keys themselves: a restarted peer may reuse a generation number or a key version.
    const cacheKey = `${keyText(theirs)}/${keyText(mine.public)}`;
    let mac = this.pairMacs.get(cacheKey);
    if (mac) return mac;
    mac = new Mac(pairKey(mine, theirs));
    if (this.pairMacs.size >= PAIR_KEY_CACHE) this.pairMacs.delete(this.pairMacs.keys().next().value!);
    this.pairMacs.set(cacheKey, mac);
    return mac;
  }

  private send(p: PeerState, d: Datagram): void {
    const mac = this.macFor(p, d.header.receiverKeyVersion, d.header.senderKeyVersion);
    if (!mac) return;
    const seq = ++this.seq;
    d.header.seq = BigInt(seq);
    const slot = seq % SEND_TIME_SLOTS;
    this.sentSeq[slot] = seq;
    this.sentAt[slot] = this.clock.now();
    this.sentRound[slot] = this.inc.round;
    const body = encodeDatagram(d);
    this.transport.send(p.member.address, p.member.port, Buffer.concat([body, mac.tag(body)]));
  }

  private refuse(from: string, reason: string): void {
    this.refused++;
    // The first, then every thousandth: a misconfiguration must be visible, a flood must not flood logs.
    if (this.refused === 1 || this.refused % 1000 === 0)
      this.events.onNotice?.({ kind: 'refused', from, reason, count: this.refused });
  }
}
