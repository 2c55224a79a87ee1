/**
 * A set of keys waiting for work, drained by a fixed number of concurrent workers. A key is never worked on
 * by two workers at once; a key added while it is being worked on runs once more afterwards, so the last
 * change always gets seen.
 *
 * A key whose work failed comes back after a delay that doubles with each failure in a row, up to a cap,
 * and starts over once it succeeds (`forget`), as controller-runtime's rate-limited queue does: a write
 * the API server refuses (an admission policy, a quota) costs a few requests, not one per second forever.
 * A change of the object still adds the key at once.
 */
import { type BackoffPolicy, backoffDelay } from '../k8s/backoff.ts';

/**
 * Timers the queue waits with; tests replace them to see the delays chosen (and for which key) without
 * waiting them out.
 */
export interface QueueTimers {
  setTimeout(fn: () => void, ms: number, key: string): unknown;
  clearTimeout(handle: unknown): void;
}

const REAL_TIMERS: QueueTimers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** controller-runtime starts at 5 ms and caps at 1,000 s; a status write is dearer, so start later. */
export const DEFAULT_RETRY_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 300_000 };

export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly retryTimers = new Map<string, unknown>();
  private readonly work: (key: string) => Promise<void>;
  private readonly concurrency: number;
  private readonly backoff: BackoffPolicy;
  private readonly timers: QueueTimers;
  private running = 0;
  private idleWaiters: (() => void)[] = [];
  private paused = true;

  constructor(
    work: (key: string) => Promise<void>,
    concurrency: number,
    opts: { backoff?: BackoffPolicy; timers?: QueueTimers } = {},
  ) {
    this.work = work;
    this.concurrency = concurrency;
    this.backoff = opts.backoff ?? DEFAULT_RETRY_BACKOFF;
    this.timers = opts.timers ?? REAL_TIMERS;
  }

  add(key: string): void {
    if (this.active.has(key)) this.dirty.add(key);
    else this.pending.add(key);
    this.pump();
  }

  /** Adds the key again after its backoff delay; returns the delay. */
  addRateLimited(key: string): number {
    const failures = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, failures);
    const delay = backoffDelay(this.backoff, failures);
    const previous = this.retryTimers.get(key);
    if (previous !== undefined) this.timers.clearTimeout(previous);
    this.retryTimers.set(
      key,
      this.timers.setTimeout(
        () => {
          this.retryTimers.delete(key);
          this.add(key);
        },
        delay,
        key,
      ),
    );
    return delay;
  }

  /** The key's work succeeded (or no longer matters): its next failure starts from the first delay. */
  forget(key: string): void {
    this.failures.delete(key);
    const timer = this.retryTimers.get(key);
    if (timer !== undefined) this.timers.clearTimeout(timer);
    this.retryTimers.delete(key);
  }

  /** Failures in a row so far for the key. */
  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Stops handing out keys (work in flight finishes); keys added meanwhile wait for resume(). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  /** Drops every waiting key, pending retry and failure count (work in flight finishes). */
  clear(): void {
    this.pending.clear();
    this.dirty.clear();
    for (const key of [...this.retryTimers.keys()]) this.forget(key);
    this.failures.clear();
    this.settleIdle();
  }

  get size(): number {
    return this.pending.size + this.active.size;
  }

  /** Resolves when nothing is pending or in flight (retries waiting for their delay do not count). */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private settleIdle(): void {
    if (this.size === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private pump(): void {
    while (!this.paused && this.running < this.concurrency && this.pending.size > 0) {
      const key = this.pending.values().next().value!;
      this.pending.delete(key);
      this.active.add(key);
      this.running++;
      void this.work(key).finally(() => {
        this.running--;
        this.active.delete(key);
        if (this.dirty.delete(key)) this.pending.add(key);
        this.settleIdle();
        this.pump();
      });
    }
  }
}
