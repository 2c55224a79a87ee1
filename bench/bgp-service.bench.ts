/**
 * BGP mode as a cluster sees it: three `beacon speaker`s (real processes, compiled as in the image) in node
 * namespaces, the controller (a real process), a real API server, and FRR 8.4 installing what they
 * announce into its kernel table. Measured, with the aims of issue 17 beside each figure:
 *
 * - one Service created -> its route in the router's table with three next hops (p50, p99); the Service's
 *   EndpointSlice exists first, as it does for a Service fronting running Pods;
 * - one Service deleted -> its route gone from the router's table (p50, p99);
 * - 1,000 Services (and their EndpointSlices) created at once: time to create them, time until all 1,000
 *   routes have three next hops, and the three speakers' CPU for the burst;
 * - each speaker's CPU in steady state with 1,001 Services, over 30 s;
 * - `beacon bgp --prefix-count 100000` into FRR: time to converge and resident memory.
 *
 * Times come from `ip monitor` in the router's namespace (test/harness/route-monitor.ts): the route as FRR
 * installed it (bgpd's best path and zebra's install, about 75 ms of every single-Service figure). CPU is
 * read from /proc/PID/stat. BEACON_BENCH_CPU_PROF=DIR also writes each speaker's V8 CPU profile (and the
 * phases' CLOCK_MONOTONIC bounds, phases.json) into DIR, for `node bench/cpu-profile.ts`.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Service } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Informer } from '../src/k8s/informer.ts';
import type { KubeRest } from '../src/k8s/rest.ts';
import { BgpWire } from '../test/harness/bgp-wire.ts';
import { REPO_ROOT } from '../test/harness/binaries.ts';
import { BEACON_NS, ClusterLab, configureRoutedBgp, setEndpoints } from '../test/harness/cluster-lab.ts';
import { ensureNamespace, serviceManifest } from '../test/harness/kube.ts';
import { netnsUnavailable } from '../test/harness/netns.ts';
import { spawnTethered, type TetheredProcess, waitFor } from '../test/harness/process.ts';
import { type RouteEvent, RouteMonitor } from '../test/harness/route-monitor.ts';
import { frrConvergence } from './bgp-interop.bench.ts';
import { type Bench, type Figure, percentile } from './figures.ts';

const NODE = join(REPO_ROOT, 'node_modules', '.bin', 'node');
const COMPILED_MAIN = join(REPO_ROOT, 'dist', 'cli', 'main.js');
/** The pool: 4,096 addresses behind the router (RFC 2544's benchmarking range). */
const POOL = '198.18.0.0/20';
const APP = 'bench';
const CLK_TCK = 100;
const quiet = pino({ level: 'silent' });

/** User plus system CPU of a process so far, in milliseconds. */
function cpuMs(pid: number, tid?: string): number {
  const stat = readFileSync(tid ? `/proc/${pid}/task/${tid}/stat` : `/proc/${pid}/stat`, 'utf8');
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
}

/** CPU so far of each of a process's threads, by thread name ("node" is the main, JavaScript thread). */
function threadCpuMs(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const name = readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim();
      out.set(name, (out.get(name) ?? 0) + cpuMs(pid, tid));
    } catch {
      // The thread ended meanwhile.
    }
  }
  return out;
}

/** CLOCK_MONOTONIC in microseconds: the clock V8 stamps CPU profiles with. */
function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/** A percentile of the samples that were measured (a capture can miss an UPDATE: NaN). */
const pct = (values: number[], p: number) => percentile(values.filter(Number.isFinite), p);
const inPool = (prefix: string) => prefix.startsWith('198.18.') && !prefix.includes('/');
const threePaths = (e: RouteEvent) => !e.deleted && e.nextHops.length === 3;

/** Services with `prefix` names, `parallel` at a time, each after its EndpointSlice (all three nodes). */
async function createMany(lab: ClusterLab, names: string[], parallel = 32): Promise<void> {
  let next = 0;
  const nodes = lab.nodes.map((n) => n.name);
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < names.length) {
        const name = names[next++]!;
        await setEndpoints(lab.rest, APP, name, nodes);
        await lab.rest.create(`/api/v1/namespaces/${APP}/services`, serviceManifest(APP, name, undefined));
      }
    }),
  );
}

/** Objects of a kind in the collection, from one small page (`remainingItemCount`). */
async function countObjects(rest: KubeRest, path: string): Promise<number> {
  const page = await rest.get<{ items: unknown[]; metadata: { remainingItemCount?: number } }>(path, {
    query: { limit: 1 },
  });
  return page.items.length + (page.metadata.remainingItemCount ?? 0);
}

function startController(lab: ClusterLab, dir: string | undefined): TetheredProcess {
  return spawnTethered(
    'controller',
    NODE,
    [
      COMPILED_MAIN,
      'controller',
      `--kubeconfig=${lab.api.kubeconfigPath}`,
      `--namespace=${BEACON_NS}`,
      '--log-level=info',
    ],
    dir ? { logFile: join(dir, 'controller.log') } : {},
  );
}

export const benches: Bench[] = [
  {
    name: 'bgp-service',
    unavailable: netnsUnavailable,
    async run(ctx) {
      const singles = ctx.quick ? 10 : 100;
      const burst = ctx.quick ? 100 : 1000;
      const steadyMs = ctx.quick ? 10_000 : 30_000;
      const profileDir = process.env.BEACON_BENCH_CPU_PROF;
      if (profileDir) mkdirSync(profileDir, { recursive: true });
      const phases: Record<string, number> = {};
      ctx.log('compiling dist/ (speakers, controller and beacon bgp run the compiled JavaScript)');
      execFileSync(
        join(REPO_ROOT, 'node_modules', '.bin', 'tsc'),
        ['-p', join(REPO_ROOT, 'tsconfig.build.json')],
        { stdio: 'inherit' },
      );
      const created: number[] = [];
      const withdrawn: number[] = [];
      /** The same, until the last of the three speakers' UPDATEs reached the router's link. */
      const createdOnWire: number[] = [];
      const withdrawnOnWire: number[] = [];
      /** From that UPDATE to the route in the router's table: FRR's own part. */
      const frrInstall: number[] = [];
      const frrRemove: number[] = [];
      /** From the watch delivering the change (to this process, as to the speakers) to the last UPDATE. */
      const speakersCreate: number[] = [];
      const speakersDelete: number[] = [];
      let stopWatch = () => {};
      let createSeconds = 0;
      let burstSeconds = 0;
      let burstCpu = 0;
      const steady: number[] = [];
      const lab = await ClusterLab.start({ tag: 'benchbgps', nodes: 3, router: true, log: ctx.log });
      const controller = startController(lab, profileDir);
      let monitor: RouteMonitor | undefined;
      let wire: BgpWire | undefined;
      try {
        await configureRoutedBgp(lab.rest, [POOL]);
        await ensureNamespace(lab.rest, APP);
        monitor = await RouteMonitor.start(lab.router!.ns);
        const profile = profileDir ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [];
        for (const n of lab.nodes) lab.startSpeaker(n, [], true, {}, profile);
        await lab.waitForSpeakersSynced();
        await waitFor(
          'FRR to have all three sessions up',
          async () => (await lab.router!.neighbors()).filter((n) => n.state === 'established').length === 3,
          60_000,
          200,
        );
        const pids = lab.nodes.map((n) => n.speaker!.child.pid!);
        const mon = monitor;

        ctx.log(`${singles} single Services: create -> three paths, delete -> withdrawn`);
        wire = await BgpWire.start(lab.router!.ns);
        // When the watch delivers the Service's address, and its deletion: what the speakers react to.
        const watch = new AbortController();
        const seenAt = new Map<string, { assigned?: number; deleted?: number }>();
        const services = new Informer<V1Service>(
          lab.rest,
          { group: '', version: 'v1', plural: 'services' },
          quiet,
          {
            namespace: APP,
          },
        );
        const mark = (s: V1Service, what: 'assigned' | 'deleted') => {
          const m = seenAt.get(s.metadata!.name!) ?? {};
          m[what] ??= Date.now();
          seenAt.set(s.metadata!.name!, m);
        };
        const assigned = (s: V1Service) => {
          if (s.status?.loadBalancer?.ingress?.length) mark(s, 'assigned');
        };
        services.on('add', assigned);
        services.on('update', assigned);
        services.on('delete', (s) => mark(s, 'deleted'));
        await services.start(watch.signal);
        stopWatch = () => watch.abort();
        const lastOnWire = (prefix: string, since: number, withdrawals: boolean) => {
          const seen = wire!.seen(`${prefix}/32`, since, withdrawals);
          const from = new Set(seen.map((r) => r.from));
          return from.size === 3 ? Math.max(...seen.map((r) => r.at)) : Number.NaN;
        };
        for (let i = 0; i < singles; i++) {
          const name = `one-${i}`;
          await setEndpoints(
            lab.rest,
            APP,
            name,
            lab.nodes.map((n) => n.name),
          );
          // The only route appearing now is this Service's: its address is not known before it is assigned.
          const t0 = Date.now();
          await lab.rest.create(`/api/v1/namespaces/${APP}/services`, serviceManifest(APP, name, undefined));
          const route = await waitForAny(mon, t0, (e) => inPool(e.prefix) && threePaths(e), 30_000);
          created.push(route.at - t0);
          await sleep(ctx.quick ? 300 : 500);
          const sent = lastOnWire(route.prefix, t0, false);
          createdOnWire.push(sent - t0);
          frrInstall.push(route.at - sent);
          speakersCreate.push(sent - (seenAt.get(name)?.assigned ?? Number.NaN));
          const t1 = Date.now();
          const deleted = mon.next(route.prefix, (e) => e.deleted);
          await lab.rest.delete(`/api/v1/namespaces/${APP}/services/${name}`);
          const e = await withTimeout(deleted, 30_000, `${route.prefix} to leave FRR's table`);
          withdrawn.push(e.at - t1);
          await sleep(100);
          const gone = lastOnWire(route.prefix, t1, true);
          withdrawnOnWire.push(gone - t1);
          frrRemove.push(e.at - gone);
          speakersDelete.push(gone - (seenAt.get(name)?.deleted ?? Number.NaN));
          await lab.rest.delete(`/apis/discovery.k8s.io/v1/namespaces/${APP}/endpointslices/${name}-lab`);
          await sleep(ctx.quick ? 300 : 500);
          if ((i + 1) % 20 === 0)
            ctx.log(
              `  ${i + 1}/${singles}: create p50 ${percentile(created, 50).toFixed(0)} ms, delete p50 ${percentile(withdrawn, 50).toFixed(0)} ms`,
            );
        }

        await wire.stop();
        stopWatch();
        ctx.log(`${burst} Services at once`);
        await sleep(2000);
        const names = Array.from({ length: burst }, (_, i) => `burst-${i}`);
        const cpu0 = pids.map((pid) => cpuMs(pid));
        phases.burstStartUs = monotonicUs();
        const t0 = Date.now();
        const all = new Promise<number>((resolve) => {
          const check = (e: RouteEvent) => {
            if (mon.count((r) => inPool(r.prefix) && threePaths(r)) >= burst) resolve(e.at);
            else void mon.next(undefined, () => true).then(check);
          };
          void mon.next(undefined, () => true).then(check);
        });
        await createMany(lab, names);
        createSeconds = (Date.now() - t0) / 1000;
        ctx.log(`  created in ${createSeconds.toFixed(1)} s`);
        const allAt = await withTimeout(all, 600_000, `all ${burst} routes with three paths`);
        burstSeconds = (allAt - t0) / 1000;
        ctx.log(`  all ${burst} routes with three paths ${burstSeconds.toFixed(1)} s after the first create`);
        const statuses = `/apis/beacon.dev/v1alpha1/namespaces/${BEACON_NS}/servicebgpstatuses`;
        await waitFor(
          'every speaker to publish every ServiceBGPStatus',
          async () => (await countObjects(lab.rest, statuses)) >= 3 * burst,
          300_000,
          1000,
        );
        await sleep(2000);
        phases.burstEndUs = monotonicUs();
        burstCpu = pids.map((pid) => cpuMs(pid)).reduce((s, c, i) => s + c - cpu0[i]!, 0) / 1000;
        ctx.log(`  the three speakers used ${burstCpu.toFixed(1)} s of CPU`);

        const probe = 'steady-probe';
        await setEndpoints(
          lab.rest,
          APP,
          probe,
          lab.nodes.map((n) => n.name),
        );
        const probeAt = Date.now();
        await lab.rest.create(`/api/v1/namespaces/${APP}/services`, serviceManifest(APP, probe, undefined));
        await waitForAny(mon, probeAt, (e) => inPool(e.prefix) && threePaths(e), 30_000);
        ctx.log(`steady state with ${burst + 1} Services: each speaker's CPU over ${steadyMs / 1000} s`);
        await sleep(10_000);
        const s0 = pids.map((pid) => cpuMs(pid));
        const threads0 = pids.map(threadCpuMs);
        phases.steadyStartUs = monotonicUs();
        await sleep(steadyMs);
        phases.steadyEndUs = monotonicUs();
        for (const [i, pid] of pids.entries()) steady.push((cpuMs(pid) - s0[i]!) / (steadyMs / 1000));
        ctx.log(`  ${steady.map((s) => s.toFixed(1)).join(', ')} ms/s`);
        // Which threads: the JavaScript thread ("node"), V8's GC helpers, libuv's pool.
        for (const [i, pid] of pids.entries()) {
          const by = [...threadCpuMs(pid)]
            .map(([name, ms]) => [name, (ms - (threads0[i]!.get(name) ?? 0)) / (steadyMs / 1000)] as const)
            .filter(([, rate]) => rate > 0)
            .sort((a, b) => b[1] - a[1]);
          ctx.log(`  ${lab.nodes[i]!.name}: ${by.map(([n, r]) => `${n} ${r.toFixed(1)}`).join(', ')} ms/s`);
        }
        if (profileDir) {
          // A profile is written only when the process exits by itself, and a speaker leaving deletes its
          // ServiceBGPStatus objects first (1,001 of them): a SIGKILL after a short grace would lose it.
          const stopAt = Date.now();
          await Promise.all(
            lab.nodes.map(async (n) => {
              await n.speaker!.stop(300_000);
              ctx.log(`  ${n.name} exited ${((Date.now() - stopAt) / 1000).toFixed(1)} s after SIGTERM`);
            }),
          );
          writeFileSync(join(profileDir, 'phases.json'), `${JSON.stringify(phases, null, 2)}\n`);
        }
      } finally {
        stopWatch();
        await wire?.stop();
        await monitor?.stop();
        await controller.stop();
        await lab.stop();
      }

      ctx.log('beacon bgp --prefix-count 100000 into FRR (compiled)');
      const bgp = await frrConvergence(100_000, { compiled: true, rss: true });
      ctx.log(`  converged in ${bgp.convergeMs.toFixed(0)} ms, RSS ${bgp.rssMB?.toFixed(0)} MB`);

      const figures: Figure[] = [
        ...p50p99(
          'bgp-service.create_to_three_paths',
          created,
          `one Service created -> its route in FRR's kernel table with three next hops, of ${singles}`,
          { p50: '~96 ms (MetalLB 0.16.1: 96 ms)', p99: '<= 110 ms (MetalLB: 122 ms)' },
        ),
        ...p50p99(
          'bgp-service.delete_to_withdrawn',
          withdrawn,
          `one Service deleted -> its route gone from FRR's kernel table, of ${singles}`,
          { p50: '<= 60 ms (MetalLB: 75 ms)' },
        ),
        ...p50p99(
          'bgp-service.create_to_last_update_on_wire',
          createdOnWire,
          "one Service created -> the last of the three speakers' announcements on the router's link (API server, controller and speakers; tcpdump)",
        ),
        ...p50p99(
          'bgp-service.delete_to_last_withdrawal_on_wire',
          withdrawnOnWire,
          "one Service deleted -> the last of the three speakers' withdrawals on the router's link (API server and speakers)",
        ),
        ...p50p99(
          'bgp-service.speakers.address_seen_to_last_update',
          speakersCreate,
          "the speakers' own share of a create: a watch delivers the Service's address -> the last of the three UPDATEs on the router's link",
        ),
        ...p50p99(
          'bgp-service.speakers.deletion_seen_to_last_withdrawal',
          speakersDelete,
          "the speakers' own share of a delete: a watch delivers the deletion -> the last of the three withdrawals on the router's link",
        ),
        {
          name: 'bgp-service.frr_install.p50',
          unit: 'ms',
          samples: [pct(frrInstall, 50)],
          description:
            "FRR's own part of a create: the third announcement on its link -> the route in its kernel table (bgpd and zebra)",
        },
        {
          name: 'bgp-service.frr_remove.p50',
          unit: 'ms',
          samples: [pct(frrRemove, 50)],
          description:
            "FRR's own part of a delete: the third withdrawal on its link -> the route gone from its table",
        },
        {
          name: `bgp-service.burst_${burst}.create_s`,
          unit: 's',
          samples: [createSeconds],
          description: `the API server's time to create ${burst} Services and their EndpointSlices (32 at a time) beside the speakers`,
          aim: 'MetalLB beside: 26.7 s (1,000)',
        },
        {
          name: `bgp-service.burst_${burst}.end_to_end_s`,
          unit: 's',
          samples: [burstSeconds],
          description: `first create -> all ${burst} routes with three next hops in FRR's table`,
          aim: 'faster than MetalLB: < 39.3 s (1,000)',
        },
        {
          name: `bgp-service.burst_${burst}.speakers_cpu_s`,
          unit: 's',
          samples: [burstCpu],
          description: `the three speakers' CPU (user + system) from the first create until every route has three paths, every ServiceBGPStatus is written, and 2 s more`,
          aim: '<= 15 s (1,000; MetalLB: 18.6 s)',
        },
        {
          name: `bgp-service.steady_${burst + 1}.cpu_ms_per_s`,
          unit: 'ms',
          samples: steady,
          description: `each speaker's CPU per second over ${steadyMs / 1000} s, ${burst + 1} Services, nothing changing (one sample per speaker)`,
          aim: '<= 10 ms/s (MetalLB: 51 ms/s)',
        },
        {
          name: 'bgp-service.beacon_bgp_100k.converge_ms',
          unit: 'ms',
          samples: [bgp.convergeMs],
          description:
            'beacon bgp --prefix-count 100000 (compiled): Established -> all in FRR, best paths chosen',
          aim: '<= 550 ms',
        },
        {
          name: 'bgp-service.beacon_bgp_100k.rss_mb',
          unit: 'MB',
          samples: [bgp.rssMB ?? Number.NaN],
          description:
            'beacon bgp --prefix-count 100000 (compiled): resident memory 2 s after FRR has them all',
          aim: '<= 120 MB',
        },
      ];
      return figures;
    },
  },
];

/** A latency's p50 and p99, as NAME.p50 and NAME.p99. */
function p50p99(
  name: string,
  values: number[],
  description: string,
  aims: { p50?: string; p99?: string } = {},
): Figure[] {
  return (['p50', 'p99'] as const).map((p) => ({
    name: `${name}.${p}`,
    unit: 'ms',
    samples: [pct(values, Number(p.slice(1)))],
    description: `${description}, ${p}`,
    ...(aims[p] ? { aim: aims[p] } : {}),
  }));
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]);
}

/** The first route event at or after `since` (epoch ms) passing `test`, already seen or still to come. */
function waitForAny(
  mon: RouteMonitor,
  since: number,
  test: (e: RouteEvent) => boolean,
  ms: number,
): Promise<RouteEvent> {
  const seen = mon.events.find((e) => e.at >= since && test(e));
  if (seen) return Promise.resolve(seen);
  return withTimeout(mon.next(undefined, test), ms, 'a route');
}
