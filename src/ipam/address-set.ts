/**
 * A sorted set of addresses (of one family) with a first-gap search in O(log n) comparisons, n being the
 * number of addresses in the set: the size of the range searched never matters, so a /64 pool costs what
 * a /28 costs.
 */
export class AddressSet {
  private readonly values: bigint[] = [];
  /**
   * Comparisons made by searches, for tests and benchmarks that prove the cost does not grow with pool
   * size (counting work instead of timing it keeps those checks deterministic).
   */
  steps = 0;

  get size(): number {
    return this.values.length;
  }

  has(value: bigint): boolean {
    const i = this.lowerBound(value);
    return this.values[i] === value;
  }

  add(value: bigint): void {
    const i = this.lowerBound(value);
    if (this.values[i] !== value) this.values.splice(i, 0, value);
  }

  delete(value: bigint): void {
    const i = this.lowerBound(value);
    if (this.values[i] === value) this.values.splice(i, 1);
  }

  /** How many members lie in [first, last]. */
  countBetween(first: bigint, last: bigint): bigint {
    if (first > last) return 0n;
    return BigInt(this.lowerBound(last + 1n) - this.lowerBound(first));
  }

  /** Members in [first, last], ascending. Costs O(log n + answer). */
  *between(first: bigint, last: bigint): Generator<bigint> {
    for (let i = this.lowerBound(first); i < this.values.length && this.values[i]! <= last; i++) {
      yield this.values[i]!;
    }
  }

  /** The lowest value in [first, last] that is not a member, or undefined when all are members. */
  firstAbsent(first: bigint, last: bigint): bigint | undefined {
    if (first > last) return undefined;
    const values = this.values;
    const start = this.lowerBound(first);
    if (start === values.length || values[start]! !== first) return first;
    // values[start..] holds distinct ascending integers from `first`, so values[start + k] - k never
    // decreases and equals `first` exactly on the run first, first+1, ...; binary search for its end.
    let lo = 0;
    let hi = values.length - start - 1;
    while (lo < hi) {
      this.steps++;
      const mid = (lo + hi + 1) >> 1;
      if (values[start + mid]! - BigInt(mid) === first) lo = mid;
      else hi = mid - 1;
    }
    const gap = first + BigInt(lo) + 1n;
    return gap <= last ? gap : undefined;
  }

  private lowerBound(value: bigint): number {
    let lo = 0;
    let hi = this.values.length;
    while (lo < hi) {
      this.steps++;
      const mid = (lo + hi) >> 1;
      if (this.values[mid]! < value) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
