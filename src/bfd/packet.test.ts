import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type ControlPacket, Diag, decodeControlPacket, diagName, encodeControlPacket } from './packet.ts';

// RFC 5880 4.1 by hand: Vers=1 Diag=0 | Sta=Up(3) P=1 | Detect Mult 3 | Length 24, then five 32-bit fields.
const UP_WITH_POLL = Uint8Array.from([
  0x20, 0xe0, 0x03, 0x18, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x00, 0x01, 0x86, 0xa0, 0x00, 0x04,
  0x93, 0xe0, 0x00, 0x00, 0x00, 0x00,
]);

const upWithPoll: ControlPacket = {
  version: 1,
  diag: 0,
  state: 'Up',
  poll: true,
  final: false,
  controlPlaneIndependent: false,
  authPresent: false,
  demand: false,
  multipoint: false,
  detectMult: 3,
  myDiscriminator: 0x11223344,
  yourDiscriminator: 0x55667788,
  desiredMinTxUs: 100_000,
  requiredMinRxUs: 300_000,
  requiredMinEchoRxUs: 0,
};

test('encodes the RFC 5880 4.1 layout byte for byte', () => {
  assert.deepEqual(encodeControlPacket(upWithPoll), UP_WITH_POLL);
});

test('decodes the RFC 5880 4.1 layout', () => {
  assert.deepEqual(decodeControlPacket(UP_WITH_POLL), { ok: true, packet: upWithPoll });
});

test('diag and every flag land in their bits', () => {
  // Vers=1 Diag=7 (AdminDown) | Sta=AdminDown(0) F=1 C=1 D=1 | mult 5
  const b = encodeControlPacket({
    diag: Diag.ADMINISTRATIVELY_DOWN,
    state: 'AdminDown',
    final: true,
    controlPlaneIndependent: true,
    demand: true,
    detectMult: 5,
    myDiscriminator: 1,
    yourDiscriminator: 0,
    desiredMinTxUs: 1_000_000,
    requiredMinRxUs: 0,
  });
  assert.equal(b[0], 0x27);
  assert.equal(b[1], 0x1a);
  assert.equal(b[2], 5);
  const d = decodeControlPacket(b);
  assert.ok(d.ok);
  assert.equal(d.packet.state, 'AdminDown');
  assert.equal(d.packet.diag, 7);
  assert.equal(diagName(d.packet.diag), 'administratively-down');
  assert.ok(d.packet.final && d.packet.controlPlaneIndependent && d.packet.demand && !d.packet.poll);
  assert.equal(diagName(1), 'control-detection-time-expired');
  assert.equal(diagName(20), 'diag-20');
});

test('bytes after the length field are ignored (padding)', () => {
  const padded = new Uint8Array(30);
  padded.set(UP_WITH_POLL);
  assert.deepEqual(decodeControlPacket(padded), { ok: true, packet: upWithPoll });
});

function mutate(f: (b: Uint8Array) => void): Uint8Array {
  const b = Uint8Array.from(UP_WITH_POLL);
  f(b);
  return b;
}

const invalid: [string, Uint8Array, RegExp][] = [
  ['empty', new Uint8Array(0), /too short/],
  ['23 bytes', UP_WITH_POLL.subarray(0, 23), /too short/],
  [
    'version 0',
    mutate((b) => {
      b[0] = 0x00;
    }),
    /version 0/,
  ],
  [
    'version 2',
    mutate((b) => {
      b[0] = 0x40;
    }),
    /version 2/,
  ],
  [
    'length field 20',
    mutate((b) => {
      b[3] = 20;
    }),
    /length field 20/,
  ],
  [
    'length field beyond the datagram',
    mutate((b) => {
      b[3] = 28;
    }),
    /beyond/,
  ],
  [
    'detect mult 0',
    mutate((b) => {
      b[2] = 0;
    }),
    /detect multiplier 0/,
  ],
  [
    'multipoint',
    mutate((b) => {
      b[1] = b[1]! | 1;
    }),
    /multipoint/,
  ],
  [
    'my discriminator 0',
    mutate((b) => {
      b.fill(0, 4, 8);
    }),
    /my discriminator 0/,
  ],
  [
    'your discriminator 0 while Up',
    mutate((b) => {
      b.fill(0, 8, 12);
    }),
    /your discriminator 0 in state Up/,
  ],
  [
    'your discriminator 0 while Init',
    mutate((b) => {
      b.fill(0, 8, 12);
      b[1] = 0x80;
    }),
    /state Init/,
  ],
  [
    'auth bit with a 24-byte length',
    mutate((b) => {
      b[1] = b[1]! | 4;
    }),
    /length field 24 below 26/,
  ],
  [
    'auth section (none configured)',
    (() => {
      const b = new Uint8Array(28);
      b.set(UP_WITH_POLL);
      b[1] = b[1]! | 4;
      b[3] = 28;
      b.set([1, 4, 0, 0], 24);
      return b;
    })(),
    /authentication/,
  ],
];

for (const [name, bytes, reason] of invalid) {
  test(`drops a packet with ${name}`, () => {
    const d = decodeControlPacket(bytes);
    assert.equal(d.ok, false);
    if (!d.ok) assert.match(d.reason, reason);
  });
}

test('a zero Your Discriminator is fine in Down and AdminDown', () => {
  for (const sta of [0x00, 0x40]) {
    const d = decodeControlPacket(
      mutate((b) => {
        b.fill(0, 8, 12);
        b[1] = sta;
      }),
    );
    assert.ok(d.ok);
  }
});

test('the decoder is total: random and mutated datagrams never throw', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 64 }), (b) => {
      const d = decodeControlPacket(b);
      assert.equal(typeof d.ok, 'boolean');
    }),
    { numRuns: 20_000 },
  );
  fc.assert(
    fc.property(fc.nat(23), fc.nat(255), (i, v) => {
      const b = Uint8Array.from(UP_WITH_POLL);
      b[i] = v;
      const d = decodeControlPacket(b);
      // Whatever it says, a packet it accepts re-encodes to the same 24 bytes.
      if (d.ok) assert.deepEqual(encodeControlPacket(d.packet), b);
    }),
    { numRuns: 20_000 },
  );
});

test('the encoder refuses out-of-range fields', () => {
  const base = { diag: 0, state: 'Down' as const, detectMult: 3, myDiscriminator: 1, yourDiscriminator: 0 };
  assert.throws(() => encodeControlPacket({ ...base, desiredMinTxUs: -1, requiredMinRxUs: 0 }), RangeError);
  assert.throws(
    () => encodeControlPacket({ ...base, desiredMinTxUs: 2 ** 32, requiredMinRxUs: 0 }),
    RangeError,
  );
  assert.throws(
    () => encodeControlPacket({ ...base, diag: 32, desiredMinTxUs: 0, requiredMinRxUs: 0 }),
    RangeError,
  );
});
