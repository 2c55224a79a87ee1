/**
 * What this speaker believes about every member of the roster: its incarnation and whether it may own
 * addresses. A member's own Lease gives the default (its generation, round and state, as its speaker last
 * wrote them); statements override it (signed by the member itself, or a bundle of its neighbours'
 * suspicions). For each member the newest incarnation wins; within one incarnation the order is
 * joining < alive < suspended < leaving < dead, so a later "alive" never undoes a "dead": the member must
 * come back with a higher incarnation.
 *
 * Only beliefs that differ from the roster are stored, so a node's memory grows with what is happening,
 * not with the cluster. The digest summarises every belief other than "alive at round 0", so two speakers
 * that agree have equal digests, and one that missed a statement can ask for it.
 */
import { createHash } from 'node:crypto';
import type { Roster } from './roster.ts';
import { compareIncarnation, type Incarnation, STATEMENT, type Statement } from './wire.ts';

export type MemberStatus = 'joining' | 'alive' | 'suspended' | 'leaving' | 'dead';

const RANK: Record<MemberStatus, number> = { joining: 0, alive: 1, suspended: 2, leaving: 3, dead: 4 };

export interface MemberBelief {
  inc: Incarnation;
  status: MemberStatus;
  /** The statement that established it; undefined for what the Lease alone says. */
  proof?: Statement;
  /** When (local clock) this belief was taken in; -Infinity for what the roster says (no statement). */
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

function outranks(
  a: { inc: Incarnation; status: MemberStatus },
  b: { inc: Incarnation; status: MemberStatus },
): boolean {
  const c = compareIncarnation(a.inc, b.inc);
  return c > 0 || (c === 0 && RANK[a.status] > RANK[b.status]);
}

const hashCache = new Map<string, bigint>();

function entryHash(id: string, b: { inc: Incarnation; status: MemberStatus }): bigint {
  const key = `${id}/${b.inc.gen}/${b.inc.round}/${b.status}`;
  let h = hashCache.get(key);
  if (h === undefined) {
    h = createHash('sha256').update(key).digest().readBigUInt64BE(0);
    if (hashCache.size > 100_000) hashCache.clear();
    hashCache.set(key, h);
  }
  return h;
}

function countsInDigest(b: { inc: Incarnation; status: MemberStatus }): boolean {
  return !(b.status === 'alive' && b.inc.round === 0);
}

export class MemberTable {
  private readonly selfId: string;
  private roster: Roster | undefined;
  private readonly explicit = new Map<string, MemberBelief>();
  private own: MemberBelief | undefined;
  private digestValue = 0n;
  /** Members whose belief is not "alive": the exceptions to the roster's candidates. */
  private readonly notAlive = new Set<string>();
  /** Bumped whenever the set of alive members may have changed. */
  version = 0;

  constructor(selfId: string) {
    this.selfId = selfId;
  }

  private fromRoster(id: string): MemberBelief | undefined {
    const m = this.roster?.get(id);
    return m
      ? { inc: { gen: m.gen, round: m.round }, status: m.status, since: Number.NEGATIVE_INFINITY }
      : undefined;
  }

  /** The effective belief about a member: its statement, unless its Lease says something newer. */
  get(id: string): MemberBelief | undefined {
    if (id === this.selfId) return this.own;
    const d = this.fromRoster(id);
    if (!d) return undefined;
    // Statements count for the generation the Lease names: an older one is about a process that is gone,
    // and a Lease whose generation went back was deleted and made again (a new member).
    const e = this.explicit.get(id);
    return e && e.inc.gen === d.inc.gen && !outranks(d, e) ? e : d;
  }

  digest(): bigint {
    return this.digestValue;
  }

  /** Members not believed alive (self excluded). */
  exceptions(): ReadonlySet<string> {
    return this.notAlive;
  }

  /** Recomputes the digest and the exceptions: after a roster change. Cost grows with the roster. */
  private rebuild(): void {
    let digest = 0n;
    this.notAlive.clear();
    for (const id of this.roster?.entries.keys() ?? []) {
      if (id === this.selfId) continue;
      const b = this.get(id)!;
      if (countsInDigest(b)) digest ^= entryHash(id, b);
      if (b.status !== 'alive') this.notAlive.add(id);
    }
    if (this.own && countsInDigest(this.own)) digest ^= entryHash(this.selfId, this.own);
    for (const [id, e] of this.explicit) if (this.get(id) !== e) this.explicit.delete(id);
    this.digestValue = digest;
    this.version++;
  }

  setRoster(roster: Roster): void {
    this.roster = roster;
    this.rebuild();
  }

  /** Replaces one member's belief, keeping digest and exceptions current. */
  private replace(id: string, before: MemberBelief | undefined, after: MemberBelief): void {
    if (before && countsInDigest(before)) this.digestValue ^= entryHash(id, before);
    if (countsInDigest(after)) this.digestValue ^= entryHash(id, after);
    if (id !== this.selfId) {
      const wasAlive = before?.status === 'alive';
      if (after.status === 'alive') this.notAlive.delete(id);
      else this.notAlive.add(id);
      if (wasAlive !== (after.status === 'alive')) this.version++;
    }
  }

  /** This node's own entry, as it knows it: digests then compare like with like. */
  setOwn(inc: Incarnation, status: MemberStatus, proof: Statement | undefined, now: number): void {
    const next = { inc, status, ...(proof ? { proof } : {}), since: now };
    this.replace(this.selfId, this.own, next);
    this.own = next;
  }

  /** Whether a statement would change the belief: checked before its signatures cost anything. */
  wouldChange(s: Statement): boolean {
    const status = statusOf(s);
    if (!status || s.subject === this.selfId) return false;
    const before = this.get(s.subject);
    return !!before && outranks({ inc: s.inc, status }, before);
  }

  /** Takes in a verified statement about a roster member; true when it changed the belief. */
  apply(s: Statement, now: number): boolean {
    const status = statusOf(s);
    if (!status || s.subject === this.selfId) return false;
    const before = this.get(s.subject);
    if (!before) return false;
    const next: MemberBelief = { inc: s.inc, status, proof: s, since: now };
    if (!outranks(next, before)) return false;
    this.explicit.set(s.subject, next);
    this.replace(s.subject, before, next);
    return true;
  }

  /** This node's own alive statement, while it is alive. */
  ownProof(): Statement | undefined {
    return this.own?.status === 'alive' ? this.own.proof : undefined;
  }

  /** Every belief that came from a statement, for a peer that asked for a sync. */
  proofs(): Statement[] {
    const out: Statement[] = [];
    for (const [id, e] of this.explicit)
      if (e.proof && countsInDigest(e) && this.get(id) === e) out.push(e.proof);
    if (this.own?.proof && countsInDigest(this.own)) out.push(this.own.proof);
    return out;
  }

  /** Alive statements taken in since `since`, which a peer that missed them still needs. */
  recentAlive(since: number): Statement[] {
    const out: Statement[] = [];
    for (const e of this.explicit.values())
      if (e.proof && e.status === 'alive' && e.since >= since) out.push(e.proof);
    if (this.own?.proof && this.own.status === 'alive' && this.own.since >= since) out.push(this.own.proof);
    return out;
  }

  /** Statement-based beliefs, for diagnostics. */
  overrides(): IterableIterator<[string, MemberBelief]> {
    return this.explicit.entries();
  }
}
