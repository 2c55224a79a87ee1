import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OpenMessage } from '../codec/messages.ts';
import { isWireError, negotiate, type OpenConfig } from './negotiate.ts';

const config = (peerAs: OpenConfig['peerAs']): OpenConfig => ({
  localAs: 64512,
  peerAs,
  routerId: '192.0.2.11',
  holdTimeSec: 90,
  families: ['ipv4'],
});

const openFrom = (asn: number): OpenMessage => ({
  type: 'open',
  version: 4,
  myAs: asn > 0xffff ? 23456 : asn,
  holdTime: 90,
  bgpId: '192.0.2.1',
  capabilities: [{ kind: 'four-octet-as', asn }],
});

test("peerAs 'external' (dynamicASN: external) accepts any AS but the local one, as eBGP", () => {
  for (const asn of [64500, 65535, 4200000000]) {
    const n = negotiate(openFrom(asn), config('external'));
    assert.ok(!isWireError(n), `AS ${asn} refused`);
    assert.equal(n.peerAs, asn);
    assert.equal(n.ibgp, false);
  }
  // RFC 4271 6.2: an unacceptable My Autonomous System is OPEN Message Error (2), Bad Peer AS (2).
  const same = negotiate(openFrom(64512), config('external'));
  assert.ok(isWireError(same));
  assert.deepEqual([same.code, same.subcode], [2, 2]);
  assert.match(same.reason, /peer AS 64512, expected an AS other than 64512/);
});

test('a fixed peerAs still refuses any other AS with Bad Peer AS', () => {
  const wrong = negotiate(openFrom(64501), config(64500));
  assert.ok(isWireError(wrong));
  assert.deepEqual([wrong.code, wrong.subcode], [2, 2]);
  const right = negotiate(openFrom(64512), config(64512));
  assert.ok(!isWireError(right));
  assert.equal(right.ibgp, true);
});

// RFC 7607 2: "If a BGP speaker receives zero as the peer AS in an OPEN message, it MUST abort the
// connection and send a NOTIFICATION with Error Code 'OPEN Message Error' and subcode 'Bad Peer AS'".
test('AS 0 in My AS or in the 4-octet AS capability is Bad Peer AS, even to a dynamic-ASN peer', () => {
  const opens: OpenMessage[] = [
    { ...openFrom(64500), myAs: 0, capabilities: [] },
    { ...openFrom(64500), myAs: 0 },
    { ...openFrom(64500), myAs: 23456, capabilities: [{ kind: 'four-octet-as', asn: 0 }] },
  ];
  for (const open of opens) {
    const n = negotiate(open, config('external'));
    assert.ok(isWireError(n), `accepted ${JSON.stringify(open)}`);
    assert.deepEqual([n.code, n.subcode], [2, 2]);
  }
});
