/**
 * Who watches whom. The speakers that take part in the mesh sit on a ring ordered by their ids (a hash of
 * the node name), and each watches, and is watched by, its two predecessors and two successors. The ring
 * is built from the roster (the speakers' Leases), not from who is alive, so every speaker draws the same
 * ring from the same API objects and a node's watchers do not change when some node dies.
 *
 * The quorums follow from the number of voters: a node is declared dead only when a majority of its voters
 * no longer hear it, and a node answers only while enough voters still hear it that no such majority can
 * exist. With an even number of neighbours (one or three, in clusters of two or four) a majority could be
 * missing on both sides of a split, so the API server joins as the deciding voter (see membership.md).
 */

export interface Quorums {
  /** Watching neighbours (at most four). */
  neighbours: number;
  /** Whether the API server votes (the node's Lease renewals). */
  apiVoter: boolean;
  /** Suspicions, out of all voters, that declare a node dead. */
  suspect: number;
  /** Voters that must still hear a node for it to answer: voters - suspect + 1. */
  ack: number;
}

export function quorumsFor(neighbours: number): Quorums {
  const apiVoter = neighbours === 1 || neighbours === 3;
  const voters = neighbours + (apiVoter ? 1 : 0);
  const suspect = Math.floor(voters / 2) + 1;
  return { neighbours, apiVoter, suspect, ack: voters - suspect + 1 };
}

export class Ring {
  private readonly ids: string[];
  private readonly index = new Map<string, number>();

  constructor(ids: Iterable<string>) {
    this.ids = [...new Set(ids)].sort();
    for (const [i, id] of this.ids.entries()) this.index.set(id, i);
  }

  get size(): number {
    return this.ids.length;
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  members(): readonly string[] {
    return this.ids;
  }

  /**
   * The ids at distance 1 and 2 on either side, without repeats and without `id` itself, skipping the ids
   * `skip` says are off the ring (members long known dead: their places go to the next live ones).
   */
  neighbours(id: string, skip?: (id: string) => boolean): string[] {
    const i = this.index.get(id);
    if (i === undefined) return [];
    const n = this.ids.length;
    const out: string[] = [];
    for (const dir of [1, -1]) {
      let found = 0;
      for (let d = 1; d < n && found < 2; d++) {
        const other = this.ids[(((i + dir * d) % n) + n) % n]!;
        if (other === id || skip?.(other)) continue;
        found++;
        if (!out.includes(other)) out.push(other);
      }
    }
    // Order: nearest first on each side, as the fixed-distance version had it.
    return out;
  }

  /**
   * The neighbours `id` would have if it joined the ring (its neighbours() when it is on it already): the
   * ids at distance 1 and 2 on either side of its place.
   */
  neighboursIfJoined(id: string): string[] {
    if (this.index.has(id)) return this.neighbours(id);
    const n = this.ids.length;
    if (n === 0) return [];
    // Its place: before the first id above it.
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.ids[mid]! < id) lo = mid + 1;
      else hi = mid;
    }
    const out: string[] = [];
    const at = (i: number) => this.ids[((i % n) + n) % n]!;
    for (const other of [at(lo), at(lo + 1), at(lo - 1), at(lo - 2)])
      if (!out.includes(other)) out.push(other);
    return out;
  }

  /** Whether `watcher` is one of `subject`'s neighbours. */
  watches(watcher: string, subject: string, skip?: (id: string) => boolean): boolean {
    return this.neighbours(subject, skip).includes(watcher);
  }
}
