import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Handover, type HandoverMembership } from './handover.ts';
import { Ownership } from './ownership.ts';

// The hand-over rule (docs/membership.md, "Joining and hand-back"): a node answers an address it owns at
// once only if it answered it earlier in the same alive period, or nobody else can hold it; otherwise it
// waits until the holder let go. Peers on their Lease alone hold a lone mesh node's addresses whenever it
// is not alive, so they count as holders after any pause of its.

const ADDRESS = '192.0.2.10';

function membership(o: { aliveAt: number; releases?: string[]; fallback?: string[] }): HandoverMembership {
  return {
    candidates: () => new Set(['node-2']),
    aliveAt: () => o.aliveAt,
    releases: () => new Set(o.releases ?? []),
    fallbackHolders: () => new Set(o.fallback ?? []),
  };
}

function handover(): Handover {
  const ownership = new Ownership();
  ownership.setAddress(ADDRESS, new Set(['node-2', 'node-3']));
  return new Handover(ownership, 'node-2');
}

test('the only node alive in the mesh waits for the peers on their Lease alone before it answers', () => {
  const h = handover();
  const waiting = h.decide(membership({ aliveAt: 1, fallback: ['node-3'] }));
  assert.deepEqual(waiting.mine, []);
  assert.deepEqual([...waiting.waitingOn], ['node-3']);
  const released = h.decide(membership({ aliveAt: 1, fallback: ['node-3'], releases: ['node-3'] }));
  assert.deepEqual(released.mine, [ADDRESS]);
  assert.equal(released.waitingOn.size, 0);
});

test('with nobody who could hold it, it answers at once', () => {
  assert.deepEqual(handover().decide(membership({ aliveAt: 1 })).mine, [ADDRESS]);
});

test('what it answered in this alive period it goes on answering; after a pause it waits again', () => {
  const h = handover();
  h.decide(membership({ aliveAt: 1, fallback: ['node-3'], releases: ['node-3'] }));
  h.setHeld(new Set([ADDRESS]));
  assert.deepEqual(h.decide(membership({ aliveAt: 1, fallback: ['node-3'] })).mine, [ADDRESS]);
  assert.deepEqual(h.decide(membership({ aliveAt: 2, fallback: ['node-3'] })).mine, []);
});
