/**
 * The registry every component's /metrics serves: its own metrics, plus what any Prometheus setup expects
 * of a process. prom-client's default metrics keep their standard names (process_cpu_seconds_total,
 * process_resident_memory_bytes, nodejs_heap_size_used_bytes, ...), unprefixed, so stock Node.js and
 * process dashboards work; beacon_build_info says which release and runtime each scraped process runs.
 */
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client';
import { BUILD } from '../version.ts';

export type Component = 'controller' | 'speaker';

/**
 * prom-client's gauges of live handles, requests and resources are named like counters (`_total`), which
 * `promtool check metrics` refuses; every other default metric keeps its standard name.
 */
const LINT_FAILING_DEFAULTS = [
  'nodejs_active_handles_total',
  'nodejs_active_requests_total',
  'nodejs_active_resources_total',
];

export function componentRegistry(component: Component): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  for (const name of LINT_FAILING_DEFAULTS) registry.removeSingleMetric(name);
  new Gauge({
    name: 'beacon_build_info',
    help: "Always 1; the labels name Beacon's release, the Node.js runtime and the component.",
    labelNames: ['version', 'nodejs', 'component'] as const,
    registers: [registry],
  }).set({ version: BUILD.version, nodejs: BUILD.nodejs, component }, 1);
  return registry;
}
