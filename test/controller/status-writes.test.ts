/**
 * The controller's status writes (issue 13, items 2, 3 and 13): a write the API server refuses (here a
 * real ValidatingAdmissionPolicy) is retried after delays that double up to a cap, counted rather than
 * timed; a write made from an older copy of the Service than the server has is refused with 409 and
 * redone from the newer one; a 500 is retried until it goes through.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import type { KubeRest } from '../../src/k8s/rest.ts';
import { type ApiServer, startApiServer } from '../harness/apiserver.ts';
import { installCrds } from '../harness/crds.ts';
import { type FaultProxy, type RecordedRequest, startFaultProxy } from '../harness/fault-proxy.ts';
import {
  adminRest,
  createPool,
  createService,
  ensureNamespace,
  eventsFor,
  getService,
  ingressOf,
  type RunningController,
  startController,
  waitForEvent,
  waitForIngress,
} from '../harness/kube.ts';
import { waitFor } from '../harness/process.ts';

let api: ApiServer;
let rest: KubeRest;
let proxy: FaultProxy;
let running: RunningController | undefined;
let n = 0;
before(async () => {
  api = await startApiServer();
  await installCrds(api);
  rest = await adminRest(api);
  proxy = await startFaultProxy(api);
});
afterEach(async () => {
  proxy.clear();
  await running?.stop();
  running = undefined;
});
after(async () => {
  await proxy?.stop();
  await api?.stop();
});

async function setup() {
  n++;
  const [config, ns, cls] = [`sw-cfg-${n}`, `sw-app-${n}`, `beacon.dev/sw${n}`];
  await ensureNamespace(rest, config);
  await ensureNamespace(rest, ns);
  await createPool(rest, config, 'pool', { addresses: ['192.0.2.0/28'] });
  return { config, ns, cls };
}

const statusWrites = (ns: string, name: string) => (r: RecordedRequest) =>
  r.method === 'PATCH' && r.path === `/api/v1/namespaces/${ns}/services/${name}/status`;

test('a status write refused by an admission policy is retried after doubling delays up to a cap', {
  timeout: 120_000,
}, async () => {
  const { config, ns, cls } = await setup();
  const policy = 'refuse-service-status';
  const applied = await api.kubectl(
    ['apply', '-f', '-'],
    `apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicy
metadata: { name: ${policy} }
spec:
  failurePolicy: Fail
  matchConstraints:
    resourceRules:
    - { apiGroups: [""], apiVersions: [v1], operations: [UPDATE], resources: [services/status] }
  validations:
  - expression: "!(object.metadata.namespace == '${ns}' && object.metadata.name == 'refused')"
    message: status writes for this Service are refused by policy
    reason: Forbidden
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingAdmissionPolicyBinding
metadata: { name: ${policy} }
spec: { policyName: ${policy}, validationActions: [Deny] }
`,
  );
  assert.equal(applied.code, 0, applied.stderr);
  await createService(rest, ns, 'refused', cls);
  // The policy is in force once the API server refuses a status write of ours too.
  await waitFor(
    'the admission policy to be in force',
    async () => {
      try {
        // A dry run goes through admission but changes nothing.
        await rest.patch(
          `/api/v1/namespaces/${ns}/services/refused/status`,
          'merge',
          { status: { loadBalancer: { ingress: [{ ip: '198.51.100.1' }] } } },
          { query: { dryRun: 'All' } },
        );
        return false;
      } catch {
        return true;
      }
    },
    30_000,
    200,
  );

  // Only the refused Service's: on a busy machine another Service's write may be retried too (a 409).
  const delays: number[] = [];
  const key = `${ns}/refused`;
  running = await startController(
    api,
    {
      namespace: config,
      loadBalancerClass: cls,
      retryBackoff: { initialMs: 100, maxMs: 800 },
      // Real timers, seen: the delays the queue asks for are recorded, not measured.
      queueTimers: {
        setTimeout: (fn, ms, forKey) => {
          if (forKey === key) delays.push(ms);
          return setTimeout(fn, ms);
        },
        clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
      },
    },
    { access: proxy.access },
  );
  const ctl = running.controller;
  await createService(rest, ns, 'fine', cls);
  await waitForIngress(rest, ns, 'fine');
  await waitFor('six refused writes', () => ctl.failuresOf(key) >= 6, 60_000, 10);
  const failures = ctl.failuresOf(key);
  const attempts = proxy.count(statusWrites(ns, 'refused'));
  // One write per failure, plus at most the one in flight: no retry storm.
  assert.ok(
    attempts === failures || attempts === failures + 1,
    `${attempts} writes (${proxy.requests
      .filter(statusWrites(ns, 'refused'))
      .map((w) => w.status)
      .join(', ')}), ${failures} failures`,
  );
  assert.deepEqual(delays.slice(0, 6), [100, 200, 400, 800, 800, 800]);
  assert.equal(
    proxy.count((r) => statusWrites(ns, 'refused')(r) && r.status === 403),
    attempts,
  );
  // A person reading the Service's Events learns why, once (aggregated), not once per attempt.
  const refused = (await eventsFor(rest, ns, 'refused')).filter((e) => e.reason === 'StatusWriteRefused');
  assert.equal(refused.length, 1);
  assert.match(refused[0]!.message, /refused by policy; retrying with backoff/);

  // Once the policy goes, the next retry goes through and the backoff starts over.
  await api.kubectl(['delete', 'validatingadmissionpolicybinding', policy]);
  const [ip] = await waitForIngress(rest, ns, 'refused', undefined, 30_000);
  assert.ok(ip);
  await waitFor('the failures to be forgotten', () => ctl.failuresOf(key) === 0, 10_000, 10);
});

test('a write made from an older copy than the server has gets 409, and is redone from the newer one', {
  timeout: 60_000,
}, async () => {
  const { config, ns, cls } = await setup();
  // The controller hears of every Service change 1.5 s late, so its copy is older than the server's.
  proxy.add({ path: /^\/api\/v1\/services$/, watch: true, fault: { kind: 'delay', responseMs: 1500 } });
  running = await startController(
    api,
    { namespace: config, loadBalancerClass: cls, retryBackoff: { initialMs: 100, maxMs: 800 } },
    { access: proxy.access },
  );
  await createService(rest, ns, 'stale', cls, {
    annotations: { 'beacon.dev/load-balancer-ips': '192.0.2.5' },
  });
  // Changed by someone else before the controller has even seen it.
  await rest.patch(`/api/v1/namespaces/${ns}/services/stale`, 'merge', {
    metadata: { labels: { team: 'x' } },
  });
  assert.deepEqual(await waitForIngress(rest, ns, 'stale', undefined, 30_000), ['192.0.2.5']);
  const writes = () => proxy.requests.filter(statusWrites(ns, 'stale'));
  assert.ok(
    writes().some((w) => w.status === 409),
    `status writes: ${writes()
      .map((w) => w.status)
      .join(', ')}`,
  );
  // The controller's copy lags 1.5 s behind, so after the write that went through it may try again from
  // that copy and be refused (409) until the copy catches up: harmless, since nothing is written. What
  // counts is that the writes stop, one of them went through, and the address and the labels stay.
  await waitFor(
    'status writes to stop',
    () => (writes().at(-1)?.at ?? 0) < Date.now() - 3000,
    20_000,
    100,
    () =>
      writes()
        .map((w) => w.status)
        .join(', '),
  );
  assert.ok(
    writes().some((w) => w.status === 200),
    writes()
      .map((w) => w.status)
      .join(', '),
  );
  const settled = await getService(rest, ns, 'stale');
  assert.deepEqual(settled.metadata?.labels, { team: 'x' });
  assert.deepEqual(ingressOf(settled), ['192.0.2.5']);
});

test('a status write answered 500 is retried until it goes through', { timeout: 60_000 }, async () => {
  const { config, ns, cls } = await setup();
  proxy.add({
    method: 'PATCH',
    path: /\/services\/flaky\/status$/,
    fault: { kind: 'status', status: 500, reason: 'InternalError', message: 'etcdserver: request timed out' },
    times: 2,
  });
  running = await startController(
    api,
    { namespace: config, loadBalancerClass: cls, retryBackoff: { initialMs: 100, maxMs: 800 } },
    { access: proxy.access },
  );
  await createService(rest, ns, 'flaky', cls);
  const ips = await waitForIngress(rest, ns, 'flaky', undefined, 30_000);
  assert.equal(ips.length, 1);
  assert.deepEqual(
    proxy.requests.filter(statusWrites(ns, 'flaky')).map((r) => r.status),
    [500, 500, 200],
  );
  // The status shows before the reconcile has finished (the annotations follow it).
  const ctl = running.controller;
  await waitFor('the failures to be forgotten', () => ctl.failuresOf(`${ns}/flaky`) === 0, 10_000, 10);
  assert.equal(ingressOf(await getService(rest, ns, 'flaky'))[0], ips[0]);
});

test('an address a Service moves away from goes to no other Service while its status still shows it', {
  timeout: 90_000,
}, async () => {
  n++;
  const [config, ns, cls] = [`sw-cfg-${n}`, `sw-app-${n}`, `beacon.dev/sw${n}`];
  await ensureNamespace(rest, config);
  await ensureNamespace(rest, ns);
  await createPool(rest, config, 'one', { addresses: ['192.0.2.1/32'] });
  await createPool(rest, config, 'spare', { addresses: ['192.0.2.9/32'], autoAssign: false });
  running = await startController(
    api,
    { namespace: config, loadBalancerClass: cls, retryBackoff: { initialMs: 200, maxMs: 800 } },
    { access: proxy.access },
  );
  await createService(rest, ns, 'mover', cls);
  assert.deepEqual(await waitForIngress(rest, ns, 'mover'), ['192.0.2.1']);
  await createService(rest, ns, 'waiter', cls);
  await waitForEvent(rest, ns, 'waiter', 'PoolExhausted');
  // The mover's next status writes fail, so its status keeps showing 192.0.2.1 for a while.
  proxy.add({
    method: 'PATCH',
    path: new RegExp(`/namespaces/${ns}/services/mover/status$`),
    fault: { kind: 'status', status: 500, reason: 'InternalError', message: 'etcdserver: request timed out' },
    times: 4,
  });
  await rest.patch(`/api/v1/namespaces/${ns}/services/mover`, 'merge', {
    metadata: { annotations: { 'beacon.dev/load-balancer-ips': '192.0.2.9' } },
  });
  // Until the mover's status is written without it, the waiter must not show 192.0.2.1 too.
  const seen: string[] = [];
  await waitFor(
    "the mover's status to be written",
    async () => {
      const [mover, waiter] = await Promise.all([
        getService(rest, ns, 'mover'),
        getService(rest, ns, 'waiter'),
      ]);
      const both = ingressOf(mover).filter((ip) => ingressOf(waiter).includes(ip));
      if (both.length) seen.push(`${both.join(', ')} shown by mover and waiter`);
      return ingressOf(mover).join() === '192.0.2.9';
    },
    60_000,
    25,
  );
  assert.deepEqual(seen, []);
  assert.ok(proxy.count((r) => statusWrites(ns, 'mover')(r) && r.status === 500) >= 4);
  // Once it is written, the address is free and the waiting Service gets it without another change.
  assert.deepEqual(await waitForIngress(rest, ns, 'waiter', undefined, 30_000), ['192.0.2.1']);
});
