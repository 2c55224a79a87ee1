/**
 * Addresses never move because a controller restarted or a leader died: the table is rebuilt from Service
 * status before anything new is assigned, and only the Lease holder writes.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { KubeRest } from '../../src/k8s/rest.ts';
import { type ApiServer, freePort, startApiServer } from '../harness/apiserver.ts';
import { REPO_ROOT } from '../harness/binaries.ts';
import { installCrds } from '../harness/crds.ts';
import {
  adminRest,
  createPool,
  createService,
  ensureNamespace,
  getService,
  ingressOf,
  startController,
  waitForIngress,
} from '../harness/kube.ts';
import { spawnTethered, type TetheredProcess, waitFor } from '../harness/process.ts';

let api: ApiServer;
let rest: KubeRest;
before(async () => {
  api = await startApiServer();
  await installCrds(api);
  rest = await adminRest(api);
});
after(() => api?.stop());

async function addressesOf(ns: string, cls: string): Promise<Map<string, string[]>> {
  const list = await rest.get<{ items: import('@kubernetes/client-node').V1Service[] }>(
    `/api/v1/namespaces/${ns}/services`,
  );
  return new Map(
    list.items.filter((s) => s.spec?.loadBalancerClass === cls).map((s) => [s.metadata!.name!, ingressOf(s)]),
  );
}

async function createMany(ns: string, cls: string, names: string[], parallel = 32): Promise<void> {
  for (let i = 0; i < names.length; i += parallel) {
    await Promise.all(names.slice(i, i + parallel).map((name) => createService(rest, ns, name, cls)));
  }
}

test('a restart with 1,000 assigned Services moves none, even with holes in the pool and new Services waiting', {
  timeout: 240_000,
}, async () => {
  const [config, ns, cls] = ['restart-cfg', 'restart-app', 'beacon.dev/restart'];
  await ensureNamespace(rest, config);
  await ensureNamespace(rest, ns);
  await createPool(rest, config, 'big', { addresses: ['198.18.0.0/22'] });
  const names = Array.from({ length: 1000 }, (_, i) => `svc-${i}`);
  let ctl = await startController(api, { namespace: config, loadBalancerClass: cls });
  await createMany(ns, cls, names);
  await waitFor(
    '1,000 Services assigned',
    async () => [...(await addressesOf(ns, cls)).values()].filter((a) => a.length).length === 1000,
    120_000,
    500,
  );
  await ctl.controller.idle();
  await ctl.stop();
  // Holes: a renumbering allocator would now hand these out first-fit to the wrong Services.
  for (const i of [3, 100, 500]) await rest.delete(`/api/v1/namespaces/${ns}/services/svc-${i}`);
  const before = await addressesOf(ns, cls);
  // Created while no controller runs: must get a hole or a fresh address, never someone else's.
  await createMany(ns, cls, ['late-1', 'late-2', 'late-3', 'late-4']);

  ctl = await startController(api, { namespace: config, loadBalancerClass: cls, identity: 'second' });
  for (const late of ['late-1', 'late-2', 'late-3', 'late-4']) await waitForIngress(rest, ns, late);
  await ctl.controller.idle();
  const afterRestart = await addressesOf(ns, cls);
  await ctl.stop();
  let moved = 0;
  for (const [name, ips] of before) {
    if (name.startsWith('late-')) continue;
    if (JSON.stringify(afterRestart.get(name)) !== JSON.stringify(ips)) moved++;
  }
  assert.equal(moved, 0, 'addresses moved across a controller restart');
  const all = [...afterRestart.values()].flat();
  assert.equal(new Set(all).size, all.length, 'an address is held by two Services');
});

function spawnController(identity: string, config: string, cls: string): TetheredProcess {
  return spawnTethered(`controller-${identity}`, join(REPO_ROOT, 'node_modules', '.bin', 'node'), [
    join(REPO_ROOT, 'src', 'cli', 'main.ts'),
    'controller',
    `--kubeconfig=${api.kubeconfigPath}`,
    `--namespace=${config}`,
    `--load-balancer-class=${cls}`,
    `--identity=${identity}`,
    '--lease-duration=2',
    '--log-level=info',
  ]);
}

function assignedIn(p: TetheredProcess, service: string): boolean {
  return p
    .tail()
    .split('\n')
    .some((l) => l.includes('"msg":"assigned"') && l.includes(`"service":"${service}"`));
}

test('two controllers: only the leader writes; kill it and the standby takes over within seconds', {
  timeout: 120_000,
}, async () => {
  const [config, ns, cls] = ['ha-cfg', 'ha-app', 'beacon.dev/ha'];
  await ensureNamespace(rest, config);
  await ensureNamespace(rest, ns);
  await createPool(rest, config, 'pool', { addresses: ['192.0.2.0/28'] });
  const a = spawnController('a', config, cls);
  const b = spawnController('b', config, cls);
  try {
    await waitFor(
      'one leader',
      () => a.tail().includes('became leader') || b.tail().includes('became leader'),
      30_000,
      100,
    );
    const [leader, standby] = a.tail().includes('became leader') ? [a, b] : [b, a];
    await createService(rest, ns, 'one', cls);
    await waitForIngress(rest, ns, 'one');
    await waitFor('the leader logs the assignment', () => assignedIn(leader, `${ns}/one`), 5000);
    assert.equal(assignedIn(standby, `${ns}/one`), false, 'the standby wrote too');
    assert.equal(standby.tail().includes('became leader'), false);

    leader.child.kill('SIGKILL');
    await leader.exited;
    const killedAt = Date.now();
    await createService(rest, ns, 'two', cls);
    await waitForIngress(rest, ns, 'two', undefined, 20_000);
    const takeoverMs = Date.now() - killedAt;
    // The status can be visible before the controller's log lines about it have reached this process.
    await waitFor('the new leader logs the assignment', () => assignedIn(standby, `${ns}/two`), 5000);
    assert.ok(standby.tail().includes('became leader'));
    // Bounded by the test's own timeout only; the figure itself is measured in the benchmarks.
    process.stdout.write(`# standby served a new Service ${takeoverMs} ms after the leader was killed\n`);
    const one = ingressOf(await getService(rest, ns, 'one'));
    assert.deepEqual(one, ['192.0.2.0'], 'the first Service kept its address across the takeover');
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
});

test('--metrics-addr serves /healthz, /readyz and Prometheus metrics of pools and refusals', {
  timeout: 60_000,
}, async () => {
  const [config, ns, cls] = ['metrics-cfg', 'metrics-app', 'beacon.dev/metrics'];
  await ensureNamespace(rest, config);
  await ensureNamespace(rest, ns);
  await createPool(rest, config, 'tiny', { addresses: ['192.0.2.1-192.0.2.1'] });
  const port = await freePort();
  const p = spawnTethered('controller-metrics', join(REPO_ROOT, 'node_modules', '.bin', 'node'), [
    join(REPO_ROOT, 'src', 'cli', 'main.ts'),
    'controller',
    `--kubeconfig=${api.kubeconfigPath}`,
    `--namespace=${config}`,
    `--load-balancer-class=${cls}`,
    `--metrics-addr=127.0.0.1:${port}`,
  ]);
  try {
    const url = `http://127.0.0.1:${port}`;
    await waitFor(
      '/readyz',
      async () => (await fetch(`${url}/readyz`)).status === 200,
      20_000,
      100,
      () => p.tail(),
    );
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    await createService(rest, ns, 'a', cls);
    await createService(rest, ns, 'b', cls);
    await waitForIngress(rest, ns, 'a', undefined, 20_000);
    await waitFor(
      'metrics',
      async () => {
        const text = await (await fetch(`${url}/metrics`)).text();
        return (
          text.includes('beacon_controller_addresses_in_use{pool="tiny",family="ipv4"} 1') &&
          text.includes('beacon_controller_addresses_available{pool="tiny",family="ipv4"} 0') &&
          /beacon_controller_allocation_failures_total\{reason="PoolExhausted"\} [1-9]/.test(text) &&
          text.includes('beacon_controller_reconcile_duration_seconds_bucket') &&
          text.includes('beacon_controller_is_leader 1')
        );
      },
      20_000,
    );
  } finally {
    await p.stop();
  }
});
