/**
 * Token buckets per key, so one noisy requester cannot make the responder burn CPU or flood the link.
 * The number of keys is bounded: when it grows past `maxKeys`, buckets that have refilled (idle keys) are
 * forgotten first, then the oldest.
 */

export interface RateLimit {
  /** Tokens added per second. */
  perSecond: number;
  /** Bucket size: how many may pass at once after a quiet period. */
  burst: number;
}

interface Bucket {
  tokens: number;
  updated: number;
}

export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly limit: RateLimit;
  private readonly maxKeys: number;
  private readonly now: () => number;

  /** `now` returns milliseconds; tests pass their own clock. */
  constructor(limit: RateLimit, maxKeys = 16_384, now: () => number = () => performance.now()) {
    this.limit = limit;
    this.maxKeys = maxKeys;
    this.now = now;
  }

  /** Takes one token for `key`; false when its bucket is empty. */
  allow(key: string): boolean {
    const t = this.now();
    let bucket = this.buckets.get(key);
    if (bucket) {
      bucket.tokens = Math.min(
        this.limit.burst,
        bucket.tokens + ((t - bucket.updated) / 1000) * this.limit.perSecond,
      );
      bucket.updated = t;
    } else {
      if (this.buckets.size >= this.maxKeys) this.evict(t);
      bucket = { tokens: this.limit.burst, updated: t };
      this.buckets.set(key, bucket);
    }
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  get size(): number {
    return this.buckets.size;
  }

  private evict(t: number): void {
    const refillMs = (this.limit.burst / this.limit.perSecond) * 1000;
    for (const [key, b] of this.buckets) if (t - b.updated >= refillMs) this.buckets.delete(key);
    // Map order is insertion order: the oldest keys go first.
    for (const key of this.buckets.keys()) {
      if (this.buckets.size < this.maxKeys) break;
      this.buckets.delete(key);
    }
  }
}
