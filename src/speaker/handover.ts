/**
 * The hand-over rule of L2 mode (docs/membership.md, "Joining and hand-back"), shared by the speaker and
 * the simulation so that both run the same decision. From the ownership table and the membership's live
 * nodes it decides which of this node's addresses it may answer now: one it answered just before (in this
 * alive period), or one whose previous holder is no longer live, or one whose holder confirmed it let go.
 * For the rest it names the holders to ask, and it names the nodes this node gave addresses to, which it
 * must tell once it has stopped answering them.
 */
import type { Ownership } from './ownership.ts';

export interface HandoverMembership {
  candidates(): ReadonlySet<string>;
  /** When this node became alive in its current incarnation; undefined while it is not. */
  aliveAt(): number | undefined;
  releases(): ReadonlySet<string>;
  /**
   * Nodes that serve this node's addresses whenever it is not alive, although the ownership table leaves
   * them out: peers on their Lease alone, while this node is the only one alive in the mesh. Its addresses
   * may be theirs after any pause of its own, however short.
   */
  fallbackHolders?(): ReadonlySet<string>;
}

export interface HandoverDecision {
  /** Owned addresses that may be answered now. */
  mine: string[];
  /** Holders that have not confirmed a release this node waits for. */
  waitingOn: Set<string>;
  /** How many owned addresses wait. */
  waiting: number;
  /** Nodes that took addresses from this node in this round: confirm once they are let go. */
  releasedTo: Set<string>;
}

export class Handover {
  private readonly ownership: Ownership;
  private readonly self: string;
  /** Addresses answered at the last decision: taking one back after a pause needs the handover again. */
  private held = new Set<string>();
  private heldSince: number | undefined;

  constructor(ownership: Ownership, self: string) {
    this.ownership = ownership;
    this.self = self;
  }

  decide(m: HandoverMembership): HandoverDecision {
    const live = m.candidates();
    const releasedTo = new Set<string>();
    for (const c of this.ownership.setLive(live))
      if (c.from === this.self && c.to !== undefined) releasedTo.add(c.to);
    // Held addresses count only within one alive period: a node that stepped back and came again (even
    // between two decisions) takes nothing back without its holders' confirmation.
    const aliveAt = m.aliveAt();
    if (aliveAt !== this.heldSince) this.held = new Set();
    this.heldSince = aliveAt;
    const releases = m.releases();
    const fallback = [...(m.fallbackHolders?.() ?? [])].filter((n) => !releases.has(n));
    const mine: string[] = [];
    const waitingOn = new Set<string>();
    let waiting = 0;
    for (const a of this.ownership.ownedBy(this.self)) {
      if (!this.held.has(a)) {
        const holder = this.ownership.ownerWithout(a, this.self);
        if (holder !== undefined && live.has(holder) && !releases.has(holder)) {
          waitingOn.add(holder);
          waiting++;
          continue;
        }
        if (holder === undefined && fallback.length > 0) {
          for (const f of fallback) waitingOn.add(f);
          waiting++;
          continue;
        }
      }
      mine.push(a);
    }
    return { mine, waitingOn, waiting, releasedTo };
  }

  /** What this node answers from now on (after interfaces were chosen). */
  setHeld(addresses: ReadonlySet<string>): void {
    this.held = new Set(addresses);
  }

  heldAddresses(): ReadonlySet<string> {
    return this.held;
  }

  /** Whether `node`'s request can be confirmed at once: this node holds nothing it owns. */
  mayConfirm(node: string): boolean {
    for (const a of this.held) if (this.ownership.owner(a) === node) return false;
    return true;
  }
}
