import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import { isServedByBeacon, requestAtAssignment, requestFor, termsRecord } from './service-request.ts';

function svc(spec: V1Service['spec'], annotations: Record<string, string> = {}): V1Service {
  return { metadata: { name: 'web', namespace: 'shop', annotations, labels: { app: 'web' } }, spec };
}

test('Beacon serves LoadBalancer Services with no class or its own class only', () => {
  assert.equal(isServedByBeacon(svc({ type: 'LoadBalancer' }), 'beacon.dev/lb'), true);
  assert.equal(
    isServedByBeacon(svc({ type: 'LoadBalancer', loadBalancerClass: 'beacon.dev/lb' }), 'beacon.dev/lb'),
    true,
  );
  assert.equal(
    isServedByBeacon(svc({ type: 'LoadBalancer', loadBalancerClass: 'other' }), 'beacon.dev/lb'),
    false,
  );
  assert.equal(isServedByBeacon(svc({ type: 'ClusterIP' }), 'beacon.dev/lb'), false);
});

test("Beacon's annotations win over MetalLB's, which win over spec.loadBalancerIP", () => {
  const both = svc(
    { type: 'LoadBalancer', loadBalancerIP: '192.0.2.9' },
    {
      'metallb.universe.tf/loadBalancerIPs': '192.0.2.2',
      'beacon.dev/load-balancer-ips': ' 192.0.2.1 , 2001:db8::1 ',
    },
  );
  assert.deepEqual(requestFor(both, {}).requestedAddresses, ['192.0.2.1', '2001:db8::1']);
  const metallb = svc(
    { type: 'LoadBalancer', loadBalancerIP: '192.0.2.9' },
    { 'metallb.io/loadBalancerIPs': '192.0.2.2' },
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
