/**
 * A list+watch cache of one resource type. It lists, then watches from the list's resourceVersion with
 * bookmarks, and on "410 Gone" or a broken stream lists again and emits the difference, so handlers see
 * every change exactly as add/update/delete however the connection behaves.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1ObjectMeta } from '@kubernetes/client-node';
import type { Logger } from '../log.ts';
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

export interface InformerOptions<T = KubeObject> {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Keeps only what the component reads of each object (name, namespace and resourceVersion must stay):
   * thousands of cached Services and EndpointSlices otherwise dominate a process's memory.
   */
  slim?: (obj: T) => T;
}

/**
 * Drops what no Beacon component reads before an object is cached: managedFields are often the larger part
 * of an object, and thousands of cached Services add up.
 */
function trim<T extends KubeObject>(obj: T): T {
  if (obj.metadata?.managedFields) delete obj.metadata.managedFields;
  return obj;
}

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
  private resourceVersion = '';
  private syncedFlag = false;

  constructor(rest: KubeRest, resource: ResourceType, log: Logger, opts: InformerOptions<T> = {}) {
    this.rest = rest;
    this.resource = resource;
    this.log = log.child({ resource: resource.plural });
    this.opts = opts;
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
    await this.relistWithRetry(signal);
    this.syncedFlag = true;
    void this.watchLoop(signal);
  }

  private query(extra: Record<string, string | number | boolean | undefined>) {
    return { labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector, ...extra };
  }

  private async relistWithRetry(signal: AbortSignal): Promise<void> {
    let delay = 250;
    for (;;) {
      try {
        await this.relist(signal);
        return;
      } catch (err) {
        if (signal.aborted) return;
        this.log.warn({ err: (err as Error).message, retryInMs: delay }, 'list failed');
        await sleep(delay, undefined, { signal }).catch(() => {});
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  private async relist(signal: AbortSignal): Promise<void> {
    const path = collectionPath(this.resource, this.opts.namespace);
    const list = await this.rest.get<{ metadata: { resourceVersion: string }; items: T[] }>(path, {
      query: this.query({}),
      signal,
      timeoutMs: 120_000,
    });
    const seen = new Set<string>();
    for (const item of list.items) {
      const key = objectKey(item);
      seen.add(key);
      this.apply('MODIFIED', item);
    }
    for (const [key, old] of this.store) if (!seen.has(key)) this.apply('DELETED', old);
    this.resourceVersion = list.metadata.resourceVersion;
  }

  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', received: T): void {
    const obj = this.opts.slim ? this.opts.slim(received) : trim(received);
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
    let delay = 250;
    while (!signal.aborted) {
      let gone = false;
      try {
        await this.rest.stream(
          collectionPath(this.resource, this.opts.namespace),
          this.query({
            watch: 1,
            resourceVersion: this.resourceVersion,
            allowWatchBookmarks: true,
            // Servers close watches after this; a fresh one resumes from the last resourceVersion.
            timeoutSeconds: 300 + Math.floor(Math.random() * 300),
          }),
          (line) => {
            const ev = JSON.parse(line) as WatchEvent<T>;
            if (ev.type === 'ERROR') {
              if (ev.object.code === 410) gone = true;
              else this.log.warn({ status: ev.object }, 'watch error event');
              return;
            }
            const rv = ev.object.metadata?.resourceVersion;
            if (rv) this.resourceVersion = rv;
            if (ev.type !== 'BOOKMARK') this.apply(ev.type, ev.object);
          },
          signal,
        );
        delay = 250;
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof ApiError && err.status === 410) gone = true;
        else {
          this.log.warn({ err: (err as Error).message, retryInMs: delay }, 'watch broke');
          await sleep(delay, undefined, { signal }).catch(() => {});
          delay = Math.min(delay * 2, 30_000);
        }
      }
      if (gone && !signal.aborted) {
        this.log.info('watch expired (410 Gone); listing again');
        await this.relistWithRetry(signal);
      }
    }
  }
}
