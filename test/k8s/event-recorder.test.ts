/**
 * The event recorder's aggregation against the real API server, through the fault proxy: repetitions
 * become one Event whose count ends exact, an expired Event starts anew, a failed write is retried a few
 * spaced times when the failure may pass and never in a loop, and a slow API server never gets the same
 * Event created twice.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { EventRecorder } from '../../src/k8s/events.ts';
import type { KubeObject } from '../../src/k8s/informer.ts';
import { KubeRest } from '../../src/k8s/rest.ts';
import { type ApiServer, startApiServer } from '../harness/apiserver.ts';
import { type FaultProxy, type RecordedRequest, startFaultProxy } from '../harness/fault-proxy.ts';
import { adminRest, ensureNamespace } from '../harness/kube.ts';
import { waitFor } from '../harness/process.ts';

let api: ApiServer;
let admin: KubeRest;
let proxy: FaultProxy;
let viaProxy: KubeRest;
const recorders: EventRecorder[] = [];
const NS = 'events';
let n = 0;

before(async () => {
  api = await startApiServer();
  admin = await adminRest(api);
  proxy = await startFaultProxy(api);
  viaProxy = new KubeRest(proxy.access, { userAgent: 'beacon-tests/events' });
  await ensureNamespace(admin, NS);
});
afterEach(() => {
  proxy.clear();
  for (const r of recorders.splice(0)) r.close();
});
after(async () => {
  await proxy?.stop();
  await api?.stop();
});

interface EventObject {
  metadata: { name: string; uid: string };
  reason: string;
  message: string;
  count: number;
}

/** A ConfigMap to hang Events on (an involved object needs a uid). */
async function subject(): Promise<KubeObject> {
  const cm = await admin.create<KubeObject>(`/api/v1/namespaces/${NS}/configmaps`, {
    metadata: { name: `subject-${++n}` },
  });
  return { ...cm, apiVersion: 'v1', kind: 'ConfigMap' };
}

async function eventsOn(obj: KubeObject): Promise<EventObject[]> {
  const list = await admin.get<{ items: EventObject[] }>(`/api/v1/namespaces/${NS}/events`, {
    query: { fieldSelector: `involvedObject.uid=${obj.metadata!.uid}` },
  });
  return list.items;
}

function recorder(minRewriteMs = 300): EventRecorder {
  const r = new EventRecorder(viaProxy, 'beacon-tests', 'host-1', pino({ level: 'silent' }), {
    minRewriteMs,
  });
  recorders.push(r);
  return r;
}

/** The next `times` Event creates get this answer from the proxy instead of the API server's. */
function answerCreates(status: number, reason: string, times: number, retryAfterSeconds?: number): void {
  proxy.add({
    method: 'POST',
    path: /\/events$/,
    fault: {
      kind: 'status',
      status,
      reason,
      ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
    },
    times,
  });
}

const creates = (r: RecordedRequest) => r.method === 'POST' && r.path === `/api/v1/namespaces/${NS}/events`;

test('repetitions become one Event whose count ends exact, even after a burst', async () => {
  const obj = await subject();
  const r = recorder();
  for (let i = 0; i < 5; i++) r.record(obj, 'Warning', 'PoolExhausted', 'no free IPv4 address');
  await sleep(100);
  for (let i = 0; i < 3; i++) r.record(obj, 'Warning', 'PoolExhausted', 'no free IPv4 address');
  r.record(obj, 'Normal', 'IPAllocated', 'Assigned 192.0.2.1');
  let events: EventObject[] = [];
  await waitFor(
    'the count to reach 8',
    async () => {
      events = await eventsOn(obj);
      return events.find((e) => e.reason === 'PoolExhausted')?.count === 8;
    },
    15_000,
    50,
    () => JSON.stringify(events),
  );
  assert.deepEqual(events.map((e) => [e.reason, e.count]).sort(), [
    ['IPAllocated', 1],
    ['PoolExhausted', 8],
  ]);
});

test('while the first write is slow, repetitions never create the Event twice', async () => {
  const obj = await subject();
  proxy.add({ method: 'POST', path: /\/events$/, fault: { kind: 'delay', requestMs: 800 } });
  const r = recorder();
  const before = proxy.count(creates);
  for (let i = 0; i < 20; i++) {
    r.record(obj, 'Warning', 'SharingConflict', 'both use port 80/TCP');
    await sleep(20);
  }
  await waitFor('the count to reach 20', async () => (await eventsOn(obj))[0]?.count === 20, 15_000, 50);
  assert.equal((await eventsOn(obj)).length, 1);
  assert.equal(proxy.count(creates) - before, 1);
});

test('an Event that expired (deleted) is created anew on the next repetition', async () => {
  const obj = await subject();
  const r = recorder();
  r.record(obj, 'Warning', 'AddressInUse', '192.0.2.1 is already used');
  await waitFor('the Event', async () => (await eventsOn(obj)).length === 1, 15_000, 50);
  const first = (await eventsOn(obj))[0]!;
  await admin.delete(`/api/v1/namespaces/${NS}/events/${first.metadata.name}`);
  await sleep(400);
  r.record(obj, 'Warning', 'AddressInUse', '192.0.2.1 is already used');
  await waitFor('a new Event', async () => (await eventsOn(obj)).length === 1, 15_000, 50);
  const second = (await eventsOn(obj))[0]!;
  // A new object (its name is the aggregation key's, so it may be the same name).
  assert.notEqual(second.metadata.uid, first.metadata.uid);
  assert.equal(second.count, 2);
});

test('a create refused for good (403) is not retried; the next repetition creates the Event', async () => {
  const obj = await subject();
  answerCreates(403, 'Forbidden', 1);
  const r = recorder();
  const before = proxy.count(creates);
  r.record(obj, 'Warning', 'UnknownPool', 'pool blue does not exist');
  await sleep(1500);
  assert.equal(proxy.count(creates) - before, 1, 'one attempt, however long we wait');
  assert.deepEqual(await eventsOn(obj), []);
  r.record(obj, 'Warning', 'UnknownPool', 'pool blue does not exist');
  await waitFor('the Event', async () => (await eventsOn(obj))[0]?.count === 2, 15_000, 50);
});

test('a create that fails for a reason that may pass (500) is tried again a second later, a few times at most', async () => {
  const obj = await subject();
  answerCreates(500, 'InternalError', 2);
  const r = recorder();
  const before = proxy.count(creates);
  r.record(obj, 'Warning', 'UnknownPool', 'pool blue does not exist');
  // Retries after 1 s, then 2 s: the third attempt gets through, with nothing else recorded meanwhile.
  await waitFor('the Event', async () => (await eventsOn(obj))[0]?.count === 1, 15_000, 50);
  assert.equal(proxy.count(creates) - before, 3);
});

test('a create answered 429 is sent again after Retry-After', async () => {
  const obj = await subject();
  answerCreates(429, 'TooManyRequests', 2, 0);
  const r = recorder();
  const before = proxy.count(creates);
  r.record(obj, 'Normal', 'IPAllocated', 'Assigned 192.0.2.7');
  await waitFor('the Event', async () => (await eventsOn(obj)).length === 1, 15_000, 50);
  assert.equal(proxy.count(creates) - before, 3);
});

test('settled() waits out the retries and the last count rewrite, and then the API server has it all', async () => {
  const obj = await subject();
  answerCreates(503, 'ServiceUnavailable', 2);
  const r = recorder(800);
  const before = proxy.count(creates);
  r.record(obj, 'Warning', 'PoolExhausted', 'no free IPv4 address');
  await r.settled();
  // Two failures, retried after 1 s and 2 s: the third create is the one that landed.
  assert.equal(proxy.count(creates) - before, 3);
  assert.deepEqual(
    (await eventsOn(obj)).map((e) => e.count),
    [1],
  );
  // Repetitions within the rewrite interval: the final count is written once the interval has passed.
  for (let i = 0; i < 4; i++) r.record(obj, 'Warning', 'PoolExhausted', 'no free IPv4 address');
  await r.settled();
  assert.deepEqual(
    (await eventsOn(obj)).map((e) => e.count),
    [5],
  );
});

test('settled() also resolves when a write was refused for good (403), with nothing written', async () => {
  const obj = await subject();
  answerCreates(403, 'Forbidden', 1);
  const r = recorder();
  r.record(obj, 'Warning', 'UnknownPool', 'pool blue does not exist');
  await r.settled();
  assert.deepEqual(await eventsOn(obj), []);
});
