import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { AddressSet } from './address-set.ts';

function setOf(values: bigint[]): AddressSet {
  const s = new AddressSet();
  for (const v of values) s.add(v);
  return s;
}

test('members are added once, removed, counted and listed in order', () => {
  const s = setOf([5n, 1n, 3n, 3n]);
  assert.equal(s.size, 3);
  assert.equal(s.has(3n), true);
  assert.equal(s.has(4n), false);
  assert.deepEqual([...s.between(0n, 10n)], [1n, 3n, 5n]);
  assert.deepEqual([...s.between(2n, 4n)], [3n]);
  assert.equal(s.countBetween(1n, 5n), 3n);
  assert.equal(s.countBetween(2n, 4n), 1n);
  assert.equal(s.countBetween(6n, 5n), 0n);
  s.delete(3n);
  s.delete(42n);
  assert.deepEqual([...s.between(0n, 10n)], [1n, 5n]);
});

test('firstAbsent finds the first gap in a range', () => {
  const s = setOf([10n, 11n, 12n, 14n, 20n]);
  assert.equal(s.firstAbsent(10n, 30n), 13n);
  assert.equal(s.firstAbsent(0n, 30n), 0n);
  assert.equal(s.firstAbsent(14n, 30n), 15n);
  assert.equal(s.firstAbsent(10n, 12n), undefined);
  assert.equal(s.firstAbsent(20n, 20n), undefined);
  assert.equal(s.firstAbsent(13n, 13n), 13n);
  assert.equal(s.firstAbsent(5n, 4n), undefined);
  assert.equal(new AddressSet().firstAbsent(7n, 9n), 7n);
});

test('firstAbsent agrees with a linear scan', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.bigInt({ min: 0n, max: 64n }), { maxLength: 60 }),
      fc.bigInt({ min: 0n, max: 64n }),
      fc.bigInt({ min: 0n, max: 64n }),
      (members, a, b) => {
        const [first, last] = a <= b ? [a, b] : [b, a];
        const s = setOf(members);
        let expected: bigint | undefined;
        for (let x = first; x <= last; x++) {
          if (!members.includes(x)) {
            expected = x;
            break;
          }
        }
        assert.equal(s.firstAbsent(first, last), expected);
      },
    ),
  );
});

test('the first gap after a run of n members costs about log2(n) steps, whatever the range size', () => {
  const n = 4096;
  const s = setOf(Array.from({ length: n }, (_, i) => BigInt(i)));
  const before = s.steps;
  assert.equal(s.firstAbsent(0n, (1n << 64n) - 1n), BigInt(n));
  const cost = s.steps - before;
  // One lower-bound search and one run-end search, each at most ceil(log2(n + 1)) comparisons.
  assert.ok(cost <= 2 * Math.ceil(Math.log2(n + 1)), `took ${cost} steps`);
});
