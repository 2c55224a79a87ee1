/**
 * Which speakers are alive, from two sources: each speaker's Lease in the API server (slow: renewed every
 * few seconds) and heartbeats over the node network (fast: a silent peer is dead within a fraction of a
 * second). The fast path alone would split the brain under a partition, where both sides hear nobody, so:
 *
 * - A peer that was heard and falls silent is dead at once, but only for a speaker that hears a strict
 *   majority of the known speakers. A speaker in a minority assumes it is the one cut off and stops
 *   answering ARP/NDP for everything: the majority side takes its addresses over.
 * - A speaker that hears exactly half (1 of 2, 2 of 4) cannot tell which side is cut off: it judges silent
 *   peers by their Leases (slow, but never two owners).
 * - A peer never heard since it appeared (heartbeats blocked, or just started) is judged by its Lease.
 * - A speaker that can neither renew its own Lease nor hear any peer stops announcing altogether (L2 and
 *   BGP), unless it is the only speaker it knows of.
 *
 * Pure state with an injected clock; the heartbeat transport and the Lease writer feed it.
 */

export interface MembershipOptions {
  self: string;
  /** A peer silent this long is dead (fast path). */
  deadAfterMs: number;
  /** Our own Lease counts as held while its last renewal is younger than this. */
  leaseValidMs: number;
  /**
   * A speaker that has heard no peer since it started stays out of L2 this long: it may have started
   * inside a partition, and must not answer for addresses its peers hold when the partition heals.
   */
  startupQuietMs?: number;
}

export interface MembershipView {
  /** Speakers considered alive, self included. */
  alive: Set<string>;
  /** Whether this speaker may answer ARP/NDP: it hears a majority, or nobody is known to have been lost. */
  mayAnnounceL2: boolean;
  /** Whether this speaker may announce at all (false when cut off from both the API server and its peers). */
  mayAnnounce: boolean;
  /** Why announcing is restricted, for logs and status. */
  reason: string;
}

export class Membership {
  private readonly opts: MembershipOptions;
  private readonly now: () => number;
  /** Last heartbeat time per peer. */
  private readonly lastHeard = new Map<string, number>();
  /** Peers whose Lease is currently valid, as the API server last told us. */
  private leased = new Set<string>();
  private ownLeaseRenewedAt: number;
  private readonly left = new Set<string>();
  /** Whether each peer's last heartbeat listed this speaker among those it hears. */
  private readonly acknowledged = new Map<string, boolean>();
  private readonly startedAt: number;

  constructor(opts: MembershipOptions, now: () => number = Date.now) {
    this.opts = opts;
    this.now = now;
    // Start as if just renewed: the speaker renews before it announces anything.
    this.ownLeaseRenewedAt = now();
    this.startedAt = now();
  }

  /** An authenticated heartbeat arrived from `node`, which hears the speakers in `hears`. */
  heard(node: string, hears: readonly string[]): void {
    if (node === this.opts.self) return;
    this.lastHeard.set(node, this.now());
    this.acknowledged.set(node, hears.includes(this.opts.self));
    this.left.delete(node);
  }

  /** The peers heard within the dead interval, for the list each heartbeat carries. */
  hearing(): string[] {
    const t = this.now();
    return [...this.lastHeard].filter(([, at]) => t - at <= this.opts.deadAfterMs).map(([n]) => n);
  }

  /** `node` announced it is shutting down: dead now, without waiting for silence. */
  leaving(node: string): void {
    this.left.add(node);
    this.lastHeard.delete(node);
  }

  /** Speakers (other than self) whose Lease is valid. */
  setLeased(nodes: Iterable<string>): void {
    this.leased = new Set([...nodes].filter((n) => n !== this.opts.self));
  }

  ownLeaseRenewed(): void {
    this.ownLeaseRenewedAt = this.now();
  }

  /** Peers to send heartbeats to, and to count for the majority. */
  known(): Set<string> {
    const t = this.now();
    const out = new Set<string>();
    for (const n of this.leased) if (!this.left.has(n)) out.add(n);
    for (const [n, at] of this.lastHeard) if (t - at <= this.opts.deadAfterMs) out.add(n);
    return out;
  }

  view(): MembershipView {
    const t = this.now();
    const peers = this.known();
    const heardRecently = (n: string) => {
      const at = this.lastHeard.get(n);
      return at !== undefined && t - at <= this.opts.deadAfterMs;
    };
    const everHeard = (n: string) => this.lastHeard.has(n);
    const alive = new Set<string>([this.opts.self]);
    let lost = 0;
    for (const n of peers) {
      if (heardRecently(n) || !everHeard(n)) alive.add(n);
      else lost++;
    }
    const total = peers.size + 1;
    const majority = alive.size * 2 > total;
    const leaseOk = t - this.ownLeaseRenewedAt <= this.opts.leaseValidMs;
    const hearsAnyone = [...peers].some(heardRecently);
    if (!leaseOk && !hearsAnyone && peers.size > 0) {
      return {
        alive,
        mayAnnounce: false,
        mayAnnounceL2: false,
        reason: 'cut off from the API server and every peer',
      };
    }
    // A peer we hear that does not hear us yet still counts us dead and answers for our addresses; wait
    // until it does, so that the hand-back after a heal never has two answerers.
    const unacknowledged = [...peers].filter((n) => heardRecently(n) && this.acknowledged.get(n) === false);
    if (unacknowledged.length > 0) {
      return {
        alive,
        mayAnnounce: true,
        mayAnnounceL2: false,
        reason: `not yet heard by ${unacknowledged.sort().join(', ')}: leaving L2 addresses to them until it is`,
      };
    }
    if (peers.size > 0 && this.lastHeard.size === 0 && t - this.startedAt < (this.opts.startupQuietMs ?? 0)) {
      return {
        alive,
        mayAnnounce: true,
        mayAnnounceL2: false,
        reason: 'just started: waiting to hear a peer before answering ARP/NDP',
      };
    }
    if (lost > 0 && alive.size * 2 === total && leaseOk) {
      // An even split (1 of 2, 2 of 4): no side can know it is the majority. Judge silent peers by their
      // Leases instead; both sides then keep only their own addresses, and a dead peer's addresses move
      // once its Lease expires.
      const byLease = new Set<string>([this.opts.self, ...peers]);
      return {
        alive: byLease,
        mayAnnounce: true,
        mayAnnounceL2: true,
        reason: `hears ${alive.size - 1} of ${total - 1} peers, an even split: silent peers are judged by their Leases`,
      };
    }
    if (lost > 0 && !majority) {
      return {
        alive,
        mayAnnounce: true,
        mayAnnounceL2: false,
        reason: `hears ${alive.size - 1} of ${total - 1} peers: in a minority, leaving L2 addresses to the majority`,
      };
    }
    return { alive, mayAnnounce: true, mayAnnounceL2: true, reason: '' };
  }
}
