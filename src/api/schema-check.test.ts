import assert from 'node:assert/strict';
import { test } from 'node:test';
import { bgpPeerKind } from './crds/bgp-peer.ts';
import { ipAddressPoolKind } from './crds/ip-address-pool.ts';
import { structuralErrors as faults } from './schema-check.ts';

const structuralErrors = (...args: Parameters<typeof faults>) =>
  faults(...args).map((f) => `${f.path}: ${f.message}`);

const peerSchema = bgpPeerKind.spec!.json;
const poolSchema = ipAddressPoolKind.spec!.json;

test('a BGPPeer spec that fits the schema has no errors', () => {
  assert.deepEqual(
    structuralErrors(peerSchema, {
      myASN: 64500,
      peerASN: 64501,
      peerAddress: '192.0.2.1',
      holdTime: '1m30s',
      nodeSelectors: [{ matchExpressions: [{ key: 'rack', operator: 'In', values: ['a'] }] }],
      passwordSecret: { name: 'tor' },
    }),
    [],
  );
});

test('each structural fault is named with its path', () => {
  assert.deepEqual(
    structuralErrors(peerSchema, {
      myASN: 0,
      peerAddress: 7,
      holdTime: '90',
      dynamicASN: 'both',
      vrf: 'red',
      nodeSelectors: [{ matchExpressions: [{ key: 'rack' }] }],
      passwordSecret: {},
    }),
    [
      '.myASN: 0 is below 1',
      '.peerAddress: must be a string',
      '.holdTime: "90" does not match ^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$',
      '.dynamicASN: "both" is not one of internal, external',
      '.vrf: not a field of the schema',
      '.nodeSelectors[0].matchExpressions[0].operator: missing required field operator',
      '.passwordSecret.name: missing required field name',
    ],
  );
});

test('lists: bounds, and a set with a repeated item', () => {
  assert.deepEqual(structuralErrors(poolSchema, { addresses: [] }), ['.addresses: fewer than 1 items']);
  assert.deepEqual(
    structuralErrors(poolSchema, {
      addresses: ['10.0.0.0/24'],
      serviceAllocation: { priority: 1.5, namespaces: ['a', 'a'] },
    }),
    [
      '.serviceAllocation.priority: must be an integer',
      '.serviceAllocation.namespaces: duplicate items in a set',
    ],
  );
  assert.deepEqual(structuralErrors(poolSchema, { autoAssign: 'yes' }), [
    '.addresses: missing required field addresses',
    '.autoAssign: must be true or false',
  ]);
});
