import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Membership } from './membership.ts';

/** A heartbeat whose sender hears every speaker of these tests. */
const EVERYONE = ['a', 'b', 'c'];

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

function make(self: string, peers: string[]) {
  const c = clock();
  const m = new Membership({ self, deadAfterMs: 400, leaseValidMs: 10_000 }, c.now);
  m.setLeased(peers);
  return { m, c };
}

test('peers with a Lease but never heard are alive (heartbeats not yet flowing)', () => {
  const { m } = make('a', ['b', 'c']);
  assert.deepEqual([...m.view().alive].sort(), ['a', 'b', 'c']);
  assert.equal(m.view().mayAnnounceL2, true);
});

test('a heard peer that falls silent is dead within the dead interval, for a speaker in the majority', () => {
  const { m, c } = make('a', ['b', 'c']);
  m.heard('b', EVERYONE);
  m.heard('c', EVERYONE);
  c.advance(300);
  m.heard('c', EVERYONE);
  c.advance(200);
  const v = m.view();
  assert.deepEqual([...v.alive].sort(), ['a', 'c']);
  assert.equal(v.mayAnnounceL2, true);
});

test('a speaker that hears nobody while its peers hold Leases is in a minority and stops answering L2', () => {
  const { m, c } = make('a', ['b', 'c']);
  m.heard('b', EVERYONE);
  m.heard('c', EVERYONE);
  c.advance(500);
  const v = m.view();
  assert.equal(v.mayAnnounceL2, false);
  assert.equal(v.mayAnnounce, true);
  assert.match(v.reason, /minority/);
});

test('cut off from the API server and every peer: stop announcing entirely', () => {
  const { m, c } = make('a', ['b', 'c']);
  m.heard('b', EVERYONE);
  c.advance(11_000);
  const v = m.view();
  assert.equal(v.mayAnnounce, false);
  assert.match(v.reason, /cut off/);
  m.ownLeaseRenewed();
  assert.equal(m.view().mayAnnounce, true);
});

test('a lone speaker keeps announcing without the API server', () => {
  const { m, c } = make('a', []);
  c.advance(60_000);
  assert.equal(m.view().mayAnnounce, true);
  assert.equal(m.view().mayAnnounceL2, true);
});

test('a leaving peer is dead at once and no longer counts towards the majority', () => {
  const { m } = make('a', ['b']);
  m.heard('b', EVERYONE);
  m.leaving('b');
  m.setLeased([]);
  const v = m.view();
  assert.deepEqual([...v.alive], ['a']);
  assert.equal(v.mayAnnounceL2, true);
});

test('both sides of a 2-1 partition agree: the pair takes over, the single node steps back', () => {
  const a = make('a', ['b', 'c']);
  const b = make('b', ['a', 'c']);
  for (const x of [a, b]) {
    x.m.heard(x === a ? 'b' : 'a', EVERYONE);
    x.m.heard('c', EVERYONE);
  }
  a.c.advance(500);
  b.c.advance(500);
  b.m.heard('c', EVERYONE);
  // a hears nobody; b hears c.
  assert.equal(a.m.view().mayAnnounceL2, false);
  assert.deepEqual([...b.m.view().alive].sort(), ['b', 'c']);
  assert.equal(b.m.view().mayAnnounceL2, true);
});

test('two speakers, one silent: the survivor judges it by its Lease, then takes over when the Lease is gone', () => {
  const { m, c } = make('a', ['b']);
  m.heard('b', EVERYONE);
  c.advance(500);
  const v = m.view();
  assert.deepEqual([...v.alive].sort(), ['a', 'b']);
  assert.equal(v.mayAnnounceL2, true);
  assert.match(v.reason, /even split/);
  m.setLeased([]);
  assert.deepEqual([...m.view().alive], ['a']);
});

test('a speaker whose peers do not hear it yet leaves L2 to them, and takes part once they do', () => {
  const { m } = make('a', ['b', 'c']);
  m.heard('b', ['c']);
  m.heard('c', ['b']);
  const v = m.view();
  assert.equal(v.mayAnnounceL2, false);
  assert.match(v.reason, /not yet heard by b, c/);
  m.heard('b', ['a', 'c']);
  assert.equal(m.view().mayAnnounceL2, false, 'c still does not hear a');
  m.heard('c', ['a', 'b']);
  assert.equal(m.view().mayAnnounceL2, true);
});

test('a freshly started speaker that hears nobody keeps out of L2 for its quiet time, then judges by Leases', () => {
  const c = clock();
  const m = new Membership(
    { self: 'a', deadAfterMs: 400, leaseValidMs: 10_000, startupQuietMs: 3000 },
    c.now,
  );
  m.setLeased(['b', 'c']);
  assert.equal(m.view().mayAnnounceL2, false);
  assert.match(m.view().reason, /just started/);
  c.advance(3001);
  assert.equal(m.view().mayAnnounceL2, true);
  assert.deepEqual([...m.view().alive].sort(), ['a', 'b', 'c']);
});
