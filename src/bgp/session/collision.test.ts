/**
 * Collision resolution verdicts, each written from RFC 4271 section 6.8 (and RFC 6286 section 2.1 for equal
 * identifiers), not from the code: "the local system closes the BGP connection that already exists (the one
 * that is already in the OpenConfirm state), and accepts the BGP connection initiated by the remote system"
 * when the local identifier is lower; otherwise the connection initiated by the local system survives.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BgpState } from '../fsm/fsm.ts';
import { type CollisionInput, resolveCollision } from './collision.ts';

const LOW = '192.0.2.1';
const HIGH = '192.0.2.9';

function input(over: Partial<CollisionInput>): CollisionInput {
  return { localId: LOW, peerId: HIGH, localAs: 65001, peerAs: 65002, received: 'incoming', ...over };
}

test('6.8: without a second connection in OpenConfirm or Established there is no collision', () => {
  assert.equal(resolveCollision(input({})), 'none');
  // "a connection collision cannot be detected with connections that are in Idle, Connect, or Active
  // states"; OpenSent only with the peer's identifier known outside the protocol, which Beacon never has.
  for (const state of ['Idle', 'Connect', 'Active', 'OpenSent'] as BgpState[])
    assert.equal(resolveCollision(input({ other: { direction: 'outgoing', state } })), 'none', state);
});

test('6.8: a collision with an Established connection closes the newly created one', () => {
  for (const [localId, peerId] of [
    [LOW, HIGH],
    [HIGH, LOW],
  ])
    for (const received of ['incoming', 'outgoing'] as const)
      assert.equal(
        resolveCollision(
          input({
            localId: localId!,
            peerId: peerId!,
            received,
            other: { direction: received === 'incoming' ? 'outgoing' : 'incoming', state: 'Established' },
          }),
        ),
        'close-received',
      );
});

test('6.8 step 2: the local identifier is lower, so the connection initiated by the remote system survives', () => {
  // The OPEN arrives on the peer's connection while ours waits in OpenConfirm: ours closes.
  assert.equal(
    resolveCollision(input({ received: 'incoming', other: { direction: 'outgoing', state: 'OpenConfirm' } })),
    'close-other',
  );
  // The OPEN arrives on ours while the peer's waits in OpenConfirm: ours closes.
  assert.equal(
    resolveCollision(input({ received: 'outgoing', other: { direction: 'incoming', state: 'OpenConfirm' } })),
    'close-received',
  );
});

test('6.8 step 3: the local identifier is higher, so the connection initiated by the local system survives', () => {
  const high = { localId: HIGH, peerId: LOW };
  assert.equal(
    resolveCollision(
      input({ ...high, received: 'incoming', other: { direction: 'outgoing', state: 'OpenConfirm' } }),
    ),
    'close-received',
  );
  assert.equal(
    resolveCollision(
      input({ ...high, received: 'outgoing', other: { direction: 'incoming', state: 'OpenConfirm' } }),
    ),
    'close-other',
  );
});

test('6.8 step 1: identifiers compare as 4-octet unsigned integers in host byte order', () => {
  const other = { direction: 'incoming', state: 'OpenConfirm' } as const;
  // 128.0.0.0 is above 127.255.255.255 (the sign bit of a signed comparison would say otherwise), and
  // 10.0.0.1 is above 9.255.255.255 (a text comparison would say otherwise).
  for (const [localId, peerId] of [
    ['128.0.0.0', '127.255.255.255'],
    ['10.0.0.1', '9.255.255.255'],
  ])
    assert.equal(
      resolveCollision(input({ localId: localId!, peerId: peerId!, received: 'outgoing', other })),
      'close-other',
      `${localId} > ${peerId}: the local system's connection survives`,
    );
});

test('RFC 6286 2.1: with equal identifiers the connection initiated by the larger AS survives', () => {
  const other = { direction: 'incoming', state: 'OpenConfirm' } as const;
  const same = { localId: LOW, peerId: LOW };
  assert.equal(
    resolveCollision(input({ ...same, localAs: 65002, peerAs: 65001, received: 'outgoing', other })),
    'close-other',
  );
  assert.equal(
    resolveCollision(input({ ...same, localAs: 65001, peerAs: 65002, received: 'outgoing', other })),
    'close-received',
  );
});
