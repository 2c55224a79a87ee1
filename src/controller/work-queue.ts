/**
 * A set of keys waiting for work, drained by a fixed number of concurrent workers. A key is never worked on
 * by two workers at once; a key added while it is being worked on runs once more afterwards, so the last
 * change always gets seen.
 */
export class WorkQueue {
  private readonly pending = new Set<string>();
  private readonly active = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly work: (key: string) => Promise<void>;
  private readonly concurrency: number;
  private running = 0;
  private idleWaiters: (() => void)[] = [];
  private paused = true;

  constructor(work: (key: string) => Promise<void>, concurrency: number) {
    this.work = work;
    this.concurrency = concurrency;
  }

  add(key: string): void {
    if (this.active.has(key)) this.dirty.add(key);
    else this.pending.add(key);
    this.pump();
  }

  /** Stops handing out keys (work in flight finishes); keys added meanwhile wait for resume(). */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    this.paused = false;
    this.pump();
  }

  get size(): number {
    return this.pending.size + this.active.size;
  }

  /** Resolves when nothing is pending or in flight. */
  idle(): Promise<void> {
    if (this.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
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
        if (this.size === 0) for (const w of this.idleWaiters.splice(0)) w();
        this.pump();
      });
    }
  }
}
