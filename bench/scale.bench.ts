/**
 * The scale run (issue 8): 5,000 Services and 50 pools (IPv4 and IPv6, one a /64) on the harness's API
 * server with three speakers and a controller, all running the compiled JavaScript as in production.
 * Reports controller memory and CPU, speaker memory, convergence after a controller restart and after all
 * speakers restart, and API requests per second by component in steady state (from the audit log).
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/harness/binaries.ts';
import { BEACON_NS, ClusterLab, setEndpoints } from '../test/harness/cluster-lab.ts';
import { createBeaconObject, createPool, ensureNamespace, serviceManifest } from '../test/harness/kube.ts';
import { netnsUnavailable } from '../test/harness/netns.ts';
import { spawnTethered, type TetheredProcess, waitFor } from '../test/harness/process.ts';
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
function requestsByComponent(
  dir: string,
  from: number,
  to: number,
): Map<string, { reads: number; writes: number }> {
  const out = new Map<string, { reads: number; writes: number }>();
  for (const line of readFileSync(join(dir, 'audit.log'), 'utf8').split('\n')) {
    if (!line.includes('beacon-')) continue;
    const e = JSON.parse(line) as { userAgent?: string; verb?: string; requestReceivedTimestamp?: string };
    const t = Date.parse(e.requestReceivedTimestamp ?? '');
    if (!(t >= from && t <= to) || !e.userAgent?.startsWith('beacon-')) continue;
    const who = e.userAgent.split('/')[0]!;
    const c = out.get(who) ?? { reads: 0, writes: 0 };
    if (['create', 'update', 'patch', 'delete'].includes(e.verb ?? '')) c.writes++;
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

async function allAssigned(lab: ClusterLab, ns: string, count: number): Promise<boolean> {
  const list = await lab.rest.get<{ items: { status?: { loadBalancer?: { ingress?: unknown[] } } }[] }>(
    `/api/v1/namespaces/${ns}/services`,
  );
  return list.items.filter((s) => (s.status?.loadBalancer?.ingress ?? []).length > 0).length >= count;
}

async function statusCount(lab: ClusterLab): Promise<number> {
  const list = await lab.rest.get<{ items: unknown[] }>(
    `/apis/beacon.dev/v1alpha1/namespaces/${BEACON_NS}/servicel2statuses`,
  );
  return list.items.length;
}

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
          writeFileSync(join(dir, 'audit-policy.yaml'), AUDIT_POLICY);
          return [
            `--audit-policy-file=${join(dir, 'audit-policy.yaml')}`,
            `--audit-log-path=${join(dir, 'audit.log')}`,
          ];
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
      try {
        for (const p of pools()) await createPool(lab.rest, BEACON_NS, p.name, { addresses: p.addresses });
        await createBeaconObject(lab.rest, BEACON_NS, 'L2Advertisement', 'all', {});
        for (const n of lab.nodes) lab.startSpeaker(n, ['--log-level=info'], true);
        await lab.waitForSpeakersSynced();
        await ensureNamespace(lab.rest, 'scale');
        ctx.log(`creating ${total} Services (a fifth dual-stack) with their EndpointSlices`);
        const t0 = Date.now();
        let next = 0;
        await Promise.all(
          Array.from({ length: 32 }, async () => {
            while (next < total) {
              const i = next++;
              const dual =
                i % 5 === 0
                  ? { spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] } }
                  : {};
              await lab.rest.create(
                '/api/v1/namespaces/scale/services',
                serviceManifest('scale', `s${i}`, undefined, dual),
              );
              await setEndpoints(
                lab.rest,
                'scale',
                `s${i}`,
                lab.nodes.map((n) => n.name),
              );
              if (i % 1000 === 999) ctx.log(`  ${i + 1} created`);
            }
          }),
        );
        await waitFor('all assigned', () => allAssigned(lab, 'scale', total), 600_000, 1000);
        // Done when every Service has a status object and their number has not moved for 15 s (dual-stack
        // Services may have one per node announcing them, so the count alone can pass too early).
        let last = -1;
        let stableSince = Date.now();
        await waitFor(
          'all announced and settled',
          async () => {
            const n = await statusCount(lab);
            if (n !== last) {
              last = n;
              stableSince = Date.now();
            }
            return n >= total && Date.now() - stableSince > 15_000;
          },
          900_000,
          2000,
        );
        const converge = (Date.now() - t0) / 1000;
        ctx.log(`all ${total} assigned and announced ${converge.toFixed(0)} s after the first create`);
        figures.push({
          name: `scale.create_to_announced_${total}`,
          unit: 's',
          samples: [converge],
          description: `${total} Services and EndpointSlices created (32 clients) -> every address answered by a node`,
        });

        await new Promise((r) => setTimeout(r, 10_000));
        const window = ctx.quick ? 20_000 : 60_000;
        const cpu0 = cpuSeconds(controller.child.pid!);
        const from = Date.now();
        await new Promise((r) => setTimeout(r, window));
        const to = Date.now();
        const byComponent = requestsByComponent(auditDir, from, to);
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
        const sample = ['s1', 's777', 's2500', `s${total - 1}`];
        const addrs: string[] = [];
        for (const name of sample) {
          const s = await lab.rest.get<{ status?: { loadBalancer?: { ingress?: { ip?: string }[] } } }>(
            `/api/v1/namespaces/scale/services/${name}`,
          );
          addrs.push(s.status!.loadBalancer!.ingress![0]!.ip!);
        }
        await waitFor(
          'sample addresses answered again',
          async () => {
            for (const a of addrs.filter((x) => x.startsWith('198.18.'))) {
              await lab.client.exec('ip', ['route', 'replace', `${a}/32`, 'dev', 'eth0']);
              const r = await lab.client.exec('arping', ['-c', '1', '-w', '1', '-i', 'eth0', a]);
              if (!/from [0-9a-f:]{17}/i.test(r.stdout)) return false;
            }
            return true;
          },
          180_000,
          200,
        );
        figures.push({
          name: 'scale.all_speakers_restart_to_answering',
          unit: 's',
          samples: [(Date.now() - s0) / 1000],
          description: `all three speakers SIGKILLed and restarted with ${total} Services -> sampled addresses answered again`,
        });
      } finally {
        await controller.stop();
        await lab.stop();
      }
      return figures;
    },
  },
];
