/**
 * Services with absurd annotations, through a real API server, at a `beacon controller` process: thousands
 * of addresses, invalid and mixed-family addresses, a 60 KB value, unicode look-alikes. Each gets a Warning
 * Event that says what is wrong in a readable size, nothing already assigned moves (the Service's own
 * address included), and the controller keeps serving.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  createService,
  type EventSummary,
  getService,
  ingressOf,
  waitForEvent,
  waitForIngress,
} from '../harness/kube.ts';
import { APP, assertStillServing, type Setting, startSetting } from './controller.ts';

const IPS = 'beacon.dev/load-balancer-ips';
const SHARE = 'beacon.dev/allow-shared-ip';
const POOL_ANNOTATION = 'beacon.dev/address-pool';
/** An Event a person reads: it names the problem without repeating a 60 KB value. */
const READABLE = 1024;

let s: Setting;
before(async () => {
  s = await startSetting();
});
after(() => s?.stop());

const thousands = Array.from({ length: 3000 }, (_, i) => `10.${i >> 8}.${i & 255}.1`).join(',');

const cases: {
  name: string;
  why: string;
  annotations: Record<string, string>;
  reason: string;
  says: RegExp;
}[] = [
  {
    name: 'many',
    why: '3,000 addresses',
    annotations: { [IPS]: thousands },
    reason: 'InvalidRequest',
    says: /10\.0\.0\.1/,
  },
  {
    name: 'word',
    why: 'not an address',
    annotations: { [IPS]: 'not-an-ip' },
    reason: 'InvalidRequest',
    says: /not-an-ip/,
  },
  {
    name: 'octet',
    why: 'an octet of 999',
    annotations: { [IPS]: '999.1.1.1' },
    reason: 'InvalidRequest',
    says: /999\.1\.1\.1/,
  },
  {
    name: 'cidr',
    why: 'a CIDR, not an address',
    annotations: { [IPS]: '192.0.2.1/24' },
    reason: 'InvalidRequest',
    says: /192\.0\.2\.1\/24/,
  },
  {
    name: 'mixed',
    why: 'an IPv6 address for a SingleStack IPv4 Service',
    annotations: { [IPS]: '192.0.2.5,2001:db8::5' },
    reason: 'InvalidRequest',
    says: /2001:db8::5/,
  },
  {
    name: 'huge',
    why: 'a 60 KB value',
    annotations: { [IPS]: `192.0.2.9,${'x'.repeat(60_000)}` },
    reason: 'InvalidRequest',
    says: /x{20}/,
  },
  {
    name: 'fullwidth',
    why: 'full-width digits that look like an address',
    annotations: { [IPS]: '１９２.０.２.７' },
    reason: 'InvalidRequest',
    says: /１９２/,
  },
  {
    name: 'zero-width',
    why: 'an address with a zero-width space',
    annotations: { [IPS]: '192.0.2.7\u200b' },
    reason: 'InvalidRequest',
    says: /192\.0\.2\.7/,
  },
  { name: 'emoji', why: 'an emoji', annotations: { [IPS]: '🙂' }, reason: 'InvalidRequest', says: /🙂/ },
  {
    name: 'pool-unicode',
    why: 'a pool named in Cyrillic look-alikes',
    annotations: { [POOL_ANNOTATION]: 'mаin' },
    reason: 'UnknownPool',
    says: /mаin/,
  },
  {
    name: 'pool-huge',
    why: 'a 60 KB pool name',
    annotations: { [POOL_ANNOTATION]: 'p'.repeat(60_000) },
    reason: 'UnknownPool',
    says: /p{20}/,
  },
];

for (const c of cases) {
  test(`${c.why}: a Warning ${c.reason} Event of readable size`, { timeout: 30_000 }, async () => {
    await createService(s.rest, APP, c.name, undefined, { annotations: c.annotations });
    const e: EventSummary = await waitForEvent(s.rest, APP, c.name, c.reason);
    assert.equal(e.type, 'Warning');
    assert.match(e.message, c.says);
    assert.ok(
      e.message.length <= READABLE,
      `a ${e.message.length}-character message: ${e.message.slice(0, 300)}...`,
    );
    assert.deepEqual(ingressOf(await getService(s.rest, APP, c.name)), []);
  });
}

test('a sharing key of 60 KB or in unicode is only a key: such Services share an address', {
  timeout: 30_000,
}, async () => {
  for (const key of ['k'.repeat(60_000), 'ключ🙂']) {
    const tag = key.length > 100 ? 'long' : 'uni';
    await createService(s.rest, APP, `share-${tag}-a`, undefined, {
      annotations: { [SHARE]: key },
      ports: [{ port: 80 }],
    });
    await createService(s.rest, APP, `share-${tag}-b`, undefined, {
      annotations: { [SHARE]: key },
      ports: [{ port: 443 }],
    });
    const [a] = await waitForIngress(s.rest, APP, `share-${tag}-a`);
    const [b] = await waitForIngress(s.rest, APP, `share-${tag}-b`);
    assert.equal(a, b);
  }
});

test('an assigned Service given absurd annotations keeps its address and gets a Warning', {
  timeout: 30_000,
}, async () => {
  const [before] = s.baseline.get('keep-1')!;
  await s.rest.patch(`/api/v1/namespaces/${APP}/services/keep-1`, 'merge', {
    metadata: { annotations: { [IPS]: `${thousands},🙂` } },
  });
  const e = await waitForEvent(s.rest, APP, 'keep-1', 'InvalidRequest');
  assert.ok(e.message.length <= READABLE, `a ${e.message.length}-character message`);
  // Give the controller time to (wrongly) act on it, then look again.
  await new Promise((r) => setTimeout(r, 1000));
  assert.deepEqual(ingressOf(await getService(s.rest, APP, 'keep-1')), [before]);
  await s.rest.patch(`/api/v1/namespaces/${APP}/services/keep-1`, 'merge', {
    metadata: { annotations: { [IPS]: null } },
  });
});

test('after all that, the controller still serves and nothing assigned before has moved', {
  timeout: 30_000,
}, async () => {
  await assertStillServing(s, 'after-annotations');
});
