import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The controller's Prometheus metrics, on a registry of its own so tests can run several controllers. */
export function controllerMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'beacon_controller_' });
  return {
    registry,
    addressesInUse: new Gauge({
      name: 'beacon_controller_addresses_in_use',
      help: 'Addresses of the pool assigned to Services.',
      labelNames: ['pool', 'family'] as const,
      registers: [registry],
    }),
    addressesAvailable: new Gauge({
      name: 'beacon_controller_addresses_available',
      help: 'Addresses of the pool still free (at most 2^53).',
      labelNames: ['pool', 'family'] as const,
      registers: [registry],
    }),
    allocationFailures: new Counter({
      name: 'beacon_controller_allocation_failures_total',
      help: 'Requests the allocator refused, by reason.',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    reconcileDuration: new Histogram({
      name: 'beacon_controller_reconcile_duration_seconds',
      help: 'Time to reconcile one Service, API writes included.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [registry],
    }),
    writeFailures: new Counter({
      name: 'beacon_controller_write_failures_total',
      help: 'Service writes the API server refused or did not answer, by HTTP status (0: no answer); each is retried with backoff.',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
    isLeader: new Gauge({
      name: 'beacon_controller_is_leader',
      help: '1 while this replica holds the leader Lease.',
      registers: [registry],
    }),
  };
}

export type ControllerMetrics = ReturnType<typeof controllerMetrics>;
