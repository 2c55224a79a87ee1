/**
 * What this speaker believes about every member of the roster: its incarnation and whether it may own
 * addresses. Beliefs change only through statements (signed by the member itself, or a bundle of its
 * neighbours' suspicions) and through the member's Lease (a new generation means a new process). For each
 * member the newest incarnation wins; within one incarnation the order is
 * joining < alive < suspended < leaving < dead, so a later "alive" never undoes a "dead": the member must
 * come back with a higher incarnation. The digest summarises every belief other than "alive at round 0",
 * so two speakers that agree have equal digests, and one that missed a statement can ask for it.
 */
import { createHash } from 'node:crypto';
import { compareIncarnation, type Incarnation, STATEMENT, type Statement } from './wire.ts';

export type MemberStatus = 'joining' | 'alive' | 'suspended' | 'leaving' | 'dead';

const RANK: Record<MemberStatus, number> = { joining: 0, alive: 1, suspended: 2, leaving: 3, dead: 4 };

export interface MemberBelief {
  inc: Incarnation;
  status: MemberStatus;
  /** The statement that established it; undefined for what the Lease alone says. */
  proof?: Statement;
  /** When (local clock) this belief was taken in. */
  since: number;
}

export function statusOf(s: Statement): MemberStatus | undefined {
  switch (s.type) {
    case STATEMENT.alive:
      return 'alive';
    case STATEMENT.suspended:
      return 'suspended';
    case STATEMENT.leaving:
      return 'leaving';
    case STATEMENT.dead:
      return 'dead';
    default:
      return undefined;
  }
}

function entryHash(id: string, b: MemberBelief): bigint {
  const d = createHash('sha256').update(`${id}/${b.inc.gen}/${b.inc.round}/${b.status}`).digest();
  return d.readBigUInt64BE(0);
}

function countsInDigest(b: MemberBelief): boolean {
  return !(b.status === 'alive' && b.inc.round === 0);
}

export class MemberTable {
  private readonly beliefs = new Map<string, MemberBelief>();
  private readonly hashes = new Map<string, bigint>();
  private digestValue = 0n;

  get(id: string): MemberBelief | undefined {
    return this.beliefs.get(id);
  }

  ids(): IterableIterator<string> {
    return this.beliefs.keys();
  }

  entries(): IterableIterator<[string, MemberBelief]> {
    return this.beliefs.entries();
  }

  digest(): bigint {
    return this.digestValue;
  }

  private set(id: string, b: MemberBelief): void {
    const old = this.hashes.get(id);
    if (old !== undefined) this.digestValue ^= old;
    this.beliefs.set(id, b);
    if (countsInDigest(b)) {
      const h = entryHash(id, b);
      this.hashes.set(id, h);
      this.digestValue ^= h;
    } else this.hashes.delete(id);
  }

  remove(id: string): void {
    const old = this.hashes.get(id);
    if (old !== undefined) this.digestValue ^= old;
    this.hashes.delete(id);
    this.beliefs.delete(id);
  }

  /**
   * What the member's Lease says about itself (written by its own speaker on each change of its state).
   * It ranks like a statement, without a proof to pass on: a newer incarnation replaces any belief about the
   * old one, and within one incarnation only a later state counts.
   */
  fromLease(id: string, inc: Incarnation, status: MemberStatus, now: number): boolean {
    const b = this.beliefs.get(id);
    if (b) {
      const c = compareIncarnation(inc, b.inc);
      if (c < 0 || (c === 0 && RANK[status] <= RANK[b.status])) return false;
    }
    this.set(id, { inc, status, since: now });
    return true;
  }

  /** This node's own entry, as it knows it: digests then compare like with like. */
  setOwn(
    id: string,
    inc: Incarnation,
    status: MemberStatus,
    proof: Statement | undefined,
    now: number,
  ): void {
    this.set(id, { inc, status, ...(proof ? { proof } : {}), since: now });
  }

  /** Takes in a verified statement; true when it changed the belief. */
  apply(s: Statement, now: number): boolean {
    const status = statusOf(s);
    if (!status) return false;
    const b = this.beliefs.get(s.subject);
    if (b) {
      const c = compareIncarnation(s.inc, b.inc);
      if (c < 0) return false;
      if (c === 0 && RANK[status] <= RANK[b.status]) return false;
    }
    this.set(s.subject, { inc: s.inc, status, proof: s, since: now });
    return true;
  }

  /** Every belief that came from a statement, for a peer that asked for a sync. */
  proofs(): Statement[] {
    const out: Statement[] = [];
    for (const b of this.beliefs.values()) if (b.proof && countsInDigest(b)) out.push(b.proof);
    return out;
  }

  /** Alive statements taken in since `since`, which a peer that missed them still needs. */
  recentAlive(since: number): Statement[] {
    const out: Statement[] = [];
    for (const b of this.beliefs.values())
      if (b.proof && b.status === 'alive' && b.since >= since) out.push(b.proof);
    return out;
  }
}
