/**
 * Leader election through a coordination.k8s.io/v1 Lease, with the API server's optimistic concurrency as
 * the only arbiter: whoever updates the Lease from the resourceVersion it read holds it. A standby judges
 * expiry by how long it has seen the same record unchanged on its own clock (as client-go does), so clock
 * skew between nodes does not matter; a holder that cannot renew within its deadline steps down on its own,
 * before any standby may take over.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../log.ts';
import { ApiError, type KubeRest } from './rest.ts';

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string | null;
    leaseDurationSeconds?: number;
    acquireTime?: string | null;
    renewTime?: string | null;
    leaseTransitions?: number;
  };
}

export interface LeaderElectionOptions {
  namespace: string;
  name: string;
  identity: string;
  /** How long a Lease stays valid without renewal. */
  leaseDurationMs: number;
  /** How often the holder renews and a standby retries. */
  retryPeriodMs: number;
  /** A holder that has not renewed for this long stops acting as leader (< leaseDurationMs). */
  renewDeadlineMs: number;
}

export const DEFAULT_LEASE_TIMING = { leaseDurationMs: 6000, renewDeadlineMs: 4000, retryPeriodMs: 1000 };

/** Microsecond timestamps as metav1.MicroTime expects. */
function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private readonly rest: KubeRest;
  private readonly opts: LeaderElectionOptions;
  private readonly log: Logger;
  private leading = false;
  private lastRenew = 0;
  /** The other holder's last record and when this process first saw it: expiry is judged on our own clock. */
  private observed = { record: '', at: 0 };

  constructor(rest: KubeRest, opts: LeaderElectionOptions, log: Logger) {
    this.rest = rest;
    this.opts = opts;
    this.log = log.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  get isLeader(): boolean {
    return this.leading;
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases/${this.opts.name}`;
  }

  /**
   * Campaigns until `signal` aborts. Calls `onStarted` when this process becomes leader and `onStopped`
   * when it loses the Lease; on abort it releases the Lease so a standby takes over at once.
   */
  async run(signal: AbortSignal, onStarted: () => void, onStopped: () => void): Promise<void> {
    while (!signal.aborted) {
      let ok = false;
      try {
        ok = await this.tryAcquireOrRenew();
      } catch (err) {
        this.log.warn({ err: (err as Error).message }, 'lease update failed');
      }
      const now = Date.now();
      if (ok) {
        this.lastRenew = now;
        if (!this.leading) {
          this.leading = true;
          this.log.info('became leader');
          onStarted();
        }
      } else if (this.leading && now - this.lastRenew > this.opts.renewDeadlineMs) {
        this.leading = false;
        this.log.warn('lost leadership: could not renew the lease in time');
        onStopped();
      }
      await sleep(this.opts.retryPeriodMs, undefined, { signal }).catch(() => {});
    }
    if (this.leading) {
      this.leading = false;
      onStopped();
      await this.release().catch((err: Error) => this.log.warn({ err: err.message }, 'lease release failed'));
    }
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    let lease: Lease;
    try {
      lease = await this.rest.get<Lease>(this.path, { timeoutMs: this.opts.renewDeadlineMs });
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      try {
        await this.rest.create(
          `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases`,
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.opts.name, namespace: this.opts.namespace },
            spec: {
              holderIdentity: this.opts.identity,
              leaseDurationSeconds: Math.ceil(this.opts.leaseDurationMs / 1000),
              acquireTime: microTime(now),
              renewTime: microTime(now),
              leaseTransitions: 0,
            },
          },
          { timeoutMs: this.opts.renewDeadlineMs },
        );
        return true;
      } catch (createErr) {
        if (createErr instanceof ApiError && createErr.status === 409) return false;
        throw createErr;
      }
    }
    const holder = lease.spec.holderIdentity ?? '';
    const record = `${holder}|${lease.spec.renewTime ?? ''}`;
    if (record !== this.observed.record) this.observed = { record, at: now.getTime() };
    const duration = (lease.spec.leaseDurationSeconds ?? 0) * 1000;
    const mine = holder === this.opts.identity;
    if (!mine && holder && this.observed.at + duration > now.getTime()) return false;
    const spec = {
      ...lease.spec,
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: Math.ceil(this.opts.leaseDurationMs / 1000),
      renewTime: microTime(now),
      ...(mine
        ? {}
        : { acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 }),
    };
    try {
      await this.rest.replace(this.path, { ...lease, spec }, { timeoutMs: this.opts.renewDeadlineMs });
      if (!mine) this.log.info({ previousHolder: holder || undefined }, 'acquired lease');
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) return false;
      throw err;
    }
  }

  /** Gives the Lease up by clearing the holder, so a standby need not wait for it to expire. */
  private async release(): Promise<void> {
    const lease = await this.rest.get<Lease>(this.path);
    if (lease.spec.holderIdentity !== this.opts.identity) return;
    await this.rest.replace(this.path, {
      ...lease,
      spec: { ...lease.spec, holderIdentity: null, renewTime: null },
    });
    this.log.info('released lease');
  }
}
