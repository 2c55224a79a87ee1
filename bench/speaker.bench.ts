/**
 * Speaker figures on the namespace cluster: L2 failover after SIGKILL (client's neighbour entry updated),
 * API writes per second by all speakers in steady state with 1,000 announced addresses (counted from the
 * API server's audit log), and one speaker's RSS with 10,000 addresses.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../test/harness/binaries.ts';
import { BEACON_NS, ClusterLab, setEndpoints } from '../test/harness/cluster-lab.ts';
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
import { auditedRequests, auditLogArgs, auditLogFiles, WRITE_VERBS } from './audit.ts';
import { BULK_WRITE, createSurely } from './bulk-create.ts';
import type { Bench, Figure } from './figures.ts';
import { failoverAfterKill } from './l2-failover.ts';

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
rules:
- level: Metadata
  verbs: [create, update, patch, delete]
- level: None
`;

/** Writes by user agents starting with `prefix` in the audit log, between two times. */
async function countWrites(dir: string, prefix: string, from: number, to: number): Promise<number> {
  const requests = await auditedRequests(dir, prefix, from, to);
  return requests.filter((e) => WRITE_VERBS.includes(e.verb ?? '')).length;
}

/** A line of /proc/PID/status in MB: VmRSS (all resident pages) or RssAnon (the process's own). */
function statusMB(pid: number, field: 'VmRSS' | 'RssAnon'): number {
  const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

async function createServices(
  lab: ClusterLab,
  ns: string,
  first: number,
  count: number,
  parallel = 32,
): Promise<string[]> {
  const names = Array.from({ length: count }, (_, i) => `s${first + i}`);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      while (next < names.length) {
        const name = names[next++]!;
        await createSurely(
          lab.rest,
          `/api/v1/namespaces/${ns}/services`,
          serviceManifest(ns, name, undefined),
        );
        await setEndpoints(
          lab.rest,
          ns,
          name,
          lab.nodes.map((n) => n.name),
          BULK_WRITE,
        );
      }
    }),
  );
  return names;
}

const SPEAKER_ARGS = ['--log-level=info'];

export const benches: Bench[] = [
  {
    name: 'speaker',
    unavailable: netnsUnavailable,
    async run(ctx) {
      const runs = ctx.quick ? 3 : 10;
      // 1,001 Services: the size at which issue 11 measured MetalLB's speaker (87 MB) beside Beacon's.
      const steadyAddresses = ctx.quick ? 200 : 1001;
      const rssAddresses = ctx.quick ? 2000 : 10_000;
      const failover: number[] = [];
      const writes: number[] = [];
      const rss: number[] = [];
      const steadyRss: number[] = [];
      const anon: number[] = [];
      let auditDir = '';
      ctx.log('compiling dist/ (speakers run the compiled JavaScript, as in production)');
      execFileSync(
        join(REPO_ROOT, 'node_modules', '.bin', 'tsc'),
        ['-p', join(REPO_ROOT, 'tsconfig.build.json')],
        { stdio: 'inherit' },
      );
      const lab = await ClusterLab.start({
        tag: 'benchspk',
        nodes: 3,
        log: ctx.log,
        apiServerArgs: (dir) => {
          auditDir = dir;
          return auditLogArgs(dir, AUDIT_POLICY);
        },
      });
      const controller = await startController(lab.api, {
        namespace: BEACON_NS,
        loadBalancerClass: 'beacon.dev/lb',
      });
      try {
        await createPool(lab.rest, BEACON_NS, 'l2', {
          addresses: ['192.0.2.128/25', '2001:db8::1000-2001:db8::ffff', '203.0.113.0/24', '198.19.0.0/16'],
        });
        await createBeaconObject(lab.rest, BEACON_NS, 'L2Advertisement', 'all', {});
        await ensureNamespace(lab.rest, 'bench');
        for (const n of lab.nodes) lab.startSpeaker(n, SPEAKER_ARGS, true);
        await lab.waitForSpeakersSynced();
        await lab.rest.create(
          '/api/v1/namespaces/bench/services',
          serviceManifest('bench', 'probe', undefined),
        );
        await setEndpoints(
          lab.rest,
          'bench',
          'probe',
          lab.nodes.map((n) => n.name),
        );
        const [address] = await waitForIngress(lab.rest, 'bench', 'probe');

        failover.push(
          ...(await failoverAfterKill(lab, address!, {
            runs,
            speakerArgs: SPEAKER_ARGS,
            ownerWaitMs: 20_000,
            report: (run, ms) => ctx.log(`run ${run}: client's neighbour entry moved ${ms} ms after SIGKILL`),
          })),
        );

        ctx.log(`creating ${steadyAddresses} Services for the steady-state write count`);
        await createServices(lab, 'bench', 0, steadyAddresses - 1);
        await waitFor(
          'all assigned and announced',
          async () => {
            const list = await lab.rest.get<{ items: unknown[] }>(
              `/apis/beacon.dev/v1alpha1/namespaces/${BEACON_NS}/servicel2statuses`,
            );
            return list.items.length >= steadyAddresses;
          },
          300_000,
          1000,
        );
        await new Promise((r) => setTimeout(r, 5000));
        const window = ctx.quick ? 20_000 : 60_000;
        const from = Date.now();
        await new Promise((r) => setTimeout(r, window));
        const n = await countWrites(auditDir, 'beacon-speaker/', from, Date.now());
        ctx.log(`audit log: ${auditLogFiles(auditDir).length} file(s) read`);
        writes.push(n / (window / 1000));
        for (const node of lab.nodes) steadyRss.push(statusMB(node.speaker!.child.pid!, 'VmRSS'));
        ctx.log(
          `steady state: ${n} writes by 3 speakers in ${window / 1000} s with ${steadyAddresses} addresses`,
        );

        ctx.log(`growing to ${rssAddresses} addresses for the memory figure`);
        await createServices(lab, 'bench', steadyAddresses, rssAddresses - steadyAddresses);
        await waitFor(
          'all announced',
          async () => {
            const list = await lab.rest.get<{ items: unknown[] }>(
              `/apis/beacon.dev/v1alpha1/namespaces/${BEACON_NS}/servicel2statuses`,
            );
            return list.items.length >= rssAddresses;
          },
          900_000,
          2000,
        );
        await new Promise((r) => setTimeout(r, 5000));
        for (const node of lab.nodes) {
          // A speaker that ran out of memory is a result, not a crash of the benchmark.
          if (node.speaker!.hasExited())
            throw new Error(
              `${node.name}'s speaker died at ${rssAddresses} addresses:\n${node.speaker!.tail()}`,
            );
          rss.push(statusMB(node.speaker!.child.pid!, 'VmRSS'));
          anon.push(statusMB(node.speaker!.child.pid!, 'RssAnon'));
        }
      } finally {
        await controller.stop();
        await lab.stop();
      }
      const out: Figure[] = [
        {
          name: 'speaker.l2_failover_after_sigkill',
          unit: 'ms',
          samples: failover,
          description:
            "owner's speaker SIGKILLed -> client's neighbour entry points at the new owner (MetalLB: 5-8 s with defaults)",
          aim: '< 1000 ms',
        },
        {
          name: `speaker.api_writes_per_s_${steadyAddresses}_addresses`,
          unit: 'per_s',
          samples: writes,
          description: 'API writes per second by all 3 speakers in steady state (audit log)',
          aim: '<= 0.05 per s (one per node per minute)',
        },
        {
          name: `speaker.rss_${steadyAddresses}_services`,
          unit: 'MB',
          samples: steadyRss,
          description: `each speaker's resident memory in steady state with ${steadyAddresses} Services (MetalLB v0.16.1 speaker: 87 MB)`,
          aim: '<= 87 MB',
        },
        {
          name: `speaker.rss_${rssAddresses}_addresses`,
          unit: 'MB',
          samples: rss,
          description: `each speaker's resident memory with ${rssAddresses} announced addresses (one sample per node)`,
          aim: '< 100 MB',
        },
        {
          name: `speaker.private_memory_${rssAddresses}_addresses`,
          unit: 'MB',
          samples: anon,
          description:
            "the anonymous part of that RSS, the speaker's own; the rest is the Node binary's file-backed pages, shared with every Node process on the host and reclaimable",
        },
      ];
      return out;
    },
  },
];
