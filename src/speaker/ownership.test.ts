/**
 * The ownership table against the properties that define rendezvous hashing: the same owner whatever the
 * order things arrive in, an even spread, only the departing node's addresses move when it leaves and only
 * the arriving node's winnings when it joins, and the incremental table always equal to computing every
 * address from scratch.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Ownership } from './ownership.ts';

const addresses = Array.from({ length: 3000 }, (_, i) => `192.0.${Math.floor(i / 256)}.${i % 256}`);
const all = new Set(['n1', 'n2', 'n3']);

function table(order: string[], live: Set<string>, eligible: ReadonlySet<string> = all): Ownership {
  const o = new Ownership();
  o.setLive(live);
  for (const a of order) o.setAddress(a, eligible);
  return o;
}

test('every speaker computing from the same inputs gets the same owner, whatever the order', () => {
  const a = table(addresses, all);
  const b = new Ownership();
  for (const x of [...addresses].reverse()) b.setAddress(x, all);
  b.setLive(new Set(['n3', 'n1', 'n2']));
  for (const x of addresses) assert.equal(a.owner(x), b.owner(x));
});

test('addresses spread evenly over the nodes (3,000 over 3: each within 6 standard deviations of 1,000)', () => {
  const o = table(addresses, all);
  for (const n of all) {
    const count = o.ownedBy(n).size;
    // Binomial(3000, 1/3): standard deviation 25.8.
    assert.ok(count > 845 && count < 1155, `${n}: ${count}`);
  }
});

test('a node leaving moves only its own addresses; a node joining takes only what it wins', () => {
  const o = table(addresses, all);
  const before = new Map(addresses.map((a) => [a, o.owner(a)]));
  const left = o.setLive(new Set(['n1', 'n3']));
  for (const c of left) assert.equal(c.from, 'n2', `${c.address} moved from ${c.from}`);
  assert.equal(left.length, [...before.values()].filter((n) => n === 'n2').length);
  const o2 = table(addresses, all, new Set(['n1', 'n2', 'n3', 'n4']));
  const joined = o2.setLive(new Set(['n1', 'n2', 'n3', 'n4']));
  for (const c of joined) assert.equal(c.to, 'n4');
  // About a quarter of the addresses move to the newcomer: Binomial(3000, 1/4), sd 23.7.
  assert.ok(joined.length > 608 && joined.length < 892, `${joined.length} moved to n4`);
});

test('incremental updates equal a table built from scratch, through random churn', () => {
  let seed = 42;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed / 0x7fffffff;
  };
  const nodes = ['a', 'b', 'c', 'd', 'e', 'f'];
  const subsets = [new Set(nodes), new Set(['a', 'b', 'c']), new Set(['d', 'e']), new Set(['f'])];
  const eligibleOf = new Map(addresses.slice(0, 500).map((a) => [a, subsets[Math.floor(rand() * 4)]!]));
  const inc = new Ownership();
  let live = new Set(nodes);
  inc.setLive(live);
  for (const [a, e] of eligibleOf) inc.setAddress(a, e);
  for (let step = 0; step < 200; step++) {
    const r = rand();
    if (r < 0.4) {
      live = new Set(nodes.filter(() => rand() > 0.3));
      inc.setLive(live);
    } else if (r < 0.8) {
      const a = addresses[Math.floor(rand() * 500)]!;
      const e = subsets[Math.floor(rand() * 4)]!;
      eligibleOf.set(a, e);
      inc.setAddress(a, e);
    } else {
      const a = addresses[Math.floor(rand() * 500)]!;
      eligibleOf.delete(a);
      inc.removeAddress(a);
    }
    const fresh = new Ownership();
    fresh.setLive(live);
    for (const [a, e] of eligibleOf) fresh.setAddress(a, e);
    for (const a of eligibleOf.keys()) {
      assert.equal(inc.owner(a), fresh.owner(a), `step ${step}: ${a}`);
      const o = fresh.owner(a);
      if (o)
        assert.equal(inc.ownerWithout(a, o), fresh.ownerWithout(a, o), `step ${step}: runner-up of ${a}`);
    }
  }
});

test('work is proportional to the change: a node dying re-scores only the addresses it was first or second for', () => {
  const nodes = Array.from({ length: 100 }, (_, i) => `node-${i}`);
  const o = table(addresses, new Set(nodes), new Set(nodes));
  const touched = addresses.filter(
    (a) => o.owner(a) === 'node-7' || o.ownerWithout(a, o.owner(a)!) === 'node-7',
  );
  // About 2% of the addresses (first or second of 100): far from all of them.
  assert.ok(touched.length > 0 && touched.length < addresses.length / 20, `${touched.length} touched`);
  o.scoresComputed = 0;
  o.setLive(new Set(nodes.filter((n) => n !== 'node-7')));
  // Each of those is re-scored over the 99 remaining nodes; nothing else is looked at.
  assert.equal(o.scoresComputed, touched.length * 99);
  o.scoresComputed = 0;
  o.setLive(new Set(nodes.filter((n) => n !== 'node-7')));
  assert.equal(o.scoresComputed, 0, 'an unchanged live set must cost nothing');
  o.setLive(new Set(nodes));
  assert.equal(o.scoresComputed, addresses.length, 'a node joining costs one score per address');
});

test('ownerWithout names the holder a joining node takes an address over from', () => {
  const o = table(addresses.slice(0, 50), all);
  for (const a of addresses.slice(0, 50)) {
    const owner = o.owner(a)!;
    const rest = new Set([...all].filter((n) => n !== owner));
    assert.equal(o.ownerWithout(a, owner), table([a], rest).owner(a));
  }
});
