/**
 * Publishes what this node announces as ServiceL2Status / ServiceBGPStatus objects (one per Service and
 * node, readable with `kubectl get servicel2statuses`) and each BGP session's state as a BGPSessionState,
 * and records an Event on a Service when this node starts or stops answering for it. Writes happen only
 * on change, a few at a time, and after the UPDATEs of the same change have gone out: zero API writes in
 * steady state, and a change costs in proportion to the objects it touches, not to all of them.
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

/** What this node answers for one Service in L2 mode. */
export interface ServiceAnnouncement {
  /** "namespace/name" */
  service: string;
  addresses: string[];
  /** Interfaces. */
  via: string[];
}

type Kind = 'servicel2statuses' | 'servicebgpstatuses' | 'bgpsessionstates';

function digest(parts: readonly string[]): string {
  // NUL cannot occur in a Kubernetes name, so distinct tuples always hash distinct inputs.
  return createHash('sha256').update(parts.join('\0')).digest('hex').slice(0, 12);
}

/**
 * The object name for a tuple of names (node, namespace, Service; or node, peer): readable parts joined
 * with `-`, then a hash of the exact tuple. Joining alone would be ambiguous (node `n1-ns` with Service
 * `x/web` and node `n1` with Service `ns-x/web` both give `n1-ns-x-web`); the hash never is.
 */
export function objectName(...parts: string[]): string {
  const readable = parts
    .join('-')
    .toLowerCase()
    .replace(/[^a-z0-9.-]/g, '-')
    .slice(0, 253 - 13)
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '')
    .replace(/[.-]{2,}/g, '-');
  return `${readable ? `${readable}-` : ''}${digest(parts)}`;
}

/**
 * The value of the node label: the node's name, or for a name longer than a label value may be (63), its
 * first 50 characters and a hash. The full name is in status.node.
 */
export function nodeLabelValue(node: string): string {
  if (node.length <= 63) return node;
  return `${node.slice(0, 50).replace(/[^a-z0-9]+$/, '')}-${digest([node])}`;
}

/**
 * A JSON patch that replaces the whole status: a merge patch would keep a field the new status no longer
 * has (a session's lastError once it is up), since it removes only what it sets to null.
 */
function replaceStatus(status: Record<string, unknown>): { op: 'add'; path: string; value: unknown }[] {
  return [{ op: 'add', path: '/status', value: status }];
}

/** A status as it should be, with its serialization (what is compared with what was written). */
interface Desired {
  status: Record<string, unknown>;
  text: string;
}

const KINDS: readonly Kind[] = ['servicel2statuses', 'servicebgpstatuses', 'bgpsessionstates'];

/** Object names by tuple, so that a Service changing often is not hashed each time; bounded. */
const NAME_CACHE_LIMIT = 100_000;

export class StatusWriter {
  private readonly rest: KubeRest;
  private readonly namespace: string;
  private readonly node: string;
  private readonly log: Logger;
  private readonly events: EventRecorder;
  /** What this node last wrote: kind -> object name -> serialized status. */
  private readonly written = new Map<Kind, Map<string, string>>();
  private readonly desired = new Map<Kind, Map<string, Desired>>();
  /**
   * Objects whose desired status may differ from what was written: only these are looked at when writing,
   * so a change costs in proportion to itself, not to the number of objects.
   */
  private readonly dirty = new Map<Kind, Set<string>>();
  private readonly names = new Map<string, string>();
  private queue: Promise<void> = Promise.resolve();
  private flushing = false;
  private again = false;
  private soon: NodeJS.Immediate | undefined;
  private readonly serviceUid: (namespace: string, name: string) => string | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = 1000;
  private closed = false;

  /**
   * `serviceUid` looks a Service's uid up (in the speaker's cache): `kubectl describe svc` lists only the
   * Events whose involvedObject.uid is the Service's.
   */
  constructor(
    rest: KubeRest,
    namespace: string,
    node: string,
    events: EventRecorder,
    log: Logger,
    serviceUid: (namespace: string, name: string) => string | undefined = () => undefined,
  ) {
    this.rest = rest;
    this.namespace = namespace;
    this.node = node;
    this.events = events;
    this.log = log;
    this.serviceUid = serviceUid;
    for (const k of KINDS) {
      this.written.set(k, new Map());
      this.desired.set(k, new Map());
      this.dirty.set(k, new Set());
    }
  }

  /** Learns what an earlier run of this speaker left, so stale objects are deleted, not leaked. */
  async adoptExisting(): Promise<void> {
    for (const kind of KINDS) {
      try {
        const list = await this.rest.get<{
          items: { metadata: { name: string }; status?: { node?: string } }[];
        }>(this.path(kind), {
          query: { labelSelector: `${NODE_LABEL}=${nodeLabelValue(this.node)}` },
        });
        for (const o of list.items)
          if (o.status?.node === this.node) {
            this.written.get(kind)!.set(o.metadata.name, JSON.stringify(o.status));
            // Looked at on the next write: deleted unless this run wants it too.
            this.dirty.get(kind)!.add(o.metadata.name);
          }
      } catch (err) {
        this.log.warn({ err: (err as Error).message, kind }, 'cannot list earlier status objects');
      }
    }
  }

  private path(kind: Kind, name?: string): string {
    const base = `/apis/beacon.dev/v1alpha1/namespaces/${this.namespace}/${kind}`;
    return name ? `${base}/${name}` : base;
  }

  /** The object name of a (node, ...parts) tuple, remembered. */
  private nameOf(...parts: string[]): string {
    const key = parts.join('\0');
    let name = this.names.get(key);
    if (!name) {
      if (this.names.size >= NAME_CACHE_LIMIT) this.names.clear();
      name = objectName(this.node, ...parts);
      this.names.set(key, name);
    }
    return name;
  }

  /** Sets (or with undefined, removes) one object's desired status; true when that changed it. */
  private setOne(kind: Kind, name: string, status: Record<string, unknown> | undefined): boolean {
    const desired = this.desired.get(kind)!;
    if (status) {
      const text = JSON.stringify(status);
      if (desired.get(name)?.text === text) return false;
      desired.set(name, { status, text });
    } else if (!desired.delete(name)) return false;
    this.dirty.get(kind)!.add(name);
    this.flushSoon();
    return true;
  }

  /** Makes `kind`'s desired objects exactly `next`. */
  private setAll(kind: Kind, next: Map<string, Record<string, unknown>>): void {
    for (const name of [...this.desired.get(kind)!.keys()])
      if (!next.has(name)) this.setOne(kind, name, undefined);
    for (const [name, status] of next) this.setOne(kind, name, status);
  }

  /** One status object per Service this node announces, named after node and Service. */
  private perService(
    announcements: readonly ServiceAnnouncement[],
    fields: (a: ServiceAnnouncement) => Record<string, unknown>,
  ): Map<string, Record<string, unknown>> {
    const next = new Map<string, Record<string, unknown>>();
    for (const a of announcements)
      next.set(this.serviceObjectName(a.service), this.serviceStatus(a, fields(a)));
    return next;
  }

  private serviceObjectName(service: string): string {
    const [ns, name] = service.split('/') as [string, string];
    return this.nameOf(ns, name);
  }

  private serviceStatus(a: ServiceAnnouncement, fields: Record<string, unknown>): Record<string, unknown> {
    const [ns, name] = a.service.split('/') as [string, string];
    return { node: this.node, serviceName: name, serviceNamespace: ns, ...fields };
  }

  setL2(announcements: readonly ServiceAnnouncement[]): void {
    const next = this.perService(announcements, (a) => ({ addresses: a.addresses, interfaces: a.via }));
    this.announceChanges(this.desired.get('servicel2statuses')!, next);
    this.setAll('servicel2statuses', next);
  }

  /**
   * What this node announces over BGP for one Service ("namespace/name"): its prefixes and the peers it
   * announces them to; undefined when it announces nothing for it.
   */
  setBGP(service: string, bgp: { prefixes: string[]; peers: string[] } | undefined): void {
    const [namespace, name] = service.split('/') as [string, string];
    this.setOne(
      'servicebgpstatuses',
      this.nameOf(namespace, name),
      bgp
        ? {
            node: this.node,
            serviceName: name,
            serviceNamespace: namespace,
            prefixes: bgp.prefixes,
            peers: bgp.peers,
          }
        : undefined,
    );
  }

  setSessions(states: readonly SessionState[]): void {
    const next = new Map<string, Record<string, unknown>>();
    for (const s of states) {
      next.set(this.nameOf(s.peer), {
        node: this.node,
        peer: s.peer,
        peerAddress: s.peerAddress,
        sessionState: s.state,
        lastTransition: s.since.toISOString().replace(/\.\d+Z$/, 'Z'),
        prefixesAnnounced: s.prefixes,
        // The CRD allows 1,024 characters; an API server's message quoted in it can be long.
        ...(s.lastError ? { lastError: [...s.lastError].slice(0, 1024).join('') } : {}),
      });
    }
    this.setAll('bgpsessionstates', next);
  }

  /** Events on Services this node starts or stops answering for in L2 mode. */
  private announceChanges(before: Map<string, Desired>, after: Map<string, Record<string, unknown>>): void {
    const describe = (s: Record<string, unknown>) => {
      const name = s.serviceName as string;
      const namespace = s.serviceNamespace as string;
      const uid = this.serviceUid(namespace, name);
      return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace, ...(uid ? { uid } : {}) } };
    };
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
   * Writes on the next turn of the event loop: whatever the caller does next (the UPDATEs its change
   * causes) goes first, and every status changed in this turn is written in one round.
   */
  private flushSoon(): void {
    if (this.soon || this.closed) return;
    this.soon = setImmediate(() => {
      this.soon = undefined;
      this.flush();
    });
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
    for (const [kind, names] of this.dirty) {
      const desired = this.desired.get(kind)!;
      const written = this.written.get(kind)!;
      for (const name of names) {
        const want = desired.get(name);
        const have = written.get(name);
        if (want) {
          if (have === want.text) continue;
          const { status, text } = want;
          jobs.push(() =>
            this.put(kind, name, status, have !== undefined).then(
              () => void written.set(name, text),
              (err: unknown) => {
                names.add(name);
                throw err;
              },
            ),
          );
        } else if (have !== undefined) {
          jobs.push(() =>
            this.rest
              .delete(this.path(kind, name))
              .catch((err) => {
                if (!(err instanceof ApiError && err.status === 404)) throw err;
              })
              .then(
                () => void written.delete(name),
                (err: unknown) => {
                  names.add(name);
                  throw err;
                },
              ),
          );
        }
      }
      // A failed write puts its name back (above), for the retry.
      names.clear();
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
          [NODE_LABEL]: nodeLabelValue(this.node),
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
        await this.rest.patch(this.path(kind, name), 'json', replaceStatus(status));
        return;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
    }
    try {
      await this.rest.create(this.path(kind), body);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 409)) throw err;
      await this.rest.patch(this.path(kind, name), 'json', replaceStatus(status));
    }
  }

  /** Waits for pending writes, e.g. before exiting. */
  async settle(): Promise<void> {
    if (this.soon) {
      clearImmediate(this.soon);
      this.soon = undefined;
      this.flush();
    }
    await this.queue;
  }

  /**
   * Removes everything this node published (graceful shutdown): one DELETE of the collection per kind,
   * selected by this node's label, where one request per object took 21 s at 1,000 Services, most of a
   * Pod's 30 s grace period. A kind whose collection delete fails (a role without `deletecollection`, an API
   * server that is away) is removed object by object, as any write is retried.
   */
  async clear(): Promise<void> {
    this.closed = true;
    if (this.soon) {
      clearImmediate(this.soon);
      this.soon = undefined;
    }
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.queue;
    const selector = `${NODE_LABEL}=${nodeLabelValue(this.node)}`;
    let fallBack = false;
    await Promise.all(
      KINDS.map(async (kind) => {
        this.desired.get(kind)!.clear();
        const written = this.written.get(kind)!;
        if (written.size === 0) return;
        try {
          await this.rest.delete(this.path(kind), { query: { labelSelector: selector } });
          written.clear();
          this.dirty.get(kind)!.clear();
        } catch (err) {
          this.log.warn(
            { kind, err: err instanceof Error ? err.message : String(err) },
            "could not delete this node's status objects at once; deleting them one by one",
          );
          for (const name of written.keys()) this.dirty.get(kind)!.add(name);
          fallBack = true;
        }
      }),
    );
    if (!fallBack) return;
    this.flush();
    await this.queue;
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }
}
