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
  speakerLeaseName,
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

test('a node named too long for `beacon-speaker-<node>` gets a valid Lease name, believed only for that node', () => {
  // 250 characters: a valid node name (DNS subdomain, at most 253), too long with the 15-character prefix.
  const node = `${'rack-7.'.repeat(35)}hosts`;
  assert.equal(node.length, 250);
  const name = speakerLeaseName(node);
  assert.ok(name.length <= 253, 'a Lease name is a DNS subdomain: at most 253 characters');
  assert.match(name, /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
  assert.ok(name.startsWith(`beacon-speaker-${node.slice(0, 200)}`), 'readable: starts with the node name');
  assert.equal(speakerLeaseName('node-a'), 'beacon-speaker-node-a');
  // Another long node sharing the first 220 characters gets another name.
  assert.notEqual(speakerLeaseName(`${node.slice(0, 240)}other`), name);

  const t = 0;
  const peers = new PeerLeases(() => t);
  assert.equal(peers.observe(lease(name, node, 15)), node);
  assert.deepEqual([...peers.fresh(true, new Set())], [node]);
  // The same name with another holder, or the plain prefix+name form of it, is not believed.
  assert.ok('error' in parseSpeakerLease(lease(name, `${node.slice(0, 240)}other`, 15)));
  const forget = peers.forget(lease(name, node, 15));
  assert.equal(forget, node, 'deleting the Lease forgets the node it was for');
  assert.deepEqual([...peers.fresh(true, new Set())], []);
});

test('a believed Lease rewritten into one that does not parse forgets its node', () => {
  const peers = new PeerLeases(() => 0);
  peers.observe(lease('beacon-speaker-node-a', 'node-a', 15));
  assert.equal(peers.observe(lease('beacon-speaker-node-a', 'node-a', 15, '{not json')), 'node-a');
  assert.deepEqual([...peers.fresh(true, new Set())], []);
});
