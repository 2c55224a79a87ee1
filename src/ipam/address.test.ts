import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { canonicalAddress, formatAddress, parseAddress } from './address.ts';

test('IPv4 parses to its 32-bit value', () => {
  assert.deepEqual(parseAddress('0.0.0.0'), { family: 4, value: 0n });
  assert.deepEqual(parseAddress('192.168.1.10'), { family: 4, value: 0xc0a8010an });
  assert.deepEqual(parseAddress('255.255.255.255'), { family: 4, value: 0xffffffffn });
});

test('IPv4 text Kubernetes rejects is rejected', () => {
  for (const bad of [
    '',
    '1.2.3',
    '1.2.3.4.5',
    '256.1.1.1',
    '01.2.3.4',
    '1.2.3.-4',
    '1.2.3.4 ',
    ' 1.2.3.4',
    '1..2.3',
    'a.b.c.d',
    '1.2.3.4/32',
    '0x1.2.3.4',
  ]) {
    assert.equal(parseAddress(bad), undefined, bad);
  }
});

test('IPv6 parses every spelling of an address to one value', () => {
  const v = 0x20010db8000000000000000000000001n;
  for (const text of ['2001:db8::1', '2001:DB8:0:0:0:0:0:1', '2001:0db8::0001', '2001:db8:0::0:1']) {
    assert.deepEqual(parseAddress(text), { family: 6, value: v }, text);
  }
  assert.deepEqual(parseAddress('::'), { family: 6, value: 0n });
  assert.deepEqual(parseAddress('::1'), { family: 6, value: 1n });
  assert.deepEqual(parseAddress('1::'), { family: 6, value: 1n << 112n });
  assert.deepEqual(parseAddress('::ffff:192.0.2.1'), { family: 6, value: 0xffffc0000201n });
  assert.deepEqual(parseAddress('64:ff9b::192.0.2.1'), {
    family: 6,
    value: (0x64ff9bn << 96n) | 0xc0000201n,
  });
  assert.deepEqual(parseAddress('1:2:3:4:5:6:1.2.3.4'), {
    family: 6,
    value: 0x0001000200030004000500060102_0304n,
  });
});

test('malformed IPv6 is rejected', () => {
  for (const bad of [
    ':',
    ':::',
    '1::2::3',
    '1:2:3:4:5:6:7',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7:8::',
    '12345::',
    'g::1',
    'fe80::1%eth0',
    '1.2.3.4::',
    '::1.2.3',
    '::1.2.3.4:5',
    ':1::',
    '1:',
    '1:2:3:4:5:6:7:',
  ]) {
    assert.equal(parseAddress(bad), undefined, bad);
  }
});

test('addresses print in canonical form (RFC 5952)', () => {
  assert.equal(canonicalAddress('2001:0DB8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
  assert.equal(canonicalAddress('2001:db8:0:1:0:0:0:1'), '2001:db8:0:1::1');
  // The first of two equally long zero runs is the one compressed; a single zero group is not.
  assert.equal(canonicalAddress('2001:0:0:1:0:0:1:1'), '2001::1:0:0:1:1');
  assert.equal(canonicalAddress('2001:db8:0:1:1:1:1:1'), '2001:db8:0:1:1:1:1:1');
  assert.equal(canonicalAddress('0:0:0:0:0:0:0:0'), '::');
  assert.equal(canonicalAddress('::ffff:c000:0201'), '::ffff:192.0.2.1');
  assert.equal(canonicalAddress('10.0.0.1'), '10.0.0.1');
  assert.equal(canonicalAddress('nonsense'), undefined);
});

test('format then parse gives the same address back, for any address', () => {
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 128n) - 1n }), (value) => {
      assert.deepEqual(parseAddress(formatAddress({ family: 6, value })), { family: 6, value });
    }),
  );
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }), (value) => {
      assert.deepEqual(parseAddress(formatAddress({ family: 4, value })), { family: 4, value });
    }),
  );
});

test("the parser agrees with fast-check's own address generators", () => {
  fc.assert(fc.property(fc.ipV4(), (text) => assert.equal(parseAddress(text)?.family, 4)));
  fc.assert(fc.property(fc.ipV6(), (text) => assert.equal(parseAddress(text)?.family, 6)));
});
