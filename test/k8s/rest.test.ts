/**
 * The REST client against the real API server, with faults injected by the harness's proxy in front of it:
 * what a component sees when the server says "come back later", fails, drops the connection, answers too
 * late, or puts something unreadable into a watch.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { ApiError, KubeRest } from '../../src/k8s/rest.ts';
import { type ApiServer, startApiServer } from '../harness/apiserver.ts';
import { type FaultProxy, startFaultProxy } from '../harness/fault-proxy.ts';
import { adminRest, ensureNamespace } from '../harness/kube.ts';

let api: ApiServer;
let admin: KubeRest;
let proxy: FaultProxy;
let viaProxy: KubeRest;
const NS = 'rest';
const CM = `/api/v1/namespaces/${NS}/configmaps`;

before(async () => {
  api = await startApiServer();
  admin = await adminRest(api);
  proxy = await startFaultProxy(api);
  viaProxy = new KubeRest(proxy.access, { userAgent: 'beacon-tests/rest' });
  await ensureNamespace(admin, NS);
  await admin.create(CM, { metadata: { name: 'x' }, data: { a: '1' } });
});
afterEach(() => proxy.clear());
after(async () => {
  await proxy?.stop();
  await api?.stop();
});

const to = (path: string) => (r: { path: string }) => r.path === path;

test('429 with Retry-After is sent again after the wait the server asks for, and then succeeds', async () => {
  proxy.add({
    path: /\/configmaps\/x$/,
    fault: { kind: 'status', status: 429, reason: 'TooManyRequests', retryAfterSeconds: 1 },
    times: 2,
  });
  const before = proxy.count(to(`${CM}/x`));
  const cm = await viaProxy.get<{ data: Record<string, string> }>(`${CM}/x`);
  assert.deepEqual(cm.data, { a: '1' });
  assert.equal(proxy.count(to(`${CM}/x`)) - before, 3, 'two refusals, then the answer');
});

test('any answer with Retry-After (a 503 here) is tried again; retries stop after maxRetries', async () => {
  proxy.add({
    path: /\/configmaps\/x$/,
    fault: { kind: 'status', status: 503, reason: 'ServiceUnavailable', retryAfterSeconds: 0 },
    times: 1,
  });
  let before = proxy.count(to(`${CM}/x`));
  await viaProxy.get(`${CM}/x`);
  assert.equal(proxy.count(to(`${CM}/x`)) - before, 2);

  proxy.add({ path: /\/configmaps\/x$/, fault: { kind: 'status', status: 429, retryAfterSeconds: 0 } });
  const impatient = new KubeRest(proxy.access, { userAgent: 'beacon-tests/rest', maxRetries: 2 });
  before = proxy.count(to(`${CM}/x`));
  await assert.rejects(impatient.get(`${CM}/x`), (err: unknown) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 429);
    return true;
  });
  assert.equal(proxy.count(to(`${CM}/x`)) - before, 3, 'the first try and two retries, no more');
});

test('a 500 without Retry-After fails at once, with the reason and message of its Status', async () => {
  proxy.add({
    path: /\/configmaps\/x$/,
    fault: { kind: 'status', status: 500, reason: 'InternalError', message: 'etcd went away' },
    times: 1,
  });
  const before = proxy.count(to(`${CM}/x`));
  await assert.rejects(viaProxy.get(`${CM}/x`), (err: unknown) => {
    assert.ok(err instanceof ApiError);
    assert.equal(err.status, 500);
    assert.equal(err.reason, 'InternalError');
    assert.match(err.message, /GET \/api\/v1\/namespaces\/rest\/configmaps\/x: etcd went away/);
    return true;
  });
  assert.equal(proxy.count(to(`${CM}/x`)) - before, 1);
});

test('a dropped connection fails the call; the next call goes through', async () => {
  proxy.add({ path: /\/configmaps\/x$/, fault: { kind: 'drop' }, times: 1 });
  await assert.rejects(viaProxy.get(`${CM}/x`), (err: unknown) => err instanceof Error);
  assert.deepEqual((await viaProxy.get<{ data: Record<string, string> }>(`${CM}/x`)).data, { a: '1' });
});

test('timeoutMs bounds the whole call when the answer is late', async () => {
  proxy.add({ path: /\/configmaps\/x$/, fault: { kind: 'delay', responseMs: 5000 }, times: 1 });
  await assert.rejects(viaProxy.get(`${CM}/x`, { timeoutMs: 300 }), /no answer within 300 ms/);
});

test('a watch line the caller cannot read ends the watch with that error, never the process', async () => {
  proxy.add({ path: /\/configmaps$/, watch: true, fault: { kind: 'garbage', line: '{not json' }, times: 1 });
  const abort = new AbortController();
  const lines: string[] = [];
  await assert.rejects(
    viaProxy.stream(
      CM,
      { watch: 1, allowWatchBookmarks: true },
      (line) => {
        lines.push(line);
        JSON.parse(line);
      },
      abort.signal,
    ),
    SyntaxError,
  );
  assert.ok(lines.includes('{not json'));
  abort.abort();
});

test('a watch refused with a Status reports its code and reason (410 Expired)', async () => {
  proxy.add({
    path: /\/configmaps$/,
    watch: true,
    fault: { kind: 'status', status: 410, reason: 'Expired', message: 'too old resource version: 1 (2)' },
    times: 1,
  });
  await assert.rejects(
    viaProxy.stream(CM, { watch: 1, resourceVersion: '1' }, () => {}, new AbortController().signal),
    (err: unknown) => {
      assert.ok(err instanceof ApiError);
      assert.equal(err.status, 410);
      assert.equal(err.reason, 'Expired');
      assert.match(err.message, /too old resource version/);
      return true;
    },
  );
});
