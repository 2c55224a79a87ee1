/**
 * Time as Beacon's protocol state machines (BGP, BFD) see it: injected, so tests drive timers with a fake clock
 * instead of waiting. A module of its own because it belongs to neither protocol, and each depends on it.
 */

export interface Timer {
  cancel(): void;
}

export interface Clock {
  now(): number;
  setTimer(ms: number, fire: () => void): Timer;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer(ms, fire) {
    const t = setTimeout(fire, ms);
    // A protocol timer alone must not keep a process alive; the socket does that.
    t.unref();
    return { cancel: () => clearTimeout(t) };
  },
};

/**
 * A clock that only moves when told to. Timers fire in deadline order (ties in creation order) during
 * `advance`, each seeing `now()` equal to its own deadline, as they would in real time.
 */
export class FakeClock implements Clock {
  private currentMs = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; fire: () => void }>();

  now(): number {
    return this.currentMs;
  }

  setTimer(ms: number, fire: () => void): Timer {
    const id = this.seq++;
    this.timers.set(id, { at: this.currentMs + Math.max(0, ms), fire });
    return { cancel: () => this.timers.delete(id) };
  }

  /** Number of timers waiting to fire. */
  get pending(): number {
    return this.timers.size;
  }

  advance(ms: number): void {
    const until = this.currentMs + ms;
    for (;;) {
      let nextId = -1;
      let nextAt = Number.POSITIVE_INFINITY;
      for (const [id, t] of this.timers) {
        if (t.at < nextAt || (t.at === nextAt && id < nextId)) {
          nextAt = t.at;
          nextId = id;
        }
      }
      if (nextId < 0 || nextAt > until) break;
      const t = this.timers.get(nextId)!;
      this.timers.delete(nextId);
      this.currentMs = nextAt;
      t.fire();
    }
    this.currentMs = until;
  }
}
