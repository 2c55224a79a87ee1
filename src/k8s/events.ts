/**
 * Records core/v1 Events on objects, the way `kubectl describe` shows them. The same (object, type, reason,
 * message) is aggregated into one Event whose count grows, so a Service that cannot be served for an hour
 * produces one Event, not thousands of API writes. The Event's name is derived from that key, so a new
 * leader (or a restarted process) finds the Event its predecessor wrote and counts on, instead of
 * repeating it.
 */
import { createHash } from 'node:crypto';
import type { Logger } from '../log.ts';
import type { KubeObject } from './informer.ts';
import { ApiError, type KubeRest } from './rest.ts';

export type EventType = 'Normal' | 'Warning';

interface Recorded {
  name: string;
  namespace: string;
  count: number;
  lastWrite: number;
}

/** Don't rewrite an aggregated Event's count more often than this; the count is still exact on the next write. */
const MIN_REWRITE_MS = 10_000;
const MAX_IN_FLIGHT = 8;
const MAX_PENDING = 2000;

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
function eventName(objectName: string, key: string): string {
  const hash = createHash('sha256').update(key).digest('hex').slice(0, 16);
  // Event names are DNS subdomains of at most 253 characters.
  return `${objectName.slice(0, 253 - hash.length - 1)}.${hash}`;
}

export class EventRecorder {
  private readonly rest: KubeRest;
  private readonly component: string;
  private readonly host: string;
  private readonly log: Logger;
  private readonly recorded = new Map<string, Recorded>();
  /** Writes waiting for a slot; bounded, because a burst (a node taking over thousands of Services) must
   * not turn into thousands of requests held in memory while the API server is slow. */
  private readonly pending: (() => Promise<void>)[] = [];
  private inFlight = 0;
  private dropped = 0;

  constructor(rest: KubeRest, component: string, host: string, log: Logger) {
    this.rest = rest;
    this.component = component;
    this.host = host;
    this.log = log;
  }

  /** Fire and forget: a failed Event write is logged, never allowed to fail the caller's work. */
  record(obj: KubeObject, type: EventType, reason: string, message: string): void {
    // Bounded before it becomes an aggregation key as well: 10,000 keys of 60 KB would hold 600 MB.
    const bounded = boundedMessage(message);
    if (this.pending.length >= MAX_PENDING) {
      // Events are advice to people, not state: under a flood, dropping some beats running out of memory.
      if (this.dropped++ % 1000 === 0)
        this.log.warn({ dropped: this.dropped, reason }, 'too many events pending; dropping some');
      return;
    }
    this.pending.push(() =>
      this.write(obj, type, reason, bounded).catch((err: Error) =>
        this.log.warn({ err: err.message, reason, object: obj.metadata?.name }, 'could not record event'),
      ),
    );
    this.pump();
  }

  private pump(): void {
    while (this.inFlight < MAX_IN_FLIGHT && this.pending.length > 0) {
      const job = this.pending.shift()!;
      this.inFlight++;
      void job().finally(() => {
        this.inFlight--;
        this.pump();
      });
    }
  }

  private async write(obj: KubeObject, type: EventType, reason: string, message: string): Promise<void> {
    const m = obj.metadata ?? {};
    const namespace = m.namespace ?? 'default';
    const key = `${m.uid}|${type}|${reason}|${message}`;
    const now = new Date();
    const seen = this.recorded.get(key);
    if (seen) {
      seen.count++;
      if (Date.now() - seen.lastWrite < MIN_REWRITE_MS) return;
      seen.lastWrite = Date.now();
      try {
        await this.rest.patch(`/api/v1/namespaces/${seen.namespace}/events/${seen.name}`, 'merge', {
          count: seen.count,
          lastTimestamp: now.toISOString(),
        });
        return;
      } catch (err) {
        // The API server expires Events (an hour by default); start a new one.
        if (!(err instanceof ApiError && err.status === 404)) throw err;
        this.recorded.delete(key);
      }
    }
    const name = eventName(m.name ?? '', `${this.component}|${key}`);
    const entry = { name, namespace, count: 1, lastWrite: Date.now() };
    this.recorded.set(key, entry);
    if (this.recorded.size > 10_000) this.recorded.delete(this.recorded.keys().next().value!);
    const path = `/api/v1/namespaces/${namespace}/events`;
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: {
        apiVersion: obj.apiVersion,
        kind: obj.kind,
        name: m.name,
        namespace: m.namespace,
        uid: m.uid,
        resourceVersion: m.resourceVersion,
      },
      type,
      reason,
      message,
      source: { component: this.component, host: this.host },
      reportingComponent: `beacon.dev/${this.component}`,
      reportingInstance: this.host,
      firstTimestamp: now.toISOString(),
      lastTimestamp: now.toISOString(),
      count: 1,
    };
    try {
      await this.rest.create(path, event);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409)) throw err;
      // Written by an earlier leader or run: count on from its figure.
      const existing = await this.rest.get<{ count?: number }>(`${path}/${name}`);
      entry.count = (existing.count ?? 1) + 1;
      await this.rest.patch(`${path}/${name}`, 'merge', {
        count: entry.count,
        lastTimestamp: now.toISOString(),
      });
    }
  }
}
