import assert from 'node:assert/strict';
import type { NetworkInterfaceInfo } from 'node:os';
import { test } from 'node:test';
import { chooseNextHops, type InterfaceTable } from './next-hop.ts';

function info(address: string, cidr: string): NetworkInterfaceInfo {
  const v6 = address.includes(':');
  return {
    address,
    cidr,
    netmask: '',
    mac: '02:00:00:00:00:01',
    internal: false,
    ...(v6 ? { family: 'IPv6' as const, scopeid: 2 } : { family: 'IPv4' as const }),
  } as NetworkInterfaceInfo;
}

const HOST: InterfaceTable = {
  lo: [{ ...info('127.0.0.1', '127.0.0.0/8'), internal: true }],
  eth0: [
    info('192.0.2.10', '192.0.2.0/24'),
    info('2001:db8::10', '2001:db8::/64'),
    info('fe80::10', 'fe80::/64'),
  ],
};

test('IPv4 session with an on-link peer: IPv4 next hop, IPv6 global plus link-local from the same interface', () => {
  assert.deepEqual(chooseNextHops('192.0.2.10', '192.0.2.1', HOST), {
    ipv4: '192.0.2.10',
    ipv6: ['2001:db8::10', 'fe80::10'],
  });
});

test('IPv6 session with a peer several hops away: global only', () => {
  assert.deepEqual(chooseNextHops('2001:db8::10', '2001:db8:ffff::1', HOST), {
    ipv4: '192.0.2.10',
    ipv6: ['2001:db8::10'],
  });
});

test('IPv6 session with an on-link peer: global plus link-local', () => {
  assert.deepEqual(chooseNextHops('2001:db8::10', '2001:db8::1', HOST).ipv6, ['2001:db8::10', 'fe80::10']);
});

test('IPv4-mapped local address is read as IPv4; unknown local address gives only its own family', () => {
  assert.equal(chooseNextHops('::ffff:192.0.2.10', '::ffff:192.0.2.1', HOST).ipv4, '192.0.2.10');
  assert.deepEqual(chooseNextHops('127.0.0.1', '127.0.0.2', {}), { ipv4: '127.0.0.1' });
});
