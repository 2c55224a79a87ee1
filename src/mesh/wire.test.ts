/**
 * The datagram format and its keys: HMAC checked against RFC 4231's test vector, every datagram within
 * the 1,200-byte budget, and a decoder that gives an answer for any byte string and never throws.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { generateKeyPairs, Mac, pairKey, signStatement, verifyStatement } from './identity.ts';
import {
  decodeBody,
  encodeDatagram,
  type Header,
  KIND,
  MAX_DATAGRAM,
  peekHeader,
  STATEMENT,
  type Statement,
  signedBytes,
  statementRoom,
  statementSize,
} from './wire.ts';

test('the MAC is HMAC-SHA-256 truncated to 128 bits (RFC 4231 test case 2, RFC 2104 section 5)', () => {
  const mac = new Mac(Buffer.from('Jefe'));
  assert.equal(
    mac.tag(Buffer.from('what do ya want for nothing?')).toString('hex'),
    // RFC 4231 section 4.3, HMAC-SHA-256, first 128 bits.
    '5bdcc146bf60754e6a042426089575c7',
  );
});

test('two nodes derive the same pair key; a third node derives another', () => {
  const a = generateKeyPairs(1);
  const b = generateKeyPairs(1);
  const c = generateKeyPairs(1);
  assert.deepEqual(pairKey(a, b.public), pairKey(b, a.public));
  assert.notDeepEqual(pairKey(a, b.public), pairKey(c, b.public));
});

test("a statement signed by one node does not verify under another node's key", () => {
  const a = generateKeyPairs(1);
  const b = generateKeyPairs(1);
  const data = signedBytes(STATEMENT.leaving, '0011223344556677', { gen: 3, round: 0 });
  const sig = signStatement(a, data);
  assert.ok(verifyStatement(a.public, data, sig));
  assert.ok(!verifyStatement(b.public, data, sig));
  assert.ok(
    !verifyStatement(a.public, signedBytes(STATEMENT.leaving, '0011223344556677', { gen: 4, round: 0 }), sig),
  );
});

const header = (kind: Header['kind']): Header => ({
  kind,
  senderKeyVersion: 1,
  receiverKeyVersion: 1,
  sender: '0011223344556677',
  receiver: '8899aabbccddeeff',
  inc: { gen: 7, round: 2 },
  seq: 42n,
});

function deadStatement(signers: number): Statement {
  return {
    type: STATEMENT.dead,
    subject: 'aabbccddeeff0011',
    inc: { gen: 1, round: 0 },
    signatures: Array.from({ length: signers }, (_, i) => ({
      by: `00000000000000${i.toString(16).padStart(2, '0')}`,
      keyVersion: 1,
      signature: randomBytes(64),
    })),
  };
}

test('a heartbeat packed full of statements still fits in 1,200 bytes, and decodes to what was encoded', () => {
  const statements: Statement[] = [];
  let room = statementRoom(17);
  for (;;) {
    const s = deadStatement(3);
    if (statementSize(s) > room) break;
    room -= statementSize(s);
    statements.push(s);
  }
  const d = {
    kind: KIND.heartbeat,
    header: header(KIND.heartbeat),
    body: { ack: 41n, refuted: false, digest: 99n, statements },
  } as const;
  const bytes = Buffer.concat([encodeDatagram(d), Buffer.alloc(16)]);
  assert.ok(bytes.length <= MAX_DATAGRAM, `${bytes.length} bytes`);
  const h = peekHeader(bytes);
  assert.ok(!('error' in h));
  const back = decodeBody(bytes, h as Header);
  assert.deepEqual(back, { ...d, header: h });
});

test('junk is refused from the header alone: too large, too short, wrong magic, unknown kind', () => {
  assert.deepEqual(peekHeader(Buffer.alloc(65_000, 0x42)), { error: 'too large' });
  assert.deepEqual(peekHeader(Buffer.from('BCN2')), { error: 'too short' });
  assert.deepEqual(peekHeader(Buffer.alloc(100)), { error: 'not a Beacon mesh datagram' });
  const bad = Buffer.alloc(100);
  bad.write('BCN2');
  bad[4] = 99;
  assert.deepEqual(peekHeader(bad), { error: 'unknown kind 99' });
});

test('the decoder is total: random and mutated datagrams give a datagram or a reason, never an exception', () => {
  const valid = Buffer.concat([
    encodeDatagram({
      kind: KIND.gossip,
      header: header(KIND.gossip),
      body: { statements: [deadStatement(2), deadStatement(1)] },
    }),
    Buffer.alloc(16),
  ]);
  let seed = 7;
  const rand = () => {
    seed = (seed * 48271) % 2147483647;
    return seed / 2147483647;
  };
  for (let i = 0; i < 20_000; i++) {
    const b = i % 2 ? randomBytes(Math.floor(rand() * 300)) : Buffer.from(valid);
    if (i % 2 === 0)
      for (let j = 0; j < 1 + Math.floor(rand() * 4); j++)
        b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256);
    if (i % 7 === 0) b.write('BCN2');
    const h = peekHeader(b);
    if (!('error' in h)) decodeBody(b, h);
  }
});
