import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import type { BGPAdvertisement, BGPPeer, IPAddressPool, L2Advertisement } from '../api/types.ts';
import { computePlan, type PlanInputs } from './plan.ts';

const node = (name: string, labels: Record<string, string> = {}, networkUnavailable = false): V1Node => ({
  metadata: { name, labels },
  status: { conditions: networkUnavailable ? [{ type: 'NetworkUnavailable', status: 'True' }] : [] },
});
const svc = (
  name: string,
  ips: string[],
  policy: 'Cluster' | 'Local' = 'Cluster',
  cls?: string,
): V1Service => ({
  metadata: { name, namespace: 'ns' },
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

function inputs(over: Partial<PlanInputs>): PlanInputs {
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
    ...over,
  };
}

test('L2: one owner per address, shared addresses elected once, no endpoints means no owner', () => {
  const plan = computePlan(
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
  assert.equal(plan.l2.length, 3);
  const shared = plan.l2.find((x) => x.address === '192.0.2.1')!;
  assert.deepEqual(shared.services, ['ns/a', 'ns/b']);
  assert.ok(shared.owner);
  const dead = plan.l2.find((x) => x.address === '192.0.2.3')!;
  assert.equal(dead.owner, undefined);
  assert.match(dead.reason!, /no Service using it has a serving endpoint/);
});

test('L2: Local policy elects only among nodes with a serving endpoint, and follows them', () => {
  const base = { services: [svc('a', ['192.0.2.1'], 'Local')], l2Advertisements: [l2({})] };
  assert.equal(computePlan(inputs({ ...base, endpointSlices: [slice('a', ['n2'])] })).l2[0]!.owner, 'n2');
  assert.equal(computePlan(inputs({ ...base, endpointSlices: [slice('a', ['n3'])] })).l2[0]!.owner, 'n3');
  assert.equal(
    computePlan(inputs({ ...base, endpointSlices: [slice('a', ['n3'], false)] })).l2[0]!.owner,
    undefined,
  );
});

test('L2: node selectors, dead speakers, excluded and NetworkUnavailable nodes are never owners', () => {
  const services = Array.from({ length: 50 }, (_, i) => svc(`s${i}`, [`192.0.2.${i + 1}`]));
  const endpointSlices = services.map((s) => slice(s.metadata!.name!, ['n1']));
  const plan = computePlan(
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
  for (const x of plan.l2) {
    assert.equal(x.owner, 'n1');
    assert.deepEqual(x.interfaces, ['eth1']);
  }
});

test('L2 and BGP follow the advertisements that select the address pool', () => {
  const plan = computePlan(
    inputs({
      services: [svc('a', ['192.0.2.1']), svc('b', ['198.51.100.1'])],
      endpointSlices: [slice('a', ['n1']), slice('b', ['n1'])],
      pools: [pool('p', ['192.0.2.0/24']), pool('q', ['198.51.100.0/24'], { tier: 'bgp' })],
      l2Advertisements: [l2({ ipAddressPools: ['p'] })],
      bgpAdvertisements: [bgpAd({ ipAddressPoolSelectors: [{ matchLabels: { tier: 'bgp' } }] })],
      bgpPeers: [peer('tor')],
    }),
  );
  assert.deepEqual(
    plan.l2.map((x) => x.address),
    ['192.0.2.1'],
  );
  assert.deepEqual(
    plan.bgp.map((x) => x.address),
    ['198.51.100.1'],
  );
});

test('BGP: every eligible node announces to the peers that select it, with aggregation and communities', () => {
  const plan = computePlan(
    inputs({
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
    }),
  );
  const v4 = plan.bgp.find((r) => r.address === '192.0.2.77')!;
  assert.equal(v4.prefix, '192.0.2.0/24');
  assert.deepEqual(v4.nodes, ['n1', 'n2', 'n3']);
  assert.deepEqual(v4.peersByNode.get('n1'), ['tor-a']);
  assert.deepEqual(v4.peersByNode.get('n3'), ['tor-b']);
  assert.deepEqual(v4.communities, ['64512:1', '65535:65281']);
  assert.equal(v4.localPref, 150);
  assert.equal(plan.bgp.find((r) => r.address === '2001:db8::1:5')!.prefix, '2001:db8::/64');
});

test("Services of another load-balancer class are not Beacon's to announce", () => {
  const plan = computePlan(
    inputs({
      services: [svc('a', ['192.0.2.1'], 'Cluster', 'other/lb')],
      endpointSlices: [slice('a', ['n1'])],
      l2Advertisements: [l2({})],
    }),
  );
  assert.equal(plan.l2.length, 0);
});

test('class-only: class-less Services (another provider, e.g. MetalLB) are not announced, classed ones are', () => {
  const services = [svc('metallb', ['192.0.2.1']), svc('moved', ['192.0.2.2'], 'Cluster', 'beacon.dev/lb')];
  const base = {
    services,
    endpointSlices: [slice('metallb', ['n1']), slice('moved', ['n1'])],
    l2Advertisements: [l2({})],
  };
  assert.deepEqual(
    computePlan(inputs(base)).l2.map((a) => a.address),
    ['192.0.2.1', '192.0.2.2'],
  );
  assert.deepEqual(
    computePlan(inputs({ ...base, classOnly: true })).l2.map((a) => a.address),
    ['192.0.2.2'],
  );
});
