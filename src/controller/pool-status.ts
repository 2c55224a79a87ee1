/**
 * Keeps each IPAddressPool's status current: assigned and available counts per family, and conditions for
 * what is wrong with the pool (invalid addresses, overlap with another pool). Writes are coalesced: however
 * many Services change, each pool's status is written at most once per flush interval, and only when it
 * differs from what was last written.
 */
import type { Condition, IPAddressPool, IPAddressPoolStatus } from '../api/types.ts';
import type { Allocator } from '../ipam/index.ts';
import type { PoolError, PoolOverlap } from '../ipam/types.ts';
import type { EventRecorder } from '../k8s/events.ts';
import { ApiError, type KubeRest } from '../k8s/rest.ts';
import type { Logger } from '../log.ts';
import type { ControllerMetrics } from './metrics.ts';

const FLUSH_INTERVAL_MS = 500;

/** Counts beyond 2^53 cannot travel as JSON numbers exactly; a /64 pool shows this ceiling. */
function toCount(n: bigint): number {
  return n > BigInt(Number.MAX_SAFE_INTEGER) ? Number.MAX_SAFE_INTEGER : Number(n);
}

function condition(
  type: string,
  status: boolean,
  reason: string,
  message: string,
  previous: Condition[] | undefined,
  generation: number | undefined,
): Condition {
  const s = status ? 'True' : 'False';
  const old = previous?.find((c) => c.type === type);
  const lastTransitionTime =
    old && old.status === s ? old.lastTransitionTime : new Date().toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    type,
    status: s,
    reason,
    message,
    lastTransitionTime,
    ...(generation ? { observedGeneration: generation } : {}),
  };
}

export class PoolStatusWriter {
  private readonly rest: KubeRest;
  private readonly namespace: string;
  private readonly log: Logger;
  private readonly metrics: ControllerMetrics;
  private readonly events: EventRecorder;
  private allocator: Allocator | undefined;
  private pools: () => IPAddressPool[] = () => [];
  private term: AbortSignal | undefined;
  private errors = new Map<string, string>();
  private dirty = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly written = new Map<string, string>();
  private readonly warnedOverlap = new Set<string>();

  constructor(
    rest: KubeRest,
    namespace: string,
    log: Logger,
    metrics: ControllerMetrics,
    events: EventRecorder,
  ) {
    this.rest = rest;
    this.namespace = namespace;
    this.log = log;
    this.metrics = metrics;
    this.events = events;
  }

  /** Writes for this leadership term, cancelled when it ends. */
  start(allocator: Allocator, pools: () => IPAddressPool[], term: AbortSignal): void {
    this.allocator = allocator;
    this.pools = pools;
    this.term = term;
    this.written.clear();
    this.markAll();
  }

  stop(): void {
    this.allocator = undefined;
    this.term = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  setPoolErrors(errors: PoolError[]): void {
    this.errors = new Map(errors.map((e) => [e.pool, e.message]));
  }

  /** Something changed that may move any pool's counts; flush soon. */
  markAll(): void {
    this.dirty = true;
    if (!this.timer && this.allocator) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        void this.flush();
      }, FLUSH_INTERVAL_MS);
    }
  }

  private async flush(): Promise<void> {
    const allocator = this.allocator;
    if (!allocator || !this.dirty) return;
    this.dirty = false;
    const overlaps = allocator.overlappingPools();
    await Promise.all(this.pools().map((p) => this.writePool(allocator, p, overlaps)));
  }

  private async writePool(allocator: Allocator, pool: IPAddressPool, overlaps: PoolOverlap[]): Promise<void> {
    const name = pool.metadata.name ?? '';
    const stats = allocator.poolStats(name);
    const mine = overlaps.filter((o) => o.a === name || o.b === name);
    const error = this.errors.get(name);
    const prev = pool.status?.conditions;
    const gen = pool.metadata.generation;
    const overlapMessage = mine
      .map((o) => `${o.range} is also in pool ${o.a === name ? o.b : o.a}`)
      .join('; ');
    const status: IPAddressPoolStatus = {
      assignedIPv4: toCount(stats?.ipv4.assigned ?? 0n),
      assignedIPv6: toCount(stats?.ipv6.assigned ?? 0n),
      availableIPv4: toCount(stats?.ipv4.available ?? 0n),
      availableIPv6: toCount(stats?.ipv6.available ?? 0n),
      conditions: [
        error
          ? condition('Ready', false, 'InvalidAddresses', error, prev, gen)
          : condition('Ready', true, 'Serving', 'The pool hands out addresses', prev, gen),
        mine.length
          ? condition(
              'Overlapping',
              true,
              'OverlapsOtherPool',
              `${overlapMessage}; such addresses may go to a Service of either pool`,
              prev,
              gen,
            )
          : condition('Overlapping', false, 'NoOverlap', 'No address is in another pool', prev, gen),
      ],
    };
    for (const family of ['4', '6'] as const) {
      const f = family === '4' ? stats?.ipv4 : stats?.ipv6;
      this.metrics.addressesInUse.set({ pool: name, family: `ipv${family}` }, toCount(f?.assigned ?? 0n));
      this.metrics.addressesAvailable.set(
        { pool: name, family: `ipv${family}` },
        toCount(f?.available ?? 0n),
      );
    }
    if (mine.length && !this.warnedOverlap.has(`${name}|${overlapMessage}`)) {
      this.warnedOverlap.add(`${name}|${overlapMessage}`);
      this.events.record(
        { ...pool, apiVersion: 'beacon.dev/v1alpha1', kind: 'IPAddressPool' },
        'Warning',
        'PoolOverlap',
        overlapMessage,
      );
    }
    const text = JSON.stringify(status);
    const term = this.term;
    if (this.written.get(name) === text || !term || term.aborted) return;
    try {
      await this.rest.patch(
        `/apis/beacon.dev/v1alpha1/namespaces/${this.namespace}/ipaddresspools/${name}/status`,
        'merge',
        { status },
        { signal: term },
      );
      this.written.set(name, text);
    } catch (err) {
      if (term.aborted || (err instanceof ApiError && err.status === 404)) return;
      this.log.warn({ pool: name, err: (err as Error).message }, 'pool status write failed; retrying');
      this.markAll();
    }
  }
}
