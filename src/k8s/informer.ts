/**
 * A list+watch cache of one resource type. It lists in pages, then watches from the list's resourceVersion
 * with bookmarks; on "410 Gone", a malformed line or a broken stream it lists again and emits the difference,
 * so handlers see every change exactly as add/update/delete however the connection behaves. It never trusts
 * the connection to report its own death: a watch that delivers nothing, not even a bookmark, for
 * `watchIdleMs` is replaced. Retries back off exponentially with jitter, so that the informers of a whole
 * cluster, broken together by an API server restart, do not come back in the same instant.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
import { type BackoffPolicy, backoffDelay, jittered } from './backoff.ts';
import { ApiError, type KubeRest } from './rest.ts';

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: V1ObjectMeta;
}

export interface ResourceType {
  /** '' for the core group. */
  group: string;
  version: string;
  plural: string;
}

export function collectionPath(r: ResourceType, namespace?: string): string {
  const root = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  return namespace
    ? `${root}/namespaces/${encodeURIComponent(namespace)}/${r.plural}`
    : `${root}/${r.plural}`;
}

export function objectPath(r: ResourceType, namespace: string | undefined, name: string): string {
  return `${collectionPath(r, namespace)}/${encodeURIComponent(name)}`;
}

/** "namespace/name", or "name" for cluster-scoped objects. */
export function objectKey(o: KubeObject): string {
  const m = o.metadata ?? {};
  return m.namespace ? `${m.namespace}/${m.name}` : (m.name ?? '');
}

type Handler<T> = (obj: T, old: T | undefined) => void;

interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T & { code?: number; message?: string };
}

/** What the informer waits with; tests replace it to see the delays chosen without waiting them out. */
export interface InformerTiming {
  sleep(ms: number, signal: AbortSignal): Promise<void>;
  /** Uniform in [0, 1), for jitter. */
  random(): number;
}

export const REAL_TIMING: InformerTiming = {
  sleep: (ms, signal) => sleep(ms, undefined, { signal }).catch(() => {}),
  random: Math.random,
};

export interface InformerOptions<T = KubeObject> {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Keeps only what the component reads of each object (name, namespace and resourceVersion must stay):
   * thousands of cached Services and EndpointSlices otherwise dominate a process's memory. An update whose
   * kept fields did not change (a Node's status heartbeat, say) is not emitted.
   */
  slim?: (obj: T) => T;
  /** Objects per page when listing (the `limit` parameter); default 500, as client-go's reflector uses. */
  pageSize?: number;
  /** A watch silent for this long (no event, no bookmark) is presumed dead and replaced; default 90 s. */
  watchIdleMs?: number;
  /** Delays between failed attempts (jittered); default 1 s doubling up to 30 s. */
  backoff?: BackoffPolicy;
  timing?: InformerTiming;
}

/**
 * The API server sends a bookmark about once a minute on a quiet watch (when allowWatchBookmarks is set);
 * 90 s of silence is a connection that died without telling.
 */
const DEFAULT_WATCH_IDLE_MS = 90_000;
const DEFAULT_BACKOFF: BackoffPolicy = { initialMs: 1000, maxMs: 30_000 };
/** After the API server answers again: the informers of one process retry spread over about this long. */
const REACHABLE_AGAIN_DELAY_MS = 250;
const DEFAULT_PAGE_SIZE = 500;

/**
 * Drops what no Beacon component reads before an object is cached: managedFields are often the larger part
 * of an object, and thousands of cached Services add up.
 */
function trim<T extends KubeObject>(obj: T): T {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
  return obj;
}

/** Deep equality of two decoded JSON values, ignoring key order. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a)) {
    const bb = b as unknown[];
    return a.length === bb.length && a.every((x, i) => sameJson(x, bb[i]));
  }
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  const keys = Object.keys(ao).filter((k) => ao[k] !== undefined);
  if (keys.length !== Object.keys(bo).filter((k) => bo[k] !== undefined).length) return false;
  return keys.every((k) => sameJson(ao[k], bo[k]));
}

/** Whether two versions of an object differ in anything but their resourceVersion. */
export function sameButVersion(a: KubeObject, b: KubeObject): boolean {
  const strip = (o: KubeObject) => ({ ...o, metadata: { ...o.metadata, resourceVersion: undefined } });
  return sameJson(strip(a), strip(b));
}

interface ListPage<T> {
  metadata: { resourceVersion: string; continue?: string };
  items: T[];
}

/**
 * Lists a collection in pages of `pageSize` (limit + continue), passing each item through `keep` as its
 * page arrives so only what is kept stays in memory. When the continue token has expired (410) before the
 * last page, it falls back to one unpaginated list, as client-go's pager does: a consistent snapshot cannot
 * be resumed, and starting over could expire again on a busy server.
 */
export async function listAll<T extends KubeObject, K>(
  rest: KubeRest,
  path: string,
  query: Record<string, string | number | boolean | undefined>,
  opts: { pageSize: number; signal: AbortSignal; log: Logger; keep: (item: T) => K },
): Promise<{ items: K[]; resourceVersion: string; pages: number }> {
  const items: K[] = [];
  let cont: string | undefined;
  let pages = 0;
  for (;;) {
    let page: ListPage<T>;
    try {
      page = await rest.get<ListPage<T>>(path, {
        query: { ...query, limit: opts.pageSize, continue: cont },
        signal: opts.signal,
        timeoutMs: 120_000,
      });
    } catch (err) {
      if (!(cont && err instanceof ApiError && err.status === 410)) throw err;
      opts.log.info({ pages }, 'list continue token expired; listing again in one page');
      const full = await rest.get<ListPage<T>>(path, { query, signal: opts.signal, timeoutMs: 120_000 });
      return {
        items: full.items.map(opts.keep),
        resourceVersion: full.metadata.resourceVersion,
        pages: pages + 1,
      };
    }
    pages++;
    for (const item of page.items) items.push(opts.keep(item));
    cont = page.metadata.continue || undefined;
    if (!cont) return { items, resourceVersion: page.metadata.resourceVersion, pages };
  }
}

/** Why a watch ended. */
type WatchEnd = 'closed' | 'gone' | 'idle' | 'malformed' | 'error';

class MalformedLine extends Error {}

export class Informer<T extends KubeObject> {
  private readonly store = new Map<string, T>();
  private readonly handlers = {
    add: [] as Handler<T>[],
    update: [] as Handler<T>[],
    delete: [] as Handler<T>[],
  };
  private readonly rest: KubeRest;
  private readonly resource: ResourceType;
  private readonly log: Logger;
  private readonly opts: InformerOptions<T>;
  private readonly timing: InformerTiming;
  private readonly backoff: BackoffPolicy;
  private resourceVersion = '';
  private syncedFlag = false;

  constructor(rest: KubeRest, resource: ResourceType, log: Logger, opts: InformerOptions<T> = {}) {
    this.rest = rest;
    this.resource = resource;
    this.log = log.child({ resource: resource.plural });
    this.opts = opts;
    this.timing = opts.timing ?? REAL_TIMING;
    this.backoff = opts.backoff ?? DEFAULT_BACKOFF;
  }

  on(event: 'add' | 'update' | 'delete', handler: Handler<T>): void {
    this.handlers[event].push(handler);
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return [...this.store.values()];
  }

  get synced(): boolean {
    return this.syncedFlag;
  }

  /**
   * Lists once (resolving when the cache holds the full list and handlers have seen it), then keeps
   * watching in the background until `signal` aborts.
   */
  async start(signal: AbortSignal): Promise<void> {
    await this.relistWithRetry(signal, 0);
    this.syncedFlag = true;
    void this.watchLoop(signal);
  }

  private query(extra: Record<string, string | number | boolean | undefined>) {
    return { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector, ...extra };
  }

  private delay(failures: number): number {
    return jittered(backoffDelay(this.backoff, failures), this.timing.random);
  }

  /**
   * Waits out the backoff after the `failures`-th failure in a row, or less: once the API server answers
   * any request of this process again (it was down or unreachable), the next attempt comes within a
   * jittered fraction of a second, not after the doubled delay grown during the outage.
   */
  private async waitBeforeRetry(failures: number, signal: AbortSignal): Promise<void> {
    const wake = new AbortController();
    const unsubscribe = this.rest.onReachableAgain(() => wake.abort());
    try {
      await this.timing.sleep(this.delay(failures), AbortSignal.any([signal, wake.signal]));
    } finally {
      unsubscribe();
    }
    if (wake.signal.aborted && !signal.aborted)
      await this.timing.sleep(jittered(REACHABLE_AGAIN_DELAY_MS, this.timing.random), signal);
  }

  /** Lists until it succeeds; `failures` is how many attempts in a row already failed (0: list at once). */
  private async relistWithRetry(signal: AbortSignal, failures: number): Promise<void> {
    let failed = failures;
    for (;;) {
      if (failed > 0) await this.waitBeforeRetry(failed, signal);
      if (signal.aborted) return;
      try {
        await this.relist(signal);
        if (failed > failures) this.log.info({ attempts: failed - failures + 1 }, 'list succeeded again');
        return;
      } catch (err) {
        if (signal.aborted) return;
        if (failed === failures)
          this.log.warn({ err: (err as Error).message }, 'list failed; retrying with backoff');
        failed++;
      }
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const list = await listAll<T, T>(
      this.rest,
      collectionPath(this.resource, this.opts.namespace),
      this.query({}),
      {
        pageSize: this.opts.pageSize ?? DEFAULT_PAGE_SIZE,
        signal,
        log: this.log,
        keep: (item) => this.slim(item),
      },
    );
    const seen = new Set<string>();
    for (const item of list.items) {
      seen.add(objectKey(item));
      this.apply('MODIFIED', item);
    }
    for (const [key, old] of this.store) if (!seen.has(key)) this.apply('DELETED', old);
    this.resourceVersion = list.resourceVersion;
  }

  private slim(received: T): T {
    return this.opts.slim ? this.opts.slim(received) : trim(received);
  }

  /** Applies an already slimmed object. */
  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T): void {
    const key = objectKey(obj);
    const old = this.store.get(key);
    if (type === 'DELETED') {
      if (!old) return;
      this.store.delete(key);
      this.emit('delete', obj, old);
      return;
    }
    if (old?.metadata?.resourceVersion === obj.metadata?.resourceVersion && old) return;
    this.store.set(key, obj);
    // Kept silently: the newest resourceVersion is cached (conditional writes need it), but nothing a
    // handler reads changed.
    if (old && sameButVersion(old, obj)) return;
    this.emit(old ? 'update' : 'add', obj, old);
  }

  private emit(event: 'add' | 'update' | 'delete', obj: T, old: T | undefined): void {
    for (const h of this.handlers[event]) {
      try {
        h(obj, old);
      } catch (err) {
        this.log.error({ err, key: objectKey(obj) }, 'informer handler failed');
      }
    }
  }

  private async watchLoop(signal: AbortSignal): Promise<void> {
    let failures = 0;
    // The condition "watch broke" ends when a watch is accepted again, not when that watch ends.
    let broken = false;
    const opened = () => {
      if (broken) this.log.info({ failures }, 'watch re-established');
      broken = false;
    };
    while (!signal.aborted) {
      const { end, detail } = await this.watchOnce(signal, opened);
      if (signal.aborted) return;
      if (end === 'closed') {
        failures = 0;
        continue;
      }
      if (end === 'idle') {
        // No relist: the next watch resumes from the last resourceVersion seen.
        this.log.warn({ silentMs: this.watchIdleMs }, 'watch silent for too long; replacing it');
        continue;
      }
      if (end === 'error') {
        if (!broken) this.log.warn({ err: detail }, 'watch broke; retrying with backoff');
        broken = true;
        failures++;
        await this.waitBeforeRetry(failures, signal);
        continue;
      }
      // 410 Gone or a line that could not be read: events may be lost, only a list brings the cache back.
      if (end === 'gone') this.log.info('watch expired (410 Gone); listing again');
      else this.log.warn({ err: detail }, 'malformed watch line; listing again');
      failures = Math.max(failures, 1);
      await this.relistWithRetry(signal, failures);
      failures = 0;
    }
  }

  private get watchIdleMs(): number {
    return this.opts.watchIdleMs ?? DEFAULT_WATCH_IDLE_MS;
  }

  private async watchOnce(
    signal: AbortSignal,
    opened: () => void,
  ): Promise<{ end: WatchEnd; detail?: string }> {
    const watch = new AbortController();
    const stop = () => watch.abort();
    signal.addEventListener('abort', stop, { once: true });
    let idle = false;
    const watchdog = setTimeout(() => {
      idle = true;
      watch.abort();
    }, this.watchIdleMs);
    let gone = false;
    let failure: string | undefined;
    try {
      await this.rest.stream(
        collectionPath(this.resource, this.opts.namespace),
        this.query({
          watch: 1,
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          // Servers close watches after this; a fresh one resumes from the last resourceVersion.
          timeoutSeconds: 300 + Math.floor(this.timing.random() * 300),
        }),
        (line) => {
          watchdog.refresh();
          const ev = parseWatchEvent<T>(line);
          if (ev.type === 'ERROR') {
            if (ev.object.code === 410) gone = true;
            else failure = `watch error event: ${ev.object.code} ${ev.object.message ?? ''}`.trim();
            return;
          }
          const rv = ev.object.metadata?.resourceVersion;
          if (rv) this.resourceVersion = rv;
          if (ev.type !== 'BOOKMARK') this.apply(ev.type, this.slim(ev.object));
        },
        watch.signal,
        opened,
      );
      if (gone) return { end: 'gone' };
      return failure ? { end: 'error', detail: failure } : { end: 'closed' };
    } catch (err) {
      if (idle) return { end: 'idle' };
      if (gone || (err instanceof ApiError && err.status === 410)) return { end: 'gone' };
      if (err instanceof MalformedLine) return { end: 'malformed', detail: err.message };
      return { end: 'error', detail: (err as Error).message };
    } finally {
      clearTimeout(watchdog);
      signal.removeEventListener('abort', stop);
    }
  }
}

/** One watch line as an event, or MalformedLine: anything else on a watch means the stream is broken. */
function parseWatchEvent<T>(line: string): WatchEvent<T> {
  let ev: unknown;
  try {
    ev = JSON.parse(line);
  } catch {
    throw new MalformedLine(`not JSON: ${line.slice(0, 120)}`);
  }
  const e = ev as Partial<WatchEvent<T>> | null;
  const types = ['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR'];
  if (
    !e ||
    typeof e !== 'object' ||
    !types.includes(e.type as string) ||
    !e.object ||
    typeof e.object !== 'object'
  )
    throw new MalformedLine(`not a watch event: ${line.slice(0, 120)}`);
  if (e.type !== 'ERROR' && e.type !== 'BOOKMARK' && !(e.object as KubeObject).metadata?.name)
    throw new MalformedLine(`a watch event without an object name: ${line.slice(0, 120)}`);
  return e as WatchEvent<T>;
}
