/**
 * The scale run (issue 8): 5,000 Services and 50 pools (IPv4 and IPv6, one a /64) on the harness's API
 * server with three speakers and a controller, all running the compiled JavaScript as in production.
 * Reports the time until every address is answered on the wire (ARP and NDP asked from the client
 * namespace, test/harness/answer-watch.ts), controller memory and CPU, speaker memory, convergence after a
 * controller restart and after all speakers restart, and API requests per second by component in steady
 * state (from the audit log).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Service } from '@kubernetes/client-node';
import { Informer } from '../src/k8s/informer.ts';
import { createLogger } from '../src/log.ts';
import { AnswerWatch, ASK_RATE } from '../test/harness/answer-watch.ts';
import { REPO_ROOT } from '../test/harness/binaries.ts';
import { BEACON_NS, CLIENT_IP, CLIENT_IP6, ClusterLab, setEndpoints } from '../test/harness/cluster-lab.ts';
import { createBeaconObject, createPool, ensureNamespace, serviceManifest } from '../test/harness/kube.ts';
import { netnsUnavailable } from '../test/harness/netns.ts';
import { spawnTethered, type TetheredProcess, waitFor } from '../test/harness/process.ts';
import { auditedRequests, auditLogArgs, WRITE_VERBS } from './audit.ts';
import { BULK_WRITE, createSurely } from './bulk-create.ts';
import type { Bench, Figure } from './figures.ts';

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: Metadata
`;

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/** Requests per user-agent prefix (text before the first '/') in a time window of the audit log. */
async function requestsByComponent(
  dir: string,
  from: number,
  to: number,
): Promise<Map<string, { reads: number; writes: number }>> {
  const out = new Map<string, { reads: number; writes: number }>();
  for (const e of await auditedRequests(dir, 'beacon-', from, to)) {
    const who = e.userAgent!.split('/')[0]!;
    const c = out.get(who) ?? { reads: 0, writes: 0 };
    if (WRITE_VERBS.includes(e.verb ?? '')) c.writes++;
    else c.reads++;
    out.set(who, c);
  }
  return out;
}

function pools(): { name: string; addresses: string[] }[] {
  const out: { name: string; addresses: string[] }[] = [];
  for (let i = 0; i < 40; i++) out.push({ name: `v4-${i}`, addresses: [`198.18.${i}.0/24`] });
  for (let i = 0; i < 9; i++)
    out.push({ name: `v6-${i}`, addresses: [`2001:db8:${(0x100 + i).toString(16)}::/120`] });
  out.push({ name: 'v6-wide', addresses: ['2001:db8:ffff::/64'] });
  return out;
}

/** A fifth of the Services are dual-stack: they have an address of each family. */
const isDualStack = (i: number) => i % 5 === 0;
/** Addresses of `total` Services, and how late a first answer can be seen when all are asked at once. */
const addressesOf = (total: number) => total + Math.ceil(total / 5);
const askLag = (total: number) =>
  `each of the ${addressesOf(total)} asked every ${(addressesOf(total) / ASK_RATE).toFixed(1)} s at most, so up to that late`;

/**
 * The time of the answer that completed the set: when every Service `s0..s<total-1>` has all its
 * addresses and each was answered (since it was asked for), the latest of those first answers; undefined
 * while one is missing.
 */
function lastFirstAnswer(
  services: Informer<V1Service>,
  answers: AnswerWatch,
  total: number,
): number | undefined {
  let last = 0;
  let complete = 0;
  for (const svc of services.list()) {
    const i = Number(svc.metadata?.name?.slice(1));
    if (!(Number.isInteger(i) && i >= 0 && i < total)) continue;
    const ips = (svc.status?.loadBalancer?.ingress ?? []).map((x) => x.ip ?? '');
    if (ips.length < (isDualStack(i) ? 2 : 1)) return undefined;
    for (const ip of ips) {
      const at = answers.answeredAt(ip);
      if (at === undefined) return undefined;
      last = Math.max(last, at);
    }
    complete++;
  }
  return complete === total ? last : undefined;
}

/** Waits for lastFirstAnswer; the time it returns is the capture's, not when this looked. */
async function everyAddressAnswered(
  services: Informer<V1Service>,
  answers: AnswerWatch,
  total: number,
  timeoutMs: number,
): Promise<number> {
  let at: number | undefined;
  await waitFor(
    `every address of ${total} Services answered`,
    () => {
      const failed = answers.failure();
      if (failed) throw new Error(failed);
      at = lastFirstAnswer(services, answers, total);
      return at !== undefined;
    },
    timeoutMs,
    500,
  );
  return at!;
}

const SERVICES = { group: '', version: 'v1', plural: 'services' };

export const benches: Bench[] = [
  {
    name: 'scale',
    unavailable: netnsUnavailable,
    async run(ctx) {
      const total = ctx.quick ? 1000 : 5000;
      let auditDir = '';
      execFileSync(join(REPO_ROOT, 'node_modules', '.bin', 'tsc'), [
        '-p',
        join(REPO_ROOT, 'tsconfig.build.json'),
      ]);
      const lab = await ClusterLab.start({
        tag: 'benchscale',
        nodes: 3,
        log: ctx.log,
        apiServerArgs: (dir) => {
          auditDir = dir;
          return auditLogArgs(dir, AUDIT_POLICY);
        },
      });
      const node = join(REPO_ROOT, 'node_modules', '.bin', 'node');
      const startController = (id: string): TetheredProcess =>
        spawnTethered(`controller-${id}`, node, [
          join(REPO_ROOT, 'dist', 'cli', 'main.js'),
          'controller',
          `--kubeconfig=${lab.api.kubeconfigPath}`,
          `--namespace=${BEACON_NS}`,
          `--identity=${id}`,
          '--log-level=warn',
          '--lease-duration=3',
        ]);
      let controller = startController('scale-a');
      const figures: Figure[] = [];
      const stopWatching = new AbortController();
      let answers: AnswerWatch | undefined;
      try {
        for (const p of pools()) await createPool(lab.rest, BEACON_NS, p.name, { addresses: p.addresses });
        await createBeaconObject(lab.rest, BEACON_NS, 'L2Advertisement', 'all', {});
        for (const n of lab.nodes) lab.startSpeaker(n, ['--log-level=info'], true);
        await lab.waitForSpeakersSynced();
        await ensureNamespace(lab.rest, 'scale');
        answers = await AnswerWatch.start(lab.client, 'eth0', { ipv4: CLIENT_IP, ipv6: CLIENT_IP6 });
        const watch = answers;
        const services = new Informer<V1Service>(lab.rest, SERVICES, createLogger('bench-scale', 'warn'), {
          namespace: 'scale',
        });
        // Each address is asked for as soon as a Service shows it; answers count from the first create.
        let t0 = Number.POSITIVE_INFINITY;
        const askFor = (svc: V1Service) => {
          for (const x of svc.status?.loadBalancer?.ingress ?? []) if (x.ip) watch.ask(x.ip, t0);
        };
        services.on('add', askFor);
        services.on('update', askFor);
        await services.start(stopWatching.signal);
        ctx.log(`creating ${total} Services (a fifth dual-stack) with their EndpointSlices`);
        t0 = Date.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: 32 }, async () => {
            while (next < total) {
              const i = next++;
              const dual = isDualStack(i)
                ? { spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] } }
                : {};
              await createSurely(
                lab.rest,
                '/api/v1/namespaces/scale/services',
                serviceManifest('scale', `s${i}`, undefined, dual),
              );
              await setEndpoints(
                lab.rest,
                'scale',
                `s${i}`,
                lab.nodes.map((n) => n.name),
                BULK_WRITE,
              );
              if (i % 1000 === 999) ctx.log(`  ${i + 1} created`);
            }
          }),
        );
        ctx.log(`all created ${((Date.now() - t0) / 1000).toFixed(1)} s after the first create`);
        const converge = ((await everyAddressAnswered(services, watch, total, 900_000)) - t0) / 1000;
        ctx.log(
          `every address of ${total} Services answered ${converge.toFixed(1)} s after the first create`,
        );
        figures.push({
          name: `scale.create_to_answered_${total}`,
          unit: 's',
          samples: [converge],
          description: `${total} Services and EndpointSlices created (32 clients) -> every address answered ARP or NDP from the client (the last first answer; ${askLag(total)})`,
        });

        // Steady state starts once the writes that follow convergence (status objects, the speakers'
        // per-Service status, Events) are done: a window of 5 s with at most one write a second, which is
        // above what three speakers' and one controller's Lease renewals make.
        const settleFrom = Date.now();
        for (;;) {
          const w0 = Date.now();
          await new Promise((r) => setTimeout(r, 5000));
          let writes = 0;
          for (const c of (await requestsByComponent(auditDir, w0, Date.now())).values()) writes += c.writes;
          if (writes <= 5) break;
          if (Date.now() - settleFrom > 300_000) {
            ctx.log(`  still ${writes} writes in 5 s after 5 minutes: measuring anyway`);
            break;
          }
        }
        ctx.log(`writes settled ${((Date.now() - settleFrom) / 1000).toFixed(0)} s after convergence`);
        const window = ctx.quick ? 20_000 : 60_000;
        const cpu0 = cpuSeconds(controller.child.pid!);
        const from = Date.now();
        await new Promise((r) => setTimeout(r, window));
        const to = Date.now();
        const byComponent = await requestsByComponent(auditDir, from, to);
        for (const [who, c] of byComponent) {
          figures.push({
            name: `scale.steady_${who}_writes_per_s`,
            unit: 'per_s',
            samples: [c.writes / (window / 1000)],
            description: `API writes per second by every ${who} together, steady state`,
          });
          figures.push({
            name: `scale.steady_${who}_reads_per_s`,
            unit: 'per_s',
            samples: [c.reads / (window / 1000)],
            description: `API reads (get, list, watch) per second by every ${who} together, steady state`,
          });
        }
        figures.push({
          name: 'scale.controller_cpu_steady',
          unit: 'percent',
          samples: [(100 * (cpuSeconds(controller.child.pid!) - cpu0)) / (window / 1000)],
          description: 'controller CPU in steady state',
        });
        figures.push({
          name: `scale.controller_rss_${total}`,
          unit: 'MB',
          samples: [rssMB(controller.child.pid!)],
          description: `controller resident memory with ${total} Services and 50 pools`,
        });
        figures.push({
          name: `scale.speaker_rss_${total}`,
          unit: 'MB',
          samples: lab.nodes.map((n) => rssMB(n.speaker!.child.pid!)),
          description: `each speaker's resident memory with ${total} Services`,
        });

        ctx.log('controller restart');
        controller.child.kill('SIGKILL');
        await controller.exited;
        const r0 = Date.now();
        controller = startController('scale-b');
        await lab.rest.create(
          '/api/v1/namespaces/scale/services',
          serviceManifest('scale', 'after-restart', undefined),
        );
        await waitFor(
          'served again',
          async () => {
            const s = await lab.rest.get<{ status?: { loadBalancer?: { ingress?: unknown[] } } }>(
              '/api/v1/namespaces/scale/services/after-restart',
            );
            return (s.status?.loadBalancer?.ingress ?? []).length > 0;
          },
          120_000,
          100,
        );
        figures.push({
          name: 'scale.controller_restart_to_serving',
          unit: 's',
          samples: [(Date.now() - r0) / 1000],
          description:
            'controller SIGKILLed and started again -> a new Service has its address (includes the 3 s Lease expiry)',
        });

        ctx.log('all speakers restart');
        for (const n of lab.nodes) n.speaker!.child.kill('SIGKILL');
        await Promise.all(lab.nodes.map((n) => n.speaker!.exited));
        const s0 = Date.now();
        for (const n of lab.nodes) lab.startSpeaker(n, ['--log-level=info'], true);
        // Every address asked for again: only answers from the restarted speakers count.
        for (const svc of services.list())
          for (const x of svc.status?.loadBalancer?.ingress ?? []) if (x.ip) watch.ask(x.ip, s0);
        const back = ((await everyAddressAnswered(services, watch, total, 300_000)) - s0) / 1000;
        ctx.log(`every address answered again ${back.toFixed(1)} s after all speakers restarted`);
        figures.push({
          name: 'scale.all_speakers_restart_to_answering',
          unit: 's',
          samples: [back],
          description: `all three speakers SIGKILLed and restarted with ${total} Services -> every address answered again (${askLag(total)})`,
        });
      } finally {
        stopWatching.abort();
        await answers?.stop();
        await controller.stop();
        await lab.stop();
      }
      return figures;
    },
  },
];
