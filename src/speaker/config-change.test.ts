import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { V1Node } from '@kubernetes/client-node';
import type { IPAddressPool } from '../api/types.ts';
import { customResourceUpdateMatters, nodeUpdateMatters } from './config-change.ts';

const pool = (
  generation: number | undefined,
  labels?: Record<string, string>,
  assigned = 0,
): IPAddressPool => ({
  apiVersion: 'beacon.dev/v1alpha1',
  kind: 'IPAddressPool',
  metadata: {
    name: 'routed',
    namespace: 'beacon-system',
    generation,
    labels,
    resourceVersion: String(assigned),
  },
  spec: { addresses: ['198.18.0.0/20'] },
  status: { assignedIPv4: assigned },
});

// Kubernetes API conventions: a write to the status subresource leaves metadata.generation as it was; any
// change to the spec increments it. Labels are metadata, which generation does not follow.
test('a custom resource: a status write alone changes nothing the speaker reads; a spec or label change does', () => {
  assert.equal(customResourceUpdateMatters(pool(3, { zone: 'a' }, 7), pool(3, { zone: 'a' }, 6)), false);
  assert.equal(customResourceUpdateMatters(pool(4, { zone: 'a' }), pool(3, { zone: 'a' })), true);
  assert.equal(customResourceUpdateMatters(pool(3, { zone: 'b' }), pool(3, { zone: 'a' })), true);
  assert.equal(customResourceUpdateMatters(pool(3, { zone: 'a', extra: '' }), pool(3, { zone: 'a' })), true);
  assert.equal(customResourceUpdateMatters(pool(3, {}), pool(3, undefined)), false, 'no labels either way');
  assert.equal(customResourceUpdateMatters(pool(undefined), pool(undefined)), true, 'no generation: changed');
  assert.equal(customResourceUpdateMatters(pool(1), undefined), true);
});

const node = (labels: Record<string, string>, ip: string, networkUnavailable?: 'True' | 'False'): V1Node => ({
  metadata: { name: 'node-1', labels },
  status: {
    addresses: [{ type: 'InternalIP', address: ip }],
    conditions: networkUnavailable ? [{ type: 'NetworkUnavailable', status: networkUnavailable }] : [],
  },
});

test('a Node: its labels, addresses and NetworkUnavailable condition matter; an update repeating them does not', () => {
  const n = node({ rack: '1' }, '192.0.2.11', 'False');
  assert.equal(nodeUpdateMatters(structuredClone(n), n), false);
  assert.equal(nodeUpdateMatters(node({ rack: '2' }, '192.0.2.11', 'False'), n), true);
  assert.equal(nodeUpdateMatters(node({ rack: '1' }, '192.0.2.12', 'False'), n), true);
  assert.equal(nodeUpdateMatters(node({ rack: '1' }, '192.0.2.11', 'True'), n), true);
  assert.equal(nodeUpdateMatters(n, undefined), true);
});
