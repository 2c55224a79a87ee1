/**
 * The speaker's BGP side driven one change at a time, as the speaker drives it: the real catalog, the
 * applier, real BGP sessions to two routers on loopback (one eBGP, one iBGP) and the status writer against
 * a real API server behind a recording proxy. What is asserted is counted (UPDATEs handed to the socket,
 * UPDATEs the routers decoded, requests the API server got), never timed:
 *
 * - every route carries what its advertisement configured: communities, large communities, localPref (iBGP),
 *   the peers it names, its aggregationLength;
 * - a batch that deletes one Service and creates another is on the wire when the apply returns, withdrawal
 *   first, and writes exactly those two Services' status objects;
 * - nothing changing sends nothing and writes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { BGPAdvertisement, BGPPeer, IPAddressPool } from '../../src/api/types.ts';
import type { UpdateMessage } from '../../src/bgp/codec/messages.ts';
import { BgpListener, BgpSession, formatPrefix } from '../../src/bgp/index.ts';
import { EventRecorder } from '../../src/k8s/events.ts';
import { KubeRest } from '../../src/k8s/rest.ts';
import { BgpApplier } from '../../src/speaker/bgp-applier.ts';
import { AddressCatalog, POOL_ANNOTATION } from '../../src/speaker/catalog.ts';
import { speakerMetrics } from '../../src/speaker/metrics.ts';
import { objectName, StatusWriter } from '../../src/speaker/status-writer.ts';
import { type ApiServer, startApiServer } from '../harness/apiserver.ts';
import { installCrds } from '../harness/crds.ts';
import { type FaultProxy, type RecordedRequest, startFaultProxy } from '../harness/fault-proxy.ts';
import { adminRest, ensureNamespace } from '../harness/kube.ts';
import { waitFor } from '../harness/process.ts';

const NS = 'beacon-system';
const NODE = 'node-1';
const quiet = pino({ level: 'silent' });
const community = (asn: number, value: number) => asn * 65536 + value;

let api: ApiServer;
let proxy: FaultProxy;
let listener: BgpListener;
const routers = new Map<string, { session: BgpSession; updates: UpdateMessage[] }>();
let status: StatusWriter;
const metrics = speakerMetrics();
let applier: BgpApplier;
const catalog = new AddressCatalog(NODE, () => true);
let peers: BGPPeer[] = [];

const me: V1Node = {
  metadata: { name: NODE, labels: {} },
  status: { addresses: [{ type: 'InternalIP', address: '192.0.2.11' }] },
};

function beaconObject<T>(kind: string, name: string, spec: unknown): T {
  return { apiVersion: 'beacon.dev/v1alpha1', kind, metadata: { name, namespace: NS }, spec } as T;
}

function service(name: string, ip: string, pool: string): V1Service {
  return {
    metadata: { name, namespace: 'app', annotations: { [POOL_ANNOTATION]: pool } },
    spec: { type: 'LoadBalancer', externalTrafficPolicy: 'Cluster' },
    status: { loadBalancer: { ingress: [{ ip }] } },
  };
}

function slice(name: string): V1EndpointSlice {
  return {
    addressType: 'IPv4',
    metadata: { name: `${name}-x`, namespace: 'app', labels: { 'kubernetes.io/service-name': name } },
    endpoints: [{ addresses: ['10.0.0.1'], nodeName: NODE, conditions: { ready: true } }],
  };
}

/** Changes the catalog as the speaker's informer handlers do, then applies once, as its next turn does. */
async function batch(change: (changed: Set<string>) => void, sessions = false): Promise<void> {
  const changed = new Set<string>();
  change(changed);
  applier.addressesChanged(catalog, changed);
  await applier.apply(catalog, peers, () => undefined, me, true, sessions);
}

function addService(changed: Set<string>, name: string, ip: string, pool: string): void {
  for (const a of catalog.setSlice(`app/${name}-x`, slice(name))) changed.add(a);
  for (const a of catalog.setService(`app/${name}`, service(name, ip, pool))) changed.add(a);
}

function removeService(changed: Set<string>, name: string): void {
  for (const a of catalog.setService(`app/${name}`, undefined)) changed.add(a);
  for (const a of catalog.setSlice(`app/${name}-x`, undefined)) changed.add(a);
}

/** UPDATEs the session handed to its socket, as the speaker's metric counts them. */
async function updatesSent(peer: string): Promise<number> {
  const m = await metrics.registry.getSingleMetric('beacon_speaker_bgp_updates_sent_total')?.get();
  return m?.values.find((v) => v.labels.peer === peer)?.value ?? 0;
}

/** What a router holds now: prefix -> the UPDATE that last announced it. */
function table(router: string): Map<string, UpdateMessage> {
  const out = new Map<string, UpdateMessage>();
  for (const u of routers.get(router)!.updates) {
    for (const p of u.withdrawn) out.delete(formatPrefix(p));
    for (const p of u.nlri) out.set(formatPrefix(p), u);
  }
  return out;
}

const statusWrites = (r: RecordedRequest) =>
  r.method !== 'GET' && /\/(servicebgpstatuses|bgpsessionstates)(\/|$)/.test(r.path);

before(async () => {
  api = await startApiServer();
  await installCrds(api);
  await ensureNamespace(await adminRest(api), NS);
  proxy = await startFaultProxy(api);
  const rest = new KubeRest(proxy.access, { userAgent: `beacon-speaker/${NODE}` });
  status = new StatusWriter(rest, NS, NODE, new EventRecorder(rest, 'beacon-speaker', NODE, quiet), quiet);
  applier = new BgpApplier({
    rest,
    node: NODE,
    namespace: NS,
    log: quiet,
    metrics,
    status,
    onChange: () => {},
  });

  listener = await BgpListener.listen({ host: '127.0.0.2', port: 0, log: quiet });
  for (const [name, from, asn] of [
    ['ext', '127.0.0.1', 64500],
    ['int', '127.0.0.3', 64512],
  ] as const) {
    const session = new BgpSession({
      localAs: asn,
      peerAs: 64512,
      peerAddress: from,
      routerId: '192.0.2.254',
      passive: true,
      log: quiet,
    });
    const updates: UpdateMessage[] = [];
    session.on('update', (u) => updates.push(u));
    listener.add(session);
    session.start();
    routers.set(name, { session, updates });
  }
  const port = listener.address.port;
  peers = [
    beaconObject<BGPPeer>('BGPPeer', 'ext', {
      myASN: 64512,
      peerASN: 64500,
      peerAddress: '127.0.0.2',
      peerPort: port,
      sourceAddress: '127.0.0.1',
    }),
    beaconObject<BGPPeer>('BGPPeer', 'int', {
      myASN: 64512,
      peerASN: 64512,
      peerAddress: '127.0.0.2',
      peerPort: port,
      sourceAddress: '127.0.0.3',
    }),
  ];
  catalog.setConfig({
    nodes: [me],
    pools: [
      beaconObject<IPAddressPool>('IPAddressPool', 'p1', { addresses: ['198.51.100.0/24'] }),
      beaconObject<IPAddressPool>('IPAddressPool', 'p2', { addresses: ['203.0.113.0/24'] }),
    ],
    l2Advertisements: [],
    bgpAdvertisements: [
      beaconObject<BGPAdvertisement>('BGPAdvertisement', 'all', {
        ipAddressPools: ['p1'],
        communities: ['64512:100', 'large:64512:1:2'],
        localPref: 200,
      }),
      beaconObject<BGPAdvertisement>('BGPAdvertisement', 'ext-aggregated', {
        ipAddressPools: ['p2'],
        peers: ['ext'],
        aggregationLength: 24,
        communities: ['64512:300'],
      }),
    ],
    bgpPeers: peers,
    communities: [],
  });
  await batch((changed) => {
    for (let i = 0; i < 10; i++) addService(changed, `s${i}`, `198.51.100.${10 + i}`, 'p1');
    addService(changed, 'a0', '203.0.113.5', 'p2');
    addService(changed, 'a1', '203.0.113.6', 'p2');
  }, true);
  await waitFor(
    'both routers to hold the first table',
    () => table('ext').size === 11 && table('int').size === 10,
    20_000,
    10,
  );
  // Each session's PREFIXES is published a second after its routes change: wait for both rows to show the
  // first table, or that late write lands among the writes a test below counts.
  await waitFor(
    'both sessions to publish their prefix counts',
    async () => {
      const rows = JSON.parse(
        (await api.kubectl(['get', 'bgpsessionstates', '-n', NS, '-o', 'json'])).stdout,
      ) as { items: { status: { peer: string; prefixesAnnounced?: number } }[] };
      const count = (peer: string) =>
        rows.items.find((r) => r.status.peer === peer)?.status.prefixesAnnounced;
      return count('ext') === 11 && count('int') === 10;
    },
    20_000,
    100,
  );
  await status.settle();
});

after(async () => {
  await applier?.stop();
  await status?.clear();
  for (const r of routers.values()) await r.session.stop();
  await listener?.close();
  await proxy?.stop();
  await api?.stop();
});

test('every route carries its advertisement: communities, large communities, localPref on iBGP, only the peers it names, its aggregation', () => {
  const ext = table('ext');
  const int = table('int');
  const hosts = Array.from({ length: 10 }, (_, i) => `198.51.100.${10 + i}/32`);
  assert.deepEqual([...ext.keys()].sort(), [...hosts, '203.0.113.0/24'].sort());
  assert.deepEqual([...int.keys()].sort(), [...hosts].sort(), 'the aggregate names only ext');
  for (const h of hosts) {
    for (const [router, t] of [
      ['ext', ext],
      ['int', int],
    ] as const) {
      const a = t.get(h)!.attributes;
      assert.deepEqual(a.communities, [community(64512, 100)], `${router} ${h}`);
      assert.deepEqual(a.largeCommunities, [[64512, 1, 2]], `${router} ${h}`);
    }
    assert.equal(int.get(h)!.attributes.localPref, 200, 'LOCAL_PREF on the iBGP session');
    assert.equal(ext.get(h)!.attributes.localPref, undefined, 'never LOCAL_PREF to an eBGP peer');
  }
  const agg = ext.get('203.0.113.0/24')!.attributes;
  assert.deepEqual(agg.communities, [community(64512, 300)]);
  assert.equal(agg.largeCommunities, undefined);
});

test('one Service deleted and one created in a batch: on the wire when the apply returns, the withdrawal first; only their statuses are written', async () => {
  const ext = routers.get('ext')!;
  const seen = ext.updates.length;
  const sent = await updatesSent('ext');
  const writes = proxy.count(statusWrites);
  await batch((changed) => {
    removeService(changed, 's3');
    addService(changed, 's10', '198.51.100.20', 'p1');
  });
  // Handed to the socket by the apply itself, not on a later turn of the event loop.
  assert.equal(await updatesSent('ext'), sent + 2, 'a withdrawal and an announcement, sent');
  await waitFor('ext to have both', () => ext.updates.length >= seen + 2, 10_000, 10);
  const [first, second, ...rest] = ext.updates.slice(seen);
  assert.deepEqual(first!.withdrawn.map(formatPrefix), ['198.51.100.13/32']);
  assert.deepEqual(first!.nlri, []);
  assert.deepEqual(second!.nlri.map(formatPrefix), ['198.51.100.20/32']);
  assert.deepEqual(second!.attributes.communities, [community(64512, 100)]);
  assert.deepEqual(rest, []);

  await status.settle();
  const written = proxy.requests.filter(statusWrites).slice(writes);
  const base = `/apis/beacon.dev/v1alpha1/namespaces/${NS}/servicebgpstatuses`;
  assert.deepEqual(written.map((r) => `${r.method} ${r.path}`).sort(), [
    `DELETE ${base}/${objectName(NODE, 'app', 's3')}`,
    `POST ${base}`,
  ]);
  const created = await api.kubectl([
    'get',
    'servicebgpstatuses',
    '-n',
    NS,
    objectName(NODE, 'app', 's10'),
    '-o',
    'json',
  ]);
  assert.deepEqual(JSON.parse(created.stdout).status.prefixes, ['198.51.100.20/32']);
});

test('under an aggregate, the address that goes while another stays sends nothing; the last one withdraws it', async () => {
  const sent = await updatesSent('ext');
  const writes = proxy.count(statusWrites);
  await batch((changed) => removeService(changed, 'a0'));
  assert.equal(await updatesSent('ext'), sent, 'the /24 is unchanged');
  await status.settle();
  assert.deepEqual(
    proxy.requests
      .filter(statusWrites)
      .slice(writes)
      .map((r) => `${r.method} ${r.path.split('/').pop()}`),
    [`DELETE ${objectName(NODE, 'app', 'a0')}`],
    "only a0's status goes; a1's says the same as before",
  );
  await batch((changed) => removeService(changed, 'a1'));
  assert.equal(await updatesSent('ext'), sent + 1);
  await waitFor('the aggregate to leave ext', () => !table('ext').has('203.0.113.0/24'), 10_000, 10);
  // The session's new prefix count is published a moment later (at most once a second).
  await waitFor(
    "ext's BGPSessionState to count 10 prefixes",
    async () => {
      const r = await api.kubectl([
        'get',
        'bgpsessionstates',
        '-n',
        NS,
        objectName(NODE, 'ext'),
        '-o',
        'json',
      ]);
      return r.code === 0 && JSON.parse(r.stdout).status.prefixesAnnounced === 10;
    },
    10_000,
    100,
  );
});

test('nothing changing: applies (a membership event, a configuration looked at again) send no UPDATE and write nothing', async () => {
  await status.settle();
  const sent = [await updatesSent('ext'), await updatesSent('int')];
  const writes = proxy.count(statusWrites);
  const requests = proxy.requests.length;
  for (let i = 0; i < 20; i++) await batch(() => {}, i % 5 === 0);
  assert.equal(applier.pending, false);
  await status.settle();
  assert.deepEqual([await updatesSent('ext'), await updatesSent('int')], sent);
  assert.equal(proxy.count(statusWrites), writes);
  assert.equal(proxy.requests.length, requests, 'no request of any kind');
});
