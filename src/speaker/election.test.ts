import assert from 'node:assert/strict';
import { test } from 'node:test';
import { electOwner } from './election.ts';

const addresses = Array.from({ length: 3000 }, (_, i) => `192.0.${Math.floor(i / 256)}.${i % 256}`);

test('every speaker computing from the same inputs elects the same owner, whatever the order', () => {
  for (const a of addresses.slice(0, 200)) {
    assert.equal(electOwner(a, ['n1', 'n2', 'n3']), electOwner(a, ['n3', 'n1', 'n2']));
  }
});

test('addresses spread evenly over the nodes', () => {
  const count = new Map<string, number>();
  for (const a of addresses) {
    const o = electOwner(a, ['n1', 'n2', 'n3'])!;
    count.set(o, (count.get(o) ?? 0) + 1);
  }
  for (const n of ['n1', 'n2', 'n3'])
    assert.ok(count.get(n)! > 850 && count.get(n)! < 1150, `${n}: ${count.get(n)}`);
});

test('a node leaving moves only its own addresses; a node joining takes only what it wins', () => {
  const before = new Map(addresses.map((a) => [a, electOwner(a, ['n1', 'n2', 'n3'])]));
  for (const a of addresses) {
    const after = electOwner(a, ['n1', 'n3']);
    if (before.get(a) !== 'n2') assert.equal(after, before.get(a), `${a} moved though its owner stayed`);
  }
  for (const a of addresses) {
    const after = electOwner(a, ['n1', 'n2', 'n3', 'n4']);
    if (after !== 'n4') assert.equal(after, before.get(a));
  }
});

test('weights bias the share, and weight 0 never wins', () => {
  const weights = new Map([
    ['big', 3],
    ['small', 1],
    ['off', 0],
  ]);
  let big = 0;
  for (const a of addresses) {
    const o = electOwner(a, weights);
    assert.notEqual(o, 'off');
    if (o === 'big') big++;
  }
  assert.ok(big > addresses.length * 0.7 && big < addresses.length * 0.8, `big won ${big}`);
  assert.equal(electOwner('192.0.2.1', []), undefined);
});
