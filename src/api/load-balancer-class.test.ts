import assert from 'node:assert/strict';
import { test } from 'node:test';
import { servedByBeacon } from './load-balancer-class.ts';

const lb = (loadBalancerClass?: string | null) => ({
  spec: { type: 'LoadBalancer', ...(loadBalancerClass !== undefined ? { loadBalancerClass } : {}) },
});
const own = 'beacon.dev/lb';

test('by default Beacon serves LoadBalancer Services with its class or no class', () => {
  const rule = { loadBalancerClass: own };
  assert.equal(servedByBeacon(lb(), rule), true);
  assert.equal(servedByBeacon(lb(null), rule), true);
  assert.equal(servedByBeacon(lb(''), rule), true);
  assert.equal(servedByBeacon(lb(own), rule), true);
  assert.equal(servedByBeacon(lb('metallb.io/metallb'), rule), false);
  assert.equal(servedByBeacon({ spec: { type: 'ClusterIP' } }, rule), false);
  assert.equal(servedByBeacon({ spec: { type: 'NodePort', loadBalancerClass: own } }, rule), false);
  assert.equal(servedByBeacon({}, rule), false);
});

test('class-only: Services without a class are left to another provider', () => {
  const rule = { loadBalancerClass: own, classOnly: true };
  assert.equal(servedByBeacon(lb(), rule), false);
  assert.equal(servedByBeacon(lb(null), rule), false);
  assert.equal(servedByBeacon(lb(''), rule), false);
  assert.equal(servedByBeacon(lb(own), rule), true);
  assert.equal(servedByBeacon(lb('other'), rule), false);
  assert.equal(servedByBeacon(lb(own), { loadBalancerClass: 'example.com/edge', classOnly: true }), false);
});
