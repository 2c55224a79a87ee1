import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BgpPlan, type PlanChanges } from './bgp-plan.ts';
import type { AddressEntry, BgpRoute } from './catalog.ts';

const entry = (address: string, services: string[], bgp: BgpRoute[]): AddressEntry => ({
  address,
  services,
  pool: 'p',
  l2: undefined,
  bgp,
});
const host = (address: string, peers: string[], more: Partial<BgpRoute> = {}): BgpRoute => ({
  prefix: `${address}/32`,
  peers,
  communities: ['64512:100'],
  ...more,
});

/** A change set as plain, ordered data, for deepEqual. */
function summary(c: PlanChanges) {
  return {
    withdrawals: c.withdrawals.map((w) => `${w.peer} ${w.prefix}`).sort(),
    announcements: c.announcements.map((a) => `${a.peer} ${JSON.stringify(a.route)}`).sort(),
    services: Object.fromEntries([...c.services].sort(([a], [b]) => a.localeCompare(b))),
  };
}

function plan100(): BgpPlan {
  const plan = new BgpPlan();
  for (let i = 0; i < 100; i++) {
    const ip = `198.51.100.${i}`;
    plan.setAddress(ip, entry(ip, [`ns/s${i}`], [host(ip, ['tor-a', 'tor-b'])]));
  }
  return plan;
}

test('a change to one Service re-decides only its own prefix and status; the 99 others are not touched', () => {
  const plan = plan100();
  const first = plan.take();
  assert.equal(first.announcements.length, 200, 'every prefix on both peers');
  assert.equal(first.services.size, 100);

  // s7 loses its address, s100 gets a new one, s42 gets another community: one batch.
  plan.setAddress('198.51.100.7', undefined);
  plan.setAddress(
    '198.51.100.100',
    entry('198.51.100.100', ['ns/s100'], [host('198.51.100.100', ['tor-a'])]),
  );
  plan.setAddress(
    '198.51.100.42',
    entry(
      '198.51.100.42',
      ['ns/s42'],
      [host('198.51.100.42', ['tor-a', 'tor-b'], { communities: ['64512:200'] })],
    ),
  );
  assert.deepEqual(summary(plan.take()), {
    withdrawals: ['tor-a 198.51.100.7/32', 'tor-b 198.51.100.7/32'],
    announcements: [
      'tor-a {"prefix":"198.51.100.100/32","communities":["64512:100"]}',
      'tor-a {"prefix":"198.51.100.42/32","communities":["64512:200"]}',
      'tor-b {"prefix":"198.51.100.42/32","communities":["64512:200"]}',
    ],
    services: {
      // s42's status names the same prefix and peers: it does not change.
      'ns/s100': { prefixes: ['198.51.100.100/32'], peers: ['tor-a'] },
      'ns/s7': undefined,
    },
  });
});

test('nothing changed, nothing to do: the same entry again is not a change', () => {
  const plan = plan100();
  plan.take();
  assert.equal(plan.pending, false);
  const ip = '198.51.100.5';
  plan.setAddress(ip, entry(ip, ['ns/s5'], [host(ip, ['tor-a', 'tor-b'])]));
  assert.equal(plan.pending, false, 'an equal entry does not mark anything');
  assert.deepEqual(summary(plan.take()), { withdrawals: [], announcements: [], services: {} });
});

test('aggregated addresses share one route: the union of their communities, the highest localPref; it stays while one address has it', () => {
  const plan = new BgpPlan();
  const agg = (communities: string[], localPref?: number): BgpRoute => ({
    prefix: '203.0.113.0/24',
    peers: ['tor'],
    communities,
    ...(localPref !== undefined ? { localPref } : {}),
  });
  plan.setAddress('203.0.113.5', entry('203.0.113.5', ['ns/a'], [agg(['64512:1'], 100)]));
  plan.setAddress('203.0.113.6', entry('203.0.113.6', ['ns/b'], [agg(['64512:2', '64512:1'], 300)]));
  assert.deepEqual(summary(plan.take()), {
    withdrawals: [],
    announcements: ['tor {"prefix":"203.0.113.0/24","communities":["64512:1","64512:2"],"localPref":300}'],
    services: {
      'ns/a': { prefixes: ['203.0.113.0/24'], peers: ['tor'] },
      'ns/b': { prefixes: ['203.0.113.0/24'], peers: ['tor'] },
    },
  });
  // b goes: the route keeps a's attributes only; a's status is unchanged.
  plan.setAddress('203.0.113.6', undefined);
  assert.deepEqual(summary(plan.take()), {
    withdrawals: [],
    announcements: ['tor {"prefix":"203.0.113.0/24","communities":["64512:1"],"localPref":100}'],
    services: { 'ns/b': undefined },
  });
  plan.setAddress('203.0.113.5', undefined);
  assert.deepEqual(summary(plan.take()), {
    withdrawals: ['tor 203.0.113.0/24'],
    announcements: [],
    services: { 'ns/a': undefined },
  });
});

test('a withheld contribution withholds the prefix from that peer only, for every Service using it, until it resolves', () => {
  const plan = new BgpPlan();
  const shared = '198.51.100.9';
  const withheld = 'BGPAdvertisement b: community "gold" has no value';
  plan.setAddress(
    shared,
    entry(shared, ['ns/x', 'ns/y'], [host(shared, ['tor-a']), host(shared, ['tor-b'], { withheld })]),
  );
  assert.deepEqual(summary(plan.take()), {
    withdrawals: [],
    announcements: ['tor-a {"prefix":"198.51.100.9/32","communities":["64512:100"]}'],
    services: {
      'ns/x': { prefixes: ['198.51.100.9/32'], peers: ['tor-a'] },
      'ns/y': { prefixes: ['198.51.100.9/32'], peers: ['tor-a'] },
    },
  });
  plan.setAddress(
    shared,
    entry(
      shared,
      ['ns/x', 'ns/y'],
      [host(shared, ['tor-a']), host(shared, ['tor-b'], { communities: ['64512:7'] })],
    ),
  );
  assert.deepEqual(summary(plan.take()), {
    withdrawals: [],
    announcements: ['tor-b {"prefix":"198.51.100.9/32","communities":["64512:7"]}'],
    services: {
      'ns/x': { prefixes: ['198.51.100.9/32'], peers: ['tor-a', 'tor-b'] },
      'ns/y': { prefixes: ['198.51.100.9/32'], peers: ['tor-a', 'tor-b'] },
    },
  });
});

test('cut off: every route is withdrawn and every status cleared; back in touch: all of it again', () => {
  const plan = new BgpPlan();
  plan.setAddress('198.51.100.1', entry('198.51.100.1', ['ns/s'], [host('198.51.100.1', ['tor'])]));
  plan.take();
  plan.setConnected(false);
  assert.equal(plan.announcedAddresses, 0);
  assert.deepEqual(summary(plan.take()), {
    withdrawals: ['tor 198.51.100.1/32'],
    announcements: [],
    services: { 'ns/s': undefined },
  });
  plan.setConnected(true);
  assert.deepEqual(summary(plan.take()), {
    withdrawals: [],
    announcements: ['tor {"prefix":"198.51.100.1/32","communities":["64512:100"]}'],
    services: { 'ns/s': { prefixes: ['198.51.100.1/32'], peers: ['tor'] } },
  });
  assert.equal(plan.announcedAddresses, 1);
});
