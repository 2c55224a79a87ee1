/**
 * The informer against the real API server, with the harness's fault proxy in front of it: paginated
 * lists (and an expired continue token), a watch that ends in 410 Gone, a garbage line, a watch that
 * goes silent on an open connection, an outage that breaks every watch at once, a real API server
 * restart, and updates that change nothing the cache keeps.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1ConfigMap, V1Node } from '@kubernetes/client-node';
import { pino } from 'pino';
import { Informer, type InformerOptions } from '../../src/k8s/informer.ts';
import { KubeRest } from '../../src/k8s/rest.ts';
import type { Logger } from '../../src/log.ts';
import { slimNode } from '../../src/speaker/slim.ts';
import { type ApiServer, startApiServer } from '../harness/apiserver.ts';
import { type FaultProxy, type RecordedRequest, startFaultProxy } from '../harness/fault-proxy.ts';
import { adminRest, ensureNamespace } from '../harness/kube.ts';
import { waitFor } from '../harness/process.ts';

let api: ApiServer;
let admin: KubeRest;
let proxy: FaultProxy;
let viaProxy: KubeRest;
const stops: AbortController[] = [];

before(async () => {
  api = await startApiServer();
  admin = await adminRest(api);
  proxy = await startFaultProxy(api);
  viaProxy = new KubeRest(proxy.access, { userAgent: 'beacon-tests/informer' });
});
afterEach(() => {
  proxy.clear();
  for (const a of stops.splice(0)) a.abort();
});
after(async () => {
  await proxy?.stop();
  await api?.stop();
});

/** A logger whose lines the test can read. */
function capturingLogger(): { log: Logger; lines: { msg: string; [k: string]: unknown }[] } {
  const lines: { msg: string }[] = [];
  const log = pino({ level: 'info' }, { write: (s: string) => lines.push(JSON.parse(s)) });
  return { log, lines };
}

const CONFIGMAPS = { group: '', version: 'v1', plural: 'configmaps' };
const cmPath = (ns: string) => `/api/v1/namespaces/${ns}/configmaps`;

async function createConfigMaps(ns: string, names: string[]): Promise<void> {
  await ensureNamespace(admin, ns);
  await Promise.all(names.map((name) => admin.create(cmPath(ns), { metadata: { name }, data: { v: name } })));
}

function started<T extends { metadata?: { name?: string } }>(
  rest: KubeRest,
  ns: string,
  opts: InformerOptions<T> & { log?: Logger } = {},
  resource = CONFIGMAPS,
) {
  const abort = new AbortController();
  stops.push(abort);
  const { log, ...rest2 } = opts;
  const inf = new Informer<T>(rest, resource, log ?? pino({ level: 'silent' }), {
    ...(resource === CONFIGMAPS ? { namespace: ns } : {}),
    ...rest2,
  });
  const events: string[] = [];
  inf.on('add', (o) => events.push(`add ${o.metadata?.name}`));
  inf.on('update', (o) => events.push(`update ${o.metadata?.name}`));
  inf.on('delete', (o) => events.push(`delete ${o.metadata?.name}`));
  return { inf, abort, events, start: () => inf.start(abort.signal) };
}

const lists = (ns: string) => (r: RecordedRequest) => r.path === cmPath(ns) && !r.watch && r.method === 'GET';
const names = (inf: Informer<V1ConfigMap>) =>
  inf
    .list()
    .map((c) => c.metadata!.name!)
    .sort();

test('lists in pages of pageSize (limit + continue), emitting every object once', async () => {
  const ns = 'pages';
  const all = Array.from({ length: 25 }, (_, i) => `cm-${String(i).padStart(2, '0')}`);
  await createConfigMaps(ns, all);
  const { inf, events, start } = started<V1ConfigMap>(viaProxy, ns, { pageSize: 10 });
  await start();
  assert.deepEqual(names(inf), all);
  assert.equal(events.length, 25);
  const requests = proxy.requests.filter(lists(ns));
  assert.deepEqual(
    requests.map((r) => [r.query.get('limit'), r.query.has('continue')]),
    [
      ['10', false],
      ['10', true],
      ['10', true],
    ],
  );
});

test('an expired continue token (410) falls back to one list without a limit', async () => {
  const ns = 'expired';
  const all = Array.from({ length: 25 }, (_, i) => `cm-${String(i).padStart(2, '0')}`);
  await createConfigMaps(ns, all);
  proxy.add({
    path: new RegExp(`${cmPath(ns)}$`),
    query: (q) => q.has('continue'),
    fault: {
      kind: 'status',
      status: 410,
      reason: 'Expired',
      message: 'The provided continue parameter is too old to display a consistent list result.',
    },
    times: 1,
  });
  const { inf, start } = started<V1ConfigMap>(viaProxy, ns, { pageSize: 10 });
  await start();
  assert.deepEqual(names(inf), all);
  const requests = proxy.requests.filter(lists(ns));
  assert.deepEqual(
    requests.map((r) => [r.query.get('limit'), r.query.has('continue'), r.status]),
    [
      ['10', false, 200],
      ['10', true, 410],
      [null, false, 200],
    ],
  );
});

test('a watch that ends in 410 Gone lists again and emits what changed meanwhile', async () => {
  const ns = 'gone';
  await createConfigMaps(ns, ['a', 'b']);
  // The first watch is answered as a server answers a too old resourceVersion.
  proxy.add({ path: new RegExp(`${cmPath(ns)}$`), watch: true, fault: { kind: 'watchGone' }, times: 1 });
  const { inf, events, start } = started<V1ConfigMap>(viaProxy, ns, {
    backoff: { initialMs: 50, maxMs: 200 },
  });
  await start();
  await admin.create(cmPath(ns), { metadata: { name: 'c' } });
  await admin.delete(`${cmPath(ns)}/a`);
  await waitFor('the informer to catch up', () => names(inf).join() === 'b,c', 15_000, 20);
  assert.ok(events.includes('add c') && events.includes('delete a'), events.join('; '));
  assert.ok(proxy.count(lists(ns)) >= 2, 'listed again');
});

test('a malformed watch line is logged and answered with a fresh list; the process lives', async () => {
  const ns = 'garbage';
  await createConfigMaps(ns, ['a']);
  proxy.add({
    path: new RegExp(`${cmPath(ns)}$`),
    watch: true,
    fault: { kind: 'garbage', line: '<html>502 Bad Gateway</html>', afterMs: 100 },
    times: 1,
  });
  const { log, lines } = capturingLogger();
  const { inf, start } = started<V1ConfigMap>(viaProxy, ns, { log, backoff: { initialMs: 50, maxMs: 200 } });
  await start();
  await waitFor(
    'the malformed line to be logged',
    () => lines.some((l) => l.msg === 'malformed watch line; listing again'),
    15_000,
    20,
  );
  const warned = lines.find((l) => l.msg === 'malformed watch line; listing again')!;
  assert.match(String(warned.err), /502 Bad Gateway/);
  await admin.create(cmPath(ns), { metadata: { name: 'after' } });
  await waitFor('the informer to see a later change', () => !!inf.get(`${ns}/after`), 15_000, 20);
  assert.equal(proxy.count(lists(ns)), 2, 'one list at start, one after the garbage');
});

test('a watch that goes silent on an open connection is replaced after watchIdleMs', async () => {
  const ns = 'silent';
  await createConfigMaps(ns, ['a']);
  // Headers, then nothing: the connection stays up and the server's events never arrive.
  proxy.add({ path: new RegExp(`${cmPath(ns)}$`), watch: true, fault: { kind: 'stall' }, times: 1 });
  const { log, lines } = capturingLogger();
  const { inf, start } = started<V1ConfigMap>(viaProxy, ns, { log, watchIdleMs: 1500 });
  await start();
  await admin.create(cmPath(ns), { metadata: { name: 'late' } });
  await waitFor('the informer to see the change', () => !!inf.get(`${ns}/late`), 20_000, 20);
  assert.ok(lines.some((l) => l.msg === 'watch silent for too long; replacing it'));
  // Resumed from the last resourceVersion: no list needed.
  assert.equal(proxy.count(lists(ns)), 1);
});

test('after an outage breaks every watch, informers come back after jittered delays', async () => {
  const ns = 'outage';
  await createConfigMaps(ns, ['a']);
  const randoms = [0.1, 0.5, 0.9];
  const informers = randoms.map((r) => {
    const slept: number[] = [];
    // A client each, as in separate processes: one's success must not wake the others (next test).
    const own = new KubeRest(proxy.access, { userAgent: `beacon-tests/informer-${r}` });
    const s = started<V1ConfigMap>(own, ns, {
      backoff: { initialMs: 400, maxMs: 3200 },
      timing: {
        random: () => r,
        sleep: (ms, signal) => {
          slept.push(ms);
          return sleep(ms, undefined, { signal }).catch(() => {});
        },
      },
    });
    return { ...s, slept };
  });
  await Promise.all(informers.map((i) => i.start()));
  await sleep(200);
  await proxy.outage(1500);
  await admin.create(cmPath(ns), { metadata: { name: 'after' } });
  for (const i of informers)
    await waitFor('every informer to see the change', () => !!i.inf.get(`${ns}/after`), 20_000, 20);
  // The first retry waits 400 ms spread over [200, 600): each informer its own share of it.
  assert.deepEqual(
    informers.map((i) => i.slept[0]),
    randoms.map((r) => Math.round(400 * (0.5 + r))),
  );
  // Later failures in a row wait longer, each jittered the same way.
  for (const i of informers) {
    const nominal = i.slept.map((ms, k) => ms / (0.5 + randoms[informers.indexOf(i)]!) / 2 ** k);
    for (const n of nominal) assert.ok(Math.abs(n - 400) <= 1, `delays ${i.slept.join(', ')}`);
  }
});

test('an informer waiting out a grown backoff retries at once when another request of its process gets through', async () => {
  const ns = 'reachable-again';
  await createConfigMaps(ns, ['a']);
  const rest = new KubeRest(proxy.access, { userAgent: 'beacon-tests/reachable-again' });
  const slept: { ms: number; woken: boolean }[] = [];
  const { inf, start } = started<V1ConfigMap>(rest, ns, {
    backoff: { initialMs: 60_000, maxMs: 60_000 },
    timing: {
      random: () => 0.5,
      sleep: async (ms, signal) => {
        await sleep(ms, undefined, { signal }).catch(() => {});
        slept.push({ ms, woken: signal.aborted });
      },
    },
  });
  await start();
  await sleep(200);
  await proxy.outage(1000);
  // Another request of the same process (the speaker's Lease renewal, say) reaches the API server.
  await waitFor(
    'a request through once the outage is over',
    async () => !!(await rest.get(cmPath(ns)).catch(() => undefined)),
    10_000,
    100,
  );
  await admin.create(cmPath(ns), { metadata: { name: 'after' } });
  await waitFor('the informer to see the change', () => !!inf.get(`${ns}/after`), 10_000, 20);
  // The 60 s backoff was cut short, then a quarter of a second (250 ms × (0.5 + 0.5)) spread the retries.
  assert.deepEqual(slept, [
    { ms: 60_000, woken: true },
    { ms: 250, woken: false },
  ]);
});

test('an update that changes nothing the cache keeps is not emitted (a Node status heartbeat)', async () => {
  await admin.create('/api/v1/nodes', { metadata: { name: 'n1', labels: { zone: 'a' } } });
  const { inf, events, start } = started<V1Node>(
    admin,
    '',
    { slim: slimNode },
    {
      group: '',
      version: 'v1',
      plural: 'nodes',
    },
  );
  await start();
  assert.deepEqual(events, ['add n1']);
  let rv = '';
  for (let i = 0; i < 3; i++) {
    const at = new Date(Date.now() + i * 1000).toISOString().replace(/\.\d+Z$/, 'Z');
    const n = await admin.patch<V1Node>('/api/v1/nodes/n1/status', 'merge', {
      status: {
        conditions: [
          {
            type: 'Ready',
            status: 'True',
            reason: 'KubeletReady',
            message: 'kubelet is posting ready status',
            lastHeartbeatTime: at,
            lastTransitionTime: '2025-01-01T00:00:00Z',
          },
        ],
      },
    });
    rv = n.metadata!.resourceVersion!;
  }
  // The cache holds the newest version (conditional writes need it), without telling anyone.
  await waitFor(
    'the cache to hold the last heartbeat',
    () => inf.get('n1')?.metadata?.resourceVersion === rv,
    15_000,
    20,
  );
  assert.deepEqual(events, ['add n1']);
  await admin.patch('/api/v1/nodes/n1', 'merge', { metadata: { labels: { zone: 'b' } } });
  await waitFor('the label change', () => events.length === 2, 15_000, 20);
  assert.deepEqual(events, ['add n1', 'update n1']);
});

test('a real API server restart: the informer lists or watches again and sees later changes', {
  timeout: 120_000,
}, async () => {
  const ns = 'restart';
  await createConfigMaps(ns, ['a']);
  const { inf, start } = started<V1ConfigMap>(admin, ns, { backoff: { initialMs: 200, maxMs: 1000 } });
  await start();
  await api.restart();
  await admin.create(cmPath(ns), { metadata: { name: 'after' } });
  await waitFor(
    'the informer to see a change made after the restart',
    () => !!inf.get(`${ns}/after`),
    30_000,
    50,
  );
});
