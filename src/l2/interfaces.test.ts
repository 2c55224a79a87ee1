import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Link } from '../native/links.ts';
import { selectInterfaces } from './interfaces.ts';

let nextIndex = 1;
function link(name: string, over: Partial<Link> = {}, flags: Partial<Link['flags']> = {}): Link {
  const index = nextIndex++;
  return {
    index,
    name,
    mtu: 1500,
    master: undefined,
    kind: '',
    slaveKind: '',
    operState: 'up',
    carrierChanges: 1,
    mac: `02:00:00:00:00:${index.toString(16).padStart(2, '0')}`,
    ipv6LinkLocal: [],
    ...over,
    flags: {
      up: true,
      broadcast: true,
      loopback: false,
      pointToPoint: false,
      running: true,
      noArp: false,
      multicast: true,
      lowerUp: true,
      ...flags,
    },
  };
}

/** A server with two NICs in a bond, a VLAN on the bond, a bridge over a third NIC, and Kubernetes plumbing. */
function server(): Link[] {
  nextIndex = 1;
  const lo = link('lo', { mac: '00:00:00:00:00:00' }, { loopback: true, broadcast: false });
  const bond = link('bond0', { kind: 'bond' });
  const eno1 = link('eno1', { master: bond.index, slaveKind: 'bond' });
  const eno2 = link('eno2', { master: bond.index, slaveKind: 'bond' });
  const vlan = link('bond0.100', { kind: 'vlan' });
  const br = link('br-ext', { kind: 'bridge' });
  const eno3 = link('eno3', { master: br.index, slaveKind: 'bridge' });
  const eno4 = link('eno4', {}, { up: false, running: false });
  const eno5 = link('eno5', {}, { running: false });
  const wg = link('wg0', { kind: 'wireguard', mac: undefined }, { broadcast: false, pointToPoint: true });
  const plumbing = [
    'veth1a2b',
    'cali12345',
    'flannel.1',
    'cni0',
    'docker0',
    'lxc9',
    'kube-ipvs0',
    'vxlan.calico',
    'tunl0',
    'cilium_host',
  ].map((n) => link(n));
  return [lo, bond, eno1, eno2, vlan, br, eno3, eno4, eno5, wg, ...plumbing];
}

test('automatic choice: bond, VLAN and bridge, not their ports, not container plumbing, not down links', () => {
  const { selected, skipped } = selectInterfaces(server());
  assert.deepEqual(
    selected.map((l) => l.name),
    ['bond0', 'bond0.100', 'br-ext'],
  );
  const reason = (name: string) => skipped.find((s) => s.name === name)?.reason;
  assert.equal(reason('lo'), 'loopback');
  assert.equal(reason('eno1'), 'port of bond bond0 (announced there instead)');
  assert.equal(reason('eno3'), 'port of bridge br-ext (announced there instead)');
  assert.equal(reason('eno4'), 'administratively down');
  assert.equal(reason('eno5'), 'no carrier (operationally down)');
  assert.equal(reason('wg0'), 'cannot broadcast (point-to-point or tunnel)');
  assert.equal(reason('veth1a2b'), "matches exclude pattern 'veth*'");
  assert.equal(reason('kube-ipvs0'), "matches exclude pattern 'kube-*'");
  assert.equal(reason('cilium_host'), "matches exclude pattern 'cilium_*'");
});

test('exclude patterns are configurable and replace the defaults', () => {
  const { selected } = selectInterfaces(server(), { exclude: ['bond*'] });
  assert.ok(selected.some((l) => l.name === 'veth1a2b'));
  assert.ok(!selected.some((l) => l.name.startsWith('bond')));
});

test('named interfaces are taken as named, but never a missing or down one, nor a bridge port', () => {
  const { selected, skipped } = selectInterfaces(server(), { names: ['eno3', 'eno4', 'eth9', 'veth1a2b'] });
  assert.deepEqual(
    selected.map((l) => l.name),
    ['veth1a2b'],
  );
  assert.deepEqual(skipped, [
    { name: 'eno3', reason: 'port of bridge br-ext, whose frames go to br-ext: name br-ext instead' },
    { name: 'eno4', reason: 'administratively down' },
    { name: 'eth9', reason: 'named in the L2Advertisement but does not exist' },
  ]);
});
