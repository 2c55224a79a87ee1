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

// A joining node sends its alive statement and, right behind it, its release request; the holder reads both
// in one turn of its event loop, before the decision that lets the address go has run. "Released" is a
// promise that the holder no longer answers (docs/membership.md, "Joining and hand-back"), so it may be
// given only once the holder's decision has caught up with the membership it confirms against.
test('a holder asked before its decision took in the asker does not confirm while it still answers', () => {
  const ownership = new Ownership();
  ownership.setAddress(ADDRESS, new Set(['node-2', 'node-3']));
  // Which of the two outranks the other for ADDRESS is the table's business; the asker is that one.
  ownership.setLive(new Set(['node-2', 'node-3']));
  const asker = ownership.owner(ADDRESS)!;
  const holder = asker === 'node-2' ? 'node-3' : 'node-2';
  const h = new Handover(ownership, holder);
  const before = new Set([holder]);
  const alone: HandoverMembership = {
    candidates: () => before,
    aliveAt: () => 1,
    releases: () => new Set(),
  };
  assert.deepEqual(h.decide(alone).mine, [ADDRESS]);
  h.setHeld(new Set([ADDRESS]));
  // The asker's alive statement is taken in: the membership now names it, the decision has not run yet.
  const both = new Set([holder, asker]);
  assert.equal(h.mayConfirm(asker, both), false, 'confirmed a release while still answering the address');
  // The decision runs: the address goes to the asker, which is told through releasedTo.
  const d = h.decide({ ...alone, candidates: () => both });
  assert.deepEqual(d.mine, []);
  assert.deepEqual([...d.releasedTo], [asker]);
  h.setHeld(new Set(d.mine));
  assert.equal(h.mayConfirm(asker, both), true);
});
