/**
 * The members of the mesh as their Leases describe them, indexed once: by id, by name, and on the ring.
 * Immutable, so that one roster can be shared by every node of a simulation and compared by identity;
 * the speaker builds a new one when a Lease changes what the mesh needs (generation, state, address, keys).
 */
import { nodeId, type PublicKeys } from './identity.ts';
import type { MemberStatus } from './members.ts';
import { Ring } from './ring.ts';

/** A roster entry, from the member's Lease. */
export interface MeshMember {
  name: string;
  gen: number;
  round: number;
  status: MemberStatus;
  address: string;
  port: number;
  /** Public keys, newest first; an older one stays listed while a rotation settles. */
  keys: PublicKeys[];
}

export interface RosterEntry {
  id: string;
  member: MeshMember;
}

export class Roster {
  readonly entries: ReadonlyMap<string, RosterEntry>;
  readonly ids: ReadonlyMap<string, string>;
  readonly ring: Ring;
  private readonly namesCache = new Map<string, ReadonlySet<string>>();

  constructor(members: readonly MeshMember[]) {
    const entries = new Map<string, RosterEntry>();
    const ids = new Map<string, string>();
    for (const m of members) {
      const id = nodeId(m.name);
      entries.set(id, { id, member: m });
      ids.set(m.name, id);
    }
    this.entries = entries;
    this.ids = ids;
    this.ring = new Ring(entries.keys());
  }

  get(id: string): MeshMember | undefined {
    return this.entries.get(id)?.member;
  }

  idOf(name: string): string | undefined {
    return this.ids.get(name);
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The names of the members but those with the given ids, as one set per distinct exclusion list: every
   * node of a simulation that holds the same members dead shares one set, where a set per node would be
   * N² names at thousands of nodes. Never changed once handed out.
   */
  namesExcept(excluded: ReadonlySet<string>): ReadonlySet<string> {
    const key = [...excluded].sort().join(',');
    const cached = this.namesCache.get(key);
    if (cached) return cached;
    const names = new Set<string>();
    for (const [id, e] of this.entries) if (!excluded.has(id)) names.add(e.member.name);
    // Bounded: a long-lived roster sees few distinct lists, but nothing may grow without end.
    if (this.namesCache.size >= 64) this.namesCache.clear();
    this.namesCache.set(key, names);
    return names;
  }

  /** The same roster with `self` on the ring too (a node whose own Lease is not listed yet). */
  withSelf(selfId: string): Ring {
    return this.ring.has(selfId) ? this.ring : new Ring([...this.entries.keys(), selfId]);
  }
}
