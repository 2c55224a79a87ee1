import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeMessage } from '../codec/decode.ts';
import { endOfRib } from '../codec/decode-update.ts';
import type { UpdateMessage } from '../codec/messages.ts';
import { formatPrefix, type Prefix, parsePrefix } from '../codec/prefix.ts';
import { AdjRibOut, type ExportPolicy, endOfRibFor } from './adj-rib-out.ts';

const EBGP: ExportPolicy = {
  localAs: 65001,
  ibgp: false,
  fourOctetAs: true,
  families: new Set(['ipv4', 'ipv6']),
  nextHopIpv4: '192.0.2.1',
  nextHopIpv6: ['2001:db8::1', 'fe80::1'],
};
const IBGP: ExportPolicy = { ...EBGP, ibgp: true };

function decodeAll(messages: Uint8Array[]): UpdateMessage[] {
  return messages.map((m) => {
    assert.ok(m.length <= 4096, `UPDATE of ${m.length} octets`);
    const d = decodeMessage(m, { fourOctetAs: true });
    assert.ok(d.ok, d.ok ? '' : d.error.reason);
    assert.equal(d.value.type, 'update');
    return d.value as UpdateMessage;
  });
}

function hosts(n: number, base = 0x0a000000): string[] {
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const a = base + i;
    out.push(`${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}/32`);
  }
  return out;
}

function announced(updates: UpdateMessage[]): string[] {
  return updates.flatMap((u) => [...u.nlri, ...(u.attributes.mpReach?.nlri ?? [])].map(formatPrefix));
}
function withdrawn(updates: UpdateMessage[]): string[] {
  return updates.flatMap((u) =>
    [...u.withdrawn, ...(u.attributes.mpUnreach?.withdrawn ?? [])].map(formatPrefix),
  );
}

describe('Adj-RIB-Out packing', () => {
  test('10,000 /32s with one set of attributes fill 4,096-octet UPDATEs: 13 messages', () => {
    const rib = new AdjRibOut();
    const list = hosts(10_000);
    for (const p of list) rib.announce(p, { communities: [0xfde90064] });
    const msgs = rib.takeChanges(EBGP);
    // 23 fixed + 27 attribute octets leave 4046 octets: 809 prefixes of 5 octets per UPDATE.
    assert.equal(msgs.length, Math.ceil(10_000 / 809));
    const updates = decodeAll(msgs);
    assert.deepEqual(announced(updates).sort(), [...list].sort());
    for (const u of updates) {
      assert.deepEqual(u.attributes.asPath, [{ type: 2, asns: [65001] }]);
      assert.equal(u.attributes.nextHop, '192.0.2.1');
      assert.deepEqual(u.attributes.communities, [0xfde90064]);
      assert.equal(u.attributes.localPref, undefined, 'no LOCAL_PREF to an eBGP peer');
    }
    assert.ok(msgs.slice(0, -1).every((m) => m.length > 4096 - 5));
    assert.equal(rib.takeChanges(EBGP).length, 0, 'nothing left to send');
  });

  test('100,000 /32s need 124 UPDATEs', () => {
    const rib = new AdjRibOut();
    for (const p of hosts(100_000)) rib.announce(p);
    const msgs = rib.takeChanges(EBGP);
    // No communities: 20 attribute octets, (4096 - 23 - 20) / 5 = 810 per message.
    assert.equal(msgs.length, Math.ceil(100_000 / 810));
    assert.ok(msgs.every((m) => m.length <= 4096));
  });

  test('IPv6 /128s go in MP_REACH_NLRI with global and link-local next hops', () => {
    const rib = new AdjRibOut();
    const list: string[] = [];
    for (let i = 1; i <= 1_000; i++) list.push(`2001:db8:1::${i.toString(16)}/128`);
    for (const p of list) rib.announce(p, { largeCommunities: [[65001, 1, 2]], med: 5 });
    const updates = decodeAll(rib.takeChanges(EBGP));
    // ORIGIN 4 + AS_PATH 9 + MED 7 + LARGE_COMMUNITY 15 octets, MP_REACH_NLRI overhead 41: 235 per UPDATE.
    assert.equal(updates.length, Math.ceil(1_000 / Math.floor((4096 - 23 - 35 - 41) / 17)));
    assert.ok(updates.slice(0, -1).every((u) => u.attributes.mpReach?.nlri.length === 235));
    assert.deepEqual(announced(updates).sort(), [...list].sort());
    for (const u of updates) {
      assert.deepEqual(u.attributes.mpReach?.nextHops, ['2001:db8::1', 'fe80::1']);
      assert.equal(u.attributes.nextHop, undefined);
      assert.equal(u.attributes.med, 5);
      assert.deepEqual(u.attributes.largeCommunities, [[65001, 1, 2]]);
    }
  });

  test('prefixes with different attributes go in different UPDATEs; same attributes in any order share one', () => {
    const rib = new AdjRibOut();
    rib.announce('192.0.2.1/32', { communities: [1, 2] });
    rib.announce('192.0.2.2/32', { communities: [2, 1, 1] });
    rib.announce('192.0.2.3/32', { communities: [3] });
    const updates = decodeAll(rib.takeChanges(EBGP));
    assert.equal(updates.length, 2);
  });

  test('iBGP carries LOCAL_PREF (100 by default) and an empty AS_PATH', () => {
    const rib = new AdjRibOut();
    rib.announce('192.0.2.1/32', { localPref: 250 });
    rib.announce('192.0.2.2/32');
    const updates = decodeAll(rib.takeChanges(IBGP));
    assert.deepEqual(updates.map((u) => u.attributes.localPref).sort(), [100, 250]);
    assert.deepEqual(updates[0]!.attributes.asPath, []);
  });

  test('withdrawals come first and are packed too', () => {
    const rib = new AdjRibOut();
    const list = hosts(2_000);
    for (const p of list) rib.announce(p);
    rib.announce('2001:db8::1/128');
    rib.takeChanges(EBGP);
    for (const p of list) rib.withdraw(p);
    rib.withdraw('2001:db8::1/128');
    rib.announce('192.0.2.9/32');
    assert.ok(rib.hasWithdrawals);
    const updates = decodeAll(rib.takeChanges(EBGP));
    assert.deepEqual(withdrawn(updates).length, 2_001);
    assert.equal(updates.length, Math.ceil(2_000 / Math.floor((4096 - 23) / 5)) + 2);
    assert.deepEqual(announced(updates.slice(-1)), ['192.0.2.9/32']);
  });
});

describe('Adj-RIB-Out withdrawAll', () => {
  test('withdraws exactly what the peer has, of both families, and nothing twice', () => {
    const rib = new AdjRibOut();
    const list = hosts(1_000);
    for (const p of list) rib.announce(p);
    rib.announce('2001:db8::1/128');
    rib.announce('2001:db8::2/128');
    rib.takeChanges(EBGP);
    rib.announce('192.0.2.9/32'); // wanted but never sent: nothing to withdraw
    rib.withdrawAll();
    assert.equal(rib.size, 0);
    assert.ok(rib.hasWithdrawals);
    const updates = decodeAll(rib.takeChanges(EBGP));
    assert.deepEqual(announced(updates), []);
    assert.deepEqual(withdrawn(updates).sort(), [...list, '2001:db8::1/128', '2001:db8::2/128'].sort());
    assert.deepEqual(rib.takeChanges(EBGP), [], 'nothing left to send');
    for (const p of list.slice(0, 3)) rib.announce(p);
    rib.withdrawAll();
    assert.deepEqual(rib.takeChanges(EBGP), [], 'announced and withdrawn before sending: nothing');
  });

  test('withdrawAll, then announcing some again before sending: only the others are withdrawn', () => {
    const rib = new AdjRibOut();
    const list = hosts(10);
    for (const p of list) rib.announce(p);
    rib.takeChanges(EBGP);
    rib.withdrawAll();
    rib.announce(list[0]!);
    const updates = decodeAll(rib.takeChanges(EBGP));
    assert.deepEqual(withdrawn(updates).sort(), list.slice(1).sort());
    assert.deepEqual(announced(updates), []);
    assert.ok(rib.isAdvertised(list[0]!));
    // A withdrawal pending across a session reset is not sent to the new session (it knows nothing).
    rib.withdrawAll();
    rib.reset();
    assert.deepEqual(rib.takeChanges(EBGP), []);
  });
});

describe('Adj-RIB-Out coalescing', () => {
  test('announced then withdrawn before it was sent: never sent', () => {
    const rib = new AdjRibOut();
    for (let i = 0; i < 100; i++) {
      rib.announce('192.0.2.1/32');
      rib.withdraw('192.0.2.1/32');
    }
    assert.equal(rib.hasWithdrawals, false);
    assert.deepEqual(rib.takeChanges(EBGP), []);
  });

  test('withdrawn then re-announced with the same attributes before it was sent: nothing to send', () => {
    const rib = new AdjRibOut();
    rib.announce('192.0.2.1/32', { med: 1 });
    rib.takeChanges(EBGP);
    rib.withdraw('192.0.2.1/32');
    rib.announce('192.0.2.1/32', { med: 1 });
    assert.deepEqual(rib.takeChanges(EBGP), []);
    assert.ok(rib.isAdvertised('192.0.2.1/32'));
  });

  test('changed attributes re-announce (an implicit withdraw), nothing is withdrawn', () => {
    const rib = new AdjRibOut();
    rib.announce('192.0.2.1/32', { med: 1 });
    rib.takeChanges(EBGP);
    rib.announce('192.0.2.1/32', { med: 2 });
    const updates = decodeAll(rib.takeChanges(EBGP));
    assert.equal(updates.length, 1);
    assert.equal(updates[0]!.attributes.med, 2);
    assert.deepEqual(withdrawn(updates), []);
  });

  test('with announcements held back (MRAI) only withdrawals go; announcements follow later', () => {
    const rib = new AdjRibOut();
    rib.announce('192.0.2.1/32');
    rib.takeChanges(EBGP);
    rib.withdraw('192.0.2.1/32');
    rib.announce('192.0.2.2/32');
    const first = decodeAll(rib.takeChanges(EBGP, { announcements: false }));
    assert.deepEqual(withdrawn(first), ['192.0.2.1/32']);
    assert.deepEqual(announced(first), []);
    assert.ok(rib.hasChanges);
    assert.deepEqual(announced(decodeAll(rib.takeChanges(EBGP))), ['192.0.2.2/32']);
  });

  test('a family not negotiated waits; reset after a session drop sends everything again', () => {
    const rib = new AdjRibOut();
    rib.announce('192.0.2.1/32');
    rib.announce('2001:db8::1/128');
    const v4only = { ...EBGP, families: new Set(['ipv4'] as const) };
    assert.deepEqual(announced(decodeAll(rib.takeChanges(v4only))), ['192.0.2.1/32']);
    rib.reset();
    assert.deepEqual(announced(decodeAll(rib.takeChanges(EBGP))).sort(), ['192.0.2.1/32', '2001:db8::1/128']);
  });

  test('full table for route refresh repeats what the peer has, per family', () => {
    const rib = new AdjRibOut();
    for (const p of hosts(900)) rib.announce(p);
    rib.announce('2001:db8::1/128');
    rib.takeChanges(EBGP);
    assert.equal(announced(decodeAll(rib.fullTable('ipv4', EBGP))).length, 900);
    assert.deepEqual(announced(decodeAll(rib.fullTable('ipv6', EBGP))), ['2001:db8::1/128']);
  });

  test('End-of-RIB markers decode as such', () => {
    for (const [family, afi] of [
      ['ipv4', 1],
      ['ipv6', 2],
    ] as const) {
      const [u] = decodeAll([endOfRibFor(family)]);
      assert.deepEqual(endOfRib(u!), { afi, safi: 1 });
    }
  });

  test('text that is not a prefix is refused', () => {
    const rib = new AdjRibOut();
    assert.throws(() => rib.announce('192.0.2.1/33'), TypeError);
    assert.throws(() => rib.withdraw('nonsense'), TypeError);
  });
});

describe('Adj-RIB-Out route identity', () => {
  test('host routes across the whole IPv4 range, the top bit set or not, go out as written and come back as text', () => {
    const rib = new AdjRibOut();
    const edges = ['0.0.0.0/32', '127.255.255.255/32', '128.0.0.1/32', '255.255.255.255/32', '10.0.0.0/24'];
    for (const p of edges) rib.announce(p);
    assert.deepEqual([...rib.routes().keys()].sort(), [...edges].sort());
    assert.deepEqual(announced(decodeAll(rib.takeChanges(EBGP))).sort(), [...edges].sort());
    assert.equal(rib.advertisedCount, 5);
    for (const p of edges) assert.ok(rib.isAdvertised(p), p);
    // A Prefix object and its text are the same route; a bare address is its host route.
    rib.withdraw(parsePrefix('255.255.255.255/32') as Prefix);
    rib.withdraw('128.0.0.1');
    assert.deepEqual(withdrawn(decodeAll(rib.takeChanges(EBGP))).sort(), [
      '128.0.0.1/32',
      '255.255.255.255/32',
    ]);
    assert.equal(rib.advertisedCount, 3);
  });

  test('a /32 and the /24 it starts, an IPv6 host route ending in the same 32 bits and an IPv6 /64 are all distinct', () => {
    const rib = new AdjRibOut();
    rib.announce('192.0.2.0/32', { med: 1 });
    rib.announce('192.0.2.0/24', { med: 2 });
    rib.announce('2001:db8::c000:200/128', { med: 3 });
    rib.announce('2001:db8::/64', { med: 4 });
    assert.equal(rib.size, 4);
    const updates = decodeAll(rib.takeChanges(EBGP));
    const med = (prefix: string) => updates.find((u) => announced([u]).includes(prefix))?.attributes.med;
    assert.deepEqual(
      ['192.0.2.0/32', '192.0.2.0/24', '2001:db8::c000:200/128', '2001:db8::/64'].map(med),
      [1, 2, 3, 4],
    );
    rib.withdraw('192.0.2.0/24');
    assert.deepEqual(withdrawn(decodeAll(rib.takeChanges(EBGP))), ['192.0.2.0/24']);
    assert.ok(rib.isAdvertised('192.0.2.0/32'), 'the /32 stays');
  });
});
