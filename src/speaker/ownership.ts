/**
 * Who owns each L2 address, kept up to date one change at a time (docs/membership.md). For every address
 * the owner is the eligible, live node with the highest rendezvous score. The table remembers the owner
 * and the runner-up with their scores, so a node dying recomputes only the addresses it was first or
 * second for, a node joining compares one score per address, a Service change recomputes only its own
 * addresses, and who held an address before a node joined (the runner-up) is known without a search.
 * Nothing here is recomputed because a Lease was renewed or an unrelated object changed.
 */
import { beats, type Hashed, hashName, score } from './rendezvous.ts';

interface Entry {
  hashed: Hashed;
  /** Nodes that may announce the address (advertisement selectors, traffic policy); shared between addresses. */
  eligible: ReadonlySet<string>;
  owner: string | undefined;
  ownerScore: number;
  second: string | undefined;
  secondScore: number;
}

export interface OwnerChange {
  address: string;
  from: string | undefined;
  to: string | undefined;
}

export class Ownership {
  private readonly entries = new Map<string, Entry>();
  private readonly owned = new Map<string, Set<string>>();
  /** Addresses each node is runner-up for. */
  private readonly seconds = new Map<string, Set<string>>();
  private live: ReadonlySet<string> = new Set();
  /** Score computations, for the benchmark's CPU accounting and the tests' proof of incrementality. */
  scoresComputed = 0;

  private nodeHash(name: string): Hashed {
    return hashName(name);
  }

  /** The best two eligible live nodes of an address, scored from scratch. */
  private rank(e: Entry): { first?: string; firstScore: number; second?: string; secondScore: number } {
    let first: string | undefined;
    let second: string | undefined;
    let firstScore = Number.NEGATIVE_INFINITY;
    let secondScore = Number.NEGATIVE_INFINITY;
    for (const n of e.eligible) {
      if (!this.live.has(n)) continue;
      const s = score(e.hashed, this.nodeHash(n));
      this.scoresComputed++;
      if (first === undefined || beats(s, n, firstScore, first)) {
        second = first;
        secondScore = firstScore;
        first = n;
        firstScore = s;
      } else if (second === undefined || beats(s, n, secondScore, second)) {
        second = n;
        secondScore = s;
      }
    }
    return { ...(first ? { first } : {}), firstScore, ...(second ? { second } : {}), secondScore };
  }

  private index(
    map: Map<string, Set<string>>,
    node: string | undefined,
    address: string,
    add: boolean,
  ): void {
    if (node === undefined) return;
    let set = map.get(node);
    if (add) {
      if (!set) {
        set = new Set();
        map.set(node, set);
      }
      set.add(address);
    } else set?.delete(address);
  }

  private setSecond(address: string, e: Entry, node: string | undefined, s: number): void {
    if (e.second !== node) {
      this.index(this.seconds, e.second, address, false);
      this.index(this.seconds, node, address, true);
      e.second = node;
    }
    e.secondScore = s;
  }

  private setOwner(
    address: string,
    e: Entry,
    node: string | undefined,
    s: number,
    changes: OwnerChange[],
  ): void {
    if (e.owner === node) {
      e.ownerScore = s;
      return;
    }
    this.index(this.owned, e.owner, address, false);
    this.index(this.owned, node, address, true);
    changes.push({ address, from: e.owner, to: node });
    e.owner = node;
    e.ownerScore = s;
  }

  private rerank(address: string, e: Entry, changes: OwnerChange[]): void {
    const r = this.rank(e);
    this.setOwner(address, e, r.first, r.firstScore, changes);
    this.setSecond(address, e, r.second, r.secondScore);
  }

  /** Adds or updates an address with the nodes eligible to announce it. */
  setAddress(address: string, eligible: ReadonlySet<string>): OwnerChange[] {
    const changes: OwnerChange[] = [];
    let e = this.entries.get(address);
    if (!e) {
      e = {
        hashed: hashName(address),
        eligible,
        owner: undefined,
        ownerScore: Number.NEGATIVE_INFINITY,
        second: undefined,
        secondScore: Number.NEGATIVE_INFINITY,
      };
      this.entries.set(address, e);
    } else if (e.eligible === eligible) return changes;
    e.eligible = eligible;
    this.rerank(address, e, changes);
    return changes;
  }

  removeAddress(address: string): OwnerChange[] {
    const e = this.entries.get(address);
    if (!e) return [];
    const changes: OwnerChange[] = [];
    this.setOwner(address, e, undefined, Number.NEGATIVE_INFINITY, changes);
    this.setSecond(address, e, undefined, Number.NEGATIVE_INFINITY);
    this.entries.delete(address);
    return changes;
  }

  /**
   * Takes in the live nodes; only the addresses that the difference concerns are looked at. The set is
   * kept, not copied (at thousands of nodes a copy per table is most of the memory), so it must not be
   * changed afterwards: the membership hands out a new set on every change.
   */
  setLive(next: ReadonlySet<string>): OwnerChange[] {
    // The membership hands out the same set object until something changes.
    if (next === this.live) return [];
    const changes: OwnerChange[] = [];
    const gone = [...this.live].filter((n) => !next.has(n));
    const added = [...next].filter((n) => !this.live.has(n));
    this.live = next;
    for (const n of gone) {
      const touched = new Set([...(this.owned.get(n) ?? []), ...(this.seconds.get(n) ?? [])]);
      for (const address of touched) this.rerank(address, this.entries.get(address)!, changes);
      this.owned.delete(n);
      this.seconds.delete(n);
    }
    if (added.length > 0) {
      const hashes = added.map((n) => [n, this.nodeHash(n)] as const);
      for (const [address, e] of this.entries) {
        for (const [n, h] of hashes) {
          // (An address re-ranked above for a departure already counted the newcomers.)
          if (!e.eligible.has(n) || e.owner === n || e.second === n) continue;
          const s = score(e.hashed, h);
          this.scoresComputed++;
          if (e.owner === undefined || beats(s, n, e.ownerScore, e.owner)) {
            const former = e.owner;
            const formerScore = e.ownerScore;
            this.setOwner(address, e, n, s, changes);
            this.setSecond(address, e, former, formerScore);
          } else if (e.second === undefined || beats(s, n, e.secondScore, e.second)) {
            this.setSecond(address, e, n, s);
          }
        }
      }
    }
    return changes;
  }

  owner(address: string): string | undefined {
    return this.entries.get(address)?.owner;
  }

  ownedBy(node: string): ReadonlySet<string> {
    return this.owned.get(node) ?? new Set();
  }

  /** Who would own `address` if `node` were not live: the holder a joining node takes it over from. */
  ownerWithout(address: string, node: string): string | undefined {
    const e = this.entries.get(address);
    if (!e) return undefined;
    return e.owner === node ? e.second : e.owner;
  }

  /** An independent copy (eligibility sets stay shared: they are never changed in place). */
  clone(): Ownership {
    const copy = new Ownership();
    for (const [a, e] of this.entries) copy.entries.set(a, { ...e });
    for (const [n, set] of this.owned) copy.owned.set(n, new Set(set));
    for (const [n, set] of this.seconds) copy.seconds.set(n, new Set(set));
    copy.live = this.live;
    return copy;
  }

  addresses(): IterableIterator<string> {
    return this.entries.keys();
  }

  get size(): number {
    return this.entries.size;
  }
}
