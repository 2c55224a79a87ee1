/**
 * One `beacon speaker` and its BGPPeers against a real FRR and a real BIRD on the node's link, one peer per
 * node source address (node-1 holds 192.0.2.11 and .21 to .27, each a neighbour of its own on the
 * routers):
 *
 *   FRR 192.0.2.1 / 2001:db8::1, AS 64500        BIRD 192.0.2.2, AS 64512 (iBGP with the node)
 *     .11, 2001:db8::11  plain                     .23  ttl security on
 *     .21  MD5 password                            .25  plain
 *     .22  ttl-security hops 1
 *     .24  plain (dynamicASN external)
 *     .26  plain (dynamicASN internal: refused)
 *     .27  ttl-security hops 1 (Beacon without GTSM)
 *
 * What is checked: one peer's trouble never stops the others; the communities FRR receives are exactly the
 * configured ones and a name without a value withholds the route; every session Beacon tries or refuses to
 * open has a BGPSessionState row with its current error, cleared once it is up, and PREFIXES counts what
 * the router holds; a rotated password Secret is used without a BGPPeer change; GTSM against FRR's
 * ttl-security and BIRD's ttl security; dynamicASN both ways.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { BEACON_NS, ClusterLab, setEndpoints } from '../harness/cluster-lab.ts';
import {
  createBeaconObject,
  createPool,
  createService,
  ensureNamespace,
  type RunningController,
  startController,
  waitForIngress,
} from '../harness/kube.ts';
import { netnsUnavailable } from '../harness/netns.ts';
import { waitFor } from '../harness/process.ts';
import { BirdRouter } from '../harness/routers/bird.ts';
import { FrrRouter } from '../harness/routers/frr.ts';
import type { BgpRoute, Router } from '../harness/routers/router.ts';

const skip = await netnsUnavailable();
const APP = 'peers-app';
const FRR_IP = '192.0.2.1';
const FRR_IP6 = '2001:db8::1';
const BIRD_IP = '192.0.2.2';
const NODE_IP = '192.0.2.11';
const NODE_IP6 = '2001:db8::11';
const FRR_ASN = 64500;
const NODE_ASN = 64512;
const SOURCES = [
  '192.0.2.21',
  '192.0.2.22',
  '192.0.2.23',
  '192.0.2.24',
  '192.0.2.25',
  '192.0.2.26',
  '192.0.2.27',
];
const [MD5_SRC, GTSM_FRR_SRC, GTSM_BIRD_SRC, DYN_EXT_SRC, DYN_INT_SRC, DYN_WRONG_SRC, GTSM_OFF_SRC] =
  SOURCES as [string, string, string, string, string, string, string];

let lab: ClusterLab;
let controller: RunningController;
let frr: FrrRouter;
let bird: BirdRouter;

const beaconApi = (plural: string) => `/apis/beacon.dev/v1alpha1/namespaces/${BEACON_NS}/${plural}`;

before(
  async () => {
    if (skip) return;
    lab = await ClusterLab.start({ tag: 'spkpeer', nodes: 1 });
    const node = lab.nodes[0]!;
    for (const a of SOURCES) await node.ns.addAddress('eth0', `${a}/24`);
    const neighbor = (address: string, extra: object = {}) => ({
      address,
      asn: NODE_ASN,
      holdTime: 9,
      exportRoutes: false,
      ...extra,
    });
    const frrNs = await lab.net.addNamespace('frr');
    await lab.net.attach(frrNs, lab.bridge, { ifname: 'eth0', addresses: [`${FRR_IP}/24`, `${FRR_IP6}/64`] });
    frr = await FrrRouter.start(frrNs, {
      asn: FRR_ASN,
      routerId: FRR_IP,
      neighbors: [
        neighbor(NODE_IP),
        neighbor(NODE_IP6),
        neighbor(MD5_SRC, { password: 'first-password' }),
        neighbor(GTSM_FRR_SRC, { ttlSecurity: 1 }),
        neighbor(DYN_EXT_SRC),
        neighbor(DYN_WRONG_SRC),
        neighbor(GTSM_OFF_SRC, { ttlSecurity: 1 }),
      ],
    });
    const birdNs = await lab.net.addNamespace('bird');
    await lab.net.attach(birdNs, lab.bridge, { ifname: 'eth0', addresses: [`${BIRD_IP}/24`] });
    bird = await BirdRouter.start(birdNs, {
      asn: NODE_ASN,
      routerId: BIRD_IP,
      neighbors: [neighbor(GTSM_BIRD_SRC, { ttlSecurity: 1 }), neighbor(DYN_INT_SRC)],
    });

    await createPool(lab.rest, BEACON_NS, 'routed', { addresses: ['198.51.100.0/25'] });
    await createPool(lab.rest, BEACON_NS, 'special', { addresses: ['198.51.100.128/25'], autoAssign: false });
    await createBeaconObject(lab.rest, BEACON_NS, 'Community', 'names', {
      communities: [{ name: 'edge', value: '64512:70' }],
    });
    // Every well-known name, in the spellings users write, plus a literal, a large one and a defined name.
    await createBeaconObject(lab.rest, BEACON_NS, 'BGPAdvertisement', 'tagged', {
      ipAddressPools: ['routed', 'special'],
      peers: ['tor'],
      communities: [
        'NO_EXPORT',
        'no-advertise',
        'No_Export_Subconfed',
        'NOPEER',
        'blackhole',
        'GRACEFUL_SHUTDOWN',
        '64512:7',
        'large:64512:1:2',
        'edge',
      ],
    });
    // To every peer of the node: what the routers of the later tests receive.
    await createBeaconObject(lab.rest, BEACON_NS, 'BGPAdvertisement', 'everywhere', {
      ipAddressPools: ['routed'],
    });
    await createBeaconObject(lab.rest, BEACON_NS, 'BGPPeer', 'tor', {
      myASN: NODE_ASN,
      peerASN: FRR_ASN,
      peerAddress: FRR_IP,
      routerID: NODE_IP,
      holdTime: '9s',
    });
    controller = await startController(lab.api, { namespace: BEACON_NS, loadBalancerClass: 'beacon.dev/lb' });
    await ensureNamespace(lab.rest, APP);
    lab.startSpeaker(node);
    await lab.waitForSpeakersSynced();
  },
  { timeout: 240_000 },
);

after(async () => {
  await frr?.stop().catch(() => {});
  await bird?.stop().catch(() => {});
  await controller?.stop();
  await lab?.stop();
});

interface Row {
  node: string;
  peer: string;
  sessionState: string;
  prefixesAnnounced: number;
  lastError?: string;
}

async function rows(): Promise<Map<string, Row>> {
  const list = await lab.rest.get<{ items: { status: Row }[] }>(beaconApi('bgpsessionstates'));
  return new Map(list.items.map((o) => [o.status.peer, o.status]));
}

/** Waits until the peer's BGPSessionState row satisfies `ok`, and returns it. */
async function rowOf(peer: string, ok: (r: Row) => boolean, timeoutMs = 60_000): Promise<Row> {
  let last: Row | undefined;
  await waitFor(
    `the BGPSessionState row of ${peer}`,
    async () => {
      last = (await rows()).get(peer);
      return !!last && ok(last);
    },
    timeoutMs,
    200,
    () => `last row: ${JSON.stringify(last)}\n--- speaker ---\n${lab.nodes[0]!.speaker?.tail() ?? ''}`,
  );
  return last!;
}

const from = (routes: BgpRoute[], prefix: string, peer: string) =>
  routes.find((r) => r.prefix === prefix && r.fromPeer === peer);

async function serviceWith(name: string, pool?: string): Promise<string> {
  await createService(lab.rest, APP, name, undefined, {
    ...(pool ? { annotations: { 'beacon.dev/address-pool': pool } } : {}),
  });
  await setEndpoints(lab.rest, APP, name, ['node-1']);
  const [ip] = await waitForIngress(lab.rest, APP, name);
  return `${ip}/32`;
}

async function routeAt(router: Router, prefix: string, peer: string): Promise<BgpRoute> {
  const routes = await router.waitForRoutes((r) => !!from(r, prefix, peer), 60_000, ['ipv4']);
  return from(routes, prefix, peer)!;
}

test('a node without IPv4 address: the peer without routerID gets a row saying so, the other peer goes on announcing', {
  skip,
  timeout: 180_000,
}, async () => {
  await createBeaconObject(lab.rest, BEACON_NS, 'BGPPeer', 'tor-v6', {
    myASN: NODE_ASN,
    peerASN: FRR_ASN,
    peerAddress: FRR_IP6,
    holdTime: '9s',
  });
  const web = await serviceWith('web');
  await routeAt(frr, web, NODE_IP);
  await routeAt(frr, web, NODE_IP6);
  const addresses = (ips: string[]) => ({
    status: {
      addresses: [
        ...ips.map((address) => ({ type: 'InternalIP', address })),
        { type: 'Hostname', address: 'node-1' },
      ],
    },
  });
  await lab.rest.patch('/api/v1/nodes/node-1/status', 'merge', addresses([NODE_IP6]));
  try {
    const v6 = await rowOf('tor-v6', (r) => /no router ID/.test(r.lastError ?? ''));
    assert.equal(
      v6.lastError,
      "no router ID: node node-1 has no IPv4 address to take it from (IPv6-only); set spec.routerID to an IPv4 address unique among the router's peers",
    );
    assert.equal(v6.sessionState, 'Idle');
    // The peer with a routerID goes on: a Service created now reaches the router through it.
    const later = await serviceWith('after-v6');
    await routeAt(frr, later, NODE_IP);
    assert.equal((await rows()).get('tor')?.sessionState, 'Established');
  } finally {
    await lab.rest.patch('/api/v1/nodes/node-1/status', 'merge', addresses([NODE_IP, NODE_IP6]));
  }
  const back = await rowOf('tor-v6', (r) => r.sessionState === 'Established');
  assert.equal(back.lastError, undefined);
});

test('FRR receives exactly the configured communities; a name nothing defines withholds the route until it is defined', {
  skip,
  timeout: 180_000,
}, async () => {
  const web = await serviceWith('communities');
  const route = await routeAt(frr, web, NODE_IP);
  // The literal, `edge` from the Community object, then RFC 8326 GRACEFUL_SHUTDOWN 65535:0, RFC 7999
  // BLACKHOLE 65535:666, RFC 1997 NO_EXPORT 65535:65281, NO_ADVERTISE 65535:65282, NO_EXPORT_SUBCONFED
  // 65535:65283 and RFC 3765 NOPEER 65535:65284, in the numeric order the harness reports.
  const wellKnown = ['65535:0', '65535:666', '65535:65281', '65535:65282', '65535:65283', '65535:65284'];
  assert.deepEqual(route.communities, ['64512:7', '64512:70', ...wellKnown]);
  assert.deepEqual(route.largeCommunities, ['64512:1:2']);

  await createBeaconObject(lab.rest, BEACON_NS, 'BGPAdvertisement', 'typo', {
    ipAddressPools: ['special'],
    communities: ['NO_EXPRT'],
  });
  const held = await serviceWith('held', 'special');
  // The speaker handles changes in the order they arrive: once a Service created after `held` is at the
  // router, `held` has been handled too.
  const marker = await serviceWith('marker');
  const routes = await frr.waitForRoutes((r) => !!from(r, marker, NODE_IP), 60_000, ['ipv4']);
  assert.equal(from(routes, held, NODE_IP), undefined, `${held} was announced without its community`);
  await waitFor(
    'the CommunitiesResolved condition to be False',
    async () => {
      const ad = await lab.rest.get<{ status?: { conditions?: { type: string; status: string }[] } }>(
        `${beaconApi('bgpadvertisements')}/typo`,
      );
      return ad.status?.conditions?.find((c) => c.type === 'CommunitiesResolved')?.status === 'False';
    },
    30_000,
    200,
  );

  await createBeaconObject(lab.rest, BEACON_NS, 'Community', 'fix', {
    communities: [{ name: 'NO_EXPRT', value: '64512:99' }],
  });
  const fixed = await routeAt(frr, held, NODE_IP);
  // Both advertisements select the pool: the route carries the communities of both.
  assert.deepEqual(fixed.communities, ['64512:7', '64512:70', '64512:99', ...wellKnown]);
});

test('every session has a row with its current error: unreachable peer, wrong MD5 password, missing Secret; cleared once up; a rotated Secret is used without a BGPPeer change', {
  skip,
  timeout: 300_000,
}, async () => {
  const peer = (name: string, spec: object) =>
    createBeaconObject(lab.rest, BEACON_NS, 'BGPPeer', name, {
      myASN: NODE_ASN,
      peerASN: FRR_ASN,
      holdTime: '9s',
      connectTime: '2s',
      ...spec,
    });
  const secretPath = `/api/v1/namespaces/${BEACON_NS}/secrets`;
  const secret = (name: string, password: string) => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name },
    type: 'kubernetes.io/basic-auth',
    stringData: { password },
  });
  await lab.rest.create(secretPath, secret('md5-password', 'wrong-password'));
  await peer('nowhere', { peerAddress: '192.0.2.99' });
  await peer('md5', {
    peerAddress: FRR_IP,
    sourceAddress: MD5_SRC,
    passwordSecret: { name: 'md5-password' },
  });
  await peer('nosecret', { peerAddress: '192.0.2.3', passwordSecret: { name: 'missing' } });

  const nowhere = await rowOf('nowhere', (r) => !!r.lastError);
  assert.equal(
    nowhere.lastError,
    '192.0.2.99:179: host unreachable (EHOSTUNREACH): no ARP/NDP answer from the router, or a router on the way says it cannot reach it',
  );
  // The advertisement `everywhere` wants routes on it, but the router has none of them.
  assert.equal(nowhere.prefixesAnnounced, 0);
  const md5 = await rowOf('md5', (r) => !!r.lastError);
  assert.equal(
    md5.lastError,
    '192.0.2.1:179: no answer to SYN: wrong or missing TCP MD5 password on either side? (else a firewall drops BGP, or the router is down)',
  );
  const nosecret = await rowOf('nosecret', (r) => !!r.lastError);
  assert.equal(nosecret.lastError, 'password Secret beacon-system/missing: not found');
  assert.equal(nosecret.sessionState, 'Idle');
  // PREFIXES of the healthy session is what FRR holds from it.
  const torRoutes = (await frr.routes(['ipv4'])).filter((r) => r.fromPeer === NODE_IP).length;
  assert.ok(torRoutes >= 2);
  await rowOf(
    'tor',
    (r) => r.sessionState === 'Established' && r.lastError === undefined && r.prefixesAnnounced === torRoutes,
  );

  // The Secret fixed: the session comes up with no change to the BGPPeer, and its error is gone.
  await lab.rest.replace(`${secretPath}/md5-password`, secret('md5-password', 'first-password'));
  const up = await rowOf('md5', (r) => r.sessionState === 'Established');
  assert.equal(up.lastError, undefined);
  await frr.waitForSessionState(MD5_SRC, 'established', 30_000);

  // Rotation: the router moves to a new password (and drops the session), then the Secret follows.
  await frr.vtysh(
    'configure terminal',
    `router bgp ${FRR_ASN}`,
    `neighbor ${MD5_SRC} password second-password`,
  );
  await frr.waitForSessionState(MD5_SRC, ['idle', 'connect', 'active', 'opensent'], 30_000);
  await lab.rest.replace(`${secretPath}/md5-password`, secret('md5-password', 'second-password'));
  await frr.waitForSessionState(MD5_SRC, 'established', 60_000);
  await rowOf('md5', (r) => r.sessionState === 'Established' && r.lastError === undefined);

  // The missing Secret created: the peer now tries, and says why it cannot connect.
  await lab.rest.create(secretPath, secret('missing', 'whatever'));
  const tries = await rowOf('nosecret', (r) => /192\.0\.2\.3:179/.test(r.lastError ?? ''));
  assert.match(tries.lastError!, /host unreachable \(EHOSTUNREACH\)/);
});

test("GTSM: ttlSecurity: 1 establishes with FRR's ttl-security hops 1 and BIRD's ttl security on; without it FRR never lets the session up", {
  skip,
  timeout: 180_000,
}, async () => {
  await createBeaconObject(lab.rest, BEACON_NS, 'BGPPeer', 'gtsm-frr', {
    myASN: NODE_ASN,
    peerASN: FRR_ASN,
    peerAddress: FRR_IP,
    sourceAddress: GTSM_FRR_SRC,
    ttlSecurity: 1,
    holdTime: '9s',
  });
  await createBeaconObject(lab.rest, BEACON_NS, 'BGPPeer', 'gtsm-bird', {
    myASN: NODE_ASN,
    peerASN: NODE_ASN,
    peerAddress: BIRD_IP,
    sourceAddress: GTSM_BIRD_SRC,
    ttlSecurity: 1,
    holdTime: '9s',
  });
  await createBeaconObject(lab.rest, BEACON_NS, 'BGPPeer', 'gtsm-off', {
    myASN: NODE_ASN,
    peerASN: FRR_ASN,
    peerAddress: FRR_IP,
    sourceAddress: GTSM_OFF_SRC,
    holdTime: '9s',
  });
  const web = await serviceWith('gtsm');
  await routeAt(frr, web, GTSM_FRR_SRC);
  await routeAt(bird, web, GTSM_BIRD_SRC);
  await frr.waitForSessionState(GTSM_FRR_SRC, 'established', 5000);
  await bird.waitForSessionState(GTSM_BIRD_SRC, 'established', 5000);
  // The same FRR neighbour settings, Beacon without GTSM: its segments (TTL 64) never pass.
  const off = await rowOf('gtsm-off', (r) => !!r.lastError);
  assert.notEqual(off.sessionState, 'Established');
  assert.notEqual((await frr.neighbors()).find((n) => n.address === GTSM_OFF_SRC)?.state, 'established');
});

test('dynamicASN: external establishes as eBGP with FRR, internal as iBGP with BIRD, and internal is refused by an eBGP router', {
  skip,
  timeout: 180_000,
}, async () => {
  await createBeaconObject(lab.rest, BEACON_NS, 'BGPPeer', 'dyn-ext', {
    myASN: NODE_ASN,
    dynamicASN: 'external',
    peerAddress: FRR_IP,
    sourceAddress: DYN_EXT_SRC,
    holdTime: '9s',
  });
  await createBeaconObject(lab.rest, BEACON_NS, 'BGPPeer', 'dyn-int', {
    myASN: NODE_ASN,
    dynamicASN: 'internal',
    peerAddress: BIRD_IP,
    sourceAddress: DYN_INT_SRC,
    holdTime: '9s',
  });
  await createBeaconObject(lab.rest, BEACON_NS, 'BGPPeer', 'dyn-int-wrong', {
    myASN: NODE_ASN,
    dynamicASN: 'internal',
    peerAddress: FRR_IP,
    sourceAddress: DYN_WRONG_SRC,
    holdTime: '9s',
  });
  const web = await serviceWith('dynamic');
  const ebgp = await routeAt(frr, web, DYN_EXT_SRC);
  assert.deepEqual(ebgp.asPath, [NODE_ASN], 'eBGP: the node prepends its AS');
  const ibgp = await routeAt(bird, web, DYN_INT_SRC);
  assert.deepEqual(ibgp.asPath, [], 'iBGP: no AS prepended');
  assert.equal(ibgp.localPref, 100, 'iBGP carries LOCAL_PREF');
  const wrong = await rowOf('dyn-int-wrong', (r) => !!r.lastError);
  // RFC 4271 6.2: OPEN Message Error, Bad Peer AS.
  assert.equal(
    wrong.lastError,
    'sent NOTIFICATION 2/2 open-message-error/bad-peer-as: peer AS 64500, expected 64512',
  );
});
