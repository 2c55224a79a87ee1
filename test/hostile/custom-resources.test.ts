/**
 * Malformed Beacon objects through a real API server, with a `beacon controller` process serving: what one
 * object can get wrong is refused by the schema with a message naming the field; what only shows across
 * objects (overlaps, missing pools, a pool emptied under its Services) passes the schema and is reported in
 * status and Events, while the controller keeps serving and nothing already assigned moves.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiError } from '../../src/k8s/rest.ts';
import { createBeaconObject, waitForEvent } from '../harness/kube.ts';
import { waitFor } from '../harness/process.ts';
import { assertStillServing, CONFIG, type Setting, startSetting } from './controller.ts';

let s: Setting;
before(async () => {
  s = await startSetting();
});
after(() => s?.stop());

async function refused(kind: string, name: string, spec: Record<string, unknown>): Promise<string> {
  try {
    await createBeaconObject(s.rest, CONFIG, kind, name, spec);
  } catch (err) {
    assert.ok(err instanceof ApiError, String(err));
    assert.equal(err.status, 422, err.message);
    return err.message;
  }
  assert.fail(`${kind} ${name} was accepted`);
}

const tenThousand = Array.from({ length: 10_000 }, (_, i) => `10.${i >> 8}.${i & 255}.1/32`);

const schemaCases: { why: string; kind: string; spec: Record<string, unknown>; says: RegExp }[] = [
  {
    why: 'a pool naming 10,000 addresses one by one',
    kind: 'IPAddressPool',
    spec: { addresses: tenThousand },
    says: /spec\.addresses: Too many: 10000: must have at most 128 items/,
  },
  {
    why: 'a prefix length of 33',
    kind: 'IPAddressPool',
    spec: { addresses: ['10.0.0.0/33'] },
    says: /spec\.addresses\[0\].*"10\.0\.0\.0\/33" is neither a CIDR/,
  },
  {
    why: 'a range written backwards',
    kind: 'IPAddressPool',
    spec: { addresses: ['192.0.2.20-192.0.2.10'] },
    says: /spec\.addresses\[0\].*starts after it ends/,
  },
  {
    why: 'addresses as a string, not a list',
    kind: 'IPAddressPool',
    spec: { addresses: '192.0.2.0/24' },
    says: /spec\.addresses: Invalid value: "string": spec\.addresses in body must be of type array/,
  },
  {
    why: 'a unicode address',
    kind: 'IPAddressPool',
    spec: { addresses: ['１９２.０.２.０/２４'] },
    says: /spec\.addresses\[0\].*is neither a CIDR/,
  },
  {
    why: 'a peer ASN above 2^32-1',
    kind: 'BGPPeer',
    spec: { myASN: 64512, peerASN: 4294967296, peerAddress: '192.0.2.1' },
    says: /spec\.peerASN/,
  },
  {
    why: 'an advertisement selecting nodes with a bad operator',
    kind: 'L2Advertisement',
    spec: { nodeSelectors: [{ matchExpressions: [{ key: 'a', operator: 'Near', values: ['b'] }] }] },
    says: /spec\.nodeSelectors\[0\]\.matchExpressions\[0\]\.operator/,
  },
];

for (const c of schemaCases) {
  test(`refused by the schema: ${c.why}`, { timeout: 20_000 }, async () => {
    const message = await refused(c.kind, `bad-${schemaCases.indexOf(c)}`, c.spec);
    assert.match(message, c.says);
  });
}

interface PoolStatus {
  status?: {
    availableIPv4?: number;
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
}

async function poolStatus(name: string): Promise<PoolStatus['status']> {
  return (
    await s.rest.get<PoolStatus>(`/apis/beacon.dev/v1alpha1/namespaces/${CONFIG}/ipaddresspools/${name}`)
  ).status;
}

test('a pool overlapping another: Overlapping=True naming the other pool, and a PoolOverlap Event', {
  timeout: 30_000,
}, async () => {
  // "main" is 192.0.2.0/28 and 2001:db8::/124.
  await createBeaconObject(s.rest, CONFIG, 'IPAddressPool', 'overlap', { addresses: ['192.0.2.8/29'] });
  let cond: { status: string; message: string } | undefined;
  await waitFor(
    'the Overlapping condition',
    async () => {
      cond = (await poolStatus('overlap'))?.conditions?.find((c) => c.type === 'Overlapping');
      return cond?.status === 'True';
    },
    15_000,
  );
  assert.match(cond!.message, /main/);
  assert.match(cond!.message, /192\.0\.2\.8/);
  const e = await waitForEvent(s.rest, CONFIG, 'overlap', 'PoolOverlap');
  assert.equal(e.type, 'Warning');
});

test('a whole /8 (16,777,216 addresses) is counted, not walked, and an emptied pool keeps its Services', {
  timeout: 30_000,
}, async () => {
  await createBeaconObject(s.rest, CONFIG, 'IPAddressPool', 'huge', {
    addresses: ['10.0.0.0/8'],
    autoAssign: false,
  });
  await waitFor(
    'the /8 pool status',
    async () => (await poolStatus('huge'))?.availableIPv4 === 16_777_216,
    15_000,
  );
  // Shrink "main" so that it no longer holds what its Services were given.
  await s.rest.patch(`/apis/beacon.dev/v1alpha1/namespaces/${CONFIG}/ipaddresspools/main`, 'merge', {
    spec: { addresses: ['192.0.2.64/28'] },
  });
  const e = await waitForEvent(s.rest, 'hostile', 'keep-1', 'AddressNotInPool');
  assert.match(e.message, /keeps 192\.0\.2\.\d+, which is no longer in any IPAddressPool/);
});

test('an advertisement naming a pool that does not exist: a PoolNotFound Event', {
  timeout: 30_000,
}, async () => {
  await createBeaconObject(s.rest, CONFIG, 'L2Advertisement', 'ghost', { ipAddressPools: ['no-such-pool'] });
  const e = await waitForEvent(s.rest, CONFIG, 'ghost', 'PoolNotFound');
  assert.match(e.message, /no-such-pool/);
});

test('an advertisement naming a community nothing defines: CommunitiesResolved False and a CommunityNotFound Event, until it is defined', {
  timeout: 30_000,
}, async () => {
  await createBeaconObject(s.rest, CONFIG, 'BGPAdvertisement', 'typo', {
    communities: ['NO_EXPRT', 'no-export', '64512:7'],
  });
  const path = `/apis/beacon.dev/v1alpha1/namespaces/${CONFIG}/bgpadvertisements/typo`;
  const resolved = async () =>
    (
      await s.rest.get<{
        status?: { conditions?: { type: string; status: string; reason: string; message: string }[] };
      }>(path)
    ).status?.conditions?.find((c) => c.type === 'CommunitiesResolved');
  const e = await waitForEvent(s.rest, CONFIG, 'typo', 'CommunityNotFound');
  assert.equal(e.type, 'Warning');
  assert.match(e.message, /"NO_EXPRT" is neither defined by a Community object nor a well-known name/);
  assert.doesNotMatch(e.message, /"no-export"/, 'the well-known name is understood');
  assert.match(e.message, /not announced/);
  await waitFor('the condition False', async () => (await resolved())?.status === 'False', 10_000, 100);
  assert.equal((await resolved())?.reason, 'CommunityNotFound');
  await createBeaconObject(s.rest, CONFIG, 'Community', 'fix', {
    communities: [{ name: 'NO_EXPRT', value: '65535:65281' }],
  });
  await waitFor('the condition True', async () => (await resolved())?.status === 'True', 10_000, 100);
});

test('after all that, the controller still serves and nothing assigned before has moved', {
  timeout: 30_000,
}, async () => {
  await assertStillServing(s, 'after-resources');
});
