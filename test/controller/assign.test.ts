/**
 * The controller against a real API server: what a Service gets, what it keeps, and what a person reads in
 * its Events when Beacon refuses. Each test runs its own controller for its own load-balancer class and
 * config namespace, so tests never see each other's Services or pools.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import type { KubeRest } from '../../src/k8s/rest.ts';
import { type ApiServer, startApiServer } from '../harness/apiserver.ts';
import { installCrds } from '../harness/crds.ts';
import {
  adminRest,
  createBeaconObject,
  createPool,
  createService,
  ensureNamespace,
  eventsFor,
  getService,
  type RunningController,
  startController,
  waitForEvent,
  waitForIngress,
} from '../harness/kube.ts';
import { waitFor } from '../harness/process.ts';

let api: ApiServer;
let rest: KubeRest;
let running: RunningController | undefined;
let n = 0;

before(async () => {
  api = await startApiServer();
  await installCrds(api);
  rest = await adminRest(api);
});
afterEach(async () => {
  await running?.stop();
  running = undefined;
});
after(() => api?.stop());

/** A fresh config namespace, app namespace and class, with a running controller. */
async function setup(pools: Record<string, Record<string, unknown>>, nsLabels: Record<string, string> = {}) {
  n++;
  const config = `cfg-${n}`;
  const ns = `app-${n}`;
  const cls = `beacon.dev/t${n}`;
  await ensureNamespace(rest, config);
  await ensureNamespace(rest, ns, nsLabels);
  for (const [name, spec] of Object.entries(pools)) await createPool(rest, config, name, spec);
  running = await startController(api, { namespace: config, loadBalancerClass: cls });
  return { config, ns, cls };
}

test('a Service gets an address from the pool, the pool annotation, and an IPAllocated Event', async () => {
  const { ns, cls } = await setup({ blue: { addresses: ['192.0.2.0/30'] } });
  await createService(rest, ns, 'web', cls);
  const [ip] = await waitForIngress(rest, ns, 'web');
  assert.equal(ip, '192.0.2.0');
  await waitFor(
    'pool annotation',
    async () =>
      (await getService(rest, ns, 'web')).metadata?.annotations?.['beacon.dev/ip-allocated-from-pool'] ===
      'blue',
    10_000,
  );
  const ev = await waitForEvent(rest, ns, 'web', 'IPAllocated');
  assert.equal(ev.type, 'Normal');
  assert.match(ev.message, /192\.0\.2\.0 from pool blue/);
});

test('requested addresses: spec.loadBalancerIP, Beacon and MetalLB annotations', async () => {
  const { ns, cls } = await setup({ blue: { addresses: ['192.0.2.0/28', '2001:db8::/124'] } });
  await createService(rest, ns, 'legacy', cls, { spec: { loadBalancerIP: '192.0.2.7' } });
  await createService(rest, ns, 'beacon', cls, {
    annotations: { 'beacon.dev/load-balancer-ips': '192.0.2.9' },
  });
  await createService(rest, ns, 'metallb', cls, {
    annotations: { 'metallb.universe.tf/loadBalancerIPs': '192.0.2.11' },
  });
  await createService(rest, ns, 'metallbio', cls, {
    annotations: { 'metallb.io/loadBalancerIPs': '192.0.2.12' },
  });
  assert.deepEqual(await waitForIngress(rest, ns, 'legacy'), ['192.0.2.7']);
  assert.deepEqual(await waitForIngress(rest, ns, 'beacon'), ['192.0.2.9']);
  assert.deepEqual(await waitForIngress(rest, ns, 'metallb'), ['192.0.2.11']);
  assert.deepEqual(await waitForIngress(rest, ns, 'metallbio'), ['192.0.2.12']);
});

test('dual-stack: RequireDualStack gets one address per family, in the order of ipFamilies', async () => {
  const { ns, cls } = await setup({ dual: { addresses: ['192.0.2.0/29', '2001:db8:1::/125'] } });
  await createService(rest, ns, 'dual', cls, {
    spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv6', 'IPv4'] },
  });
  assert.deepEqual(await waitForIngress(rest, ns, 'dual', (ips) => ips.length === 2), [
    '2001:db8:1::',
    '192.0.2.0',
  ]);
  await createService(rest, ns, 'both', cls, {
    spec: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'] },
    annotations: { 'beacon.dev/load-balancer-ips': '192.0.2.5,2001:db8:1::5' },
  });
  assert.deepEqual(await waitForIngress(rest, ns, 'both', (ips) => ips.length === 2), [
    '192.0.2.5',
    '2001:db8:1::5',
  ]);
});

test('sharing: same key and disjoint ports share one address; a clashing port is refused, naming the port', async () => {
  const { ns, cls } = await setup({ blue: { addresses: ['192.0.2.0/28'] } });
  const share = { 'beacon.dev/allow-shared-ip': 'frontend' };
  await createService(rest, ns, 'http', cls, { annotations: share, ports: [{ port: 80 }] });
  const [ip] = await waitForIngress(rest, ns, 'http');
  await createService(rest, ns, 'dns', cls, {
    annotations: { ...share, 'beacon.dev/load-balancer-ips': ip! },
    ports: [{ port: 53, protocol: 'UDP' }],
  });
  assert.deepEqual(await waitForIngress(rest, ns, 'dns'), [ip]);
  await createService(rest, ns, 'http2', cls, {
    annotations: { ...share, 'beacon.dev/load-balancer-ips': ip! },
    ports: [{ port: 80 }],
  });
  const ev = await waitForEvent(rest, ns, 'http2', 'SharingConflict');
  assert.equal(ev.type, 'Warning');
  assert.match(ev.message, /80\/TCP/);
  assert.match(ev.message, new RegExp(`${ns}/http`));
  assert.deepEqual((await getService(rest, ns, 'http2')).status?.loadBalancer?.ingress ?? [], []);
});

test('class filtering: Services of another class are left alone, no class and our class are served', async () => {
  const { ns, cls } = await setup({ blue: { addresses: ['192.0.2.0/28'] } });
  await createService(rest, ns, 'ours', cls);
  await createService(rest, ns, 'theirs', 'example.com/other-lb');
  await createService(rest, ns, 'plain', undefined);
  await waitForIngress(rest, ns, 'ours');
  await waitForIngress(rest, ns, 'plain');
  await running!.controller.idle();
  assert.deepEqual((await getService(rest, ns, 'theirs')).status?.loadBalancer?.ingress ?? [], []);
  // The unclassed Service would be served by every later test's controller too.
  await rest.delete(`/api/v1/namespaces/${ns}/services/plain`);
});

test('type change away from LoadBalancer and deletion free the address for the next Service', async () => {
  const { ns, cls } = await setup({ tiny: { addresses: ['192.0.2.8-192.0.2.8'] } });
  await createService(rest, ns, 'a', cls);
  assert.deepEqual(await waitForIngress(rest, ns, 'a'), ['192.0.2.8']);
  await createService(rest, ns, 'b', cls);
  await waitForEvent(rest, ns, 'b', 'PoolExhausted');
  await rest.patch(`/api/v1/namespaces/${ns}/services/a`, 'merge', {
    spec: { type: 'ClusterIP', loadBalancerClass: null, allocateLoadBalancerNodePorts: null },
  });
  assert.deepEqual(await waitForIngress(rest, ns, 'b'), ['192.0.2.8']);
  await rest.delete(`/api/v1/namespaces/${ns}/services/b`);
  await createService(rest, ns, 'c', cls);
  assert.deepEqual(await waitForIngress(rest, ns, 'c'), ['192.0.2.8']);
});

test('every refusal is a Warning Event a person can act on, and the existing address stays', async () => {
  const { ns, cls } = await setup({
    small: { addresses: ['192.0.2.0/31'] },
    other: { addresses: ['198.51.100.0/30'], autoAssign: false },
  });
  await createService(rest, ns, 'holder', cls, {
    annotations: { 'beacon.dev/load-balancer-ips': '192.0.2.1' },
  });
  assert.deepEqual(await waitForIngress(rest, ns, 'holder'), ['192.0.2.1']);
  await createService(rest, ns, 'first', cls);
  assert.deepEqual(await waitForIngress(rest, ns, 'first'), ['192.0.2.0']);

  await createService(rest, ns, 'exhausted', cls);
  assert.match((await waitForEvent(rest, ns, 'exhausted', 'PoolExhausted')).message, /small/);

  await createService(rest, ns, 'taken', cls, {
    annotations: { 'beacon.dev/load-balancer-ips': '192.0.2.1' },
  });
  assert.match(
    (await waitForEvent(rest, ns, 'taken', 'AddressInUse')).message,
    new RegExp(`192\\.0\\.2\\.1.*${ns}/holder`),
  );

  await createService(rest, ns, 'outside', cls, {
    annotations: { 'beacon.dev/load-balancer-ips': '203.0.113.5' },
  });
  assert.match((await waitForEvent(rest, ns, 'outside', 'AddressNotInPool')).message, /203\.0\.113\.5/);

  await createService(rest, ns, 'nopool', cls, { annotations: { 'beacon.dev/address-pool': 'missing' } });
  assert.match((await waitForEvent(rest, ns, 'nopool', 'UnknownPool')).message, /missing/);

  // A Service that holds an address and then asks for a taken one keeps what it has.
  await rest.patch(`/api/v1/namespaces/${ns}/services/first`, 'merge', {
    metadata: { annotations: { 'beacon.dev/load-balancer-ips': '192.0.2.1' } },
  });
  assert.match((await waitForEvent(rest, ns, 'first', 'AddressInUse')).message, /holder/);
  assert.deepEqual(
    (await getService(rest, ns, 'first')).status?.loadBalancer?.ingress?.map((i) => i.ip),
    ['192.0.2.0'],
  );
  // Asking for the non-auto pool by name works.
  await createService(rest, ns, 'named', cls, { annotations: { 'metallb.io/address-pool': 'other' } });
  assert.deepEqual(await waitForIngress(rest, ns, 'named'), ['198.51.100.0']);
  for (const e of await eventsFor(rest, ns, 'exhausted')) assert.equal(e.type, 'Warning');
});

test('deleting or shrinking a pool in use keeps the address and warns; the pool status shows the counts', async () => {
  const { config, ns, cls } = await setup({
    keep: { addresses: ['192.0.2.0/29'] },
    gone: { addresses: ['198.51.100.0/29'] },
  });
  await createService(rest, ns, 'x', cls, { annotations: { 'beacon.dev/address-pool': 'gone' } });
  await createService(rest, ns, 'y', cls, { annotations: { 'beacon.dev/load-balancer-ips': '192.0.2.6' } });
  assert.deepEqual(await waitForIngress(rest, ns, 'x'), ['198.51.100.0']);
  assert.deepEqual(await waitForIngress(rest, ns, 'y'), ['192.0.2.6']);
  await waitFor(
    'pool status counts',
    async () => {
      const p = await rest.get<{ status?: Record<string, number> }>(
        `/apis/beacon.dev/v1alpha1/namespaces/${config}/ipaddresspools/keep`,
      );
      return p.status?.assignedIPv4 === 1 && p.status?.availableIPv4 === 7;
    },
    10_000,
  );
  await rest.delete(`/apis/beacon.dev/v1alpha1/namespaces/${config}/ipaddresspools/gone`);
  const ev = await waitForEvent(rest, ns, 'x', 'AddressNotInPool');
  assert.match(ev.message, /keeps 198\.51\.100\.0, which is no longer in any IPAddressPool/);
  await rest.patch(`/apis/beacon.dev/v1alpha1/namespaces/${config}/ipaddresspools/keep`, 'merge', {
    spec: { addresses: ['192.0.2.0/30'] },
  });
  await waitForEvent(rest, ns, 'y', 'AddressNotInPool');
  await running!.controller.idle();
  assert.deepEqual(
    (await getService(rest, ns, 'x')).status?.loadBalancer?.ingress?.map((i) => i.ip),
    ['198.51.100.0'],
  );
  assert.deepEqual(
    (await getService(rest, ns, 'y')).status?.loadBalancer?.ingress?.map((i) => i.ip),
    ['192.0.2.6'],
  );
});

test('pool priority and namespace selectors decide which pool a Service draws from', async () => {
  const { ns, cls } = await setup(
    {
      'a-low': { addresses: ['192.0.2.0/30'], serviceAllocation: { priority: 20 } },
      'b-high': { addresses: ['198.51.100.0/30'], serviceAllocation: { priority: 10 } },
      'c-team': {
        addresses: ['203.0.113.0/30'],
        serviceAllocation: { priority: 1, namespaceSelectors: [{ matchLabels: { team: 'red' } }] },
      },
    },
    { team: 'blue' },
  );
  await createService(rest, ns, 'svc', cls);
  assert.deepEqual(await waitForIngress(rest, ns, 'svc'), ['198.51.100.0']);
  await rest.patch(`/api/v1/namespaces/${ns}`, 'merge', { metadata: { labels: { team: 'red' } } });
  await createService(rest, ns, 'svc2', cls);
  assert.deepEqual(await waitForIngress(rest, ns, 'svc2'), ['203.0.113.0']);
  // The first Service does not move because a better pool became eligible.
  assert.deepEqual(
    (await getService(rest, ns, 'svc')).status?.loadBalancer?.ingress?.map((i) => i.ip),
    ['198.51.100.0'],
  );
});

test('overlapping pools show as a condition on both pools and a Warning Event', async () => {
  const { config } = await setup({
    one: { addresses: ['192.0.2.0/28'] },
    two: { addresses: ['192.0.2.8/29'] },
  });
  for (const name of ['one', 'two']) {
    await waitFor(
      `${name} Overlapping condition`,
      async () => {
        const p = await rest.get<{
          status?: { conditions?: { type: string; status: string; message: string }[] };
        }>(`/apis/beacon.dev/v1alpha1/namespaces/${config}/ipaddresspools/${name}`);
        const c = p.status?.conditions?.find((x) => x.type === 'Overlapping');
        return c?.status === 'True' && c.message.includes(name === 'one' ? 'two' : 'one');
      },
      10_000,
    );
  }
  await waitForEvent(rest, config, 'one', 'PoolOverlap');
});

test('an advertisement naming a missing pool gets a Warning Event', async () => {
  const { config } = await setup({ real: { addresses: ['192.0.2.0/28'] } });
  await createBeaconObject(rest, config, 'L2Advertisement', 'adv', { ipAddressPools: ['real', 'imaginary'] });
  const ev = await waitForEvent(rest, config, 'adv', 'PoolNotFound');
  assert.match(ev.message, /imaginary/);
  assert.doesNotMatch(ev.message, /real,/);
});
