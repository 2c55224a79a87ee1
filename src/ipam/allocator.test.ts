import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Allocator } from './allocator.ts';
import type { AssignResult, PoolInput, Refusal, ServiceRequest, SharingRequest } from './types.ts';

function pool(name: string, addresses: string[], extra: Partial<PoolInput> = {}): PoolInput {
  return { name, addresses, autoAssign: true, avoidBuggyIPs: false, ...extra };
}

function svc(key: string, extra: Partial<ServiceRequest> = {}): ServiceRequest {
  return {
    key,
    namespace: key.split('/')[0]!,
    namespaceLabels: {},
    serviceLabels: {},
    families: [4],
    requireAllFamilies: true,
    requestedAddresses: [],
    ...extra,
  };
}

function share(key: string, ports: (number | `${number}/${string}`)[], extra: Partial<SharingRequest> = {}) {
  return {
    sharing: {
      key,
      ports: ports.map((p) => {
        const [port, protocol = 'TCP'] = String(p).split('/');
        return { port: Number(port), protocol };
      }),
      trafficPolicy: 'Cluster' as const,
      ...extra,
    },
  };
}

function allocator(...pools: PoolInput[]): Allocator {
  const a = new Allocator();
  assert.deepEqual(a.setPools(pools).errors, []);
  return a;
}

/** The addresses of a successful result, or a failure naming the refusal. */
function addresses(result: AssignResult): string[] {
  assert.ok(result.ok, result.ok ? '' : `${result.refusal.reason}: ${result.refusal.message}`);
  return result.assignment.addresses.map((a) => a.address);
}

function refusal(result: AssignResult): Refusal {
  assert.ok(!result.ok, `expected a refusal, got ${result.ok && addresses(result).join(', ')}`);
  return result.refusal;
}

function held(a: Allocator, key: string): string[] {
  return a.assignmentOf(key)?.addresses.map((x) => x.address) ?? [];
}

describe('auto-assignment', () => {
  test('hands out the lowest free address and says which pool it came from', () => {
    const a = allocator(pool('lan', ['192.168.1.10-192.168.1.12']));
    const r = a.assign(svc('default/web'));
    assert.ok(r.ok);
    assert.deepEqual(r.assignment, {
      service: 'default/web',
      addresses: [{ address: '192.168.1.10', family: 4, pool: 'lan' }],
    });
    assert.equal(r.changed, true);
    assert.deepEqual(r.unassigned, []);
    assert.deepEqual(addresses(a.assign(svc('default/api'))), ['192.168.1.11']);
  });

  test('asking again returns the same addresses and reports no change', () => {
    const a = allocator(pool('lan', ['192.168.1.0/28']));
    const first = a.assign(svc('default/web', { families: [4, 6], requireAllFamilies: false }));
    const again = a.assign(svc('default/web', { families: [4, 6], requireAllFamilies: false }));
    assert.deepEqual(addresses(again), addresses(first));
    assert.ok(again.ok);
    assert.equal(again.changed, false);
  });

  test('reuses an address once it is released', () => {
    const a = allocator(pool('lan', ['10.0.0.1-10.0.0.3']));
    a.assign(svc('ns/a'));
    a.assign(svc('ns/b'));
    a.assign(svc('ns/c'));
    a.release('ns/b');
    assert.equal(a.assignmentOf('ns/b'), undefined);
    assert.deepEqual(a.servicesAt('10.0.0.2'), []);
    assert.deepEqual(addresses(a.assign(svc('ns/d'))), ['10.0.0.2']);
  });

  test('PoolExhausted names every pool tried', () => {
    const a = allocator(pool('a', ['10.0.0.1/32']), pool('b', ['10.0.1.1/32']));
    a.assign(svc('ns/one'));
    a.assign(svc('ns/two'));
    const r = refusal(a.assign(svc('ns/three')));
    assert.equal(r.reason, 'PoolExhausted');
    assert.equal(r.message, 'no free IPv4 address for ns/three in pools a, b');
    assert.deepEqual(r.pools, ['a', 'b']);
    assert.equal(r.family, 4);
  });

  test('avoidBuggyIPs skips addresses ending in .0 and .255', () => {
    const a = allocator(
      pool('lan', ['192.168.1.254-192.168.2.1', '192.168.3.0/31'], { avoidBuggyIPs: true }),
    );
    assert.deepEqual(addresses(a.assign(svc('ns/a'))), ['192.168.1.254']);
    assert.deepEqual(addresses(a.assign(svc('ns/b'))), ['192.168.2.1']);
    assert.deepEqual(addresses(a.assign(svc('ns/c'))), ['192.168.3.1']);
    assert.equal(refusal(a.assign(svc('ns/d'))).reason, 'PoolExhausted');
    // Without the flag the same addresses are fair game.
    const b = allocator(pool('lan', ['192.168.1.255-192.168.2.0']));
    assert.deepEqual(addresses(b.assign(svc('ns/a'))), ['192.168.1.255']);
  });

  test('avoidBuggyIPs skips the IPv6 Subnet-Router anycast address (RFC 4291 §2.6.1)', () => {
    const v6 = (key: string) => svc(key, { families: [6] });
    // On a /64 link the address with an all-zeros interface identifier is the routers' anycast address.
    const a = allocator(pool('v6', ['2001:db8:bbbb:1::/64'], { avoidBuggyIPs: true }));
    assert.deepEqual(addresses(a.assign(v6('ns/a'))), ['2001:db8:bbbb:1::1']);
    const asked = refusal(
      a.assign(svc('ns/b', { families: [6], requestedAddresses: ['2001:db8:bbbb:1::'] })),
    );
    assert.equal(asked.reason, 'AddressNotInPool');
    assert.match(asked.message, /Subnet-Router anycast address .*RFC 4291/);
    assert.equal(a.poolStats('v6')!.ipv6.total, 2n ** 64n - 1n);
    // A range crossing into the next /64 skips that /64's all-zeros address too; others are fair game.
    const b = allocator(
      pool('v6', ['2001:db8:0:1:ffff:ffff:ffff:fffe-2001:db8:0:2::1'], { avoidBuggyIPs: true }),
    );
    assert.deepEqual(addresses(b.assign(v6('ns/a'))), ['2001:db8:0:1:ffff:ffff:ffff:fffe']);
    assert.deepEqual(addresses(b.assign(v6('ns/b'))), ['2001:db8:0:1:ffff:ffff:ffff:ffff']);
    assert.deepEqual(addresses(b.assign(v6('ns/c'))), ['2001:db8:0:2::1']);
    assert.equal(refusal(b.assign(v6('ns/d'))).reason, 'PoolExhausted');
    // A CIDR longer than /64 skips its own all-zeros address, the anycast address of a link so numbered.
    const c = allocator(pool('v6', ['2001:db8::100/120'], { avoidBuggyIPs: true }));
    assert.deepEqual(addresses(c.assign(v6('ns/a'))), ['2001:db8::101']);
    assert.deepEqual(c.poolStats('v6')!.ipv6, { total: 255n, assigned: 1n, available: 254n });
    // Without the flag the all-zeros address is handed out like any other.
    const d = allocator(pool('v6', ['2001:db8:bbbb:1::/64']));
    assert.deepEqual(addresses(d.assign(v6('ns/a'))), ['2001:db8:bbbb:1::']);
  });

  test('an autoAssign: false pool is used only when asked for by name or address', () => {
    const a = allocator(pool('expensive', ['203.0.113.0/30'], { autoAssign: false }));
    const r = refusal(a.assign(svc('ns/web')));
    assert.equal(r.reason, 'NoPoolForFamily');
    assert.match(r.message, /pool expensive hands out addresses only when asked for by name or address/);
    assert.deepEqual(addresses(a.assign(svc('ns/web', { pool: 'expensive' }))), ['203.0.113.0']);
    assert.deepEqual(addresses(a.assign(svc('ns/api', { requestedAddresses: ['203.0.113.3'] }))), [
      '203.0.113.3',
    ]);
  });

  test('IPv6 addresses come out in canonical form', () => {
    const a = allocator(pool('v6', ['2001:DB8:0:0::1-2001:db8::ffff']));
    assert.deepEqual(addresses(a.assign(svc('ns/a', { families: [6] }))), ['2001:db8::1']);
  });
});

describe('pool order and serviceAllocation', () => {
  test('pools with a priority come first, lower first; then pools that select Services; then by name', () => {
    const a = allocator(
      pool('zeta', ['10.0.6.0/24']),
      pool('alpha', ['10.0.5.0/24']),
      pool('tenant', ['10.0.4.0/24'], { serviceAllocation: { namespaces: ['ns'] } }),
      pool('low', ['10.0.3.0/24'], { serviceAllocation: { priority: 20 } }),
      pool('high', ['10.0.2.0/24'], { serviceAllocation: { priority: 0 } }),
      pool('mid-b', ['10.0.1.0/24'], { serviceAllocation: { priority: 10 } }),
      pool('mid-a', ['10.0.0.0/24'], { serviceAllocation: { priority: 10 } }),
    );
    assert.deepEqual(a.poolNames(), ['high', 'mid-a', 'mid-b', 'low', 'tenant', 'alpha', 'zeta']);
  });

  test('the next pool is used when the preferred one is full', () => {
    const a = allocator(
      pool('fallback', ['10.0.1.1/32']),
      pool('preferred', ['10.0.0.1/32'], { serviceAllocation: { priority: 1 } }),
    );
    assert.deepEqual(a.assign(svc('ns/a')).ok && a.assignmentOf('ns/a')!.addresses[0]!.pool, 'preferred');
    assert.deepEqual(a.assign(svc('ns/b')).ok && a.assignmentOf('ns/b')!.addresses[0]!.pool, 'fallback');
  });

  test('namespaces and namespaceSelectors name the namespaces served; either may match', () => {
    const a = allocator(
      pool('team', ['10.0.0.1/32', '10.0.0.2/32'], {
        serviceAllocation: {
          namespaces: ['payments'],
          namespaceSelectors: [{ matchLabels: { team: 'pay' } }],
        },
      }),
    );
    assert.deepEqual(addresses(a.assign(svc('payments/api'))), ['10.0.0.1']);
    assert.deepEqual(addresses(a.assign(svc('billing/api', { namespaceLabels: { team: 'pay' } }))), [
      '10.0.0.2',
    ]);
    const r = refusal(a.assign(svc('other/api', { namespaceLabels: { team: 'web' } })));
    assert.equal(r.reason, 'NoPoolForFamily');
    assert.equal(
      r.message,
      'no pool may give other/api an IPv4 address: pool team serves only namespaces payments and namespaces labelled team=pay, not namespace other',
    );
  });

  test('serviceSelectors must match as well', () => {
    const a = allocator(
      pool('public', ['10.0.0.1/32'], {
        serviceAllocation: {
          namespaces: ['prod'],
          serviceSelectors: [{ matchExpressions: [{ key: 'exposure', operator: 'In', values: ['public'] }] }],
        },
      }),
      pool('private', ['10.0.1.0/24']),
    );
    const publicSvc = svc('prod/web', { serviceLabels: { exposure: 'public' } });
    assert.equal(a.assign(publicSvc).ok && a.assignmentOf('prod/web')!.addresses[0]!.pool, 'public');
    assert.equal(a.assign(svc('prod/db')).ok && a.assignmentOf('prod/db')!.addresses[0]!.pool, 'private');
    assert.equal(
      a.assign(svc('dev/web', { serviceLabels: { exposure: 'public' } })).ok &&
        a.assignmentOf('dev/web')!.addresses[0]!.pool,
      'private',
    );
  });

  test('PoolNotAllowed when the named pool does not serve the Service', () => {
    const a = allocator(
      pool('gold', ['10.0.0.0/24'], {
        serviceAllocation: { serviceSelectors: [{ matchLabels: { tier: 'gold' } }] },
      }),
    );
    const r = refusal(a.assign(svc('ns/web', { pool: 'gold' })));
    assert.equal(r.reason, 'PoolNotAllowed');
    assert.equal(r.message, 'pool gold serves only Services labelled tier=gold, and ns/web does not match');
    assert.deepEqual(r.pools, ['gold']);
    assert.ok(a.assign(svc('ns/web', { pool: 'gold', serviceLabels: { tier: 'gold' } })).ok);
  });

  test('UnknownPool names the missing pool and the pools there are', () => {
    const a = allocator(pool('gold', ['10.0.0.0/24']), pool('silver', ['10.0.1.0/24']));
    const r = refusal(a.assign(svc('ns/web', { pool: 'bronze' })));
    assert.equal(r.reason, 'UnknownPool');
    assert.equal(r.message, 'pool bronze, which ns/web asks for, does not exist (pools: gold, silver)');
    assert.match(refusal(new Allocator().assign(svc('ns/web', { pool: 'x' }))).message, /there are no pools/);
  });

  test('NoPoolForFamily when no pool has addresses of the family', () => {
    const a = allocator(pool('v4', ['10.0.0.0/24']));
    const r = refusal(a.assign(svc('ns/web', { families: [6] })));
    assert.equal(r.reason, 'NoPoolForFamily');
    assert.equal(r.message, 'no pool may give ns/web an IPv6 address: no pool has IPv6 addresses');
    const named = refusal(a.assign(svc('ns/web', { families: [6], pool: 'v4' })));
    assert.equal(named.reason, 'NoPoolForFamily');
    assert.equal(named.message, 'pool v4, which ns/web asks for, has no IPv6 addresses');
  });

  test('a named pool is the only pool used', () => {
    const a = allocator(pool('a', ['10.0.0.1/32']), pool('b', ['10.0.1.1/32']));
    a.assign(svc('ns/x', { pool: 'a' }));
    const r = refusal(a.assign(svc('ns/y', { pool: 'a' })));
    assert.equal(r.reason, 'PoolExhausted');
    assert.equal(r.message, 'no free IPv4 address for ns/y in pool a');
  });
});

describe('requested addresses', () => {
  test('a free requested address in a pool is given', () => {
    const a = allocator(pool('lan', ['192.168.1.0/24']));
    const r = a.assign(svc('ns/web', { requestedAddresses: ['192.168.1.50'] }));
    assert.deepEqual(addresses(r), ['192.168.1.50']);
    // Auto-assignment works around it.
    assert.deepEqual(addresses(a.assign(svc('ns/a', { requestedAddresses: [] }))), ['192.168.1.0']);
  });

  test('AddressInUse names the Service holding it', () => {
    const a = allocator(pool('lan', ['192.168.1.0/24']));
    a.assign(svc('default/web', { requestedAddresses: ['192.168.1.10'] }));
    const r = refusal(a.assign(svc('default/api', { requestedAddresses: ['192.168.1.10'] })));
    assert.equal(r.reason, 'AddressInUse');
    assert.equal(
      r.message,
      '192.168.1.10 is already used by default/web, which does not allow sharing it (no allow-shared-ip key)',
    );
    assert.deepEqual(r.services, ['default/web']);
    assert.equal(r.address, '192.168.1.10');
  });

  test('AddressNotInPool when the address is in no pool, or not in the named one', () => {
    const a = allocator(pool('lan', ['192.168.1.0/24']), pool('dmz', ['10.0.0.0/24']));
    const none = refusal(a.assign(svc('ns/web', { requestedAddresses: ['172.16.0.1'] })));
    assert.equal(none.reason, 'AddressNotInPool');
    assert.equal(none.message, '172.16.0.1, requested by ns/web, is in no address pool');
    const other = refusal(a.assign(svc('ns/web', { requestedAddresses: ['10.0.0.5'], pool: 'lan' })));
    assert.equal(other.reason, 'AddressNotInPool');
    assert.equal(
      other.message,
      '10.0.0.5, requested by ns/web, is not in pool lan, which ns/web asks for (it lies in pool dmz)',
    );
    assert.ok(a.assign(svc('ns/web', { requestedAddresses: ['10.0.0.5'], pool: 'dmz' })).ok);
  });

  test('AddressNotInPool when the only pools holding it do not serve the Service', () => {
    const a = allocator(pool('team', ['10.0.0.0/24'], { serviceAllocation: { namespaces: ['team'] } }));
    const r = refusal(a.assign(svc('other/web', { requestedAddresses: ['10.0.0.7'] })));
    assert.equal(r.reason, 'AddressNotInPool');
    assert.equal(
      r.message,
      '10.0.0.7, requested by other/web, lies only in pool team, which other/web may not use: pool team serves only namespaces team, not namespace other',
    );
  });

  test('a buggy address is not handed out on request from a pool that avoids it', () => {
    const a = allocator(pool('lan', ['192.168.1.0/24'], { avoidBuggyIPs: true }));
    const r = refusal(a.assign(svc('ns/web', { requestedAddresses: ['192.168.1.255'] })));
    assert.equal(r.reason, 'AddressNotInPool');
    assert.equal(
      r.message,
      '192.168.1.255, requested by ns/web, ends in .255, which pool lan never hands out (avoidBuggyIPs)',
    );
  });

  test('a requested address in any spelling matches its canonical form', () => {
    const a = allocator(pool('v6', ['fc00::/120']));
    assert.deepEqual(
      addresses(a.assign(svc('ns/a', { families: [6], requestedAddresses: ['FC00:0::0010'] }))),
      ['fc00::10'],
    );
    assert.equal(
      refusal(a.assign(svc('ns/b', { families: [6], requestedAddresses: ['fc00::10'] }))).reason,
      'AddressInUse',
    );
  });

  test('InvalidRequest for bad text, two addresses of a family, or a family the Service lacks', () => {
    const a = allocator(pool('lan', ['192.168.1.0/24', 'fc00::/120']));
    const cases: [Partial<ServiceRequest>, string][] = [
      [
        { requestedAddresses: ['192.168.1.300'] },
        '"192.168.1.300", requested by ns/web, is not an IP address',
      ],
      // Kubernetes' legacy parser read "192.168.001.010" as 192.168.1.10, libc as octal (KEP-4858).
      [
        { requestedAddresses: ['192.168.001.010'] },
        '"192.168.001.010", requested by ns/web, is not an IP address: leading zeros are ambiguous (some software reads them as octal); write 192.168.1.10 if that is meant',
      ],
      [
        { families: [6], requestedAddresses: ['fe80::1%eth0'] },
        '"fe80::1%eth0", requested by ns/web, is not an IP address: a zone does not belong in a Service\'s address; write fe80::1',
      ],
      [
        { requestedAddresses: ['192.168.1.1', '192.168.1.2'] },
        'ns/web requests two IPv4 addresses (192.168.1.1 and 192.168.1.2); request at most one per family',
      ],
      [
        { requestedAddresses: ['fc00::1'] },
        'ns/web requests the IPv6 address fc00::1 but its IP families are IPv4',
      ],
      [
        { families: [4, 6], requireAllFamilies: true, requestedAddresses: ['192.168.1.1'] },
        'ns/web requires an address of every family (IPv4, IPv6) but requests no IPv6 address; request one per family, or none',
      ],
      [{ families: [] }, 'ns/web has no IP family to assign an address for'],
      [{ families: [4, 4] }, 'ns/web lists the IP families 4, 4; expected IPv4 and/or IPv6 once each'],
    ];
    for (const [extra, message] of cases) {
      const r = refusal(a.assign(svc('ns/web', extra)));
      assert.equal(r.reason, 'InvalidRequest');
      assert.equal(r.message, message);
    }
    assert.equal(a.assignmentOf('ns/web'), undefined);
  });

  // RFC 4291 §2.5.5.2: ::ffff:a.b.c.d stands for the IPv4 address a.b.c.d. Kubernetes refuses that
  // spelling in status.loadBalancer.ingress[].ip ("use 1.2.3.4", KEP-4858), and Go's net.IP, which
  // kube-proxy and MetalLB read addresses with, takes it for the IPv4 address itself.
  test('an IPv4-mapped IPv6 address is refused: it is the IPv4 address another Service may hold', () => {
    // ::/64 holds ::ffff:192.0.2.1 by value; the pool is refused for it now, the request for its spelling.
    const a = new Allocator();
    a.setPools([pool('v4', ['192.0.2.0/24']), pool('v6', ['::/64'])]);
    assert.deepEqual(addresses(a.assign(svc('ns/a', { requestedAddresses: ['192.0.2.1'] }))), ['192.0.2.1']);
    for (const text of ['::ffff:192.0.2.1', '::FFFF:c000:201', '0:0:0:0:0:ffff:192.0.2.1']) {
      const r = refusal(a.assign(svc('ns/b', { families: [6], requestedAddresses: [text] })));
      assert.equal(r.reason, 'InvalidRequest', text);
      assert.match(r.message, /IPv4-mapped/, text);
      assert.match(r.message, /192\.0\.2\.1\b/, text);
    }
    assert.deepEqual(held(a, 'ns/b'), []);
  });

  test('with addresses requested, a PreferDualStack Service gets exactly those', () => {
    const a = allocator(pool('lan', ['192.168.1.0/24', 'fc00::/120']));
    const r = a.assign(
      svc('ns/web', { families: [4, 6], requireAllFamilies: false, requestedAddresses: ['192.168.1.9'] }),
    );
    assert.deepEqual(addresses(r), ['192.168.1.9']);
    assert.ok(r.ok);
    assert.deepEqual(r.unassigned, []);
  });
});

describe('dual-stack', () => {
  const dual = pool('dual', ['192.168.1.0/31', 'fc00::/127']);

  test("RequireDualStack gets one address per family, in the Service's family order", () => {
    const a = allocator(dual);
    assert.deepEqual(addresses(a.assign(svc('ns/a', { families: [6, 4], requireAllFamilies: true }))), [
      'fc00::',
      '192.168.1.0',
    ]);
  });

  test('RequireDualStack is refused whole when one family cannot be served', () => {
    const a = allocator(dual, pool('v4', ['10.0.0.0/24']));
    a.assign(svc('ns/a', { families: [6] }));
    a.assign(svc('ns/b', { families: [6] }));
    const r = refusal(a.assign(svc('ns/c', { families: [4, 6], requireAllFamilies: true })));
    assert.equal(r.reason, 'PoolExhausted');
    assert.equal(r.family, 6);
    assert.equal(a.assignmentOf('ns/c'), undefined);
    assert.equal(a.poolStats('dual')!.ipv4.assigned, 0n);
  });

  test('RequireDualStack with requested addresses for both families', () => {
    const a = allocator(dual);
    assert.deepEqual(
      addresses(a.assign(svc('ns/a', { families: [4, 6], requestedAddresses: ['fc00::1', '192.168.1.1'] }))),
      ['192.168.1.1', 'fc00::1'],
    );
  });

  test('PreferDualStack takes what it can, says what it could not, and fills the gap later', () => {
    const a = allocator(pool('v4', ['10.0.0.0/24']));
    const prefer = svc('ns/web', { families: [4, 6], requireAllFamilies: false });
    const first = a.assign(prefer);
    assert.deepEqual(addresses(first), ['10.0.0.0']);
    assert.ok(first.ok);
    assert.deepEqual(
      first.unassigned.map((u) => [u.reason, u.family]),
      [['NoPoolForFamily', 6]],
    );
    a.setPools([pool('v4', ['10.0.0.0/24']), pool('v6', ['fc00::/64'])]);
    const second = a.assign(prefer);
    assert.deepEqual(addresses(second), ['10.0.0.0', 'fc00::']);
    assert.ok(second.ok);
    assert.equal(second.changed, true);
    assert.deepEqual(second.unassigned, []);
  });

  test("PreferDualStack with nothing available is refused with the first family's reason", () => {
    const a = allocator(pool('tiny', ['10.0.0.1/32']));
    a.assign(svc('ns/a'));
    const r = refusal(a.assign(svc('ns/b', { families: [4, 6], requireAllFamilies: false })));
    assert.equal(r.reason, 'PoolExhausted');
    assert.equal(r.family, 4);
  });

  test('SingleStack IPv6', () => {
    const a = allocator(dual);
    assert.deepEqual(addresses(a.assign(svc('ns/a', { families: [6] }))), ['fc00::']);
  });
});

describe('IP sharing', () => {
  test('Services with one key and distinct ports share one address', () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']));
    assert.deepEqual(addresses(a.assign(svc('ns/dns-tcp', share('dns', ['53/TCP'])))), ['10.0.0.0']);
    assert.deepEqual(addresses(a.assign(svc('ns/dns-udp', share('dns', ['53/UDP'])))), ['10.0.0.0']);
    assert.deepEqual(a.servicesAt('10.0.0.0'), ['ns/dns-tcp', 'ns/dns-udp']);
    assert.equal(a.poolStats('lan')!.ipv4.assigned, 1n);
    // Releasing one leaves the address with the other.
    a.release('ns/dns-tcp');
    assert.deepEqual(a.servicesAt('10.0.0.0'), ['ns/dns-udp']);
    assert.deepEqual(addresses(a.assign(svc('ns/other'))), ['10.0.0.1']);
    a.release('ns/dns-udp');
    assert.deepEqual(addresses(a.assign(svc('ns/last'))), ['10.0.0.0']);
  });

  test('auto-assignment joins an existing group before taking a new address', () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']));
    a.assign(svc('ns/first'));
    a.assign(svc('ns/web', share('k', [80])));
    a.assign(svc('ns/middle'));
    assert.deepEqual(addresses(a.assign(svc('ns/web-tls', share('k', [443])))), ['10.0.0.1']);
  });

  test('a port clash sends auto-assignment to a new address, and a request for the address names the port', () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']));
    a.assign(svc('default/web', share('k', [80, 443])));
    assert.deepEqual(addresses(a.assign(svc('default/web2', share('k', [443])))), ['10.0.0.1']);
    const r = refusal(
      a.assign(svc('default/web3', { ...share('k', ['443/tcp']), requestedAddresses: ['10.0.0.0'] })),
    );
    assert.equal(r.reason, 'SharingConflict');
    assert.equal(r.message, 'default/web3 cannot share 10.0.0.0 with default/web: both use port 443/TCP');
    assert.deepEqual(r.services, ['default/web']);
    // The same port with another protocol is no clash.
    assert.deepEqual(
      addresses(
        a.assign(svc('default/web4', { ...share('k', ['443/UDP']), requestedAddresses: ['10.0.0.0'] })),
      ),
      ['10.0.0.0'],
    );
  });

  test('a different key, or none, means the address is in use', () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']));
    a.assign(svc('ns/a', { ...share('one', [80]), requestedAddresses: ['10.0.0.5'] }));
    const other = refusal(a.assign(svc('ns/b', { ...share('two', [81]), requestedAddresses: ['10.0.0.5'] })));
    assert.equal(other.reason, 'AddressInUse');
    assert.equal(
      other.message,
      '10.0.0.5 is already used by ns/a under sharing key "one", and ns/b has key "two"',
    );
    const none = refusal(a.assign(svc('ns/c', { requestedAddresses: ['10.0.0.5'] })));
    assert.equal(none.reason, 'AddressInUse');
    assert.equal(
      none.message,
      '10.0.0.5 is already used by ns/a; to share it, give ns/c the same allow-shared-ip key as ns/a ("one")',
    );
    // Auto-assignment under another key takes a fresh address.
    assert.deepEqual(addresses(a.assign(svc('ns/d', share('two', [81])))), ['10.0.0.0']);
  });

  test('traffic policies must match', () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']));
    a.assign(svc('ns/a', { ...share('k', [80]), requestedAddresses: ['10.0.0.5'] }));
    const r = refusal(
      a.assign(
        svc('ns/b', { ...share('k', [81], { trafficPolicy: 'Local' }), requestedAddresses: ['10.0.0.5'] }),
      ),
    );
    assert.equal(r.reason, 'SharingConflict');
    assert.equal(
      r.message,
      'ns/b cannot share 10.0.0.5 with ns/a: ns/a has externalTrafficPolicy Cluster and ns/b has Local; Services sharing an address need the same policy',
    );
  });

  test('with policy Local, the pod selectors must be equal', () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']));
    const local = (sel: Record<string, string>) =>
      share('k', [], { trafficPolicy: 'Local', podSelector: sel });
    a.assign(svc('ns/a', { ...local({ app: 'web', tier: 'fe' }), requestedAddresses: ['10.0.0.5'] }));
    const r = refusal(a.assign(svc('ns/b', { ...local({ app: 'api' }), requestedAddresses: ['10.0.0.5'] })));
    assert.equal(r.reason, 'SharingConflict');
    assert.equal(
      r.message,
      'ns/b cannot share 10.0.0.5 with ns/a: with externalTrafficPolicy Local both must select the same pods, but ns/a selects app=web,tier=fe and ns/b selects app=api',
    );
    assert.deepEqual(
      addresses(
        a.assign(svc('ns/c', { ...local({ tier: 'fe', app: 'web' }), requestedAddresses: ['10.0.0.5'] })),
      ),
      ['10.0.0.5'],
    );
    // Policy Cluster does not look at selectors.
    const b = allocator(pool('lan', ['10.0.0.0/24']));
    b.assign(svc('ns/a', share('k', [80], { podSelector: { app: 'a' } })));
    assert.deepEqual(addresses(b.assign(svc('ns/b', share('k', [81], { podSelector: { app: 'b' } })))), [
      '10.0.0.0',
    ]);
  });

  test('a sole holder may change its key in place; a shared one moves instead', () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']));
    a.assign(svc('ns/a', share('old', [80])));
    assert.deepEqual(addresses(a.assign(svc('ns/a', share('new', [80])))), ['10.0.0.0']);
    // The group is now indexed under the new key.
    assert.deepEqual(addresses(a.assign(svc('ns/b', share('new', [81])))), ['10.0.0.0']);
    const moved = a.assign(svc('ns/b', share('newer', [81])));
    assert.deepEqual(addresses(moved), ['10.0.0.1']);
    assert.deepEqual(a.servicesAt('10.0.0.0'), ['ns/a']);
  });

  test('a Service whose ports now clash with its co-holder moves to a new address', () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']));
    a.assign(svc('ns/a', share('k', [80])));
    a.assign(svc('ns/b', share('k', [81])));
    assert.deepEqual(addresses(a.assign(svc('ns/b', share('k', [80])))), ['10.0.0.1']);
    assert.deepEqual(a.servicesAt('10.0.0.0'), ['ns/a']);
  });

  test('with no free address, a Service whose ports now clash gives its address up; the others keep it', () => {
    const a = allocator(pool('one', ['10.0.0.7/32']));
    for (const [k, port] of [
      ['ns/a', 80],
      ['ns/b', 81],
      ['ns/c', 82],
    ] as const)
      assert.deepEqual(addresses(a.assign(svc(k, share('k', [port])))), ['10.0.0.7']);
    const r = a.assign(svc('ns/b', share('k', [80])));
    assert.ok(!r.ok);
    assert.equal(r.refusal.reason, 'PoolExhausted');
    assert.deepEqual(r.assignment, undefined);
    assert.deepEqual(
      r.lost.map((l) => [l.reason, l.address, l.message]),
      [
        [
          'SharingConflict',
          '10.0.0.7',
          'ns/b gives up 10.0.0.7: ns/b cannot share 10.0.0.7 with ns/a: both use port 80/TCP',
        ],
      ],
    );
    assert.deepEqual(a.servicesAt('10.0.0.7'), ['ns/a', 'ns/c']);
    // Another key breaks the terms just as well.
    const other = a.assign(svc('ns/c', share('other', [82])));
    assert.ok(!other.ok);
    assert.deepEqual(
      other.lost.map((l) => [l.reason, l.message]),
      [
        [
          'AddressInUse',
          'ns/c gives up 10.0.0.7: 10.0.0.7 is already used by ns/a under sharing key "k", and ns/c has key "other"',
        ],
      ],
    );
    assert.deepEqual(a.servicesAt('10.0.0.7'), ['ns/a']);
    // Asking again, holding nothing, loses nothing more.
    const again = a.assign(svc('ns/b', share('k', [80])));
    assert.ok(!again.ok);
    assert.deepEqual(again.lost, []);
  });

  test('a refused Service keeps what it may still share, held from then on under its new terms', () => {
    const a = allocator(pool('dual', ['10.0.0.7/32', 'fc00::/126']));
    const dual = { families: [4, 6] as const, requireAllFamilies: true };
    a.assign(svc('ns/a', share('k', [80])));
    assert.deepEqual(addresses(a.assign(svc('ns/b', { ...dual, families: [4, 6], ...share('k', [81]) }))), [
      '10.0.0.7',
      'fc00::',
    ]);
    const r = a.assign(svc('ns/b', { ...dual, families: [4, 6], ...share('k', [80, 443]) }));
    assert.ok(!r.ok);
    assert.deepEqual(
      r.lost.map((l) => l.address),
      ['10.0.0.7'],
    );
    assert.deepEqual(held(a, 'ns/b'), ['fc00::']);
    assert.deepEqual(a.assignmentOf('ns/b')?.sharing?.ports, [
      { port: 80, protocol: 'TCP' },
      { port: 443, protocol: 'TCP' },
    ]);
    // Judged by b's new ports: 443 is b's now.
    const c = a.assign(svc('ns/c', { families: [6], requestedAddresses: ['fc00::'], ...share('k', [443]) }));
    assert.equal(refusal(c).reason, 'SharingConflict');
  });

  test('a group spanning both families is joined per family', () => {
    const a = allocator(pool('dual', ['10.0.0.0/24', 'fc00::/64']));
    a.assign(svc('ns/a', { families: [4, 6], ...share('k', [80]) }));
    assert.deepEqual(addresses(a.assign(svc('ns/b', { families: [6], ...share('k', [81]) }))), ['fc00::']);
  });
});

describe('refusals change nothing else', () => {
  test("a refused change of address keeps the Service's own address and everyone else's", () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']));
    a.assign(svc('ns/a', { requestedAddresses: ['10.0.0.1'] }));
    a.assign(svc('ns/b', { requestedAddresses: ['10.0.0.2'] }));
    const r = a.assign(svc('ns/a', { requestedAddresses: ['10.0.0.2'] }));
    assert.equal(refusal(r).reason, 'AddressInUse');
    assert.ok(!r.ok);
    assert.deepEqual(
      r.assignment?.addresses.map((x) => x.address),
      ['10.0.0.1'],
    );
    assert.deepEqual(held(a, 'ns/a'), ['10.0.0.1']);
    assert.deepEqual(held(a, 'ns/b'), ['10.0.0.2']);
  });

  test('a changed pool is honoured when possible, and the old address kept when not', () => {
    const a = allocator(
      pool('a', ['10.0.0.0/24']),
      pool('b', ['10.0.1.0/24']),
      pool('full', ['10.0.2.0/32']),
    );
    a.assign(svc('ns/filler', { pool: 'full' }));
    assert.deepEqual(addresses(a.assign(svc('ns/web', { pool: 'a' }))), ['10.0.0.0']);
    const moved = a.assign(svc('ns/web', { pool: 'b' }));
    assert.deepEqual(addresses(moved), ['10.0.1.0']);
    assert.ok(moved.ok && moved.changed);
    assert.deepEqual(a.servicesAt('10.0.0.0'), []);
    assert.equal(refusal(a.assign(svc('ns/web', { pool: 'full' }))).reason, 'PoolExhausted');
    assert.equal(refusal(a.assign(svc('ns/web', { pool: 'nope' }))).reason, 'UnknownPool');
    assert.deepEqual(held(a, 'ns/web'), ['10.0.1.0']);
  });

  test('a new pool annotation naming a pool that contains the address keeps it', () => {
    const a = allocator(pool('wide', ['10.0.0.0/16']), pool('narrow', ['10.0.0.0/24']));
    a.assign(svc('ns/web', { pool: 'wide' }));
    const r = a.assign(svc('ns/web', { pool: 'narrow' }));
    assert.deepEqual(addresses(r), ['10.0.0.0']);
    assert.ok(r.ok && !r.changed);
  });

  test('a new pool annotation that excludes the requested address held is refused, keeping it', () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']), pool('dmz', ['10.0.1.0/24']));
    a.assign(svc('ns/web', { requestedAddresses: ['10.0.0.7'] }));
    const r = refusal(a.assign(svc('ns/web', { requestedAddresses: ['10.0.0.7'], pool: 'dmz' })));
    assert.equal(r.reason, 'AddressNotInPool');
    assert.deepEqual(held(a, 'ns/web'), ['10.0.0.7']);
  });

  test('a new pool annotation moves an address that lies in no pool', () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']));
    a.restore(svc('ns/web'), ['172.16.0.1']);
    assert.deepEqual(addresses(a.assign(svc('ns/web', { pool: 'lan' }))), ['10.0.0.0']);
  });

  test('the named pool shrinking away from the address while another pool covers it moves nothing', () => {
    const a = allocator(pool('gold', ['10.0.0.0/24']));
    a.assign(svc('ns/web', { pool: 'gold' }));
    a.setPools([pool('gold', ['10.0.1.0/24']), pool('legacy', ['10.0.0.0/16'])]);
    assert.equal(a.assignmentOf('ns/web')!.addresses[0]!.pool, 'legacy');
    const r = a.assign(svc('ns/web', { pool: 'gold' }));
    assert.deepEqual(addresses(r), ['10.0.0.0']);
    assert.ok(r.ok && !r.changed);
  });

  test('dropping the pool annotation keeps the address', () => {
    const a = allocator(
      pool('manual', ['10.0.9.0/24'], { autoAssign: false }),
      pool('auto', ['10.0.0.0/24']),
    );
    a.assign(svc('ns/web', { pool: 'manual' }));
    const r = a.assign(svc('ns/web'));
    assert.deepEqual(addresses(r), ['10.0.9.0']);
    assert.ok(r.ok && !r.changed);
  });
});

describe('an address given up is free only once the status no longer shows it', () => {
  // The status is what hands an address out: kube-proxy and the speakers act on
  // status.loadBalancer.ingress. Two Services without a sharing key must never show one address, so an
  // address a Service gave up is not handed on while that Service's status may still show it.
  const pools = () =>
    allocator(pool('one', ['192.0.2.1/32']), pool('spare', ['192.0.2.9/32'], { autoAssign: false }));

  test('a Service that moves keeps its old address from others until its new status is written', () => {
    const a = pools();
    assert.deepEqual(addresses(a.assign(svc('ns/mover'))), ['192.0.2.1']);
    assert.equal(refusal(a.assign(svc('ns/waiter'))).reason, 'PoolExhausted');
    assert.deepEqual(addresses(a.assign(svc('ns/mover', { requestedAddresses: ['192.0.2.9'] }))), [
      '192.0.2.9',
    ]);
    // The mover's status still shows 192.0.2.1 until the controller writes it.
    assert.equal(refusal(a.assign(svc('ns/waiter'))).reason, 'PoolExhausted');
    const asked = refusal(a.assign(svc('ns/asker', { requestedAddresses: ['192.0.2.1'] })));
    assert.equal(asked.reason, 'AddressInUse');
    assert.deepEqual(asked.services, ['ns/mover']);
    // A write that still shows it (a retry's old copy) frees nothing; the real one does.
    assert.equal(a.written('ns/mover', ['192.0.2.1', '192.0.2.9']), false);
    assert.equal(a.written('ns/mover', ['192.0.2.9']), true);
    assert.deepEqual(addresses(a.assign(svc('ns/waiter'))), ['192.0.2.1']);
  });

  test('a Service that stops being ours keeps its address from others until its status is cleared', () => {
    const a = pools();
    assert.deepEqual(addresses(a.assign(svc('ns/leaver'))), ['192.0.2.1']);
    a.release('ns/leaver', true);
    assert.equal(refusal(a.assign(svc('ns/waiter'))).reason, 'PoolExhausted');
    assert.equal(a.written('ns/leaver', []), true);
    assert.deepEqual(addresses(a.assign(svc('ns/waiter'))), ['192.0.2.1']);
  });

  test('a deleted Service has no status: its address is free at once', () => {
    const a = pools();
    assert.deepEqual(addresses(a.assign(svc('ns/gone'))), ['192.0.2.1']);
    a.release('ns/gone');
    assert.deepEqual(addresses(a.assign(svc('ns/waiter'))), ['192.0.2.1']);
  });

  test('the Service that gave an address up may take it back before its status is written', () => {
    const a = pools();
    assert.deepEqual(addresses(a.assign(svc('ns/mover'))), ['192.0.2.1']);
    a.assign(svc('ns/mover', { requestedAddresses: ['192.0.2.9'] }));
    assert.deepEqual(addresses(a.assign(svc('ns/mover', { requestedAddresses: ['192.0.2.1'] }))), [
      '192.0.2.1',
    ]);
    // Its status may still show 192.0.2.9 now, so that one waits for the write instead.
    assert.equal(
      refusal(a.assign(svc('ns/other', { requestedAddresses: ['192.0.2.9'] }))).reason,
      'AddressInUse',
    );
    assert.equal(a.written('ns/mover', ['192.0.2.1']), true);
    assert.deepEqual(addresses(a.assign(svc('ns/other', { requestedAddresses: ['192.0.2.9'] }))), [
      '192.0.2.9',
    ]);
  });
});

describe("an address another provider's Service shows goes to none of Beacon's", () => {
  // Beside MetalLB (class-only mode) both providers act on statuses: an address MetalLB's Service shows,
  // given to a Beacon Service too, would be announced by both.
  test('a request for it is refused while that status shows it, and granted once it does not', () => {
    const a = allocator(pool('from-metallb', ['192.0.2.0/28'], { autoAssign: false }));
    a.shownBy('shop/api', ['192.0.2.6']);
    const r = refusal(a.assign(svc('shop/twin', { requestedAddresses: ['192.0.2.6'] })));
    assert.equal(r.reason, 'AddressInUse');
    assert.deepEqual(r.services, ['shop/api']);
    assert.deepEqual(a.givenUp('shop/api'), [], 'not an address of ours to clear from its status');
    assert.equal(a.shownBy('shop/api', []), true);
    assert.deepEqual(addresses(a.assign(svc('shop/twin', { requestedAddresses: ['192.0.2.6'] }))), [
      '192.0.2.6',
    ]);
  });

  test('auto-assignment passes over it', () => {
    const a = allocator(pool('lan', ['192.0.2.1-192.0.2.2']));
    a.shownBy('other/lb', ['192.0.2.1']);
    assert.deepEqual(addresses(a.assign(svc('ns/a'))), ['192.0.2.2']);
  });
});

describe('what a rebuilt table does not restore stays out of reach while a status shows it', () => {
  test('an address a Service lost to an earlier-restored one goes to no third while its status shows it', () => {
    const a = allocator(pool('lan', ['192.0.2.0/29']));
    assert.deepEqual(a.restore(svc('ns/first'), ['192.0.2.1']).conflicts, []);
    assert.equal(a.restore(svc('ns/second'), ['192.0.2.1']).conflicts[0]?.reason, 'AddressInUse');
    a.release('ns/first');
    const third = refusal(a.assign(svc('ns/third', { requestedAddresses: ['192.0.2.1'] })));
    assert.equal(third.reason, 'AddressInUse');
    assert.deepEqual(third.services, ['ns/second']);
    assert.equal(a.written('ns/second', []), true);
    assert.deepEqual(addresses(a.assign(svc('ns/third', { requestedAddresses: ['192.0.2.1'] }))), [
      '192.0.2.1',
    ]);
  });

  test('a second address of one family in a status goes to nobody else while the status shows it', () => {
    const a = allocator(pool('lan', ['192.0.2.1-192.0.2.2']));
    a.restore(svc('ns/two'), ['192.0.2.1', '192.0.2.2']);
    assert.deepEqual(held(a, 'ns/two'), ['192.0.2.1']);
    assert.equal(refusal(a.assign(svc('ns/other'))).reason, 'PoolExhausted');
    assert.equal(a.written('ns/two', ['192.0.2.1']), true);
    assert.deepEqual(addresses(a.assign(svc('ns/other'))), ['192.0.2.2']);
  });
});

describe('restore', () => {
  test('restored addresses are kept by the next assign, even when auto-assignment would choose otherwise', () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']));
    const r = a.restore(svc('ns/web'), ['10.0.0.77']);
    assert.deepEqual(r, {
      assignment: { service: 'ns/web', addresses: [{ address: '10.0.0.77', family: 4, pool: 'lan' }] },
      outOfPool: [],
      conflicts: [],
    });
    const again = a.assign(svc('ns/web'));
    assert.deepEqual(addresses(again), ['10.0.0.77']);
    assert.ok(again.ok && !again.changed);
    assert.deepEqual(addresses(a.assign(svc('ns/new'))), ['10.0.0.0']);
  });

  test('an address in no pool is restored, reported and kept', () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']));
    const r = a.restore(svc('ns/web', { pool: 'lan' }), ['172.16.0.1']);
    assert.deepEqual(r.outOfPool, ['172.16.0.1']);
    assert.deepEqual(r.assignment?.addresses, [{ address: '172.16.0.1', family: 4, pool: undefined }]);
    const kept = a.assign(svc('ns/web', { pool: 'lan' }));
    assert.deepEqual(addresses(kept), ['172.16.0.1']);
    assert.ok(kept.ok && !kept.changed);
    assert.deepEqual(a.outOfPool(), [{ address: '172.16.0.1', family: 4, services: ['ns/web'] }]);
    // Asking for a specific other address is a person's request: then it moves.
    assert.deepEqual(addresses(a.assign(svc('ns/web', { requestedAddresses: ['10.0.0.9'] }))), ['10.0.0.9']);
    assert.deepEqual(a.outOfPool(), []);
  });

  test('a second Service restoring a taken address is reported, and the first keeps it', () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']));
    a.restore(svc('ns/first'), ['10.0.0.5']);
    const r = a.restore(svc('ns/second'), ['10.0.0.5', 'fc00::1']);
    assert.equal(r.conflicts.length, 1);
    assert.equal(r.conflicts[0]!.reason, 'AddressInUse');
    assert.equal(
      r.conflicts[0]!.message,
      '10.0.0.5 is already used by ns/first, which does not allow sharing it (no allow-shared-ip key); ns/second also has it in its status, and gives it up',
    );
    assert.deepEqual(a.servicesAt('10.0.0.5'), ['ns/first']);
    assert.deepEqual(held(a, 'ns/second'), ['fc00::1']);
    assert.deepEqual(r.outOfPool, ['fc00::1']);
  });

  test('restored sharing conflicts are reported as such', () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']));
    a.restore(svc('ns/a', share('k', [80])), ['10.0.0.5']);
    const r = a.restore(svc('ns/b', share('k', [80])), ['10.0.0.5']);
    assert.equal(r.conflicts[0]?.reason, 'SharingConflict');
    assert.match(r.conflicts[0]!.message, /both use port 80\/TCP/);
    assert.equal(r.assignment, undefined);
  });

  test('a compatible sharing group restores in any order to the same table', () => {
    const members = [
      svc('ns/a', share('k', [80])),
      svc('ns/b', share('k', [443])),
      svc('ns/c', share('k', ['53/UDP'])),
    ];
    const orders = [
      [0, 1, 2],
      [2, 1, 0],
      [1, 2, 0],
    ];
    for (const order of orders) {
      const a = allocator(pool('lan', ['10.0.0.0/24']));
      for (const i of order) assert.deepEqual(a.restore(members[i]!, ['10.0.0.5']).conflicts, []);
      assert.deepEqual(a.servicesAt('10.0.0.5'), ['ns/a', 'ns/b', 'ns/c']);
      for (const m of members) assert.deepEqual(addresses(a.assign(m)), ['10.0.0.5']);
    }
  });

  test('unparseable and surplus status entries are reported, the rest restored', () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']));
    const r = a.restore(svc('ns/web', { families: [4, 6] }), ['bogus', '10.0.0.1', '10.0.0.2']);
    assert.deepEqual(
      r.conflicts.map((c) => [c.reason, c.message]),
      [
        [
          'InvalidRequest',
          'ns/web has "bogus" in its status, which is not an IP address; it was not restored',
        ],
        [
          'InvalidRequest',
          'ns/web has a second IPv4 address 10.0.0.2 in its status; only 10.0.0.1 was restored',
        ],
      ],
    );
    assert.deepEqual(held(a, 'ns/web'), ['10.0.0.1']);
  });

  test('restore replaces what the Service held', () => {
    const a = allocator(pool('lan', ['10.0.0.0/24']));
    a.assign(svc('ns/web'));
    a.restore(svc('ns/web'), ['10.0.0.9']);
    assert.deepEqual(held(a, 'ns/web'), ['10.0.0.9']);
    assert.deepEqual(a.servicesAt('10.0.0.0'), []);
  });

  test('a restored address a family the Service no longer has is dropped by the next assign', () => {
    const a = allocator(pool('dual', ['10.0.0.0/24', 'fc00::/64']));
    a.restore(svc('ns/web'), ['10.0.0.3', 'fc00::3']);
    assert.deepEqual(addresses(a.assign(svc('ns/web'))), ['10.0.0.3']);
    assert.deepEqual(a.servicesAt('fc00::3'), []);
  });
});

describe('pool changes', () => {
  test('a deleted pool leaves its addresses where they are, reported as out of pool', () => {
    const a = allocator(pool('old', ['10.0.0.0/24']), pool('new', ['10.0.1.0/24']));
    a.assign(svc('ns/web', { pool: 'old' }));
    a.assign(svc('ns/api'));
    const result = a.setPools([pool('new', ['10.0.1.0/24'])]);
    assert.deepEqual(result, {
      errors: [],
      outOfPool: [{ address: '10.0.0.0', family: 4, services: ['ns/web'] }],
    });
    assert.deepEqual(a.assignmentOf('ns/web')!.addresses, [
      { address: '10.0.0.0', family: 4, pool: undefined },
    ]);
    // The Service still names the deleted pool; it keeps its address rather than being refused or moved.
    const r = a.assign(svc('ns/web', { pool: 'old' }));
    assert.deepEqual(addresses(r), ['10.0.0.0']);
    assert.ok(r.ok && !r.changed);
    // Nor is a Service that named no pool.
    assert.deepEqual(held(a, 'ns/api'), ['10.0.1.0']);
    assert.deepEqual(addresses(a.assign(svc('ns/api'))), ['10.0.1.0']);
  });

  test('a shrunk pool keeps the addresses now outside it, and hands out none of them twice', () => {
    const a = allocator(pool('lan', ['10.0.0.0/29']));
    for (const k of ['a', 'b', 'c', 'd']) a.assign(svc(`ns/${k}`));
    a.setPools([pool('lan', ['10.0.0.0/31', '10.0.0.3/32'])]);
    assert.deepEqual(
      a.outOfPool().map((o) => o.address),
      ['10.0.0.2'],
    );
    assert.equal(a.assignmentOf('ns/c')!.addresses[0]!.pool, undefined);
    assert.equal(a.assignmentOf('ns/d')!.addresses[0]!.pool, 'lan');
    assert.equal(refusal(a.assign(svc('ns/e'))).reason, 'PoolExhausted');
    // Growing the pool back brings the address home.
    a.setPools([pool('lan', ['10.0.0.0/29'])]);
    assert.equal(a.assignmentOf('ns/c')!.addresses[0]!.pool, 'lan');
    assert.deepEqual(addresses(a.assign(svc('ns/e'))), ['10.0.0.4']);
  });

  test('a pool written with IPv4-mapped IPv6 addresses is rejected whole (KEP-4858)', () => {
    const a = new Allocator();
    const { errors } = a.setPools([
      pool('v4', ['192.0.2.0/24']),
      pool('cidr', ['::ffff:192.0.2.0/120']),
      pool('range', ['::ffff:192.0.2.10-::ffff:192.0.2.20']),
      pool('hex', ['::ffff:c000:200/120']),
    ]);
    assert.deepEqual(
      errors.map((e) => e.pool),
      ['cidr', 'range', 'hex'],
    );
    for (const e of errors) assert.match(e.message, /IPv4-mapped/);
    assert.deepEqual(a.poolNames(), ['v4']);
  });

  test('a bad pool is rejected whole with a message naming it; duplicates are reported', () => {
    const a = new Allocator();
    const r = a.setPools([
      pool('good', ['10.0.0.0/24']),
      pool('bad', ['10.0.1.0/24', '10.0.2.9-10.0.2.1', 'x']),
      pool('good', ['10.0.3.0/24']),
      pool('empty', []),
    ]);
    assert.deepEqual(r.errors, [
      {
        pool: 'bad',
        message:
          'pool bad: range "10.0.2.9-10.0.2.1" starts after it ends; write the lower address first; "x" is neither a CIDR (e.g. 192.168.10.0/24) nor a range of two addresses (e.g. 192.168.10.10-192.168.10.20)',
      },
      { pool: 'good', message: 'pool good is defined twice; the first is used' },
      { pool: 'empty', message: 'pool empty has no addresses' },
    ]);
    assert.deepEqual(a.poolNames(), ['good']);
    assert.equal(a.poolStats('bad'), undefined);
  });

  test('pool stats count assigned and available addresses per family, by arithmetic', () => {
    const a = allocator(
      pool('mixed', ['192.168.1.0/24', '192.168.2.0/25', '2001:db8::/64'], { avoidBuggyIPs: true }),
    );
    a.assign(svc('ns/a', { families: [4, 6] }));
    a.assign(svc('ns/b', { families: [4, 6] }));
    // A .0 address restored from status counts as assigned, but was never available.
    a.restore(svc('ns/c'), ['192.168.2.0']);
    assert.deepEqual(a.poolStats('mixed'), {
      pool: 'mixed',
      ipv4: { total: 256n + 128n - 3n, assigned: 3n, available: 256n + 128n - 3n - 2n },
      // 2001:db8:: is the /64's Subnet-Router anycast address: never handed out, so never available.
      ipv6: { total: (1n << 64n) - 1n, assigned: 2n, available: (1n << 64n) - 3n },
    });
  });

  test('an address in overlapping pools is counted in the pool its holders name, whoever came first', () => {
    const pools = [
      pool('a-general', ['10.0.0.0/24']),
      pool('b-named', ['10.0.0.0/28'], { autoAssign: false }),
    ];
    const named = svc('ns/named', { ...share('k', [80]), pool: 'b-named' });
    const plain = svc('ns/plain', share('k', [81]));
    for (const order of [
      [named, plain],
      [plain, named],
    ]) {
      const a = allocator(...pools);
      for (const s of order) a.restore(s, ['10.0.0.5']);
      assert.equal(a.assignmentOf('ns/plain')!.addresses[0]!.pool, 'b-named');
      a.release('ns/named');
      assert.equal(a.assignmentOf('ns/plain')!.addresses[0]!.pool, 'a-general');
    }
  });

  test('overlapping pools are found, with the shared range', () => {
    const a = allocator(
      pool('a', ['10.0.0.0/24', 'fc00::/64']),
      pool('b', ['10.0.0.128-10.0.1.10']),
      pool('c', ['fc00::ff-fc00::1:0']),
      pool('d', ['172.16.0.0/16']),
    );
    assert.deepEqual(a.overlappingPools(), [
      { a: 'a', b: 'b', range: '10.0.0.128/25' },
      { a: 'a', b: 'c', range: 'fc00::ff-fc00::1:0' },
    ]);
  });
});

describe('cost does not depend on pool size', () => {
  function stepsToFill(cidr: string, family: 4 | 6, count: number): number {
    const a = allocator(pool('p', [cidr]));
    for (let i = 0; i < count; i++) assert.ok(a.assign(svc(`ns/s${i}`, { families: [family] })).ok);
    return a.searchSteps;
  }

  test('filling 14 addresses of a /64 takes exactly the steps it takes in a /28', () => {
    assert.equal(stepsToFill('2001:db8::/64', 6, 14), stepsToFill('10.0.0.0/28', 4, 14));
  });

  test('an IPv6 /64 with 2,000 assigned costs the same as a /21 with 2,000 assigned', () => {
    assert.equal(stepsToFill('2001:db8::/64', 6, 2000), stepsToFill('10.0.0.0/21', 4, 2000));
  });

  test('each assignment costs O(log n) steps in the number of held addresses', () => {
    const n = 2000;
    // Per assignment: a first-gap search (two binary searches) and an insertion (one), each at most
    // ceil(log2(n + 1)) steps. Enumerating the pool would take n^2 / 2 steps in all.
    const bound = n * 3 * Math.ceil(Math.log2(n + 1));
    const steps = stepsToFill('2001:db8::/64', 6, n);
    assert.ok(steps <= bound, `${steps} steps for ${n} assignments, bound ${bound}`);
  });
});
