/**
 * Publishes what this node announces as ServiceL2Status / ServiceBGPStatus objects (one per Service and
 * node, readable with `kubectl get servicel2statuses`) and each BGP session's state as a BGPSessionState,
 * and records an Event on a Service when this node starts or stops answering for it. Writes happen only
 * on change, a few at a time: zero API writes in steady state.
 */
import { createHash } from 'node:crypto';
import type { EventRecorder } from '../k8s/events.ts';
import { ApiError, type KubeRest } from '../k8s/rest.ts';
import type { Logger } from '../log.ts';
import type { SessionState } from './bgp-announcer.ts';

const NODE_LABEL = 'beacon.dev/node';
const SERVICE_NAME_LABEL = 'beacon.dev/service-name';
const SERVICE_NAMESPACE_LABEL = 'beacon.dev/service-namespace';
const MAX_IN_FLIGHT = 8;

export interface ServiceAnnouncement {
  /** "namespace/name" */
  service: string;
  addresses: string[];
  /** L2: interfaces; BGP: peers. */
  via: string[];
  /** BGP only: prefixes. */
  prefixes?: string[];
}

type Kind = 'servicel2statuses' | 'servicebgpstatuses' | 'bgpsessionstates';

/** A DNS-1123 name from parts, hashed when too long. */
function objectName(...parts: string[]): string {
  const raw = parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-');
  if (raw.length <= 200) return raw.replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '') || 'x';
  return `${raw.slice(0, 180).replace(/[^a-z0-9]+$/, '')}-${createHash('sha256').update(raw).digest('hex').slice(0, 10)}`;
}

export class StatusWriter {
  private readonly rest: KubeRest;
  private readonly namespace: string;
  private readonly node: string;
  private readonly log: Logger;
  private readonly events: EventRecorder;
  /** What this node last wrote: kind -> object name -> serialized status. */
  private readonly written = new Map<Kind, Map<string, string>>();
  private readonly desired = new Map<Kind, Map<string, Record<string, unknown>>>();
  private queue: Promise<void> = Promise.resolve();
  private flushing = false;
  private again = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = 1000;
  private closed = false;

  constructor(rest: KubeRest, namespace: string, node: string, events: EventRecorder, log: Logger) {
    this.rest = rest;
    this.namespace = namespace;
    this.node = node;
    this.events = events;
    this.log = log;
    for (const k of ['servicel2statuses', 'servicebgpstatuses', 'bgpsessionstates'] as const) {
      this.written.set(k, new Map());
      this.desired.set(k, new Map());
    }
  }

  /** Learns what an earlier run of this speaker left, so stale objects are deleted, not leaked. */
  async adoptExisting(): Promise<void> {
    for (const kind of this.written.keys()) {
      try {
        const list = await this.rest.get<{ items: { metadata: { name: string }; status?: unknown }[] }>(
          this.path(kind),
          {
            query: { labelSelector: `${NODE_LABEL}=${this.node}` },
          },
        );
        for (const o of list.items) this.written.get(kind)!.set(o.metadata.name, JSON.stringify(o.status));
      } catch (err) {
        this.log.warn({ err: (err as Error).message, kind }, 'cannot list earlier status objects');
      }
    }
  }

  private path(kind: Kind, name?: string): string {
    const base = `/apis/beacon.dev/v1alpha1/namespaces/${this.namespace}/${kind}`;
    return name ? `${base}/${name}` : base;
  }

  /** One status object per Service this node announces, named after node and Service. */
  private perService(
    announcements: readonly ServiceAnnouncement[],
    fields: (a: ServiceAnnouncement) => Record<string, unknown>,
  ): Map<string, Record<string, unknown>> {
    const next = new Map<string, Record<string, unknown>>();
    for (const a of announcements) {
      const [ns, name] = a.service.split('/') as [string, string];
      next.set(objectName(this.node, ns, name), {
        node: this.node,
        serviceName: name,
        serviceNamespace: ns,
        ...fields(a),
      });
    }
    return next;
  }

  setL2(announcements: readonly ServiceAnnouncement[]): void {
    const next = this.perService(announcements, (a) => ({ addresses: a.addresses, interfaces: a.via }));
    this.announceChanges(this.desired.get('servicel2statuses')!, next);
    this.desired.set('servicel2statuses', next);
    this.flush();
  }

  setBGP(announcements: readonly ServiceAnnouncement[]): void {
    this.desired.set(
      'servicebgpstatuses',
      this.perService(announcements, (a) => ({ prefixes: a.prefixes ?? [], peers: a.via })),
    );
    this.flush();
  }

  setSessions(states: readonly SessionState[]): void {
    const next = new Map<string, Record<string, unknown>>();
    for (const s of states) {
      next.set(objectName(this.node, s.peer), {
        node: this.node,
        peer: s.peer,
        peerAddress: s.peerAddress,
        sessionState: s.state,
        lastTransition: s.since.toISOString().replace(/\.\d+Z$/, 'Z'),
        prefixesAnnounced: s.prefixes,
        ...(s.lastError ? { lastError: s.lastError } : {}),
      });
    }
    this.desired.set('bgpsessionstates', next);
    this.flush();
  }

  /** Events on Services this node starts or stops answering for in L2 mode. */
  private announceChanges(
    before: Map<string, Record<string, unknown>>,
    after: Map<string, Record<string, unknown>>,
  ): void {
    const describe = (s: Record<string, unknown>) => ({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: s.serviceName as string, namespace: s.serviceNamespace as string },
    });
    for (const [name, s] of after) {
      if (before.has(name)) continue;
      const via = (s.interfaces as string[]).join(', ');
      this.events.record(
        describe(s),
        'Normal',
        'NodeAnnouncing',
        `node ${this.node} now answers ARP/NDP for ${(s.addresses as string[]).join(', ')}${via ? ` on ${via}` : ''}`,
      );
    }
  }

  /**
   * Writes the difference between desired and written, a few requests at a time. A write that fails is
   * tried again after a backoff (1 s doubling to 30 s), not only at the next change: a quiet cluster must
   * not keep a stale object.
   */
  private flush(): void {
    if (this.retryTimer) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    if (this.flushing) {
      this.again = true;
      return;
    }
    this.flushing = true;
    this.queue = this.queue.then(async () => {
      let failed = 0;
      do {
        this.again = false;
        failed = await this.writeDifference();
      } while (this.again);
      this.flushing = false;
      if (failed > 0 && !this.closed) {
        this.retryTimer = setTimeout(() => this.flush(), this.retryMs);
        this.retryTimer.unref();
        this.retryMs = Math.min(this.retryMs * 2, 30_000);
      } else this.retryMs = 1000;
    });
  }

  private async writeDifference(): Promise<number> {
    const jobs: (() => Promise<void>)[] = [];
    for (const [kind, desired] of this.desired) {
      const written = this.written.get(kind)!;
      for (const [name, status] of desired) {
        const text = JSON.stringify(status);
        if (written.get(name) === text) continue;
        jobs.push(() =>
          this.put(kind, name, status, written.has(name)).then(() => void written.set(name, text)),
        );
      }
      for (const name of [...written.keys()]) {
        if (desired.has(name)) continue;
        jobs.push(() =>
          this.rest
            .delete(this.path(kind, name))
            .catch((err) => {
              if (!(err instanceof ApiError && err.status === 404)) throw err;
            })
            .then(() => void written.delete(name)),
        );
      }
    }
    let next = 0;
    let failed = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const job = jobs[next++]!;
        await job().catch((err: Error) => {
          failed++;
          this.log.warn({ err: err.message }, 'status write failed');
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(MAX_IN_FLIGHT, jobs.length) }, worker));
    return failed;
  }

  private async put(
    kind: Kind,
    name: string,
    status: Record<string, unknown>,
    exists: boolean,
  ): Promise<void> {
    const body = {
      apiVersion: 'beacon.dev/v1alpha1',
      kind: {
        servicel2statuses: 'ServiceL2Status',
        servicebgpstatuses: 'ServiceBGPStatus',
        bgpsessionstates: 'BGPSessionState',
      }[kind],
      metadata: {
        name,
        labels: {
          [NODE_LABEL]: this.node,
          ...(status.serviceName
            ? {
                [SERVICE_NAME_LABEL]: String(status.serviceName),
                [SERVICE_NAMESPACE_LABEL]: String(status.serviceNamespace),
              }
            : {}),
        },
      },
      status,
    };
    if (exists) {
      try {
        await this.rest.patch(this.path(kind, name), 'merge', { status });
        return;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
    }
    try {
      await this.rest.create(this.path(kind), body);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409)) throw err;
      await this.rest.patch(this.path(kind, name), 'merge', { status });
    }
  }

  /** Waits for pending writes, e.g. before exiting. */
  async settle(): Promise<void> {
    await this.queue;
  }

  /** Removes everything this node published (graceful shutdown). */
  async clear(): Promise<void> {
    for (const k of this.desired.keys()) this.desired.set(k, new Map());
    this.flush();
    await this.settle();
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }
}
