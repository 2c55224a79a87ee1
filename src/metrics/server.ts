/**
 * The HTTP endpoint of --metrics-addr: Prometheus metrics, /healthz (the process is alive, its event
 * loop turns, and the component does not report itself broken) and /readyz (the component's own readiness,
 * e.g. caches synced).
 */
import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from '../log.ts';

export interface HealthSource {
  /** undefined when ready, else why not. */
  notReadyReason(): string | undefined;
  /** undefined when healthy, else why the process must be restarted (e.g. leading on a stale Lease). */
  unhealthyReason?(): string | undefined;
}

export function parseListenAddress(addr: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(addr);
  if (!m) throw new Error(`--metrics-addr must be HOST:PORT or :PORT, got "${addr}"`);
  const port = Number(m[3]);
  if (port > 65535) throw new Error(`--metrics-addr port ${port} is out of range`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

export async function serveMetrics(
  addr: string,
  registry: Registry,
  health: HealthSource,
  log: Logger,
): Promise<Server> {
  const { host, port } = parseListenAddress(addr);
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      registry
        .metrics()
        .then((body) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(body);
        })
        .catch((err: Error) => {
          res.writeHead(500);
          res.end(err.message);
        });
      return;
    }
    if (path === '/healthz') {
      const why = health.unhealthyReason?.();
      res.writeHead(why ? 503 : 200, { 'content-type': 'text/plain' });
      res.end(why ? `unhealthy: ${why}\n` : 'ok\n');
      return;
    }
    if (path === '/readyz') {
      const why = health.notReadyReason();
      res.writeHead(why ? 503 : 200, { 'content-type': 'text/plain' });
      res.end(why ? `not ready: ${why}\n` : 'ok\n');
      return;
    }
    res.writeHead(404);
    res.end();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const a = server.address();
  log.info(
    { address: typeof a === 'object' && a ? `${a.address}:${a.port}` : addr },
    'serving metrics, /healthz and /readyz',
  );
  return server;
}

/** A long-running component: serves --metrics-addr (when given) for as long as it runs. */
export async function runServingMetrics(
  addr: string | undefined,
  registry: Registry,
  component: HealthSource & { run(signal: AbortSignal): Promise<void> },
  signal: AbortSignal,
  log: Logger,
): Promise<void> {
  const server = addr ? await serveMetrics(addr, registry, component, log) : undefined;
  try {
    await component.run(signal);
  } finally {
    server?.close();
  }
}
