/**
 * Events as an operator reads them, against a real API server: aggregated across leader changes (a new
 * controller replica counts on the Event its predecessor wrote), and the speaker's NodeAnnouncing listed by
 * `kubectl describe svc`, which shows only Events naming the Service's uid.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import { EventRecorder } from '../src/k8s/events.ts';
import type { KubeRest } from '../src/k8s/rest.ts';
import { StatusWriter } from '../src/speaker/status-writer.ts';
import { type ApiServer, startApiServer } from './harness/apiserver.ts';
import { installCrds } from './harness/crds.ts';
import { adminRest, createService, ensureNamespace } from './harness/kube.ts';
import { capturingLogger } from './harness/log-lines.ts';
import { waitFor } from './harness/process.ts';

const APP = 'shop';
const BEACON_NS = 'beacon-system';
// A failed write is logged (a retry at debug, giving up as a warning): an assertion that fails shows why.
const { log, lines: recorderLog } = capturingLogger('debug', { component: 'events-test' });
const recorderSaid = () => `the recorders logged:\n${recorderLog.join('\n') || '(nothing)'}`;

let api: ApiServer;
let rest: KubeRest;
before(async () => {
  api = await startApiServer();
  await installCrds(api);
  rest = await adminRest(api);
  await ensureNamespace(rest, APP);
  await ensureNamespace(rest, BEACON_NS);
});
after(() => api?.stop());

interface Event {
  reason: string;
  count: number;
  message: string;
  source: { component: string; host: string };
}

async function eventsOf(name: string): Promise<Event[]> {
  const list = await rest.get<{ items: Event[] }>(`/api/v1/namespaces/${APP}/events`, {
    query: { fieldSelector: `involvedObject.name=${name}` },
  });
  return list.items;
}

// Each recorder is awaited until it has nothing left to write (its retries included), not for a set time:
// on a loaded machine a write may need a retry or two.
test('the same Event from a new leader is counted on, not repeated', { timeout: 600_000 }, async () => {
  await createService(rest, APP, 'full', undefined);
  const svc = await rest.get<V1Service>(`/api/v1/namespaces/${APP}/services/full`);
  const obj = { ...svc, apiVersion: 'v1', kind: 'Service' };
  const message = 'every pool the Service may use is full (pools: main)';
  // Two replicas of the controller, one after the other (each leads in turn): separate recorders.
  const first = new EventRecorder(rest, 'beacon-controller', 'controller-a', log);
  first.record(obj, 'Warning', 'PoolExhausted', message);
  await first.settled();
  let events = await eventsOf('full');
  assert.deepEqual(
    events.map((e) => e.count),
    [1],
    `the first leader's Event: ${JSON.stringify(events)}\n${recorderSaid()}`,
  );
  const second = new EventRecorder(rest, 'beacon-controller', 'controller-b', log);
  second.record(obj, 'Warning', 'PoolExhausted', message);
  await second.settled();
  events = await eventsOf('full');
  assert.equal(
    events.length,
    1,
    `one Event, not one per leader: ${JSON.stringify(events)}\n${recorderSaid()}`,
  );
  assert.equal(events[0]!.count, 2);
  assert.equal(events[0]!.reason, 'PoolExhausted');
  assert.equal(events[0]!.message, message);
  // A different message is a different Event.
  second.record(obj, 'Warning', 'PoolExhausted', `${message}, and main2`);
  await second.settled();
  events = await eventsOf('full');
  assert.equal(events.length, 2, `${JSON.stringify(events)}\n${recorderSaid()}`);
});

test("kubectl describe svc lists the speaker's NodeAnnouncing Event", { timeout: 30_000 }, async () => {
  await createService(rest, APP, 'web', undefined);
  const svc = await rest.get<V1Service>(`/api/v1/namespaces/${APP}/services/web`);
  const events = new EventRecorder(rest, 'beacon-speaker', 'node-a', log);
  // The uid lookup the speaker gives its status writer (from its Service cache), here from the API.
  const uids = new Map([[`${APP}/web`, svc.metadata!.uid!]]);
  const writer = new StatusWriter(rest, BEACON_NS, 'node-a', events, log, (ns, name) =>
    uids.get(`${ns}/${name}`),
  );
  writer.setL2([{ service: `${APP}/web`, addresses: ['192.0.2.10'], via: ['eth0'] }]);
  await writer.settle();
  let described = '';
  await waitFor(
    'NodeAnnouncing in kubectl describe',
    async () => {
      described = (await api.kubectl(['describe', 'service', 'web', '-n', APP])).stdout;
      return described.includes('NodeAnnouncing');
    },
    10_000,
    100,
    () => described,
  );
  assert.match(
    described,
    /Normal\s+NodeAnnouncing\s+.*node node-a now answers ARP\/NDP for 192\.0\.2\.10 on eth0/,
  );
});
