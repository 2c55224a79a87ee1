/**
 * Records core/v1 Events on objects, the way `kubectl describe` shows them. The same (object, type, reason,
 * message) is aggregated into one Event whose count grows, so a Service that cannot be served for an hour
 * produces one Event, not thousands of API writes. An Event's count is rewritten at most every
 * `minRewriteMs`, and always once more after the last repetition, so the count it ends with is exact. One
 * aggregated Event has at most one write in flight, so repetitions never create it twice. The Event's name
 * is derived from its aggregation key, so a new leader (or a restarted process) finds the Event its
 * predecessor wrote and counts on from it instead of repeating it.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { KubeObject } from './informer.ts';
import { ApiError, type KubeRest } from './rest.ts';

export type EventType = 'Normal' | 'Warning';

interface Recorded {
  key: string;
  obj: KubeObject;
  type: EventType;
  reason: string;
  message: string;
  name: string;
  namespace: string;
  /** Times recorded so far. */
  count: number;
  /** Whether the Event exists on the API server. */
  exists: boolean;
  /** The count the API server has, as far as known (0: unknown or none). */
  written: number;
  lastWrite: number;
  writing: boolean;
  flushTimer: NodeJS.Timeout | undefined;
  /** Writes that failed in a row for a reason that may pass (a busy or restarting API server). */
  failures: number;
}

/** Don't rewrite an aggregated Event's count more often than this (the final count is still written). */
const MIN_REWRITE_MS = 10_000;
const MAX_IN_FLIGHT = 8;
const MAX_PENDING = 2000;
/** Aggregation keys remembered; the oldest is forgotten beyond this (its Event then starts anew). */
const MAX_RECORDED = 10_000;
/**
 * A write that fails for a reason that may pass (no answer, 429, 5xx) is tried again for two minutes, as
 * client-go's event sink does (12 tries, 10 s apart): the first Event of a problem is the one a person
 * reads, and an API server that is busy or restarting answers again within that time. Sooner at first,
 * because most failures are one lost request.
 */
const RETRY_DELAYS_MS = [1000, 2000, 4000, 8000, 15_000, 30_000, 30_000, 30_000];

export interface EventRecorderOptions {
  /** Tests shorten it. */
  minRewriteMs?: number;
}

/** The longest message an Event carries (events.k8s.io/v1 caps its `note` at 1 kB too). */
export const MAX_EVENT_MESSAGE = 1024;

/**
 * Messages quote what users wrote (an annotation, a pool name), which may be 60 KB long. Cut the middle,
 * where a long quoted value sits, and keep both ends: the start names the object and the problem, the end
 * often says what to do. Counts code points, so no character is split.
 */
export function boundedMessage(message: string, max = MAX_EVENT_MESSAGE): string {
  const chars = [...message];
  if (chars.length <= max) return message;
  const marker = (n: number) => ` … (${n} characters left out) … `;
  const keep = max - marker(chars.length).length;
  const head = Math.ceil(keep * 0.6);
  const tail = keep - head;
  return `${chars.slice(0, head).join('')}${marker(chars.length - keep)}${chars.slice(chars.length - tail).join('')}`;
}

/** A stable name for the Event of one aggregation key: the object's name and a hash of the key. */
function eventName(objectName: string | undefined, key: string): string {
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16);
  // Event names are DNS subdomains of at most 253 characters.
  return `${(objectName ?? '').slice(0, 253 - hash.length - 1)}.${hash}`;
}

export class EventRecorder {
  private readonly rest: KubeRest;
  private readonly component: string;
  private readonly host: string;
  private readonly log: Logger;
  private readonly minRewriteMs: number;
  private readonly recorded = new Map<string, Recorded>();
  /** Writes waiting for a slot; bounded, because a burst (a node taking over thousands of Services) must
   * not turn into thousands of requests held in memory while the API server is slow. */
  private readonly pending: Recorded[] = [];
  private inFlight = 0;
  private dropped = 0;
  /** Callers of `settled()` waiting for the recorder to have nothing left to write. */
  private settledWaiters: (() => void)[] = [];

  constructor(rest: KubeRest, component: string, host: string, log: Logger, opts: EventRecorderOptions = {}) {
    this.rest = rest;
    this.component = component;
    this.host = host;
    this.log = log;
    this.minRewriteMs = opts.minRewriteMs ?? MIN_REWRITE_MS;
  }

  /** Fire and forget: a failed Event write is logged, never allowed to fail the caller's work. */
  record(obj: KubeObject, type: EventType, reason: string, message: string): void {
    // Bounded before it becomes an aggregation key as well: 10,000 keys of 60 KB would hold 600 MB.
    const bounded = boundedMessage(message);
    const key = `${obj.metadata?.uid}|${type}|${reason}|${bounded}`;
    const seen = this.recorded.get(key);
    if (seen) {
      seen.count++;
      // Most recently used last, so that the oldest is the one forgotten.
      this.recorded.delete(key);
      this.recorded.set(key, seen);
      this.schedule(seen);
      return;
    }
    const m = obj.metadata ?? {};
    const entry: Recorded = {
      key,
      obj,
      type,
      reason,
      message: bounded,
      name: eventName(m.name, `${this.component}|${key}`),
      namespace: m.namespace ?? 'default',
      count: 1,
      exists: false,
      written: 0,
      lastWrite: 0,
      writing: false,
      flushTimer: undefined,
      failures: 0,
    };
    this.recorded.set(key, entry);
    if (this.recorded.size > MAX_RECORDED) this.forget(this.recorded.values().next().value!);
    this.enqueue(entry);
  }

  /**
   * Resolves once nothing is left to write: no write waiting or under way, and no count rewrite or retry
   * due later. An Event whose retries ran out (or that was refused for good) counts as settled; its
   * warning is in the log.
   */
  settled(): Promise<void> {
    if (this.isSettled()) return Promise.resolve();
    // Whoever waits keeps the process alive until the last write is done.
    for (const e of this.recorded.values()) e.flushTimer?.ref();
    return new Promise((resolve) => this.settledWaiters.push(resolve));
  }

  /** A due write: it alone does not keep the process alive, unless someone waits for `settled()`. */
  private timer(fn: () => void, ms: number): NodeJS.Timeout {
    const t = setTimeout(fn, ms);
    if (this.settledWaiters.length === 0) t.unref();
    return t;
  }

  private isSettled(): boolean {
    if (this.pending.length > 0 || this.inFlight > 0) return false;
    for (const e of this.recorded.values()) if (e.flushTimer) return false;
    return true;
  }

  private wakeSettledWaiters(): void {
    if (this.settledWaiters.length === 0 || !this.isSettled()) return;
    for (const resolve of this.settledWaiters.splice(0)) resolve();
  }

  /** Stops the timers of pending count rewrites (their counts are not written). */
  close(): void {
    for (const e of this.recorded.values()) {
      if (e.flushTimer) clearTimeout(e.flushTimer);
      e.flushTimer = undefined;
    }
    this.wakeSettledWaiters();
  }

  private forget(entry: Recorded): void {
    if (entry.flushTimer) clearTimeout(entry.flushTimer);
    entry.flushTimer = undefined;
    this.recorded.delete(entry.key);
  }

  /** Writes the entry's count now if allowed, else once the rewrite interval has passed. */
  private schedule(entry: Recorded): void {
    if (entry.writing || entry.flushTimer || entry.count === entry.written) return;
    const wait = entry.lastWrite + this.minRewriteMs - Date.now();
    if (wait <= 0) {
      this.enqueue(entry);
      return;
    }
    entry.flushTimer = this.timer(() => {
      entry.flushTimer = undefined;
      if (this.recorded.get(entry.key) === entry) this.schedule(entry);
      this.wakeSettledWaiters();
    }, wait);
  }

  private enqueue(entry: Recorded): void {
    if (this.pending.length >= MAX_PENDING) {
      // Events are advice to people, not state: under a flood, dropping some beats running out of memory.
      if (this.dropped++ % 1000 === 0)
        this.log.warn(
          { dropped: this.dropped, reason: entry.reason },
          'too many events pending; dropping some',
        );
      return;
    }
    entry.writing = true;
    this.pending.push(entry);
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < MAX_IN_FLIGHT && this.pending.length > 0) {
      const entry = this.pending.shift()!;
      this.inFlight++;
      let ok = false;
      let retryIn: number | undefined;
      void this.write(entry)
        .then(() => {
          ok = true;
          entry.failures = 0;
        })
        .catch((err: Error) => {
          const passing = !(err instanceof ApiError) || err.status === 429 || err.status >= 500;
          retryIn = passing ? RETRY_DELAYS_MS[entry.failures] : undefined;
          entry.failures++;
          const where = { err: err.message, reason: entry.reason, object: entry.obj.metadata?.name };
          if (retryIn !== undefined)
            this.log.debug({ ...where, retryInMs: retryIn }, 'could not record event yet');
          else this.log.warn(where, 'could not record event');
        })
        .finally(() => {
          this.inFlight--;
          entry.writing = false;
          entry.lastWrite = Date.now();
          const current = this.recorded.get(entry.key) === entry;
          // Repetitions that came while this write was under way are written later. After a failure that
          // may pass, a few spaced retries; after one that will not (403, 422), only the next repetition.
          if (ok && current) this.schedule(entry);
          else if (retryIn !== undefined && current && !entry.flushTimer) {
            entry.flushTimer = this.timer(() => {
              entry.flushTimer = undefined;
              if (this.recorded.get(entry.key) === entry && !entry.writing) this.enqueue(entry);
              this.wakeSettledWaiters();
            }, retryIn);
          }
          this.pump();
          this.wakeSettledWaiters();
        });
    }
  }

  private async write(entry: Recorded): Promise<void> {
    const count = entry.count;
    const now = new Date().toISOString();
    if (entry.exists) {
      try {
        await this.rest.patch(`/api/v1/namespaces/${entry.namespace}/events/${entry.name}`, 'merge', {
          count,
          lastTimestamp: now,
        });
        entry.written = count;
        return;
      } catch (err) {
        // The API server expires Events (an hour by default); start a new one.
        if (!(err instanceof ApiError && err.status === 404)) throw err;
        entry.exists = false;
        entry.written = 0;
      }
    }
    const m = entry.obj.metadata ?? {};
    try {
      await this.rest.create(`/api/v1/namespaces/${entry.namespace}/events`, {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { name: entry.name, namespace: entry.namespace },
        involvedObject: {
          apiVersion: entry.obj.apiVersion,
          kind: entry.obj.kind,
          name: m.name,
          namespace: m.namespace,
          uid: m.uid,
          resourceVersion: m.resourceVersion,
        },
        type: entry.type,
        reason: entry.reason,
        message: entry.message,
        source: { component: this.component, host: this.host },
        reportingComponent: `beacon.dev/${this.component}`,
        reportingInstance: this.host,
        firstTimestamp: now,
        lastTimestamp: now,
        count,
      });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409)) throw err;
      await this.countOn(entry, count, now);
      return;
    }
    entry.exists = true;
    entry.written = count;
  }

  /**
   * The Event exists already: written by a previous leader or run (another reporting instance, or this one
   * before a restart), whose count this one's repetitions add to, or by this recorder's own create whose
   * answer was lost, which already holds them.
   */
  private async countOn(entry: Recorded, count: number, now: string): Promise<void> {
    const path = `/api/v1/namespaces/${entry.namespace}/events/${entry.name}`;
    const existing = await this.rest.get<{ count?: number; reportingInstance?: string }>(path);
    const theirs = existing.count ?? 1;
    const total = existing.reportingInstance === this.host ? Math.max(theirs, count) : theirs + count;
    entry.count += total - count;
    await this.rest.patch(path, 'merge', { count: total, lastTimestamp: now });
    entry.exists = true;
    entry.written = total;
  }
}
