import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  type AddressRange,
  cidrAnycast,
  countBuggyAddresses,
  formatRange,
  intersectRanges,
  isBuggyAddress,
  mergeRanges,
  parseAddressBlock,
} from './range.ts';

const v4 = (first: bigint, last: bigint): AddressRange => ({ family: 4, first, last });

function parsed(entry: string): AddressRange {
  const r = parseAddressBlock(entry);
  assert.ok(r.ok, r.ok ? '' : r.message);
  return r.range;
}

function rejected(entry: string): string {
  const r = parseAddressBlock(entry);
  assert.ok(!r.ok, `${entry} should be rejected`);
  return r.message;
}

test('a CIDR covers its whole network, host bits or not', () => {
  assert.deepEqual(parsed('192.168.1.0/24'), v4(0xc0a80100n, 0xc0a801ffn));
  assert.deepEqual(parsed('192.168.1.5/24'), v4(0xc0a80100n, 0xc0a801ffn));
  assert.deepEqual(parsed('10.0.0.7/32'), v4(0x0a000007n, 0x0a000007n));
  assert.deepEqual(parsed('0.0.0.0/0'), v4(0n, 0xffffffffn));
  assert.deepEqual(parsed('2001:db8::/64'), {
    family: 6,
    first: 0x20010db8n << 96n,
    last: (0x20010db8n << 96n) | 0xffffffffffffffffn,
  });
  assert.deepEqual(parsed(' fc00::1/128 '), {
    family: 6,
    first: (0xfc00n << 112n) | 1n,
    last: (0xfc00n << 112n) | 1n,
  });
});

test('a range is inclusive and may have spaces around the dash', () => {
  assert.deepEqual(parsed('192.168.1.10-192.168.1.20'), v4(0xc0a8010an, 0xc0a80114n));
  assert.deepEqual(parsed('192.168.1.10 - 192.168.1.20'), v4(0xc0a8010an, 0xc0a80114n));
  assert.deepEqual(parsed('10.0.0.1-10.0.0.1'), v4(0x0a000001n, 0x0a000001n));
  assert.deepEqual(parsed('fc00::10-fc00::1f'), {
    family: 6,
    first: (0xfc00n << 112n) | 0x10n,
    last: (0xfc00n << 112n) | 0x1fn,
  });
});

test('bad entries are rejected with a message that says what is wrong', () => {
  assert.match(rejected('192.168.1.20-192.168.1.10'), /starts after it ends; write the lower address first/);
  assert.match(rejected('192.168.1.1-fc00::1'), /mixes an IPv4 and an IPv6 address/);
  assert.match(rejected('192.168.1.0/33'), /prefix length must be a number from 0 to 32 for IPv4/);
  assert.match(rejected('fc00::/129'), /from 0 to 128 for IPv6/);
  assert.match(rejected('10.0.0.0/024'), /prefix length/);
  assert.match(rejected('10.0.0.0/'), /prefix length/);
  assert.match(rejected('300.0.0.0/8'), /"300.0.0.0" is not an IP address/);
  assert.match(rejected('10.0.0.0/8/8'), /not a valid CIDR/);
  assert.match(rejected('10.0.0.1-10.0.0.2-10.0.0.3'), /exactly two addresses/);
  assert.match(rejected('10.0.0.1-'), /"" is not an IP address/);
  assert.match(rejected('10.0.0.1'), /neither a CIDR .* nor a range/);
  assert.match(rejected('garbage'), /"garbage" is neither a CIDR/);
});

test('ranges merge into sorted disjoint intervals, adjacent ones joined', () => {
  assert.deepEqual(mergeRanges([v4(20n, 30n), v4(0n, 5n), v4(6n, 10n), v4(25n, 40n), v4(50n, 50n)]), [
    v4(0n, 10n),
    v4(20n, 40n),
    v4(50n, 50n),
  ]);
  assert.deepEqual(mergeRanges([v4(0n, 100n), v4(10n, 20n)]), [v4(0n, 100n)]);
  assert.deepEqual(mergeRanges([]), []);
});

test('merged ranges cover exactly the addresses of their inputs', () => {
  const range = fc
    .tuple(fc.bigInt({ min: 0n, max: 200n }), fc.bigInt({ min: 0n, max: 20n }))
    .map(([first, len]) => v4(first, first + len));
  fc.assert(
    fc.property(fc.array(range, { maxLength: 8 }), fc.bigInt({ min: 0n, max: 230n }), (ranges, x) => {
      const merged = mergeRanges(ranges);
      const inInput = ranges.some((r) => r.first <= x && x <= r.last);
      assert.equal(
        merged.some((r) => r.first <= x && x <= r.last),
        inInput,
      );
      for (let i = 1; i < merged.length; i++) assert.ok(merged[i]!.first > merged[i - 1]!.last + 1n);
    }),
  );
});

test('intersection finds the shared parts of two interval lists', () => {
  assert.deepEqual(intersectRanges([v4(0n, 10n), v4(20n, 30n)], [v4(5n, 25n)]), [v4(5n, 10n), v4(20n, 25n)]);
  assert.deepEqual(intersectRanges([v4(0n, 10n)], [v4(11n, 20n)]), []);
});

test('ranges print as a CIDR when they are one', () => {
  assert.equal(formatRange(parsed('192.168.1.0/24')), '192.168.1.0/24');
  assert.equal(formatRange(parsed('192.168.1.0-192.168.1.127')), '192.168.1.0/25');
  assert.equal(formatRange(parsed('192.168.1.1-192.168.1.128')), '192.168.1.1-192.168.1.128');
  assert.equal(formatRange(parsed('192.168.1.7/32')), '192.168.1.7');
  assert.equal(formatRange(parsed('2001:db8::/64')), '2001:db8::/64');
  assert.equal(formatRange({ family: 6, first: 0n, last: (1n << 128n) - 1n }), '::/0');
});

test('buggy addresses: IPv4 ending in .0 or .255, IPv6 with an all-zeros interface identifier; counted without enumerating', () => {
  assert.equal(isBuggyAddress(4, 0xc0a80100n), true);
  assert.equal(isBuggyAddress(4, 0xc0a801ffn), true);
  assert.equal(isBuggyAddress(4, 0xc0a80101n), false);
  assert.equal(isBuggyAddress(6, 0xff00n), false);
  assert.equal(isBuggyAddress(6, parsed('2001:db8:bbbb:1::/128').first), true);
  assert.equal(isBuggyAddress(6, parsed('2001:db8:bbbb:1::ff/128').first), false);
  assert.equal(countBuggyAddresses(parsed('fc00::/64')), 1n);
  assert.equal(countBuggyAddresses(parsed('fc00::/56')), 256n);
  assert.equal(countBuggyAddresses(parsed('fc00::1-fc00::ffff')), 0n);
  assert.equal(countBuggyAddresses(parsed('fc00:0:0:1:ffff:ffff:ffff:ffff-fc00:0:0:2::')), 1n);
  // The all-zeros address of an IPv6 CIDR longer than /64, up to /126 (RFC 6164 leaves /127 alone).
  assert.equal(cidrAnycast('2001:db8::100/120'), parsed('2001:db8::100/128').first);
  assert.equal(cidrAnycast('2001:db8::/120'), undefined, 'already an all-zeros interface identifier');
  assert.equal(cidrAnycast('2001:db8::4/126'), parsed('2001:db8::4/128').first);
  assert.equal(cidrAnycast('2001:db8::4/127'), undefined);
  assert.equal(cidrAnycast('2001:db8::4/128'), undefined);
  assert.equal(cidrAnycast('2001:db8::100-2001:db8::1ff'), undefined, 'a range names no prefix');
  assert.equal(cidrAnycast('192.168.1.0/24'), undefined);
  assert.equal(countBuggyAddresses(parsed('192.168.1.0/24')), 2n);
  assert.equal(countBuggyAddresses(parsed('10.0.0.0/8')), 2n * 65536n);
  assert.equal(countBuggyAddresses(parsed('0.0.0.0/0')), 2n * 16777216n);
  assert.equal(countBuggyAddresses(parsed('192.168.1.1-192.168.1.254')), 0n);
  assert.equal(countBuggyAddresses(parsed('192.168.1.255-192.168.2.0')), 2n);
  fc.assert(
    fc.property(fc.bigInt({ min: 0n, max: 2000n }), fc.bigInt({ min: 0n, max: 700n }), (first, len) => {
      let expected = 0n;
      for (let x = first; x <= first + len; x++) if (isBuggyAddress(4, x)) expected++;
      assert.equal(countBuggyAddresses(v4(first, first + len)), expected);
    }),
  );
});
