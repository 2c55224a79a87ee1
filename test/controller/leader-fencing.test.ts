/**
 * One leader at a time (issue 13, item 2): two controllers, one behind the fault proxy. While Services
 * keep arriving and leaving, every request of the first reaches the API server late (or every answer comes
 * back late), so its renewals (and its writes) lag. It must stop leading, and stop writing, before the second may take over; the second must
 * rebuild from what the first really wrote. At no moment may an address be held by two Services, nor may
 * both controllers claim to lead. And a controller acting as leader on a stale Lease fails /healthz.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Service } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import type { KubeRest } from '../../src/k8s/rest.ts';
import { serveMetrics } from '../../src/metrics/server.ts';
import { type ApiServer, freePort, startApiServer } from '../harness/apiserver.ts';
import { installCrds } from '../harness/crds.ts';
import { type FaultProxy, startFaultProxy } from '../harness/fault-proxy.ts';
import {
  adminRest,
  createPool,
  createService,
  ensureNamespace,
  ingressOf,
  type RunningController,
  startController,
} from '../harness/kube.ts';
import { waitFor } from '../harness/process.ts';

let api: ApiServer;
let rest: KubeRest;
let proxy: FaultProxy;
before(async () => {
  api = await startApiServer();
  await installCrds(api);
  rest = await adminRest(api);
  proxy = await startFaultProxy(api);
});
after(async () => {
  await proxy?.stop();
  await api?.stop();
});

const TIMING = { leaseDurationMs: 2000, renewDeadlineMs: 1200, retryPeriodMs: 200 };

/** Addresses held by more than one Service right now (none share a key in this test). */
async function doubled(ns: string): Promise<string[]> {
  const list = await rest.get<{ items: V1Service[] }>(`/api/v1/namespaces/${ns}/services`);
  const holders = new Map<string, string[]>();
  for (const s of list.items)
    for (const ip of ingressOf(s)) holders.set(ip, [...(holders.get(ip) ?? []), s.metadata!.name!]);
  return [...holders].filter(([, h]) => h.length > 1).map(([ip, h]) => `${ip}: ${h.join(', ')}`);
}

for (const [what, fault, tag] of [
  ['requests reach the API server 1.1 s late', { requestMs: 1100 }, 'req'],
  ['answers come back 1.5 s late', { responseMs: 1500 }, 'ans'],
] as const)
  test(`the leader's ${what}: it steps down before the standby leads, and no address goes to two Services`, {
    timeout: 120_000,
  }, async () => {
    const [config, ns, cls] = [`fence-${tag}-cfg`, `fence-${tag}-app`, `beacon.dev/fence-${tag}`];
    await ensureNamespace(rest, config);
    await ensureNamespace(rest, ns);
    await createPool(rest, config, 'pool', { addresses: ['192.0.2.0/26'] });
    const running: RunningController[] = [];
    try {
      const a = await startController(
        api,
        { namespace: config, loadBalancerClass: cls, identity: 'a', ...TIMING },
        { access: proxy.access },
      );
      running.push(a);
      const b = await startController(
        api,
        { namespace: config, loadBalancerClass: cls, identity: 'b', ...TIMING },
        { waitToLead: false },
      );
      running.push(b);

      const seen = { bothLed: [] as number[], doubled: [] as string[] };
      let sampling = true;
      const leaders = (async () => {
        while (sampling) {
          if (a.controller.isLeader && b.controller.isLeader) seen.bothLed.push(Date.now());
          await sleep(5);
        }
      })();
      const snapshots = (async () => {
        while (sampling) {
          seen.doubled.push(...(await doubled(ns)));
          await sleep(100);
        }
      })();

      // Creations and deletions: a decision made from an older state differs from one made from a newer,
      // so a late write of the old leader would land on top of the new leader's.
      let created = 0;
      const deleted = new Set<string>();
      const create = async (n: number) => {
        for (let i = 0; i < n; i++) {
          await createService(rest, ns, `svc-${created++}`, cls);
          if (created % 3 === 0) {
            const victim = `svc-${created - 3}`;
            await rest.delete(`/api/v1/namespaces/${ns}/services/${victim}`);
            deleted.add(victim);
          }
          await sleep(100);
        }
      };
      await create(5);
      proxy.add({ fault: { kind: 'delay', ...fault } });
      // Services keep coming while the leadership changes hands.
      const churn = create(35);
      await waitFor('b to lead', () => b.controller.isLeader, 30_000, 20);
      await churn;
      proxy.clear();
      await waitFor(
        'every Service to have an address',
        async () => {
          const list = await rest.get<{ items: V1Service[] }>(`/api/v1/namespaces/${ns}/services`);
          return (
            list.items.length === created - deleted.size && list.items.every((s) => ingressOf(s).length === 1)
          );
        },
        30_000,
        100,
      );
      await b.controller.idle();
      sampling = false;
      await Promise.all([leaders, snapshots]);
      seen.doubled.push(...(await doubled(ns)));
      assert.deepEqual(seen.bothLed, [], 'both controllers claimed to lead at these instants');
      assert.deepEqual([...new Set(seen.doubled)], [], 'addresses held by two Services');
    } finally {
      for (const r of running) await r.stop();
    }
  });

test('a controller acting as leader on a stale Lease fails /healthz', { timeout: 60_000 }, async () => {
  const [config, cls] = ['health-cfg', 'beacon.dev/health'];
  await ensureNamespace(rest, config);
  let skew = 0;
  const ctl = await startController(api, {
    namespace: config,
    loadBalancerClass: cls,
    ...TIMING,
    now: () => Date.now() + skew,
  });
  const port = await freePort();
  const server = await serveMetrics(
    `127.0.0.1:${port}`,
    new Registry(),
    ctl.controller,
    pino({ level: 'silent' }),
  );
  try {
    const healthz = async () => {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      return { status: res.status, body: await res.text() };
    };
    assert.equal((await healthz()).status, 200);
    // The clock moves past the Lease's duration before the term's timer has run, as after a stall.
    skew = TIMING.leaseDurationMs + 500;
    const sick = await healthz();
    assert.equal(sick.status, 503);
    assert.match(sick.body, /unhealthy: acting as leader on a Lease last renewed \d+ ms ago/);
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await ctl.stop();
  }
});
