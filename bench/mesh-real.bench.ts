/**
 * The membership with real processes, at the largest size this machine holds: 30 compiled speakers in
 * node namespaces against the real API server, 5,000 Services with endpoints on every node. Measured:
 * L2 failover after SIGKILL (client's neighbour entry moves, 10 runs), how long a Service's new address
 * takes to be answered once the controller wrote it, whether the probe address stays answered through a
 * one-way cut and key rotations, the speakers' idle CPU and memory, their API writes per second in steady
 * state (audit log), and the longest event-loop stall any speaker reported.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/harness/binaries.ts';
import { BEACON_NS, ClusterLab, type LabNode, setEndpoints } from '../test/harness/cluster-lab.ts';
import {
  createBeaconObject,
  createPool,
  ensureNamespace,
  serviceManifest,
  startController,
  waitForIngress,
} from '../test/harness/kube.ts';
import { netnsUnavailable } from '../test/harness/netns.ts';
import { waitFor } from '../test/harness/process.ts';
import { BULK_WRITE, createSurely } from './bulk-create.ts';
import { type Bench, type Figure, percentile } from './figures.ts';
import { arpOwner, failoverAfterKill } from './l2-failover.ts';

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: Metadata
  verbs: [create, update, patch, delete]
- level: None
`;
/** The big pool: on the client's link (a route says so), so ARP reaches it. */
const BULK_POOL = '198.18.0.0/19';
const METRICS = '127.0.0.1:7473';

function countWrites(dir: string, prefix: string, from: number, to: number): number {
  let n = 0;
  for (const line of readFileSync(join(dir, 'audit.log'), 'utf8').split('\n')) {
    if (!line.includes(prefix)) continue;
    const e = JSON.parse(line) as { userAgent?: string; stage?: string; requestReceivedTimestamp?: string };
    if (e.stage !== 'ResponseComplete' || !e.userAgent?.startsWith(prefix)) continue;
    const t = Date.parse(e.requestReceivedTimestamp ?? '');
    if (t >= from && t <= to) n++;
  }
  return n;
}

/** CPU seconds a process has used (user + system), from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** The speaker's longest event-loop delay since the previous scrape (prom-client resets it). */
async function eventLoopMaxMs(node: LabNode): Promise<number> {
  const r = await node.ns.exec('curl', ['-s', `http://${METRICS}/metrics`]);
  const m = /^nodejs_eventloop_lag_max_seconds (\S+)$/m.exec(r.stdout);
  return m ? Number(m[1]) * 1000 : Number.NaN;
}

export const benches: Bench[] = [
  {
    name: 'mesh-real',
    unavailable: netnsUnavailable,
    async run(ctx) {
      const speakers = ctx.quick ? 10 : 30;
      const services = ctx.quick ? 500 : 5000;
      const runs = ctx.quick ? 3 : 10;
      execFileSync(
        join(REPO_ROOT, 'node_modules', '.bin', 'tsc'),
        ['-p', join(REPO_ROOT, 'tsconfig.build.json')],
        {
          stdio: 'inherit',
        },
      );
      let auditDir = '';
      const lab = await ClusterLab.start({
        tag: 'meshreal',
        nodes: speakers,
        log: ctx.log,
        apiServerArgs: (dir) => {
          auditDir = dir;
          writeFileSync(join(dir, 'audit-policy.yaml'), AUDIT_POLICY);
          return [
            `--audit-policy-file=${join(dir, 'audit-policy.yaml')}`,
            `--audit-log-path=${join(dir, 'audit.log')}`,
            '--audit-log-maxsize=0',
          ];
        },
      });
      const controller = await startController(lab.api, {
        namespace: BEACON_NS,
        loadBalancerClass: 'beacon.dev/lb',
      });
      const failover: number[] = [];
      const propagation: number[] = [];
      const cpuPercent: number[] = [];
      const rss: number[] = [];
      const stalls: number[] = [];
      let writesPerSecond = Number.NaN;
      let cutUnanswered = 0;
      let rotationUnanswered = 0;
      const args = ['--log-level=info', `--metrics-addr=${METRICS}`];
      try {
        await lab.client.must('ip', ['route', 'add', BULK_POOL, 'dev', 'eth0']);
        await createPool(lab.rest, BEACON_NS, 'probe', { addresses: ['192.0.2.128/26'] });
        await createPool(lab.rest, BEACON_NS, 'bulk', { addresses: [BULK_POOL] });
        await createBeaconObject(lab.rest, BEACON_NS, 'L2Advertisement', 'all', {});
        await ensureNamespace(lab.rest, 'bench');
        ctx.log(`starting ${speakers} speakers`);
        for (const n of lab.nodes) lab.startSpeaker(n, args, true);
        await lab.waitForSpeakersSynced();
        const all = lab.nodes.map((n) => n.name);
        ctx.log(`creating ${services} Services with endpoints on every node`);
        let next = 0;
        await Promise.all(
          Array.from({ length: 8 }, async () => {
            while (next < services) {
              const name = `s${next++}`;
              await createSurely(lab.rest, '/api/v1/namespaces/bench/services', {
                ...serviceManifest('bench', name, undefined),
                metadata: { name, namespace: 'bench', annotations: { 'beacon.dev/address-pool': 'bulk' } },
              });
              await setEndpoints(lab.rest, 'bench', name, all, BULK_WRITE);
            }
          }),
        );
        await waitFor(
          'every bulk Service answered',
          async () => {
            const list = await lab.rest.get<{ items: unknown[] }>(
              `/apis/beacon.dev/v1alpha1/namespaces/${BEACON_NS}/servicel2statuses`,
            );
            return list.items.length >= services;
          },
          1_200_000,
          2000,
        );

        // Steady state: API writes, CPU, memory, event-loop delay.
        await new Promise((r) => setTimeout(r, 10_000));
        for (const n of lab.nodes) await eventLoopMaxMs(n);
        const window = ctx.quick ? 20_000 : 60_000;
        const from = Date.now();
        const cpuBefore = lab.nodes.map((n) => cpuSeconds(n.speaker!.child.pid!));
        await new Promise((r) => setTimeout(r, window));
        writesPerSecond = countWrites(auditDir, 'beacon-speaker/', from, Date.now()) / (window / 1000);
        lab.nodes.forEach((n, i) => {
          cpuPercent.push(((cpuSeconds(n.speaker!.child.pid!) - cpuBefore[i]!) / (window / 1000)) * 100);
          rss.push(rssMB(n.speaker!.child.pid!));
        });
        for (const n of lab.nodes) stalls.push(await eventLoopMaxMs(n));
        ctx.log(
          `steady state: ${writesPerSecond.toFixed(2)} writes/s, CPU p50 ${percentile(cpuPercent, 50).toFixed(2)} %`,
        );

        // A new Service: from the controller's status write to the owner's first answer.
        for (let i = 0; i < runs; i++) {
          const name = `p${i}`;
          await lab.rest.create('/api/v1/namespaces/bench/services', {
            ...serviceManifest('bench', name, undefined),
            metadata: { name, namespace: 'bench', annotations: { 'beacon.dev/address-pool': 'probe' } },
          });
          await setEndpoints(lab.rest, 'bench', name, all);
          const [address] = await waitForIngress(lab.rest, 'bench', name);
          const assigned = Date.now();
          // Asked every 5 ms until the first answer (-C 1): asking once a second made this figure a
          // multiple of the asking period, not the speakers' time.
          const r = await lab.client.exec(
            'arping',
            ['-C', '1', '-W', '0.005', '-w', '20', '-i', 'eth0', address!],
            30_000,
          );
          if (!/1 packets received/.test(r.stdout)) throw new Error(`${address} never answered: ${r.stdout}`);
          propagation.push(Date.now() - assigned);
        }

        // Failover after SIGKILL of the probe address's owner.
        const [probe] = await waitForIngress(lab.rest, 'bench', 'p0');
        failover.push(
          ...(await failoverAfterKill(lab, probe!, {
            runs,
            speakerArgs: args,
            ownerWaitMs: 30_000,
            report: (run, ms) => ctx.log(`failover ${run}: ${ms} ms`),
          })),
        );

        // A one-way cut and key rotations: the probe asked every 100 ms, unanswered requests counted.
        const ask = async (ms: number): Promise<number> => {
          const r = await lab.client.exec(
            'arping',
            ['-c', String(ms / 100), '-i', 'eth0', '-W', '0.1', probe!],
            ms + 10_000,
          );
          // Debian's arping (Thomas Habets'): "N packets transmitted, M packets received". A summary not
          // found is an error, never a count of unanswered requests.
          const sent = /(\d+) packets transmitted/.exec(r.stdout)?.[1];
          const got = /(\d+) packets received/.exec(r.stdout)?.[1];
          if (sent === undefined || got === undefined) throw new Error(`arping gave no summary: ${r.stdout}`);
          return Math.max(0, Number(sent) - Number(got));
        };
        const owner = (await arpOwner(lab, probe!))!;
        const neighbour = lab.nodes[(lab.nodes.indexOf(owner) + 1) % lab.nodes.length]!;
        await owner.ns.must('ip', ['route', 'add', 'blackhole', `${neighbour.ip}/32`]);
        cutUnanswered = await ask(5000);
        await owner.ns.must('ip', ['route', 'del', 'blackhole', `${neighbour.ip}/32`]);
        const asking = ask(20_000);
        for (const n of lab.nodes.slice(0, 5)) {
          n.speaker!.child.kill('SIGUSR2');
          await new Promise((r) => setTimeout(r, 1000));
        }
        rotationUnanswered = await asking;
      } finally {
        await controller.stop();
        await lab.stop();
      }
      return [
        {
          name: 'mesh-real.failover_p50',
          unit: 'ms',
          samples: [percentile(failover, 50)],
          description: `${speakers} speakers, ${services} Services: owner SIGKILLed -> client's neighbour entry moved (p50 of ${failover.length})`,
          aim: '< 500 ms',
        },
        {
          name: 'mesh-real.failover_p99',
          unit: 'ms',
          samples: [percentile(failover, 99)],
          description: 'the same, p99',
          aim: '< 1000 ms',
        },
        {
          name: 'mesh-real.service_to_answer',
          unit: 'ms',
          samples: propagation,
          description: `a new Service's address, controller's write -> first ARP answer (${speakers} speakers)`,
          aim: '< 100 ms',
        },
        {
          name: 'mesh-real.idle_cpu',
          unit: 'percent',
          samples: cpuPercent,
          description: "each speaker's CPU in steady state (one sample per speaker)",
          aim: '< 2 %',
        },
        {
          name: 'mesh-real.rss',
          unit: 'MB',
          samples: rss,
          description: `each speaker's resident memory with ${services + runs} addresses`,
        },
        {
          name: 'mesh-real.api_writes_per_s',
          unit: 'per_s',
          samples: [writesPerSecond],
          description: `API writes per second by all ${speakers} speakers in steady state (audit log)`,
          aim: `<= ${(speakers / 60).toFixed(1)} (one per node per minute)`,
        },
        {
          name: 'mesh-real.event_loop_max',
          unit: 'ms',
          samples: stalls,
          description: 'longest event-loop delay per speaker over the steady-state minute',
        },
        {
          name: 'mesh-real.unanswered_one_way_cut',
          unit: 'count',
          samples: [cutUnanswered],
          description:
            'ARP requests for the probe unanswered while its owner could not reach a neighbour (of 50)',
          aim: '0',
        },
        {
          name: 'mesh-real.unanswered_key_rotations',
          unit: 'count',
          samples: [rotationUnanswered],
          description: 'ARP requests for the probe unanswered while 5 speakers rotated their keys (of 200)',
          aim: '0',
        },
      ] satisfies Figure[];
    },
  },
];
