/**
 * What a speaker believes of another speaker's Lease: only what the node named by the Lease can have
 * written, and never for longer than MAX_LEASE_SECONDS (issue 11 item 5).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateKeyPairs } from '../mesh/identity.ts';
import {
  encodeAnnouncement,
  MAX_LEASE_SECONDS,
  MESH_ANNOTATION,
  PeerLeases,
  parseSpeakerLease,
  type SpeakerLease,
} from './node-lease.ts';

const keys = generateKeyPairs(1).public;
const lease = (name: string, holder: string, seconds: number, annotation?: string): SpeakerLease => ({
  metadata: {
    name,
    annotations: {
      [MESH_ANNOTATION]:
        annotation ??
        encodeAnnouncement({
          gen: 3,
          round: 0,
          status: 'alive',
          address: '192.0.2.11',
          port: 7946,
          keys: [keys],
        }),
    },
  },
  spec: { holderIdentity: holder, leaseDurationSeconds: seconds, renewTime: '2026-12-06T00:00:00.000000Z' },
});

test('a Lease naming another holder than its own node is not believed', () => {
  const r = parseSpeakerLease(lease('beacon-speaker-node-a', 'node-b', 15));
  assert.ok('error' in r);
  assert.match(r.error, /holderIdentity "node-b" is not the node the Lease is named after/);
});

test('no Lease is believed for longer than the cap, however long it says it lasts', () => {
  const r = parseSpeakerLease(lease('beacon-speaker-node-a', 'node-a', 2147483647));
  assert.ok(!('error' in r));
  assert.equal(r.durationMs, MAX_LEASE_SECONDS * 1000);
  let t = 0;
  const peers = new PeerLeases(() => t);
  peers.observe(lease('beacon-speaker-node-a', 'node-a', 2147483647));
  t = (MAX_LEASE_SECONDS + 1) * 1000;
  assert.deepEqual([...peers.fresh(true, new Set())], []);
});

test('an API outage expires nobody: a stale view keeps the nodes it had', () => {
  let t = 0;
  const peers = new PeerLeases(() => t);
  peers.observe(lease('beacon-speaker-node-a', 'node-a', 6));
  t = 60_000;
  assert.deepEqual([...peers.fresh(false, new Set(['node-a']))], ['node-a']);
  assert.deepEqual([...peers.fresh(true, new Set(['node-a']))], []);
});

test('malformed announcements are refused with a reason: not JSON, bad keys, bad address, huge generation', () => {
  const bad = [
    'not json',
    JSON.stringify({
      v: 1,
      gen: 1,
      round: 0,
      status: 'alive',
      port: 7946,
      keys: [{ v: 1, dh: 'AAAA', sign: 'AAAA' }],
    }),
    JSON.stringify({ v: 1, gen: 1, round: 0, status: 'alive', address: 'nowhere', port: 7946, keys: [] }),
    JSON.stringify({ v: 1, gen: 2 ** 40, round: 0, status: 'alive', port: 7946, keys: [] }),
    JSON.stringify({ v: 1, gen: 1, round: 0, status: 'king', port: 7946, keys: [] }),
  ];
  for (const a of bad) {
    const r = parseSpeakerLease(lease('beacon-speaker-node-a', 'node-a', 15, a));
    assert.ok('error' in r, a);
  }
});
