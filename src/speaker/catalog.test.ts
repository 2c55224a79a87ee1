import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import { servedByBeacon } from '../api/load-balancer-class.ts';
import type { BGPAdvertisement, BGPPeer, IPAddressPool, L2Advertisement } from '../api/types.ts';
import { AddressCatalog, type CatalogConfig, POOL_ANNOTATION } from './catalog.ts';
import { Ownership } from './ownership.ts';

const node = (name: string, labels: Record<string, string> = {}, networkUnavailable = false): V1Node => ({
  metadata: { name, labels },
  status: { conditions: networkUnavailable ? [{ type: 'NetworkUnavailable', status: 'True' }] : [] },
});
const svc = (
  name: string,
  ips: string[],
  policy: 'Cluster' | 'Local' = 'Cluster',
  cls?: string,
  pool?: string,
): V1Service => ({
  metadata: { name, namespace: 'ns', ...(pool ? { annotations: { [POOL_ANNOTATION]: pool } } : {}) },
  spec: { type: 'LoadBalancer', externalTrafficPolicy: policy, ...(cls ? { loadBalancerClass: cls } : {}) },
  status: { loadBalancer: { ingress: ips.map((ip) => ({ ip })) } },
});
const slice = (service: string, nodes: string[], ready = true): V1EndpointSlice => ({
  addressType: 'IPv4',
  metadata: { name: `${service}-x`, namespace: 'ns', labels: { 'kubernetes.io/service-name': service } },
  endpoints: nodes.map((n) => ({ addresses: ['10.0.0.1'], nodeName: n, conditions: { ready } })),
});
const pool = (name: string, addresses: string[], labels: Record<string, string> = {}): IPAddressPool => ({
  apiVersion: 'beacon.dev/v1alpha1',
  kind: 'IPAddressPool',
  metadata: { name, labels },
  spec: { addresses },
});
const l2 = (spec: L2Advertisement['spec']): L2Advertisement => ({
  apiVersion: 'beacon.dev/v1alpha1',
  kind: 'L2Advertisement',
  metadata: { name: 'l2' },
  spec,
});
const bgpAd = (spec: BGPAdvertisement['spec']): BGPAdvertisement => ({
  apiVersion: 'beacon.dev/v1alpha1',
  kind: 'BGPAdvertisement',
  metadata: { name: 'b' },
  spec,
});
const peer = (name: string, spec: Partial<BGPPeer['spec']> = {}): BGPPeer => ({
  apiVersion: 'beacon.dev/v1alpha1',
  kind: 'BGPPeer',
  metadata: { name },
  spec: { myASN: 64512, peerASN: 64513, peerAddress: '192.0.2.254', ...spec },
});

interface Inputs extends CatalogConfig {
  services: V1Service[];
  endpointSlices: V1EndpointSlice[];
  liveSpeakers: Set<string>;
  loadBalancerClass: string;
  classOnly?: boolean;
  self: string;
}

function inputs(over: Partial<Inputs>): Inputs {
  return {
    services: [],
    endpointSlices: [],
    nodes: [node('n1'), node('n2'), node('n3')],
    pools: [pool('p', ['192.0.2.0/24', '2001:db8::/64'])],
    l2Advertisements: [],
    bgpAdvertisements: [],
    bgpPeers: [],
    communities: [],
    liveSpeakers: new Set(['n1', 'n2', 'n3']),
    loadBalancerClass: 'beacon.dev/lb',
    self: 'n1',
    ...over,
  };
}

/** The catalog filled from `i`, and the L2 owner of each address given the live speakers. */
function build(i: Inputs) {
  const c = new AddressCatalog(i.self, (s) => servedByBeacon(s, i));
  c.setConfig(i);
  for (const s of i.services) c.setService(`ns/${s.metadata!.name}`, s);
  for (const e of i.endpointSlices) c.setSlice(`ns/${e.metadata!.name}`, e);
  const o = new Ownership();
  for (const e of c.all()) if (e.l2) o.setAddress(e.address, e.l2.eligible);
  o.setLive(i.liveSpeakers);
  return { catalog: c, owner: (a: string) => o.owner(a), entries: [...c.all()] };
}

test('L2: one owner per address, shared addresses elected once, no endpoints means no owner', () => {
  const { catalog, owner, entries } = build(
    inputs({
      services: [
        svc('a', ['192.0.2.1']),
        svc('b', ['192.0.2.1']),
        svc('c', ['192.0.2.2']),
        svc('dead', ['192.0.2.3']),
      ],
      endpointSlices: [slice('a', ['n1']), slice('b', ['n2']), slice('c', ['n3'])],
      l2Advertisements: [l2({})],
    }),
  );
  assert.equal(entries.filter((e) => e.l2).length, 3);
  assert.deepEqual(catalog.get('192.0.2.1')!.services, ['ns/a', 'ns/b']);
  assert.ok(owner('192.0.2.1'));
  assert.equal(owner('192.0.2.3'), undefined);
  assert.match(catalog.get('192.0.2.3')!.l2!.reason!, /no Service using it has a serving endpoint/);
});

test('L2: Local policy elects only among nodes with a serving endpoint, and follows them', () => {
  const base = { services: [svc('a', ['192.0.2.1'], 'Local')], l2Advertisements: [l2({})] };
  assert.equal(build(inputs({ ...base, endpointSlices: [slice('a', ['n2'])] })).owner('192.0.2.1'), 'n2');
  assert.equal(build(inputs({ ...base, endpointSlices: [slice('a', ['n3'])] })).owner('192.0.2.1'), 'n3');
  assert.equal(
    build(inputs({ ...base, endpointSlices: [slice('a', ['n3'], false)] })).owner('192.0.2.1'),
    undefined,
  );
});

test('L2: node selectors, dead speakers, excluded and NetworkUnavailable nodes are never owners', () => {
  const services = Array.from({ length: 50 }, (_, i) => svc(`s${i}`, [`192.0.2.${i + 1}`]));
  const endpointSlices = services.map((s) => slice(s.metadata!.name!, ['n1']));
  const { catalog, owner } = build(
    inputs({
      services,
      endpointSlices,
      nodes: [
        node('n1', { zone: 'a' }),
        node('n2', { zone: 'a', 'node.kubernetes.io/exclude-from-external-load-balancers': '' }),
        node('n3', { zone: 'b' }),
        node('n4', { zone: 'a' }, true),
        node('n5', { zone: 'a' }),
      ],
      liveSpeakers: new Set(['n1', 'n2', 'n3', 'n4']),
      l2Advertisements: [l2({ nodeSelectors: [{ matchLabels: { zone: 'a' } }], interfaces: ['eth1'] })],
    }),
  );
  for (const e of catalog.all()) {
    assert.equal(owner(e.address), 'n1');
    assert.deepEqual(e.l2!.interfaces, ['eth1']);
  }
});

test('L2 and BGP follow the advertisements that select the address pool', () => {
  const { catalog } = build(
    inputs({
      services: [svc('a', ['192.0.2.1']), svc('b', ['198.51.100.1'])],
      endpointSlices: [slice('a', ['n1']), slice('b', ['n1'])],
      pools: [pool('p', ['192.0.2.0/24']), pool('q', ['198.51.100.0/24'], { tier: 'bgp' })],
      l2Advertisements: [l2({ ipAddressPools: ['p'] })],
      bgpAdvertisements: [bgpAd({ ipAddressPoolSelectors: [{ matchLabels: { tier: 'bgp' } }] })],
      bgpPeers: [peer('tor')],
    }),
  );
  assert.ok(catalog.get('192.0.2.1')!.l2);
  assert.deepEqual(catalog.get('192.0.2.1')!.bgp, []);
  assert.equal(catalog.get('198.51.100.1')!.l2, undefined);
  assert.deepEqual(
    catalog.get('198.51.100.1')!.bgp.map((r) => r.prefix),
    ['198.51.100.1/32'],
  );
});

test('the pool the controller recorded decides, even where pools overlap', () => {
  const { catalog } = build(
    inputs({
      services: [svc('a', ['192.0.2.1'], 'Cluster', undefined, 'wide')],
      endpointSlices: [slice('a', ['n1'])],
      pools: [pool('narrow', ['192.0.2.0/28']), pool('wide', ['192.0.2.0/24'])],
      l2Advertisements: [l2({ ipAddressPools: ['wide'] })],
    }),
  );
  assert.equal(catalog.get('192.0.2.1')!.pool, 'wide');
  assert.ok(catalog.get('192.0.2.1')!.l2);
});

test('BGP: this node announces to the peers that select it, with aggregation and communities', () => {
  const base = inputs({
    services: [svc('a', ['192.0.2.77', '2001:db8::1:5'])],
    endpointSlices: [slice('a', ['n1', 'n2'])],
    nodes: [node('n1', { rack: 'a' }), node('n2', { rack: 'b' }), node('n3', { rack: 'b' })],
    bgpAdvertisements: [
      bgpAd({
        aggregationLength: 24,
        aggregationLengthV6: 64,
        communities: ['64512:1', 'no-export'],
        localPref: 150,
        peers: ['tor-a', 'tor-b'],
      }),
    ],
    bgpPeers: [
      peer('tor-a', { nodeSelectors: [{ matchLabels: { rack: 'a' } }] }),
      peer('tor-b', { nodeSelectors: [{ matchLabels: { rack: 'b' } }] }),
      peer('other'),
    ],
    communities: [
      {
        apiVersion: 'beacon.dev/v1alpha1',
        kind: 'Community',
        metadata: { name: 'c' },
        spec: { communities: [{ name: 'no-export', value: '65535:65281' }] },
      },
    ],
  });
  const v4 = build(base).catalog.get('192.0.2.77')!.bgp[0]!;
  assert.equal(v4.prefix, '192.0.2.0/24');
  assert.deepEqual(v4.peers, ['tor-a']);
  assert.deepEqual(v4.communities, ['64512:1', '65535:65281']);
  assert.equal(v4.localPref, 150);
  // Cluster policy: a node without an endpoint of its own announces too.
  assert.deepEqual(build({ ...base, self: 'n3' }).catalog.get('192.0.2.77')!.bgp[0]!.peers, ['tor-b']);
  assert.equal(build(base).catalog.get('2001:db8::1:5')!.bgp[0]!.prefix, '2001:db8::/64');
});

test("Services of another load-balancer class are not Beacon's to announce", () => {
  const { catalog } = build(
    inputs({
      services: [svc('a', ['192.0.2.1'], 'Cluster', 'other/lb')],
      endpointSlices: [slice('a', ['n1'])],
      l2Advertisements: [l2({})],
    }),
  );
  assert.equal(catalog.size, 0);
});

test('a Service change touches only its own addresses; a configuration change keeps equal eligibility shared', () => {
  const services = Array.from({ length: 200 }, (_, i) => svc(`s${i}`, [`192.0.2.${i + 1}`]));
  const i = inputs({
    services,
    endpointSlices: services.map((s) => slice(s.metadata!.name!, ['n1'])),
    l2Advertisements: [l2({})],
  });
  const { catalog } = build(i);
  const eligibleBefore = catalog.get('192.0.2.5')!.l2!.eligible;
  assert.deepEqual(catalog.setService('ns/s7', svc('s7', ['192.0.2.8', '192.0.2.250'])), ['192.0.2.250']);
  assert.deepEqual(catalog.setService('ns/s7', undefined), ['192.0.2.8', '192.0.2.250']);
  // The same configuration again: nothing changes, and the eligible set is the very same object.
  assert.deepEqual(catalog.setConfig(i), []);
  assert.equal(catalog.get('192.0.2.5')!.l2!.eligible, eligibleBefore);
  // A node leaving the L2Advertisement's selection changes every address.
  assert.equal(catalog.setConfig({ ...i, nodes: [node('n1'), node('n2')] }).length, 199);
});

test('class-only: class-less Services (another provider, e.g. MetalLB) are not announced, classed ones are', () => {
  const base = {
    services: [svc('metallb', ['192.0.2.1']), svc('moved', ['192.0.2.2'], 'Cluster', 'beacon.dev/lb')],
    endpointSlices: [slice('metallb', ['n1']), slice('moved', ['n1'])],
    l2Advertisements: [l2({})],
  };
  const addresses = (i: Inputs) =>
    build(i)
      .entries.filter((e) => e.l2)
      .map((e) => e.address)
      .sort();
  assert.deepEqual(addresses(inputs(base)), ['192.0.2.1', '192.0.2.2']);
  assert.deepEqual(addresses(inputs({ ...base, classOnly: true })), ['192.0.2.2']);
});

test('BGP: well-known community names resolve; a route whose advertisement names an undefined one is withheld', () => {
  const ad = (name: string, communities: string[]) => ({ ...bgpAd({ communities }), metadata: { name } });
  const base = inputs({
    services: [svc('a', ['192.0.2.77'])],
    endpointSlices: [slice('a', ['n1'])],
    bgpPeers: [peer('tor')],
    bgpAdvertisements: [ad('named', ['NO_EXPORT', 'blackhole', '64512:7'])],
  });
  const route = build(base).catalog.get('192.0.2.77')!.bgp[0]!;
  // RFC 1997 NO_EXPORT 0xFFFFFF01, RFC 7999 BLACKHOLE 0xFFFF029A.
  assert.deepEqual(route.communities, ['65535:65281', '65535:666', '64512:7']);
  assert.equal(route.withheld, undefined);

  const typo = build({ ...base, bgpAdvertisements: [ad('typo', ['NO_EXPRT', '64512:7'])] }).catalog;
  const held = typo.get('192.0.2.77')!.bgp[0]!;
  assert.match(held.withheld ?? '', /^BGPAdvertisement typo: community name "NO_EXPRT" is neither defined/);
  assert.match(typo.unresolvedCommunities().get('typo') ?? '', /"NO_EXPRT"/);

  // Defined by a Community object, the name resolves and nothing is withheld any more.
  const fixed = build({
    ...base,
    bgpAdvertisements: [ad('typo', ['NO_EXPRT', '64512:7'])],
    communities: [
      {
        apiVersion: 'beacon.dev/v1alpha1',
        kind: 'Community',
        metadata: { name: 'c' },
        spec: { communities: [{ name: 'NO_EXPRT', value: '64512:9' }] },
      },
    ],
  }).catalog;
  assert.deepEqual(fixed.get('192.0.2.77')!.bgp[0]!.communities, ['64512:9', '64512:7']);
  assert.equal(fixed.get('192.0.2.77')!.bgp[0]!.withheld, undefined);
  assert.equal(fixed.unresolvedCommunities().size, 0);
});

test('a Service with several EndpointSlices: Local eligibility is the union of them; one going, or moving to another Service, takes only its nodes', () => {
  const c = new AddressCatalog('n1', () => true);
  c.setConfig(inputs({ l2Advertisements: [l2({})] }));
  c.setService('ns/a', svc('a', ['192.0.2.1'], 'Local'));
  c.setService('ns/b', svc('b', ['192.0.2.2'], 'Local'));
  const eligible = (ip: string) => [...(c.get(ip)?.l2?.eligible ?? [])].sort();
  const named = (name: string, service: string, nodes: string[]) => ({
    ...slice(service, nodes),
    metadata: { name, namespace: 'ns', labels: { 'kubernetes.io/service-name': service } },
  });
  c.setSlice('ns/a-1', named('a-1', 'a', ['n1']));
  assert.deepEqual(c.setSlice('ns/a-2', named('a-2', 'a', ['n2'])), ['192.0.2.1']);
  assert.deepEqual(eligible('192.0.2.1'), ['n1', 'n2']);
  // a-2 is relabelled to b: a keeps n1 only, b gets n2.
  assert.deepEqual(c.setSlice('ns/a-2', named('a-2', 'b', ['n2'])).sort(), ['192.0.2.1', '192.0.2.2']);
  assert.deepEqual(eligible('192.0.2.1'), ['n1']);
  assert.deepEqual(eligible('192.0.2.2'), ['n2']);
  assert.deepEqual(c.setSlice('ns/a-1', undefined), ['192.0.2.1']);
  assert.deepEqual(eligible('192.0.2.1'), []);
  assert.deepEqual(c.setSlice('ns/a-1', undefined), [], 'a slice deleted twice changes nothing');
});
