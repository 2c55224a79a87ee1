/**
 * Who owns each L2 address, kept up to date one change at a time (docs/membership.md). For every address
 * the owner is the eligible, live node with the highest rendezvous score; the table remembers each
 * owner and its score, so a node dying recomputes only the addresses it owned, a node joining compares one
 * score per address, and a Service change recomputes only its own addresses. Nothing here is recomputed
 * because a Lease was renewed or an unrelated object changed.
 */
import { beats, type Hashed, hashName, score } from './rendezvous.ts';

interface Entry {
  hashed: Hashed;
  /** Nodes that may announce the address (advertisement selectors, traffic policy); shared between addresses. */
  eligible: ReadonlySet<string>;
  owner: string | undefined;
  ownerScore: number;
}

export interface OwnerChange {
  address: string;
  from: string | undefined;
  to: string | undefined;
}

export class Ownership {
  private readonly entries = new Map<string, Entry>();
  private readonly nodeHashes = new Map<string, Hashed>();
  private readonly owned = new Map<string, Set<string>>();
  private live: ReadonlySet<string> = new Set();
  /** Score computations, for the benchmark's CPU accounting and the tests' proof of incrementality. */
  scoresComputed = 0;

  private nodeHash(name: string): Hashed {
    let h = this.nodeHashes.get(name);
    if (!h) {
      h = hashName(name);
      this.nodeHashes.set(name, h);
    }
    return h;
  }

  private best(e: Entry, without?: string): { node: string | undefined; score: number } {
    let node: string | undefined;
    let best = Number.NEGATIVE_INFINITY;
    for (const n of e.eligible) {
      if (n === without || !this.live.has(n)) continue;
      const s = score(e.hashed, this.nodeHash(n));
      this.scoresComputed++;
      if (node === undefined || beats(s, n, best, node)) {
        node = n;
        best = s;
      }
    }
    return { node, score: best };
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
    if (e.owner !== undefined) this.owned.get(e.owner)?.delete(address);
    if (node !== undefined) {
      let set = this.owned.get(node);
      if (!set) {
        set = new Set();
        this.owned.set(node, set);
      }
      set.add(address);
    }
    changes.push({ address, from: e.owner, to: node });
    e.owner = node;
    e.ownerScore = s;
  }

  /** Adds or updates an address with the nodes eligible to announce it. */
  setAddress(address: string, eligible: ReadonlySet<string>): OwnerChange[] {
    const changes: OwnerChange[] = [];
    let e = this.entries.get(address);
    if (!e) {
      e = { hashed: hashName(address), eligible, owner: undefined, ownerScore: Number.NEGATIVE_INFINITY };
      this.entries.set(address, e);
    } else if (e.eligible === eligible) return changes;
    e.eligible = eligible;
    const b = this.best(e);
    this.setOwner(address, e, b.node, b.score, changes);
    return changes;
  }

  removeAddress(address: string): OwnerChange[] {
    const e = this.entries.get(address);
    if (!e) return [];
    const changes: OwnerChange[] = [];
    this.setOwner(address, e, undefined, Number.NEGATIVE_INFINITY, changes);
    this.entries.delete(address);
    return changes;
  }

  /** Takes in the live nodes; only the addresses that the difference concerns are looked at. */
  setLive(next: ReadonlySet<string>): OwnerChange[] {
    const changes: OwnerChange[] = [];
    const gone = [...this.live].filter((n) => !next.has(n));
    const added = [...next].filter((n) => !this.live.has(n));
    this.live = new Set(next);
    for (const n of gone) {
      for (const address of [...(this.owned.get(n) ?? [])]) {
        const e = this.entries.get(address)!;
        const b = this.best(e);
        this.setOwner(address, e, b.node, b.score, changes);
      }
      this.owned.delete(n);
    }
    if (added.length > 0) {
      const hashes = added.map((n) => [n, this.nodeHash(n)] as const);
      for (const [address, e] of this.entries) {
        for (const [n, h] of hashes) {
          if (!e.eligible.has(n)) continue;
          const s = score(e.hashed, h);
          this.scoresComputed++;
          if (e.owner === undefined || beats(s, n, e.ownerScore, e.owner))
            this.setOwner(address, e, n, s, changes);
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
    return e ? this.best(e, node).node : undefined;
  }

  /** An independent copy (eligibility sets stay shared: they are never changed in place). */
  clone(): Ownership {
    const copy = new Ownership();
    for (const [a, e] of this.entries) copy.entries.set(a, { ...e });
    for (const [n, h] of this.nodeHashes) copy.nodeHashes.set(n, h);
    for (const [n, set] of this.owned) copy.owned.set(n, new Set(set));
    copy.live = new Set(this.live);
    return copy;
  }

  addresses(): IterableIterator<string> {
    return this.entries.keys();
  }

  get size(): number {
    return this.entries.size;
  }
}
