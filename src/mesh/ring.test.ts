import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ring } from './ring.ts';

// The ring (ring.ts): ids in order, each watched by the ids at distance 1 and 2 on either side, successors
// first. A node not on the ring would have the two ids after its place and the two before it.

test('a newcomer between members would have the two after its place and the two before it', () => {
  const ring = new Ring(['a', 'c', 'e', 'g', 'i', 'k']);
  assert.deepEqual(ring.neighboursIfJoined('f'), ['g', 'i', 'e', 'c']);
});

test('a newcomer beyond either end wraps around the ring', () => {
  const ring = new Ring(['b', 'd', 'f', 'h', 'j']);
  assert.deepEqual(ring.neighboursIfJoined('z'), ['b', 'd', 'j', 'h']);
  assert.deepEqual(ring.neighboursIfJoined('a'), ['b', 'd', 'j', 'h']);
});

test('on a small ring every member would watch the newcomer, each once', () => {
  assert.deepEqual(new Ring(['m', 'p']).neighboursIfJoined('n'), ['p', 'm']);
  assert.deepEqual(new Ring(['m']).neighboursIfJoined('n'), ['m']);
  assert.deepEqual(new Ring([]).neighboursIfJoined('n'), []);
});

test('a member already on the ring has its own neighbours', () => {
  const ring = new Ring(['a', 'c', 'e', 'g', 'i', 'k']);
  assert.deepEqual(ring.neighboursIfJoined('e'), ring.neighbours('e'));
  assert.deepEqual(ring.neighbours('e'), ['g', 'i', 'c', 'a']);
});
