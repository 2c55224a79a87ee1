/**
 * Leader election through a coordination.k8s.io/v1 Lease, with the API server's optimistic concurrency as
 * the only arbiter: whoever updates the Lease from the resourceVersion it read holds it.
 *
 * One leader at a time rests on two clocks that run at the same rate, not on synchronised clocks:
 *
 * - A standby judges expiry by how long it has seen the same record unchanged on its own clock (as
 *   client-go does): it may take over no earlier than `leaseDuration` after it first saw the holder's last
 *   renewal, which is after that renewal was sent.
 * - The holder counts its term from the moment it *sent* its last successful renewal, not from when the
 *   answer came back, and stops leading `renewDeadline` (< leaseDuration) after that moment, by a timer,
 *   whatever its requests are doing. Each renewal attempt, request and answer together, is bounded by that
 *   same deadline, so a slow API server cannot stretch a term.
 *
 * `leaseDuration − renewDeadline` is the margin for a request of the old leader that is still in flight
 * when it steps down; the work it started is cancelled through the term's AbortSignal, and writes that
 * depend on what it read are made conditional on resourceVersion, so a deposed leader's late write gets a
 * 409. A process that finds its own name on a Lease it does not know it holds (its term ran out while the
 * renewal landed, or it restarted) waits for that record to expire like anyone else's: when only its
 * answers are slow, its renewals still land and would otherwise hold off every standby, and it cannot know
 * whether an earlier renewal is still in flight.
 */
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
  /** A holder stops leading this long after it sent its last successful renewal (< leaseDurationMs). */
  renewDeadlineMs: number;
  /** The clock terms are measured on; tests replace it. Default Date.now. */
  now?: () => number;
}

export const DEFAULT_LEASE_TIMING = { leaseDurationMs: 6000, renewDeadlineMs: 4000, retryPeriodMs: 1000 };

/** Microsecond timestamps as metav1.MicroTime expects. */
function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Calls to the owner: onStarted with a signal that aborts when the term ends, onStopped when it ends. */
export interface LeadershipCallbacks {
  onStarted(term: AbortSignal): void;
  onStopped(): void;
}

export class LeaderElector {
  private readonly rest: KubeRest;
  private readonly opts: LeaderElectionOptions;
  private readonly log: Logger;
  private readonly now: () => number;
  private leading = false;
  /** When the last successful renewal (or acquisition) was sent. */
  private lastSent = 0;
  /** The Lease as our last successful write left it: renewals go straight to a PUT from it. */
  private held: Lease | undefined;
  /** The other holder's last record and when this process first saw it: expiry is judged on our own clock. */
  private observed = { record: '', at: 0 };
  private term: AbortController | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private callbacks: LeadershipCallbacks | undefined;

  constructor(rest: KubeRest, opts: LeaderElectionOptions, log: Logger) {
    if (!(opts.renewDeadlineMs < opts.leaseDurationMs))
      throw new Error('the renew deadline must be shorter than the lease duration');
    this.rest = rest;
    this.opts = opts;
    this.now = opts.now ?? Date.now;
    this.log = log.child({ lease: `${opts.namespace}/${opts.name}`, identity: opts.identity });
  }

  /** Whether this process leads now: it does, and its term has not run out on its own clock. */
  get isLeader(): boolean {
    return this.leading && this.now() < this.termEnd;
  }

  /** When the current term ends unless a renewal is sent and succeeds before. */
  get termEnd(): number {
    return this.lastSent + this.opts.renewDeadlineMs;
  }

  /**
   * Why this process must not be trusted, or undefined: it still acts as leader (the term's end has not
   * been handled) on a Lease that a standby may already have taken, which only happens when the event
   * loop stalls. /healthz reports it, so that the kubelet restarts the process.
   */
  staleLeadership(): string | undefined {
    if (!this.leading) return undefined;
    const age = this.now() - this.lastSent;
    if (age <= this.opts.leaseDurationMs) return undefined;
    return `acting as leader on a Lease last renewed ${age} ms ago (lease duration ${this.opts.leaseDurationMs} ms)`;
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases/${this.opts.name}`;
  }

  /**
   * Campaigns until `signal` aborts. Calls `onStarted` when this process becomes leader and `onStopped`
   * when it stops; on abort it releases the Lease so a standby takes over at once.
   */
  async run(signal: AbortSignal, callbacks: LeadershipCallbacks): Promise<void> {
    this.callbacks = callbacks;
    while (!signal.aborted) {
      await this.attempt(signal);
      await this.pause(this.opts.retryPeriodMs, signal);
    }
    if (this.leading) {
      this.stepDown('shutting down');
      await this.release().catch((err: Error) => this.log.warn({ err: err.message }, 'lease release failed'));
    }
  }

  private pause(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /** One renewal or acquisition attempt, requests and answers together bounded by one deadline. */
  private async attempt(signal: AbortSignal): Promise<void> {
    const started = this.now();
    const deadline = this.leading ? this.termEnd : started + this.opts.renewDeadlineMs;
    const budget = deadline - started;
    if (budget <= 0) return;
    const bounded = AbortSignal.any([signal, AbortSignal.timeout(budget)]);
    try {
      const sentAt = await this.tryAcquireOrRenew(bounded, budget);
      // A success whose term already ran out (its answer came too late) is no term at all.
      if (sentAt === undefined || sentAt + this.opts.renewDeadlineMs <= this.now()) return;
      this.lastSent = sentAt;
      this.armDeadline();
      if (!this.leading) {
        this.leading = true;
        this.term = new AbortController();
        this.log.info('became leader');
        this.callbacks?.onStarted(this.term.signal);
      }
    } catch (err) {
      if (signal.aborted) return;
      this.log.warn({ err: (err as Error).message }, 'lease update failed');
    }
  }

  /** Ends the term exactly when it runs out, whatever the renewal requests are doing. */
  private armDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = setTimeout(
      () => {
        this.deadlineTimer = undefined;
        if (!this.leading || this.now() < this.termEnd) {
          if (this.leading) this.armDeadline();
          return;
        }
        this.stepDown(`could not renew the lease within ${this.opts.renewDeadlineMs} ms`);
      },
      Math.max(0, this.termEnd - this.now()),
    );
  }

  /**
   * Stops leading now (the owner cannot serve this term). The Lease still names us, so this process, like
   * any standby, may take it again only once that record has been still for a lease duration.
   */
  resign(): void {
    this.stepDown('resigned');
  }

  private stepDown(why: string): void {
    if (!this.leading) return;
    this.leading = false;
    this.held = undefined;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    this.term?.abort(new Error(`leadership ended: ${why}`));
    this.term = undefined;
    this.log.warn({ reason: why }, 'stopped leading');
    this.callbacks?.onStopped();
  }

  /** The time the successful write was sent, or undefined when another holder keeps the Lease. */
  private async tryAcquireOrRenew(signal: AbortSignal, budget: number): Promise<number | undefined> {
    const init = { signal, timeoutMs: budget };
    const seconds = Math.ceil(this.opts.leaseDurationMs / 1000);
    if (this.leading && this.held) {
      // Renewal from the Lease as we left it: one round trip. A 409 means someone else wrote it.
      const sentAt = this.now();
      const spec = { ...this.held.spec, renewTime: microTime(sentAt), leaseDurationSeconds: seconds };
      try {
        this.held = await this.rest.replace<Lease>(this.path, { ...this.held, spec }, init);
        return sentAt;
      } catch (err) {
        if (!(err instanceof ApiError && err.status === 409)) throw err;
        this.held = undefined;
      }
    }
    let lease: Lease;
    const readAt = this.now();
    try {
      lease = await this.rest.get<Lease>(this.path, init);
    } catch (err) {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
      const sentAt = this.now();
      try {
        this.held = await this.rest.create<Lease>(
          `/apis/coordination.k8s.io/v1/namespaces/${this.opts.namespace}/leases`,
          {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: { name: this.opts.name, namespace: this.opts.namespace },
            spec: {
              holderIdentity: this.opts.identity,
              leaseDurationSeconds: seconds,
              acquireTime: microTime(sentAt),
              renewTime: microTime(sentAt),
              leaseTransitions: 0,
            },
          },
          init,
        );
        this.log.info('created the lease');
        return sentAt;
      } catch (createErr) {
        if (createErr instanceof ApiError && createErr.status === 409) return undefined;
        throw createErr;
      }
    }
    const holder = lease.spec.holderIdentity ?? '';
    const record = `${holder}|${lease.spec.renewTime ?? ''}|${lease.metadata.resourceVersion ?? ''}`;
    // Seen no earlier than it was read: the sooner bound would let us take over too early.
    if (record !== this.observed.record) this.observed = { record, at: readAt };
    const duration = (lease.spec.leaseDurationSeconds ?? 0) * 1000;
    const mine = holder === this.opts.identity;
    if (this.leading && !mine) {
      this.stepDown(`${holder || 'nobody'} holds the lease now`);
      return undefined;
    }
    // Our own name on a Lease we do not know we hold (a restart, or a term that ran out while the renewal
    // landed): it is ours to renew only once the record has been still for a full lease duration, like
    // anyone else's, since a standby may be counting on it.
    if (holder && this.observed.at + duration > this.now() && !(mine && this.leading)) return undefined;
    const sentAt = this.now();
    const spec = {
      ...lease.spec,
      holderIdentity: this.opts.identity,
      leaseDurationSeconds: seconds,
      renewTime: microTime(sentAt),
      ...(mine && this.leading
        ? {}
        : { acquireTime: microTime(sentAt), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 }),
    };
    try {
      this.held = await this.rest.replace<Lease>(this.path, { ...lease, spec }, init);
      if (!this.leading) this.log.info({ previousHolder: holder || undefined }, 'acquired lease');
      return sentAt;
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) return undefined;
      throw err;
    }
  }

  /** Gives the Lease up by clearing the holder, so a standby need not wait for it to expire. */
  private async release(): Promise<void> {
    const init = { timeoutMs: this.opts.renewDeadlineMs };
    const lease = await this.rest.get<Lease>(this.path, init);
    if (lease.spec.holderIdentity !== this.opts.identity) return;
    await this.rest.replace(
      this.path,
      { ...lease, spec: { ...lease.spec, holderIdentity: null, renewTime: null } },
      init,
    );
    this.log.info('released lease');
  }
}
