/**
 * Three `beacon speaker`s peering with a real FRR: every eligible node's route reaches FRR (ECMP), node
 * selectors and peer selection are honoured, Local policy follows the endpoints, and a killed speaker's
 * routes leave FRR's table.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  BEACON_NS,
  BGP_POOL,
  ClusterLab,
  configureRoutedBgp,
  NODE_ASN,
  setEndpoints,
} from '../harness/cluster-lab.ts';
import {
  createBeaconObject,
  createService,
  ensureNamespace,
  type RunningController,
  startController,
  waitForIngress,
} from '../harness/kube.ts';
import { linesWithDuplicateKeys } from '../harness/log-lines.ts';
import { netnsUnavailable } from '../harness/netns.ts';
import { waitFor } from '../harness/process.ts';
import type { BgpRoute } from '../harness/routers/router.ts';

const skip = await netnsUnavailable();
let lab: ClusterLab;
let controller: RunningController;
const APP = 'bgp-app';

const beaconApi = (plural: string) => `/apis/beacon.dev/v1alpha1/namespaces/${BEACON_NS}/${plural}`;

before(
  async () => {
    if (skip) return;
    lab = await ClusterLab.start({ tag: 'spkbgp', nodes: 3, router: true });
    await configureRoutedBgp(lab.rest, BGP_POOL);
    controller = await startController(lab.api, { namespace: BEACON_NS, loadBalancerClass: 'beacon.dev/lb' });
    await ensureNamespace(lab.rest, APP);
    for (const n of lab.nodes) lab.startSpeaker(n);
    await lab.waitForSpeakersSynced();
  },
  { timeout: 180_000 },
);

after(async () => {
  await controller?.stop();
  await lab?.stop();
});

const hops = (routes: BgpRoute[], prefix: string) =>
  [...new Set(routes.filter((r) => r.prefix === prefix).flatMap((r) => r.nextHops))].sort();

test('every node announces a Cluster Service: FRR holds one path per node, with the communities', {
  skip,
  timeout: 120_000,
}, async () => {
  await createService(lab.rest, APP, 'web', undefined);
  await setEndpoints(lab.rest, APP, 'web', ['node-1']);
  const [ip] = await waitForIngress(lab.rest, APP, 'web');
  const prefix = `${ip}/32`;
  const routes = await lab.router!.waitForRoutes((r) => hops(r, prefix).length === 3, 60_000, ['ipv4']);
  assert.deepEqual(hops(routes, prefix), lab.nodes.map((n) => n.ip).sort());
  const one = routes.find((r) => r.prefix === prefix)!;
  assert.deepEqual(one.communities, ['64512:100']);
  assert.deepEqual(one.largeCommunities, ['64512:1:2']);
  assert.deepEqual(one.asPath, [NODE_ASN]);
});

test('Local policy: only nodes with an endpoint announce, and the set follows the endpoints', {
  skip,
  timeout: 120_000,
}, async () => {
  await createService(lab.rest, APP, 'local', undefined, { spec: { externalTrafficPolicy: 'Local' } });
  const [ip] = await waitForIngress(lab.rest, APP, 'local');
  const prefix = `${ip}/32`;
  await setEndpoints(lab.rest, APP, 'local', ['node-2']);
  await lab.router!.waitForRoutes((r) => hops(r, prefix).join() === lab.nodes[1]!.ip, 30_000, ['ipv4']);
  await setEndpoints(lab.rest, APP, 'local', ['node-1', 'node-3']);
  await lab.router!.waitForRoutes(
    (r) => hops(r, prefix).join() === [lab.nodes[0]!.ip, lab.nodes[2]!.ip].sort().join(),
    30_000,
    ['ipv4'],
  );
  await setEndpoints(lab.rest, APP, 'local', []);
  await lab.router!.waitForRoutes((r) => hops(r, prefix).length === 0, 30_000, ['ipv4']);
});

test('node selectors on the advertisement and the peer are honoured, and the speakers publish their sessions', {
  skip,
  timeout: 120_000,
}, async () => {
  await lab.rest.patch('/api/v1/nodes/node-3', 'merge', { metadata: { labels: { edge: 'true' } } });
  await lab.rest.patch(`${beaconApi('bgpadvertisements')}/routed`, 'merge', {
    spec: { nodeSelectors: [{ matchExpressions: [{ key: 'edge', operator: 'DoesNotExist' }] }] },
  });
  const svc = await waitForIngress(lab.rest, APP, 'web');
  const prefix = `${svc[0]}/32`;
  await lab.router!.waitForRoutes(
    (r) => hops(r, prefix).join() === [lab.nodes[0]!.ip, lab.nodes[1]!.ip].sort().join(),
    30_000,
    ['ipv4'],
  );
  // Published by each speaker on its own schedule, so read until all three have caught up.
  let published = '';
  await waitFor(
    'every speaker to publish an Established session',
    async () => {
      const states = await lab.rest.get<{ items: { status: { node: string; sessionState: string } }[] }>(
        beaconApi('bgpsessionstates'),
      );
      published = states.items
        .map((s) => `${s.status.node}:${s.status.sessionState}`)
        .sort()
        .join();
      return published === 'node-1:Established,node-2:Established,node-3:Established';
    },
    15_000,
    100,
    () => `published: ${published}`,
  );
  await lab.rest.patch(`${beaconApi('bgpadvertisements')}/routed`, 'merge', {
    spec: { nodeSelectors: null },
  });
  await lab.router!.waitForRoutes((r) => hops(r, prefix).length === 3, 30_000, ['ipv4']);
});

test('with BFD, a node whose link is cut leaves FRR within about a second, long before the 9 s hold time', {
  skip,
  timeout: 120_000,
}, async () => {
  await createBeaconObject(lab.rest, BEACON_NS, 'BFDProfile', 'fast', {
    receiveInterval: 100,
    transmitInterval: 100,
    detectMultiplier: 3,
  });
  await lab.rest.patch(`${beaconApi('bgppeers')}/frr`, 'merge', { spec: { bfdProfile: 'fast' } });
  const [ip] = await waitForIngress(lab.rest, APP, 'web');
  const prefix = `${ip}/32`;
  await lab.router!.waitForRoutes((r) => hops(r, prefix).length === 3, 60_000, ['ipv4']);
  await waitFor(
    'BFD Up with every node',
    async () => (await lab.router!.bfdPeers()).filter((p) => p.status === 'up').length === 3,
    30_000,
    200,
  );
  const victim = lab.nodes[1]!;
  const cutAt = Date.now();
  await lab.net.setBridgePort(lab.bridge, victim.port, 'down');
  try {
    await lab.router!.waitForRoutes((r) => !hops(r, prefix).includes(victim.ip), 4000, ['ipv4']);
    process.stdout.write(
      `# FRR dropped ${victim.name}'s path ${Date.now() - cutAt} ms after its link was cut (BFD 100 ms x 3)\n`,
    );
  } finally {
    await lab.net.setBridgePort(lab.bridge, victim.port, 'up');
  }
  await lab.router!.waitForRoutes((r) => hops(r, prefix).includes(victim.ip), 60_000, ['ipv4']);
});

test("a killed speaker's routes leave FRR's table; the others' stay", {
  skip,
  timeout: 120_000,
}, async () => {
  const [ip] = await waitForIngress(lab.rest, APP, 'web');
  const prefix = `${ip}/32`;
  await lab.router!.waitForRoutes((r) => hops(r, prefix).length === 3, 30_000, ['ipv4']);
  const killedAt = Date.now();
  lab.nodes[0]!.speaker!.child.kill('SIGKILL');
  await lab.router!.waitForRoutes(
    (r) => hops(r, prefix).join() === [lab.nodes[1]!.ip, lab.nodes[2]!.ip].sort().join(),
    15_000,
    ['ipv4'],
  );
  process.stdout.write(`# FRR dropped the killed node's path ${Date.now() - killedAt} ms after SIGKILL\n`);
});

test('no line any speaker logged names a key twice', { skip }, () => {
  assert.deepEqual(linesWithDuplicateKeys(lab.speakerLogs()), []);
});
