/**
 * The controller: the only writer of address assignments. It caches Services, Namespaces, pools and
 * advertisements; while it holds the leader Lease it rebuilds the allocation table from the addresses
 * already in Services' status, and only then assigns new ones, so a restart never moves an address.
 */
import type { V1Namespace, V1Service } from '@kubernetes/client-node';
import type { IPAddressPool } from '../api/types.ts';
import { Allocator } from '../ipam/index.ts';
import type { Assignment, PoolInput, Refusal } from '../ipam/types.ts';
import { EventRecorder } from '../k8s/events.ts';
import { Informer, type KubeObject, objectKey } from '../k8s/informer.ts';
import { DEFAULT_LEASE_TIMING, LeaderElector } from '../k8s/lease.ts';
import { ApiError, type KubeRest } from '../k8s/rest.ts';
import type { Logger } from '../log.ts';
import type { ControllerMetrics } from './metrics.ts';
import { PoolStatusWriter } from './pool-status.ts';
import {
  ANNOTATION,
  ingressAddresses,
  isServedByBeacon,
  requestAtAssignment,
  requestFor,
  serviceKey,
  sharingRecord,
} from './service-request.ts';
import { WorkQueue } from './work-queue.ts';

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
}

interface Advertisement extends KubeObject {
  spec?: { ipAddressPools?: string[] };
}

const BEACON = { group: 'beacon.dev', version: 'v1alpha1' };

function withKind<T extends KubeObject>(obj: T, apiVersion: string, kind: string): T {
  return { ...obj, apiVersion, kind };
}

function sameAddresses(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

function poolsOf(assignment: Assignment): string {
  return [...new Set(assignment.addresses.map((a) => a.pool).filter((p): p is string => !!p))].join(',');
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
  private readonly rest: KubeRest;
  private readonly opts: ControllerOptions;
  private readonly log: Logger;
  private readonly metrics: ControllerMetrics;
  private readonly events: EventRecorder;
  private readonly queue: WorkQueue;
  private readonly poolStatus: PoolStatusWriter;
  private allocator: Allocator | undefined;
  private leader: LeaderElector;
  private poolsChanged = false;
  /** Services refused last time (e.g. pool exhausted): retried whenever an address is freed. */
  private readonly waiting = new Set<string>();

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
    this.advertisements = ['l2advertisements', 'bgpadvertisements'].map(
      (plural) =>
        new Informer<Advertisement>(rest, { ...BEACON, plural }, log, { namespace: opts.namespace }),
    );
    this.queue = new WorkQueue((key) => this.reconcileTimed(key), opts.concurrency);
    this.poolStatus = new PoolStatusWriter(rest, opts.namespace, log, metrics, this.events);
    this.leader = new LeaderElector(
      rest,
      {
        namespace: opts.namespace,
        name: 'beacon-controller',
        identity: opts.identity,
        leaseDurationMs: opts.leaseDurationMs ?? DEFAULT_LEASE_TIMING.leaseDurationMs,
        renewDeadlineMs: opts.renewDeadlineMs ?? DEFAULT_LEASE_TIMING.renewDeadlineMs,
        retryPeriodMs: opts.retryPeriodMs ?? DEFAULT_LEASE_TIMING.retryPeriodMs,
      },
      log,
    );
    this.wireHandlers();
  }

  get isLeader(): boolean {
    return this.leader.isLeader && this.allocator !== undefined;
  }

  /** undefined when ready: caches synced (a standby is ready too; it serves when it leads). */
  notReadyReason(): string | undefined {
    const pending = [this.services, this.namespaces, this.pools].filter((i) => !i.synced);
    return pending.length ? 'caches not synced yet' : undefined;
  }

  /** Resolves when every queued Service has been handled; for tests and benchmarks. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  async run(signal: AbortSignal): Promise<void> {
    const started = Date.now();
    await Promise.all(
      [this.services, this.namespaces, this.pools, ...this.advertisements].map((i) => i.start(signal)),
    );
    this.log.info(
      { services: this.services.list().length, pools: this.pools.list().length, ms: Date.now() - started },
      'caches synced',
    );
    await this.leader.run(
      signal,
      () => this.becomeLeader(),
      () => this.stepDown(),
    );
    this.poolStatus.stop();
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
  }

  private namespaceLabels(namespace: string): Record<string, string> {
    return this.namespaces.get(namespace)?.metadata?.labels ?? {};
  }

  /** Rebuilds the allocation table from what Services already hold, then serves. */
  private becomeLeader(): void {
    const allocator = new Allocator();
    this.allocator = allocator;
    this.metrics.isLeader.set(1);
    this.applyPools(allocator);
    let restored = 0;
    for (const svc of this.services.list()) {
      const held = ingressAddresses(svc);
      if (!isServedByBeacon(svc, this.opts) || held.length === 0) continue;
      const result = allocator.restore(
        requestAtAssignment(svc, this.namespaceLabels(svc.metadata?.namespace ?? '')),
        held,
      );
      if (result.assignment) restored++;
      for (const c of result.conflicts) this.warn(svc, c.reason, c.message);
      for (const address of result.outOfPool) this.warnOutOfPool(svc, address);
    }
    this.log.info({ restored }, 'allocation table rebuilt from Service status');
    this.poolStatus.start(allocator, () => this.pools.list());
    for (const a of this.advertisements.flatMap((i) => i.list())) this.checkAdvertisement(a);
    for (const svc of this.services.list()) this.queue.add(serviceKey(svc));
    this.queue.resume();
  }

  private stepDown(): void {
    this.queue.pause();
    this.waiting.clear();
    this.allocator = undefined;
    this.metrics.isLeader.set(0);
    this.poolStatus.stop();
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
    const end = this.metrics.reconcileDuration.startTimer();
    try {
      await this.reconcile(key);
    } catch (err) {
      // Deleted meanwhile: the delete event releases the address.
      if (err instanceof ApiError && err.status === 404) return;
      this.log.warn({ service: key, err: (err as Error).message }, 'reconcile failed; retrying');
      setTimeout(() => this.queue.add(key), 1000).unref();
    } finally {
      end();
    }
  }

  private async reconcile(key: string): Promise<void> {
    const allocator = this.allocator;
    if (!allocator) return;
    const svc = this.services.get(key);
    if (!svc || !isServedByBeacon(svc, this.opts)) {
      const held = allocator.assignmentOf(key);
      if (!held) return;
      allocator.release(key);
      this.waiting.delete(key);
      this.poolStatus.markAll();
      for (const w of this.waiting) this.queue.add(w);
      this.log.info({ service: key, address: held.addresses.map((a) => a.address) }, 'released');
      // A Service that changed class or type keeps no address of ours in its status.
      if (svc && ingressAddresses(svc).some((ip) => held.addresses.some((a) => a.address === ip))) {
        await this.writeStatus(svc, []);
      }
      return;
    }
    const request = requestFor(svc, this.namespaceLabels(svc.metadata?.namespace ?? ''));
    const result = allocator.assign(request);
    if (!result.ok) {
      this.waiting.add(key);
      this.refuse(svc, result.refusal);
      return;
    }
    if (result.unassigned.length) this.waiting.add(key);
    else this.waiting.delete(key);
    for (const r of result.unassigned) this.refuse(svc, r);
    const desired = result.assignment.addresses.map((a) => a.address);
    const current = ingressAddresses(svc);
    if (result.changed) this.poolStatus.markAll();
    if (!sameAddresses(current, desired)) {
      await this.writeStatus(svc, desired);
      const pools = poolsOf(result.assignment);
      this.log.info({ service: key, address: desired, pool: pools }, 'assigned');
      this.events.record(
        withKind(svc, 'v1', 'Service'),
        'Normal',
        'IPAllocated',
        `Assigned ${desired.join(', ')}${pools ? ` from pool ${pools}` : ''}`,
      );
    }
    const pools = poolsOf(result.assignment);
    // The terms the addresses are held under, for the next leader's rebuild (see requestAtAssignment).
    const sharing = sharingRecord(request);
    const annotations = svc.metadata?.annotations ?? {};
    if (
      (annotations[ANNOTATION.allocatedFromPool] ?? '') !== pools ||
      (annotations[ANNOTATION.allocatedSharing] ?? null) !== sharing
    ) {
      await this.rest.patch(
        `/api/v1/namespaces/${svc.metadata?.namespace}/services/${svc.metadata?.name}`,
        'merge',
        {
          metadata: {
            annotations: {
              [ANNOTATION.allocatedFromPool]: pools || null,
              [ANNOTATION.allocatedSharing]: sharing,
            },
          },
        },
      );
    }
  }

  private refuse(svc: V1Service, refusal: Refusal): void {
    this.metrics.allocationFailures.inc({ reason: refusal.reason });
    this.log.warn(
      { service: serviceKey(svc), reason: refusal.reason, address: refusal.address },
      refusal.message,
    );
    this.warn(svc, refusal.reason, refusal.message);
  }

  private async writeStatus(svc: V1Service, addresses: string[]): Promise<void> {
    await this.rest.patch(
      `/api/v1/namespaces/${svc.metadata?.namespace}/services/${svc.metadata?.name}/status`,
      'merge',
      { status: { loadBalancer: { ingress: addresses.map((ip) => ({ ip, ipMode: 'VIP' })) } } },
    );
  }
}
