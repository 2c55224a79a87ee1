/**
 * The controller: the only writer of address assignments. It caches Services, Namespaces, pools and
 * advertisements. When it wins the leader Lease it reads every Service afresh (a consistent list, newer
 * than anything the previous leader wrote before its term ended), rebuilds the allocation table from the
 * addresses in their status, and only then assigns new ones, so a restart never moves an address.
 *
 * Everything it does as leader belongs to one term: writes carry the term's AbortSignal, are sent only
 * while the term lasts on this process's clock, and are conditional on the resourceVersion the decision
 * was made from, so a deposed leader's late write is refused (409) instead of overwriting its successor.
 * A Service whose write fails is retried with a per-Service exponential backoff.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Namespace, V1Service } from '@kubernetes/client-node';
import type { BGPAdvertisement, Community, IPAddressPool } from '../api/types.ts';
import { Allocator } from '../ipam/index.ts';
import type { Assignment, PoolInput, Refusal } from '../ipam/types.ts';
import { type BackoffPolicy, backoffDelay, jittered } from '../k8s/backoff.ts';
import { EventRecorder } from '../k8s/events.ts';
import { Informer, type KubeObject, listAll, objectKey } from '../k8s/informer.ts';
import { DEFAULT_LEASE_TIMING, LeaderElector } from '../k8s/lease.ts';
import { ApiError, type KubeRest } from '../k8s/rest.ts';
import type { Logger } from '../log.ts';
import { AdvertisementStatusWriter } from './advertisement-status.ts';
import type { ControllerMetrics } from './metrics.ts';
import { PoolStatusWriter } from './pool-status.ts';
import {
  ANNOTATION,
  ingressAddresses,
  isServedByBeacon,
  requestAtAssignment,
  requestFor,
  serviceKey,
  termsRecord,
} from './service-request.ts';
import { type QueueTimers, WorkQueue } from './work-queue.ts';

export interface ControllerOptions {
  /** Namespace of Beacon's configuration (pools, advertisements) and of the leader Lease. */
  namespace: string;
  loadBalancerClass: string;
  /** Serve only Services of loadBalancerClass, none without a class (beside another provider). */
  classOnly?: boolean;
  /** This replica's name in the Lease, e.g. the Pod name. */
  identity: string;
  /** Concurrent Service writes. */
  concurrency: number;
  leaseDurationMs?: number;
  renewDeadlineMs?: number;
  retryPeriodMs?: number;
  /** Delays before a Service whose write failed is tried again (default 0.5 s doubling up to 5 min). */
  retryBackoff?: BackoffPolicy;
  /** For tests: the timers retries wait with, and the clock leadership terms are measured on. */
  queueTimers?: QueueTimers;
  now?: () => number;
}

interface Advertisement extends KubeObject {
  spec?: { ipAddressPools?: string[] };
}

const BEACON = { group: 'beacon.dev', version: 'v1alpha1' };
const REBUILD_BACKOFF: BackoffPolicy = { initialMs: 500, maxMs: 5000 };

function withKind<T extends KubeObject>(obj: T, apiVersion: string, kind: string): T {
  return { ...obj, apiVersion, kind };
}

function sameAddresses(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function poolsOf(assignment: Assignment | undefined): string {
  const pools = (assignment?.addresses ?? []).map((a) => a.pool).filter((p): p is string => !!p);
  return [...new Set(pools)].join(',');
}

/** Leadership ended while a reconcile was under way; nothing is retried, the next leader starts over. */
class TermEnded extends Error {}

/** What the rebuild needs of a Service from the fresh list (the full objects are not kept). */
interface RestoreEntry {
  svc: V1Service;
  addresses: string[];
  /** Whether Beacon serves it; the addresses of one it does not serve are another provider's. */
  served: boolean;
  /** 0: holds its addresses under the terms it has now; 1: no record of its terms; 2: changed its terms. */
  rank: number;
}

/**
 * The order addresses are restored in, so that a conflict falls on the Service that broke the terms:
 * first those whose sharing terms are unchanged since they got their addresses, then those with no
 * record of them (older Services first), then those that changed them.
 */
function restoreOrder(a: RestoreEntry, b: RestoreEntry): number {
  const created = (e: RestoreEntry) => e.svc.metadata?.creationTimestamp?.toString() ?? '';
  return (
    a.rank - b.rank ||
    (created(a) < created(b) ? -1 : created(a) > created(b) ? 1 : 0) ||
    (serviceKey(a.svc) < serviceKey(b.svc) ? -1 : 1)
  );
}

export function poolInput(pool: IPAddressPool): PoolInput {
  const input: PoolInput = {
    name: pool.metadata.name ?? '',
    addresses: pool.spec?.addresses ?? [],
    autoAssign: pool.spec?.autoAssign ?? true,
    avoidBuggyIPs: pool.spec?.avoidBuggyIPs ?? false,
  };
  if (pool.spec?.serviceAllocation) input.serviceAllocation = pool.spec.serviceAllocation;
  return input;
}

export class Controller {
  readonly services: Informer<V1Service>;
  readonly namespaces: Informer<V1Namespace>;
  readonly pools: Informer<IPAddressPool>;
  readonly advertisements: Informer<Advertisement>[];
  private readonly bgpAdvertisements: Informer<BGPAdvertisement>;
  /** Names for communities, to tell BGPAdvertisements whose communities have no value. */
  readonly communities: Informer<Community>;
  private readonly rest: KubeRest;
  private readonly opts: ControllerOptions;
  private readonly log: Logger;
  private readonly metrics: ControllerMetrics;
  private readonly events: EventRecorder;
  private readonly queue: WorkQueue;
  private readonly poolStatus: PoolStatusWriter;
  private readonly adStatus: AdvertisementStatusWriter;
  private allocator: Allocator | undefined;
  /** Aborts when the current leadership term ends; undefined while not leading. */
  private term: AbortSignal | undefined;
  private leader: LeaderElector;
  private poolsChanged = false;
  /** Services refused last time (e.g. pool exhausted): retried whenever an address is freed. */
  private readonly waiting = new Set<string>();
  /** Services whose last write failed, so that recovery is logged once. */
  private readonly failing = new Set<string>();
  /** Addresses released from Services we no longer serve, still to be removed from their status. */
  private readonly owedClears = new Map<string, string[]>();

  constructor(rest: KubeRest, opts: ControllerOptions, log: Logger, metrics: ControllerMetrics) {
    this.rest = rest;
    this.opts = opts;
    this.log = log;
    this.metrics = metrics;
    this.events = new EventRecorder(rest, 'beacon-controller', opts.identity, log);
    this.services = new Informer<V1Service>(rest, { group: '', version: 'v1', plural: 'services' }, log);
    this.namespaces = new Informer<V1Namespace>(
      rest,
      { group: '', version: 'v1', plural: 'namespaces' },
      log,
    );
    this.pools = new Informer<IPAddressPool>(rest, { ...BEACON, plural: 'ipaddresspools' }, log, {
      namespace: opts.namespace,
    });
    const [l2Ads, bgpAds] = ['l2advertisements', 'bgpadvertisements'].map(
      (plural) =>
        new Informer<Advertisement>(rest, { ...BEACON, plural }, log, { namespace: opts.namespace }),
    ) as [Informer<Advertisement>, Informer<Advertisement>];
    this.advertisements = [l2Ads, bgpAds];
    this.bgpAdvertisements = bgpAds as unknown as Informer<BGPAdvertisement>;
    this.communities = new Informer<Community>(rest, { ...BEACON, plural: 'communities' }, log, {
      namespace: opts.namespace,
    });
    this.queue = new WorkQueue((key) => this.reconcileTimed(key), opts.concurrency, {
      ...(opts.retryBackoff ? { backoff: opts.retryBackoff } : {}),
      ...(opts.queueTimers ? { timers: opts.queueTimers } : {}),
    });
    this.poolStatus = new PoolStatusWriter(rest, opts.namespace, log, metrics, this.events);
    this.adStatus = new AdvertisementStatusWriter(rest, opts.namespace, log, this.events);
    this.leader = new LeaderElector(
      rest,
      {
        namespace: opts.namespace,
        name: 'beacon-controller',
        identity: opts.identity,
        leaseDurationMs: opts.leaseDurationMs ?? DEFAULT_LEASE_TIMING.leaseDurationMs,
        renewDeadlineMs: opts.renewDeadlineMs ?? DEFAULT_LEASE_TIMING.renewDeadlineMs,
        retryPeriodMs: opts.retryPeriodMs ?? DEFAULT_LEASE_TIMING.retryPeriodMs,
        ...(opts.now ? { now: opts.now } : {}),
      },
      log,
    );
    this.wireHandlers();
  }

  /** Whether this replica leads now (its term has not run out) and has rebuilt its table. */
  get isLeader(): boolean {
    return this.leader.isLeader && this.allocator !== undefined;
  }

  /** undefined when ready: caches synced (a standby is ready too; it serves when it leads). */
  notReadyReason(): string | undefined {
    const pending = [this.services, this.namespaces, this.pools].filter((i) => !i.synced);
    return pending.length ? 'caches not synced yet' : undefined;
  }

  /** undefined when healthy; else why the process should be restarted (see LeaderElector.staleLeadership). */
  unhealthyReason(): string | undefined {
    return this.leader.staleLeadership();
  }

  /** Resolves when every queued Service has been handled; for tests and benchmarks. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Failed attempts in a row for a Service's writes; for tests. */
  failuresOf(key: string): number {
    return this.queue.failuresOf(key);
  }

  async run(signal: AbortSignal): Promise<void> {
    const started = Date.now();
    await Promise.all(
      [this.services, this.namespaces, this.pools, ...this.advertisements, this.communities].map((i) =>
        i.start(signal),
      ),
    );
    this.log.info(
      { services: this.services.list().length, pools: this.pools.list().length, ms: Date.now() - started },
      'caches synced',
    );
    await this.leader.run(signal, {
      onStarted: (term) => this.becomeLeader(term),
      onStopped: () => this.stepDown(),
    });
    this.poolStatus.stop();
    this.adStatus.stop();
  }

  private wireHandlers(): void {
    const enqueueService = (svc: V1Service) => {
      if (this.allocator) this.queue.add(serviceKey(svc));
    };
    this.services.on('add', enqueueService);
    this.services.on('update', enqueueService);
    this.services.on('delete', enqueueService);
    const poolsChanged = () => this.onPoolsChanged();
    this.pools.on('add', poolsChanged);
    this.pools.on('update', (p, old) => {
      if (JSON.stringify(p.spec) !== JSON.stringify(old?.spec)) poolsChanged();
    });
    this.pools.on('delete', poolsChanged);
    const nsChanged = (ns: V1Namespace, old: V1Namespace | undefined) => {
      if (!this.allocator || JSON.stringify(ns.metadata?.labels) === JSON.stringify(old?.metadata?.labels))
        return;
      for (const svc of this.services.list())
        if (svc.metadata?.namespace === ns.metadata?.name) enqueueService(svc);
    };
    this.namespaces.on('add', nsChanged);
    this.namespaces.on('update', nsChanged);
    for (const inf of this.advertisements) {
      inf.on('add', (a) => this.checkAdvertisement(a));
      inf.on('update', (a) => this.checkAdvertisement(a));
    }
    const communitiesChanged = () => this.adStatus.markAll();
    for (const ev of ['add', 'update', 'delete'] as const) {
      this.bgpAdvertisements.on(ev, communitiesChanged);
      this.communities.on(ev, communitiesChanged);
    }
  }

  private namespaceLabels(namespace: string): Record<string, string> {
    return this.namespaces.get(namespace)?.metadata?.labels ?? {};
  }

  private becomeLeader(term: AbortSignal): void {
    this.metrics.isLeader.set(1);
    void this.rebuildWithRetry(term);
  }

  /** Nothing is assigned before the table stands: a failed list is tried again for as long as the term lasts. */
  private async rebuildWithRetry(term: AbortSignal): Promise<void> {
    for (let failures = 0; !term.aborted; failures++) {
      if (failures > 0)
        await sleep(jittered(backoffDelay(REBUILD_BACKOFF, failures)), undefined, { signal: term }).catch(
          () => {},
        );
      try {
        await this.rebuild(term);
        return;
      } catch (err) {
        if (term.aborted) return;
        if (failures === 0)
          this.log.warn(
            { err: (err as Error).message },
            'could not read the Services to rebuild the table; retrying',
          );
      }
    }
  }

  /**
   * Rebuilds the allocation table from what Services hold, then serves. The Services are read afresh, not
   * from the cache: the previous leader's last writes may not have reached our watch yet.
   */
  private async rebuild(term: AbortSignal): Promise<void> {
    const started = Date.now();
    const { items } = await listAll<V1Service, RestoreEntry | undefined>(
      this.rest,
      '/api/v1/services',
      {},
      {
        pageSize: 500,
        signal: term,
        log: this.log,
        keep: (svc) => this.restoreEntry(svc),
      },
    );
    if (term.aborted) return;
    const allocator = new Allocator();
    this.applyPools(allocator);
    let restored = 0;
    const all = items.filter((e): e is RestoreEntry => e !== undefined);
    const entries = all.filter((e) => e.served).sort(restoreOrder);
    for (const { svc, addresses } of entries) {
      const result = allocator.restore(
        requestAtAssignment(svc, this.namespaceLabels(svc.metadata?.namespace ?? '')),
        addresses,
      );
      if (result.assignment) restored++;
      // The Service's own reconcile writes its status down to what it holds, and says so.
      for (const c of result.conflicts) this.warn(svc, c.reason, c.message);
      for (const address of result.outOfPool) this.warnOutOfPool(svc, address);
    }
    // Addresses another provider assigned (MetalLB, beside a class-only Beacon) go to none of ours.
    for (const { svc, addresses, served } of all) if (!served) allocator.shownBy(serviceKey(svc), addresses);
    this.allocator = allocator;
    this.term = term;
    this.log.info({ restored, ms: Date.now() - started }, 'allocation table rebuilt from Service status');
    this.poolStatus.start(allocator, () => this.pools.list(), term);
    this.adStatus.start(
      () => this.bgpAdvertisements.list(),
      () => this.communities.list(),
      term,
    );
    for (const a of this.advertisements.flatMap((i) => i.list())) this.checkAdvertisement(a);
    for (const svc of this.services.list()) this.queue.add(serviceKey(svc));
    for (const { svc } of entries) this.queue.add(serviceKey(svc));
    this.queue.resume();
  }

  /** A Service from the fresh list, reduced to what the rebuild reads; undefined when its status shows no address. */
  private restoreEntry(svc: V1Service): RestoreEntry | undefined {
    const addresses = ingressAddresses(svc);
    if (addresses.length === 0) return undefined;
    if (!isServedByBeacon(svc, this.opts)) {
      if (this.otherProvidersAddresses(svc, addresses).length === 0) return undefined;
      const m = svc.metadata ?? {};
      return {
        svc: { metadata: { name: m.name, namespace: m.namespace } },
        addresses,
        served: false,
        rank: 0,
      };
    }
    const recorded = svc.metadata?.annotations?.[ANNOTATION.allocatedSharing];
    const current = termsRecord(requestFor(svc, {}).sharing) ?? '';
    const rank = recorded === undefined ? 1 : recorded === current ? 0 : 2;
    const m = svc.metadata ?? {};
    return {
      svc: {
        metadata: {
          name: m.name,
          namespace: m.namespace,
          uid: m.uid,
          resourceVersion: m.resourceVersion,
          creationTimestamp: m.creationTimestamp,
          annotations: m.annotations,
          labels: m.labels,
        },
        spec: svc.spec,
      },
      addresses,
      served: true,
      rank,
    };
  }

  private stepDown(): void {
    this.queue.pause();
    this.queue.clear();
    this.waiting.clear();
    this.failing.clear();
    this.owedClears.clear();
    this.allocator = undefined;
    this.term = undefined;
    this.metrics.isLeader.set(0);
    this.poolStatus.stop();
    this.adStatus.stop();
  }

  private onPoolsChanged(): void {
    const allocator = this.allocator;
    if (!allocator) return;
    // Coalesce a burst of pool events (e.g. kubectl apply of many pools) into one re-evaluation.
    if (this.poolsChanged) return;
    this.poolsChanged = true;
    setImmediate(() => {
      this.poolsChanged = false;
      if (this.allocator !== allocator) return;
      this.applyPools(allocator);
      for (const a of this.advertisements.flatMap((i) => i.list())) this.checkAdvertisement(a);
      for (const svc of this.services.list()) this.queue.add(serviceKey(svc));
    });
  }

  private applyPools(allocator: Allocator): void {
    const pools = this.pools.list();
    const { errors, outOfPool } = allocator.setPools(pools.map(poolInput));
    this.poolStatus.setPoolErrors(errors);
    for (const e of errors) {
      const pool = this.pools.get(`${this.opts.namespace}/${e.pool}`);
      if (pool)
        this.events.record(
          withKind(pool, 'beacon.dev/v1alpha1', 'IPAddressPool'),
          'Warning',
          'InvalidPool',
          e.message,
        );
      this.log.warn({ pool: e.pool, reason: e.message }, 'pool rejected');
    }
    for (const o of outOfPool) {
      for (const key of o.services) {
        const svc = this.services.get(key);
        if (svc) this.warnOutOfPool(svc, o.address);
      }
    }
    this.poolStatus.markAll();
  }

  private checkAdvertisement(adv: Advertisement): void {
    if (!this.allocator) return;
    const known = new Set(this.pools.list().map((p) => p.metadata.name));
    const missing = (adv.spec?.ipAddressPools ?? []).filter((p) => !known.has(p));
    if (missing.length === 0) return;
    const kind = adv.kind ?? 'Advertisement';
    const message = `${kind} ${objectKey(adv)} names IPAddressPool ${missing.join(', ')}, which does not exist in namespace ${this.opts.namespace}; those addresses are not announced`;
    this.events.record(withKind(adv, 'beacon.dev/v1alpha1', kind), 'Warning', 'PoolNotFound', message);
    this.log.warn({ advertisement: objectKey(adv), missing }, 'advertisement names missing pools');
  }

  private warn(svc: V1Service, reason: string, message: string): void {
    this.events.record(withKind(svc, 'v1', 'Service'), 'Warning', reason, message);
  }

  private warnOutOfPool(svc: V1Service, address: string): void {
    this.warn(
      svc,
      'AddressNotInPool',
      `Service ${serviceKey(svc)} keeps ${address}, which is no longer in any IPAddressPool; it is not renumbered. Add the address back to a pool, or remove it from the Service (and its status) to get a new one`,
    );
  }

  private async reconcileTimed(key: string): Promise<void> {
    const term = this.term;
    const end = this.metrics.reconcileDuration.startTimer();
    try {
      await this.reconcile(key);
      this.queue.forget(key);
      if (this.failing.delete(key)) this.log.info({ service: key }, 'writes for the Service succeed again');
    } catch (err) {
      // Leadership ended: the next leader (maybe this process again) starts over from a fresh list.
      if (err instanceof TermEnded || term?.aborted || this.term !== term) return;
      // Deleted meanwhile: the delete event releases the address.
      if (err instanceof ApiError && err.status === 404) {
        this.queue.forget(key);
        return;
      }
      const code = err instanceof ApiError ? err.status : 0;
      this.metrics.writeFailures.inc({ code: String(code) });
      const retryInMs = this.queue.addRateLimited(key);
      if (!this.failing.has(key)) {
        this.failing.add(key);
        // 409: our cached copy was older than the object; the watch brings the newer one.
        const level = code === 409 ? 'info' : 'warn';
        this.log[level](
          { service: key, err: (err as Error).message, retryInMs },
          'write failed; retrying with backoff',
        );
      }
      const svc = this.services.get(key);
      if (svc && err instanceof ApiError && (code === 403 || code === 422 || code === 400))
        this.warn(
          svc,
          'StatusWriteRefused',
          `Beacon could not update ${key}: ${err.message}; retrying with backoff`,
        );
    } finally {
      end();
    }
  }

  private async reconcile(key: string): Promise<void> {
    const allocator = this.allocator;
    const term = this.term;
    if (!allocator || !term) return;
    const svc = this.services.get(key);
    if (!svc || !isServedByBeacon(svc, this.opts)) {
      const held = allocator.assignmentOf(key);
      if (held) {
        // A Service that still exists may show the addresses until its status is written without them.
        allocator.release(key, svc !== undefined);
        this.waiting.delete(key);
        this.poolStatus.markAll();
        const released = held.addresses.map((a) => a.address);
        this.log.info({ service: key, address: released }, 'released');
        if (svc) this.owedClears.set(key, released);
      }
      if (!svc) {
        // Gone, and its status with it: whatever it gave up or held is free now.
        this.owedClears.delete(key);
        this.waiting.delete(key);
        this.statusWritten(allocator, key, [], held !== undefined);
        return;
      }
      // A Service that changed class or type keeps no address of ours in its status: neither what it held
      // (remembered until written, since a retry finds nothing held any more) nor what it gave up earlier
      // and may still show.
      const ours = [...new Set([...(this.owedClears.get(key) ?? []), ...allocator.givenUp(key)])];
      let current = ingressAddresses(svc);
      if (current.some((ip) => ours.includes(ip))) {
        current = current.filter((ip) => !ours.includes(ip));
        await this.writeStatus(svc, current, term);
      }
      this.owedClears.delete(key);
      // What its status shows now another provider assigned: nobody of ours gets it while it does.
      if (allocator.shownBy(key, this.otherProvidersAddresses(svc, current))) this.addressesFreed(key);
      return;
    }
    this.owedClears.delete(key);
    const request = requestFor(svc, this.namespaceLabels(svc.metadata?.namespace ?? ''));
    const result = allocator.assign(request);
    if (result.ok) {
      if (result.unassigned.length) this.waiting.add(key);
      else this.waiting.delete(key);
      for (const r of result.unassigned) this.refuse(svc, r);
      if (result.changed) this.poolStatus.markAll();
    } else {
      this.waiting.add(key);
      this.refuse(svc, result.refusal);
      for (const lost of result.lost) {
        this.log.warn({ service: key, address: lost.address, reason: lost.reason }, lost.message);
        this.warn(svc, lost.reason, lost.message);
      }
      if (result.lost.length) this.poolStatus.markAll();
    }
    // The status always shows exactly what the Service holds: a refusal that left it less (or nothing,
    // when the table was rebuilt without an address its status still shows) is written down too.
    const assignment = result.assignment;
    const desired = (assignment?.addresses ?? []).map((a) => a.address);
    const current = ingressAddresses(svc);
    let resourceVersion = svc.metadata?.resourceVersion;
    if (!sameAddresses(current, desired)) {
      resourceVersion = (await this.writeStatus(svc, desired, term)).metadata?.resourceVersion;
      const pools = poolsOf(assignment);
      if (desired.length) {
        this.log.info({ service: key, address: desired, pool: pools }, 'assigned');
        this.events.record(
          withKind(svc, 'v1', 'Service'),
          'Normal',
          'IPAllocated',
          `Assigned ${desired.join(', ')}${pools ? ` from pool ${pools}` : ''}`,
        );
      } else {
        this.log.info({ service: key, address: current }, 'status cleared: the Service holds no address');
      }
    }
    this.statusWritten(allocator, key, desired);
    const pools = poolsOf(assignment);
    // The terms the addresses are held under, for the next leader's rebuild (see requestAtAssignment).
    const terms = desired.length ? termsRecord(assignment?.sharing) : null;
    const annotations = svc.metadata?.annotations ?? {};
    if (
      (annotations[ANNOTATION.allocatedFromPool] ?? '') !== pools ||
      (annotations[ANNOTATION.allocatedSharing] ?? null) !== terms
    ) {
      this.assertLeading(term);
      await this.rest.patch(
        `/api/v1/namespaces/${svc.metadata?.namespace}/services/${svc.metadata?.name}`,
        'merge',
        {
          metadata: {
            resourceVersion,
            annotations: {
              [ANNOTATION.allocatedFromPool]: pools || null,
              [ANNOTATION.allocatedSharing]: terms,
            },
          },
        },
        { signal: term },
      );
    }
  }

  /**
   * The Service's status now shows `addresses`: what it gave up becomes free for others (never while its
   * status might still show it, or two Services would show one address), and the Services waiting for an
   * address try again.
   */
  private statusWritten(
    allocator: Allocator,
    key: string,
    addresses: readonly string[],
    freedAlready = false,
  ): void {
    if (allocator.written(key, addresses) || freedAlready) this.addressesFreed(key);
  }

  /** Addresses became free (not by a pool change): pool counts change and waiting Services try again. */
  private addressesFreed(except: string): void {
    this.poolStatus.markAll();
    for (const w of this.waiting) if (w !== except) this.queue.add(w);
  }

  /**
   * The addresses in the status of a Service Beacon does not serve that Beacon must not hand out. Only a
   * class-only Beacon shares address space with another provider (docs/migrate.md gives it MetalLB's
   * addresses); otherwise Services of another class belong to a provider with addresses of its own.
   */
  private otherProvidersAddresses(svc: V1Service, shown: string[]): string[] {
    return this.opts.classOnly && svc.spec?.type === 'LoadBalancer' ? shown : [];
  }

  /** Throws unless this process still leads in the given term (checked before every write is sent). */
  private assertLeading(term: AbortSignal): void {
    if (term.aborted || this.term !== term || !this.leader.isLeader) throw new TermEnded('leadership ended');
  }

  private refuse(svc: V1Service, refusal: Refusal): void {
    this.metrics.allocationFailures.inc({ reason: refusal.reason });
    this.log.warn(
      { service: serviceKey(svc), reason: refusal.reason, address: refusal.address },
      refusal.message,
    );
    this.warn(svc, refusal.reason, refusal.message);
  }

  /** Writes the Service's addresses, conditional on the version it was decided from; returns the result. */
  private async writeStatus(svc: V1Service, addresses: string[], term: AbortSignal): Promise<V1Service> {
    this.assertLeading(term);
    return this.rest.patch<V1Service>(
      `/api/v1/namespaces/${svc.metadata?.namespace}/services/${svc.metadata?.name}/status`,
      'merge',
      {
        metadata: { resourceVersion: svc.metadata?.resourceVersion },
        status: { loadBalancer: { ingress: addresses.map((ip) => ({ ip, ipMode: 'VIP' })) } },
      },
      { signal: term },
    );
  }
}
