/**
 * The speaker's status objects against a real API server: one object per (node, Service) and per (node,
 * peer) whatever the names, so two nodes never write the same object; node names up to the 253 characters
 * Kubernetes allows; and objects an earlier run left are found again and removed when stale.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { EventRecorder } from '../../src/k8s/events.ts';
import { KubeRest } from '../../src/k8s/rest.ts';
import { StatusWriter } from '../../src/speaker/status-writer.ts';
import { type ApiServer, startApiServer } from '../harness/apiserver.ts';
import { installCrds } from '../harness/crds.ts';
import { startFaultProxy } from '../harness/fault-proxy.ts';
import { adminRest, ensureNamespace } from '../harness/kube.ts';

const NS = 'beacon-system';
let api: ApiServer;
let rest: KubeRest;
const quiet = pino({ level: 'silent' });

before(async () => {
  api = await startApiServer();
  await installCrds(api);
  rest = await adminRest(api);
  await ensureNamespace(rest, NS);
});
after(() => api?.stop());

function writer(node: string): StatusWriter {
  return new StatusWriter(rest, NS, node, new EventRecorder(rest, 'beacon-speaker', node, quiet), quiet);
}

interface StatusObject {
  metadata: { name: string; labels: Record<string, string> };
  status: Record<string, unknown>;
}
const list = async (plural: string) =>
  (await rest.get<{ items: StatusObject[] }>(`/apis/beacon.dev/v1alpha1/namespaces/${NS}/${plural}`)).items;

test('node n1-ns with Service x/web and node n1 with Service ns-x/web publish two objects, each its own', async () => {
  const a = writer('n1-ns');
  const b = writer('n1');
  a.setBGP('x/web', { prefixes: ['198.51.100.1/32'], peers: ['tor'] });
  b.setBGP('ns-x/web', { prefixes: ['198.51.100.2/32'], peers: ['tor'] });
  // The same holds for sessions: node n1-a with peer b, node n1 with peer a-b.
  a.setSessions([]);
  const c = writer('n1-a');
  const d = writer('n1');
  const since = new Date('2025-01-01T00:00:00Z');
  c.setSessions([{ peer: 'b', peerAddress: '192.0.2.1', state: 'Established', since, prefixes: 1 }]);
  d.setSessions([{ peer: 'a-b', peerAddress: '192.0.2.2', state: 'Active', since, prefixes: 0 }]);
  await Promise.all([a, b, c, d].map((w) => w.settle()));

  const bgp = (await list('servicebgpstatuses')).map((o) => [
    o.status.node,
    o.status.serviceNamespace,
    o.status.prefixes,
  ]);
  assert.deepEqual(bgp.sort(), [
    ['n1', 'ns-x', ['198.51.100.2/32']],
    ['n1-ns', 'x', ['198.51.100.1/32']],
  ]);
  const sessions = (await list('bgpsessionstates')).map((o) => [o.status.node, o.status.peer]);
  assert.deepEqual(sessions.sort(), [
    ['n1', 'a-b'],
    ['n1-a', 'b'],
  ]);
  for (const w of [a, b, c, d]) await w.clear();
  assert.equal((await list('servicebgpstatuses')).length, 0);
  assert.equal((await list('bgpsessionstates')).length, 0);
});

test('a node name of 253 characters: the objects are written, the label stays a valid label, a restart finds them', async () => {
  const node = `${'a'.repeat(60)}.${'b'.repeat(60)}.${'c'.repeat(60)}.${'d'.repeat(70)}`;
  assert.equal(node.length, 253);
  const first = writer(node);
  first.setL2([{ service: 'shop/web', addresses: ['192.0.2.200'], via: ['eth0'] }]);
  first.setBGP('shop/web', { prefixes: ['198.51.100.1/32'], peers: ['tor'] });
  await first.settle();
  const [l2] = await list('servicel2statuses');
  assert.equal(l2?.status.node, node, 'the full name is in status.node');
  const label = l2!.metadata.labels['beacon.dev/node']!;
  assert.ok(label.length <= 63, `label value ${label} is longer than 63`);
  assert.ok(node.startsWith(label.slice(0, 40)), 'the label starts like the node name');
  assert.equal((await list('servicebgpstatuses')).length, 1);

  // A new process for the same node adopts them: what it no longer announces is removed.
  const second = writer(node);
  await second.adoptExisting();
  second.setL2([]);
  second.setBGP('shop/web', { prefixes: ['198.51.100.1/32'], peers: ['tor'] });
  await second.settle();
  assert.equal((await list('servicel2statuses')).length, 0, 'the stale L2 object was deleted');
  assert.equal((await list('servicebgpstatuses')).length, 1);
  await second.clear();
});

test('a field the new status no longer has is removed: lastError goes once the session is up', async () => {
  const w = writer('n7');
  const since = new Date('2025-01-01T00:00:00Z');
  const session = { peer: 'tor', peerAddress: '192.0.2.1', since, prefixes: 0 };
  const mine = async () => (await list('bgpsessionstates')).find((o) => o.status.node === 'n7');
  w.setSessions([{ ...session, state: 'Active', lastError: '192.0.2.1:179: connection refused' }]);
  await w.settle();
  assert.equal((await mine())?.status.lastError, '192.0.2.1:179: connection refused');
  w.setSessions([{ ...session, state: 'Established', prefixes: 3 }]);
  await w.settle();
  const row = await mine();
  assert.equal(row?.status.sessionState, 'Established');
  assert.equal(row?.status.prefixesAnnounced, 3);
  assert.equal(row?.status.lastError, undefined, 'the old error is still there');
  await w.clear();
});

test('a graceful shutdown removes 300 objects in one request per kind, and one by one when that is refused', async () => {
  const proxy = await startFaultProxy(api);
  try {
    const viaProxy = new KubeRest(proxy.access, { userAgent: 'beacon-speaker/n9' });
    const make = () =>
      new StatusWriter(viaProxy, NS, 'n9', new EventRecorder(viaProxy, 'beacon-speaker', 'n9', quiet), quiet);
    const services = Array.from({ length: 300 }, (_, i) => ({
      service: `shop/web-${i}`,
      addresses: [`192.0.2.${i % 250}`],
      via: ['eth0'],
    }));
    const mine = async () => (await list('servicel2statuses')).filter((o) => o.status.node === 'n9').length;
    const deletes = () => proxy.count((r) => r.method === 'DELETE' && r.path.includes('/servicel2statuses'));

    const first = make();
    first.setL2(services);
    await first.settle();
    assert.equal(await mine(), 300);
    // Another node's object must outlive this node's shutdown.
    const other = writer('n10');
    other.setL2([{ service: 'shop/web-0', addresses: ['192.0.2.0'], via: ['eth0'] }]);
    await other.settle();
    await first.clear();
    assert.equal(await mine(), 0);
    assert.equal(deletes(), 1, 'one DELETE of the collection');
    assert.equal((await list('servicel2statuses')).filter((o) => o.status.node === 'n10').length, 1);

    // A role without deletecollection (an older chart): the same objects still go, one request each.
    const second = make();
    second.setL2(services.slice(0, 20));
    await second.settle();
    proxy.add({
      method: 'DELETE',
      path: /\/servicel2statuses$/,
      fault: { kind: 'status', status: 403, reason: 'Forbidden', message: 'cannot deletecollection' },
    });
    const before = deletes();
    await second.clear();
    assert.equal(await mine(), 0);
    assert.equal(deletes() - before, 1 + 20, 'the refused collection delete, then one per object');
    await other.clear();
  } finally {
    await proxy.stop();
  }
});
