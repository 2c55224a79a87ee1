/**
 * Controller figures against a real API server: Service created -> EXTERNAL-IP in status (one at a time),
 * 5,000 Services created at once -> all assigned, controller RSS at 5,000 Services, and a restart with
 * 5,000 assigned Services (time until it serves again, addresses moved).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Service } from '@kubernetes/client-node';
import { Informer } from '../src/k8s/informer.ts';
import { KubeRest } from '../src/k8s/rest.ts';
import { createLogger, type Logger } from '../src/log.ts';
import { type ApiServer, startApiServer } from '../test/harness/apiserver.ts';
import { REPO_ROOT } from '../test/harness/binaries.ts';
import { installCrds } from '../test/harness/crds.ts';
import { createPool, ensureNamespace, serviceManifest } from '../test/harness/kube.ts';
import { spawnTethered, type TetheredProcess, waitFor } from '../test/harness/process.ts';
import { createSurely } from './bulk-create.ts';
import { type Bench, type Figure, percentile } from './figures.ts';

const SERVICES = { group: '', version: 'v1', plural: 'services' };
/** However slow the machine, a bench that cannot finish says so instead of hanging. */
const ASSIGN_TIMEOUT_MS = 600_000;

/**
 * Records when each Service of one namespace first shows an address. It is a list+watch informer
 * (src/k8s/informer.ts): under load the API server closes watches, and a plain watch that is not
 * re-established leaves the run waiting forever, so a closed watch resumes from the last resourceVersion
 * and a 410 Gone lists again. Addresses first seen in a re-list are stamped when the list arrives: late,
 * never early.
 */
class IngressWatcher {
  private readonly seen = new Map<string, { at: number; ips: string[] }>();
  private readonly waiters = new Map<string, (at: number) => void>();
  private readonly abort = new AbortController();

  private constructor(informer: Informer<V1Service>) {
    const note = (svc: V1Service) => {
      const name = svc.metadata?.name ?? '';
      const ips = (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '');
      if (!ips.length || this.seen.has(name)) return;
      const at = performance.now();
      this.seen.set(name, { at, ips });
      this.waiters.get(name)?.(at);
      this.waiters.delete(name);
    };
    informer.on('add', note);
    informer.on('update', note);
  }

  /** Resolves once the first list is in. */
  static async start(rest: KubeRest, ns: string, log: Logger): Promise<IngressWatcher> {
    const informer = new Informer<V1Service>(rest, SERVICES, log, {
      namespace: ns,
      // What the watcher reads; 6,000 full Services would otherwise sit in the bench's memory.
      slim: ({ metadata, status }) => ({
        metadata: {
          name: metadata?.name,
          namespace: metadata?.namespace,
          resourceVersion: metadata?.resourceVersion,
        },
        status,
      }),
      // A broken watch is retried at once rather than after the controller's 1 s, not to add to a latency.
      backoff: { initialMs: 50, maxMs: 1000 },
    });
    const w = new IngressWatcher(informer);
    await informer.start(w.abort.signal);
    return w;
  }

  addresses(): Map<string, string[]> {
    return new Map([...this.seen].map(([k, v]) => [k, v.ips]));
  }

  /** When `name` first had an address; an error after `timeoutMs` rather than a bench that hangs. */
  whenAssigned(name: string, timeoutMs = ASSIGN_TIMEOUT_MS): Promise<number> {
    const s = this.seen.get(name);
    if (s) return Promise.resolve(s.at);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(name);
        reject(
          new Error(`${name} has no address after ${timeoutMs} ms (${this.seen.size} Services have one)`),
        );
      }, timeoutMs);
      this.waiters.set(name, (at) => {
        clearTimeout(timer);
        resolve(at);
      });
    });
  }

  stop(): void {
    this.abort.abort();
  }
}

/** VmRSS (everything resident) or RssAnon (less the executable's and libraries' file pages). */
function rssMB(pid: number, field: 'VmRSS' | 'RssAnon' = 'VmRSS'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/**
 * The NODE_OPTIONS the chart gives the controller (heap caps that keep V8 from growing its young
 * generation with garbage): the bench measures the process as users run it.
 */
function chartNodeOptions(): string {
  const template = readFileSync(
    join(REPO_ROOT, 'deploy', 'helm', 'beacon', 'templates', 'controller.yaml'),
    'utf8',
  );
  const m = /- name: NODE_OPTIONS\n\s+value: (.+)\n/.exec(template);
  if (!m) throw new Error("no NODE_OPTIONS in the chart's controller template");
  return m[1]!.trim();
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function startController(api: ApiServer, config: string, identity: string): TetheredProcess {
  return spawnTethered(
    `controller-${identity}`,
    join(REPO_ROOT, 'node_modules', '.bin', 'node'),
    [
      // The compiled JavaScript, as in production (no type stripper in memory).
      join(REPO_ROOT, 'dist', 'cli', 'main.js'),
      'controller',
      `--kubeconfig=${api.kubeconfigPath}`,
      `--namespace=${config}`,
      `--identity=${identity}`,
      '--log-level=warn',
    ],
    { env: { ...process.env, NODE_OPTIONS: chartNodeOptions() } },
  );
}

async function leading(api: ApiServer, rest: KubeRest, config: string): Promise<void> {
  await waitFor(
    'the controller to hold the Lease',
    async () => {
      try {
        const lease = await rest.get<{ spec: { holderIdentity?: string } }>(
          `/apis/coordination.k8s.io/v1/namespaces/${config}/leases/beacon-controller`,
        );
        return !!lease.spec.holderIdentity;
      } catch {
        return false;
      }
    },
    30_000,
    50,
  );
  void api;
}

async function createAll(rest: KubeRest, ns: string, names: string[], parallel: number): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < names.length) {
      const name = names[next++]!;
      await createSurely(rest, `/api/v1/namespaces/${ns}/services`, serviceManifest(ns, name, undefined));
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
}

export const benches: Bench[] = [
  {
    name: 'controller',
    async run(ctx) {
      const runs = ctx.quick ? 1 : 3;
      const single = ctx.quick ? 50 : 200;
      const bulk = ctx.quick ? 1000 : 5000;
      const figures = {
        p50: [] as number[],
        p99: [] as number[],
        bulk: [] as number[],
        create: [] as number[],
        lag: [] as number[],
        rss: [] as number[],
        rss1001: [] as number[],
        anon1001: [] as number[],
        cpu: [] as number[],
        restart: [] as number[],
        moved: [] as number[],
      };
      execFileSync(join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), [
        '-p',
        join(REPO_ROOT, 'tsconfig.build.json'),
      ]);
      ctx.log('starting API server');
      const api = await startApiServer({ log: ctx.log });
      // The watchers' informers say when they re-list or their watch breaks.
      const log = createLogger('bench-controller', 'info');
      try {
        await installCrds(api);
        const rest = new KubeRest(api.access, { userAgent: 'beacon-bench' });
        for (let run = 0; run < runs; run++) {
          const config = `bench-cfg-${run}`;
          const ns = `bench-app-${run}`;
          await ensureNamespace(rest, config);
          await ensureNamespace(rest, ns);
          await createPool(rest, config, 'v4', { addresses: ['198.18.0.0/16'] });
          await createPool(rest, config, 'v6', { addresses: ['2001:db8:beac::/64'] });
          const controller = startController(api, config, `bench-${run}`);
          try {
            await leading(api, rest, config);
            const watcher = await IngressWatcher.start(rest, ns, log);
            const latencies: number[] = [];
            for (let i = 0; i < single; i++) {
              const name = `one-${i}`;
              const t0 = performance.now();
              const assigned = watcher.whenAssigned(name);
              await rest.create(`/api/v1/namespaces/${ns}/services`, serviceManifest(ns, name, undefined));
              latencies.push((await assigned) - t0);
            }
            figures.p50.push(percentile(latencies, 50));
            figures.p99.push(percentile(latencies, 99));
            ctx.log(
              `run ${run + 1}: one at a time p50 ${percentile(latencies, 50).toFixed(1)} ms, p99 ${percentile(latencies, 99).toFixed(1)} ms`,
            );

            // Issue 11 compares with MetalLB's controller at 1,001 Services (80 MB there).
            const upTo1001 = Array.from({ length: 1001 - single }, (_, i) => `more-${i}`);
            await createAll(rest, ns, upTo1001, 16);
            await Promise.all(upTo1001.map((n) => watcher.whenAssigned(n)));
            await new Promise((r) => setTimeout(r, 1500));
            figures.rss1001.push(rssMB(controller.child.pid!));
            figures.anon1001.push(rssMB(controller.child.pid!, 'RssAnon'));
            ctx.log(
              `run ${run + 1}: RSS at 1,001 Services ${figures.rss1001.at(-1)!.toFixed(0)} MB, of which anonymous ${figures.anon1001.at(-1)!.toFixed(0)} MB`,
            );

            const names = Array.from({ length: bulk }, (_, i) => `bulk-${i}`);
            const cpu0 = cpuSeconds(controller.child.pid!);
            const t0 = performance.now();
            await createAll(rest, ns, names, 64);
            const created = performance.now();
            await Promise.all(names.map((n) => watcher.whenAssigned(n)));
            const wall = (performance.now() - t0) / 1000;
            figures.bulk.push(wall);
            figures.create.push((created - t0) / 1000);
            figures.lag.push(performance.now() - created);
            figures.cpu.push(cpuSeconds(controller.child.pid!) - cpu0);
            ctx.log(
              `run ${run + 1}: ${bulk} at once: created in ${((created - t0) / 1000).toFixed(1)} s, all assigned in ${wall.toFixed(1)} s`,
            );
            await new Promise((r) => setTimeout(r, 1500));
            figures.rss.push(rssMB(controller.child.pid!));

            const before = watcher.addresses();
            watcher.stop();
            controller.child.kill('SIGKILL');
            await controller.exited;
            const restarted = startController(api, config, `bench-${run}-b`);
            try {
              const t1 = performance.now();
              // Served again: a new Service gets an address from the restarted controller.
              const after = await IngressWatcher.start(rest, ns, log);
              await rest.create(
                `/api/v1/namespaces/${ns}/services`,
                serviceManifest(ns, 'after-restart', undefined),
              );
              await after.whenAssigned('after-restart');
              figures.restart.push((performance.now() - t1) / 1000);
              const list = await rest.get<{ items: V1Service[] }>(`/api/v1/namespaces/${ns}/services`);
              let moved = 0;
              for (const s of list.items) {
                const was = before.get(s.metadata?.name ?? '');
                const now = (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip);
                if (was && JSON.stringify(was) !== JSON.stringify(now)) moved++;
              }
              figures.moved.push(moved);
              after.stop();
            } finally {
              await restarted.stop();
            }
          } finally {
            await controller.stop();
          }
          await rest.delete(`/api/v1/namespaces/${ns}`);
        }
      } finally {
        await api.stop();
      }
      const out: Figure[] = [
        {
          name: 'controller.assign_latency.p50',
          unit: 'ms',
          samples: figures.p50,
          description:
            'Service created -> EXTERNAL-IP seen by a watcher, one at a time (API round trips included)',
        },
        {
          name: 'controller.assign_latency.p99',
          unit: 'ms',
          samples: figures.p99,
          description: 'as above, 99th percentile',
          aim: '< 50 ms',
        },
        {
          name: `controller.bulk_${bulk}.wall`,
          unit: 's',
          samples: figures.bulk,
          description: `${bulk} Services created at once (64 parallel clients) -> all have an EXTERNAL-IP`,
          aim: '< 10 s',
        },
        {
          name: `controller.bulk_${bulk}.create_only`,
          unit: 's',
          samples: figures.create,
          description: `the API server creating those ${bulk} Services (the floor under the figure above)`,
        },
        {
          name: `controller.bulk_${bulk}.lag_after_last_create`,
          unit: 'ms',
          samples: figures.lag,
          description: 'last Service created -> every Service has its EXTERNAL-IP: what the controller adds',
        },
        {
          name: `controller.bulk_${bulk}.cpu`,
          unit: 's',
          samples: figures.cpu,
          description: 'controller CPU time spent on the bulk run',
        },
        {
          name: 'controller.rss_at_1001_services',
          unit: 'MB',
          samples: figures.rss1001,
          description:
            'controller resident memory with 1,001 Services assigned (MetalLB v0.16.1 controller: 80 MB)',
          aim: '<= 80 MB',
        },
        {
          name: 'controller.anonymous_rss_at_1001_services',
          unit: 'MB',
          samples: figures.anon1001,
          description:
            'the same less the pages of the node executable and libraries (about 49 MB, shared with every Node process on the host)',
        },
        {
          name: `controller.rss_at_${bulk + 1001}_services`,
          unit: 'MB',
          samples: figures.rss,
          description: 'controller resident memory after the bulk run',
        },
        {
          name: 'controller.restart_to_serving',
          unit: 's',
          samples: figures.restart,
          description: `controller killed and restarted with ${bulk + 1001} assigned Services -> serves a new Service`,
        },
        {
          name: 'controller.restart_addresses_moved',
          unit: 'count',
          samples: figures.moved,
          description: 'addresses that changed across that restart',
          aim: '0',
        },
      ];
      return out;
    },
  },
];
