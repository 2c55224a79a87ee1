import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import { Allocator } from '../ipam/allocator.ts';
import { isServedByBeacon, requestAtAssignment, requestFor, termsRecord } from './service-request.ts';

function svc(spec: V1Service['spec'], annotations: Record<string, string> = {}): V1Service {
  return { metadata: { name: 'web', namespace: 'shop', annotations, labels: { app: 'web' } }, spec };
}

test('Beacon serves LoadBalancer Services with no class or its own class only', () => {
  assert.equal(isServedByBeacon(svc({ type: 'LoadBalancer' }), { loadBalancerClass: 'beacon.dev/lb' }), true);
  assert.equal(
    isServedByBeacon(svc({ type: 'LoadBalancer', loadBalancerClass: 'beacon.dev/lb' }), {
      loadBalancerClass: 'beacon.dev/lb',
    }),
    true,
  );
  assert.equal(
    isServedByBeacon(svc({ type: 'LoadBalancer', loadBalancerClass: 'other' }), {
      loadBalancerClass: 'beacon.dev/lb',
    }),
    false,
  );
  assert.equal(isServedByBeacon(svc({ type: 'ClusterIP' }), { loadBalancerClass: 'beacon.dev/lb' }), false);
});

test("Beacon's annotations win over MetalLB's; spec.loadBalancerIP is read when no annotation is set", () => {
  const both = svc(
    { type: 'LoadBalancer', loadBalancerIP: '192.0.2.1' },
    {
      'metallb.universe.tf/loadBalancerIPs': '192.0.2.2',
      'beacon.dev/load-balancer-ips': ' 192.0.2.1 , 2001:db8::1 ',
    },
  );
  assert.deepEqual(requestFor(both, {}).requestedAddresses, ['192.0.2.1', '2001:db8::1']);
  const metallb = svc(
    { type: 'LoadBalancer' },
    { 'metallb.io/loadBalancerIPs': '192.0.2.2', 'metallb.universe.tf/loadBalancerIPs': '192.0.2.3' },
  );
  assert.deepEqual(requestFor(metallb, {}).requestedAddresses, ['192.0.2.2']);
  assert.deepEqual(
    requestFor(svc({ type: 'LoadBalancer', loadBalancerIP: '192.0.2.9' }), {}).requestedAddresses,
    ['192.0.2.9'],
  );
  const pool = svc({ type: 'LoadBalancer' }, { 'metallb.universe.tf/address-pool': 'gold' });
  assert.equal(requestFor(pool, {}).pool, 'gold');
});

test('families follow ipFamilies and ipFamilyPolicy', () => {
  const single = requestFor(
    svc({ type: 'LoadBalancer', ipFamilies: ['IPv6', 'IPv4'], ipFamilyPolicy: 'SingleStack' }),
    {},
  );
  assert.deepEqual([single.families, single.requireAllFamilies], [[6], true]);
  const prefer = requestFor(
    svc({ type: 'LoadBalancer', ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'PreferDualStack' }),
    {},
  );
  assert.deepEqual([prefer.families, prefer.requireAllFamilies], [[4, 6], false]);
  const require = requestFor(
    svc({ type: 'LoadBalancer', ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack' }),
    {},
  );
  assert.deepEqual([require.families, require.requireAllFamilies], [[4, 6], true]);
});

test('a sharing key carries ports, traffic policy and selector', () => {
  const r = requestFor(
    svc(
      {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        selector: { app: 'web' },
        ports: [{ port: 53, protocol: 'UDP' }, { port: 80 }],
      },
      { 'metallb.io/allow-shared-ip': 'k' },
    ),
    { team: 'a' },
  );
  assert.deepEqual(r.sharing, {
    key: 'k',
    ports: [
      { port: 53, protocol: 'UDP' },
      { port: 80, protocol: 'TCP' },
    ],
    trafficPolicy: 'Local',
    podSelector: { app: 'web' },
  });
  assert.deepEqual(r.namespaceLabels, { team: 'a' });
});

test('a rebuild uses the sharing terms recorded at assignment; an unreadable record falls back to now', () => {
  const spec: V1Service['spec'] = { type: 'LoadBalancer', ports: [{ port: 443, protocol: 'TCP' }] };
  const now = { 'beacon.dev/allow-shared-ip': 'blue' };
  const recorded = requestFor(
    svc({ ...spec, ports: [{ port: 80, protocol: 'TCP' }] }, { 'beacon.dev/allow-shared-ip': 'red' }),
    {},
  );
  const withRecord = svc(spec, { ...now, 'beacon.dev/ip-allocated-sharing': termsRecord(recorded.sharing)! });
  assert.deepEqual(requestAtAssignment(withRecord, {}).sharing, recorded.sharing);
  assert.equal(requestAtAssignment(withRecord, {}).sharing?.key, 'red');
  // Assigned without sharing: restored without, whatever the annotations say now.
  assert.equal(
    requestAtAssignment(svc(spec, { ...now, 'beacon.dev/ip-allocated-sharing': '' }), {}).sharing,
    undefined,
  );
  for (const bad of ['{', '{"key":1}', '[]', '{"key":"x","trafficPolicy":"Cluster","ports":[{"port":"80"}]}'])
    assert.equal(
      requestAtAssignment(svc(spec, { ...now, 'beacon.dev/ip-allocated-sharing': bad }), {}).sharing?.key,
      'blue',
      bad,
    );
  assert.equal(requestAtAssignment(svc(spec, now), {}).sharing?.key, 'blue');
});

describe('what a Service asks for, as MetalLB users write it', () => {
  const lan = (): Allocator => {
    const a = new Allocator();
    assert.deepEqual(
      a.setPools([{ name: 'lan', addresses: ['192.0.2.0/24'], autoAssign: true, avoidBuggyIPs: false }])
        .errors,
      [],
    );
    return a;
  };

  // MetalLB (controller/service.go, getDesiredLbIPs) refuses a Service that sets both its loadBalancerIPs
  // annotation and spec.loadBalancerIP: "service can not have both ... and svc.Spec.LoadBalancerIP". Taking
  // one of two addresses that disagree and silently dropping the other hides the user's mistake.
  test('spec.loadBalancerIP that disagrees with the annotation is refused, and the address held is kept', () => {
    const a = lan();
    const first = svc({ type: 'LoadBalancer' }, { 'metallb.io/loadBalancerIPs': '192.0.2.10' });
    assert.ok(a.assign(requestFor(first, {})).ok);
    const both = svc(
      { type: 'LoadBalancer', loadBalancerIP: '192.0.2.20' },
      { 'metallb.io/loadBalancerIPs': '192.0.2.10' },
    );
    const r = a.assign(requestFor(both, {}));
    assert.ok(!r.ok);
    assert.equal(r.refusal.reason, 'InvalidRequest');
    assert.match(r.refusal.message, /192\.0\.2\.20/);
    assert.match(r.refusal.message, /192\.0\.2\.10/);
    assert.deepEqual(
      r.assignment?.addresses.map((x) => x.address),
      ['192.0.2.10'],
    );
  });

  test('spec.loadBalancerIP that names one of the annotated addresses, in any spelling, is no contradiction', () => {
    const a = lan();
    const agreeing = svc(
      {
        type: 'LoadBalancer',
        loadBalancerIP: '192.0.2.10',
        ipFamilies: ['IPv4', 'IPv6'],
        ipFamilyPolicy: 'PreferDualStack',
      },
      { 'beacon.dev/load-balancer-ips': '192.0.2.10, 2001:db8::10' },
    );
    assert.equal(requestFor(agreeing, {}).problem, undefined);
    const v6 = svc(
      { type: 'LoadBalancer', loadBalancerIP: '2001:DB8:0::10', ipFamilies: ['IPv6'] },
      { 'beacon.dev/load-balancer-ips': '2001:db8::10' },
    );
    assert.equal(requestFor(v6, {}).problem, undefined);
    assert.deepEqual(addresses(a.assign(requestFor(agreeing, {}))), ['192.0.2.10']);
  });

  // An empty entry is not an address; MetalLB fails the whole list on it ("invalid metallb.io/loadBalancerIPs").
  // A Service that asked for specific addresses must not be given an automatic one instead.
  test('an empty entry in the address list is refused, not read as "no address requested"', () => {
    for (const list of [',', '192.0.2.10,', ' , 192.0.2.10']) {
      const a = lan();
      const r = a.assign(
        requestFor(svc({ type: 'LoadBalancer' }, { 'metallb.io/loadBalancerIPs': list }), {}),
      );
      assert.ok(!r.ok, `${list} was accepted`);
      assert.equal(r.refusal.reason, 'InvalidRequest', list);
      assert.equal(a.assignmentOf('shop/web'), undefined, list);
    }
  });
});

function addresses(r: ReturnType<Allocator['assign']>): string[] {
  assert.ok(r.ok, r.ok ? '' : r.refusal.message);
  return r.assignment.addresses.map((x) => x.address);
}

// MetalLB's usage page: Services share an address when they have the same sharing key, use different
// ports (port and protocol), and both use the Cluster policy or select exactly the same pods. Kubernetes
// defaults an omitted port protocol to TCP.
describe("MetalLB's sharing rules, read from the Services as users write them", () => {
  const shared = (name: string, spec: V1Service['spec'], ip = '192.0.2.10') => ({
    metadata: {
      name,
      namespace: 'shop',
      annotations: { 'metallb.io/allow-shared-ip': 'k', 'metallb.io/loadBalancerIPs': ip },
    },
    spec: { type: 'LoadBalancer', ...spec },
  });
  const lan = (): Allocator => {
    const a = new Allocator();
    a.setPools([{ name: 'lan', addresses: ['192.0.2.0/24'], autoAssign: true, avoidBuggyIPs: false }]);
    return a;
  };

  test('one port number over TCP, UDP and SCTP is three different ports; an omitted protocol is TCP', () => {
    const a = lan();
    for (const [name, protocol] of [
      ['dns-tcp', 'TCP'],
      ['dns-udp', 'UDP'],
      ['dns-sctp', 'SCTP'],
    ] as const)
      assert.deepEqual(
        addresses(a.assign(requestFor(shared(name, { ports: [{ port: 53, protocol }] }), {}))),
        ['192.0.2.10'],
      );
    const r = a.assign(requestFor(shared('dns-default', { ports: [{ port: 53 }] }), {}));
    assert.ok(!r.ok);
    assert.equal(r.refusal.reason, 'SharingConflict');
  });

  test('with policy Local, equal selectors share whatever their order, different ones do not', () => {
    const a = lan();
    const local = (name: string, port: number, selector: Record<string, string>) =>
      shared(name, { ports: [{ port }], externalTrafficPolicy: 'Local', selector });
    assert.ok(a.assign(requestFor(local('a', 80, { app: 'web', tier: 'front' }), {})).ok);
    assert.ok(a.assign(requestFor(local('b', 443, { tier: 'front', app: 'web' }), {})).ok);
    const r = a.assign(requestFor(local('c', 8080, { app: 'other' }), {}));
    assert.ok(!r.ok);
    assert.equal(r.refusal.reason, 'SharingConflict');
  });
});
