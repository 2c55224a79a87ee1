import assert from 'node:assert/strict';
import { isIPv6 } from 'node:net';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  canonicalAddress,
  formatIPv6,
  formatMac,
  ipv4Bytes,
  ipv6Bytes,
  ipv6MulticastMac,
  parseMac,
  solicitedNodeGroup,
} from './addresses.ts';

test('IPv6 text to bytes and back, RFC 5952 form', () => {
  const cases: [string, string][] = [
    ['::', '::'],
    ['::1', '::1'],
    ['2001:DB8:0:0:0:0:0:1', '2001:db8::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['fe80::ff:fe00:a01', 'fe80::ff:fe00:a01'],
    ['::ffff:192.0.2.1', '::ffff:c000:201'],
    ['2001:db8:1:2:3:4:5:6', '2001:db8:1:2:3:4:5:6'],
    ['2001:0:0:1::1', '2001:0:0:1::1'],
    ['ff02::1:ff00:2', 'ff02::1:ff00:2'],
  ];
  for (const [text, canonical] of cases) assert.equal(formatIPv6(ipv6Bytes(text)), canonical, text);
  assert.deepEqual(ipv6Bytes('::ffff:192.0.2.1').subarray(12), ipv4Bytes('192.0.2.1'));
});

test('any 16 bytes survive format then parse', () => {
  fc.assert(
    fc.property(fc.uint8Array({ minLength: 16, maxLength: 16 }), (bytes) => {
      const text = formatIPv6(bytes);
      assert.ok(isIPv6(text), text);
      assert.deepEqual(ipv6Bytes(text), Buffer.from(bytes));
    }),
  );
});

test('solicited-node group and its MAC', () => {
  const group = solicitedNodeGroup(ipv6Bytes('2001:db8::abcd:1234'));
  assert.equal(formatIPv6(group), 'ff02::1:ffcd:1234');
  assert.equal(formatMac(ipv6MulticastMac(group)), '33:33:ff:cd:12:34');
});

test('MACs and canonical keys; bad input names itself', () => {
  assert.equal(formatMac(parseMac('02-00-00-00-0A-01')), '02:00:00:00:0a:01');
  assert.equal(canonicalAddress('2001:DB8::0:1'), '2001:db8::1');
  assert.equal(canonicalAddress('192.0.2.1'), '192.0.2.1');
  assert.throws(() => parseMac('02:00:00'), /not a MAC address: '02:00:00'/);
  assert.throws(() => canonicalAddress('192.0.2.300'), /not an IP address/);
});
