/**
 * Interface selection against the kernel's own links: bridges, bonds, VLANs and container-style names in a
 * namespace, as `beacon l2 --list-interfaces` sees them; and the speaker following link changes (netlink)
 * without a restart.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { NetLab, netnsUnavailable } from '../harness/netns.ts';
import { addonUnavailable } from '../harness/preconditions.ts';
import { waitFor } from '../harness/process.ts';
import { createL2Lab, MAIN, NODE_BIN, startBeaconL2 } from './l2-lab.ts';

const skip = (await netnsUnavailable()) ?? addonUnavailable();
const OWNED = '192.0.2.100';
const OTHER = '192.0.2.102';

test('automatic choice on a host with a bridge, container plumbing, and (where the kernel has them) a bond and a VLAN', {
  skip,
  timeout: 60_000,
}, async (t) => {
  const lab = await NetLab.create('ifsel');
  after(() => lab.cleanup());
  const host = await lab.addNamespace('host');
  const ip = (...args: string[]) => host.must('ip', args);
  await ip('link', 'add', 'br-ext', 'type', 'bridge');
  await ip('link', 'add', 'eno3', 'type', 'veth', 'peer', 'name', 'veth-peer0');
  await ip('link', 'set', 'eno3', 'master', 'br-ext');
  // Only veth and bridge are certain to exist in every kernel; both ends of a veth pair live here.
  await ip('link', 'add', 'cali1234', 'type', 'veth', 'peer', 'name', 'veth-cali');
  await ip('link', 'add', 'eno4', 'type', 'veth', 'peer', 'name', 'veth-eno4');
  const up = ['br-ext', 'eno3', 'veth-peer0', 'cali1234', 'veth-cali', 'veth-eno4'];
  // Bonding and 802.1Q are modules some kernels (this sandbox's) lack; the unit tests cover the rule.
  const bonding =
    (await host.exec('ip', ['link', 'add', 'bond0', 'type', 'bond', 'mode', 'active-backup'])).code === 0;
  if (bonding) {
    await ip('link', 'add', 'eno1', 'type', 'veth', 'peer', 'name', 'veth-eno1');
    await ip('link', 'set', 'eno1', 'master', 'bond0');
    up.push('veth-eno1', 'eno1', 'bond0');
  } else t.diagnostic('no bonding in this kernel: bond part not checked');
  const vlan =
    bonding &&
    (
      await host.exec('ip', [
        'link',
        'add',
        'link',
        'bond0',
        'name',
        'bond0.100',
        'type',
        'vlan',
        'id',
        '100',
      ])
    ).code === 0;
  if (vlan) up.push('bond0.100');
  else t.diagnostic('no 802.1Q in this kernel (or no bond to put it on): VLAN part not checked');
  for (const l of up) await ip('link', 'set', l, 'up');

  const selection = async (...extra: string[]) => {
    const r = await host.exec(NODE_BIN, [MAIN, 'l2', '--list-interfaces', ...extra]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trim().split('\n');
    return {
      selected: lines
        .filter((l) => l.startsWith('selected '))
        .map((l) => /interface=(\S+)/.exec(l)![1]!)
        .sort(),
      reason: (name: string) =>
        lines
          .find((l) => l.startsWith(`skipped interface=${name} `))
          ?.replace(/^skipped interface=\S+ reason=/, ''),
    };
  };
  const expected = ['br-ext', ...(bonding ? ['bond0'] : []), ...(vlan ? ['bond0.100'] : [])].sort();
  await waitFor(
    'every link to get carrier',
    async () => (await selection()).selected.length === expected.length,
    10_000,
    200,
  );
  const auto = await selection();
  assert.deepEqual(auto.selected, expected);
  assert.equal(auto.reason('lo'), 'loopback');
  assert.equal(auto.reason('eno3'), '"port of bridge br-ext (announced there instead)"');
  assert.equal(auto.reason('veth-peer0'), '"matches exclude pattern \'veth*\'"');
  assert.equal(auto.reason('cali1234'), '"matches exclude pattern \'cali*\'"');
  // eno4 is down; its peer is up but has no carrier without it.
  assert.equal(auto.reason('eno4'), '"administratively down"');
  if (bonding) assert.equal(auto.reason('eno1'), '"port of bond bond0 (announced there instead)"');

  const custom = await selection('--exclude', 'bond*', '--exclude', 'br-*');
  assert.deepEqual(custom.selected, [
    'cali1234',
    'veth-cali',
    ...(bonding ? ['veth-eno1'] : []),
    'veth-peer0',
  ]);
});

test('the speaker follows link changes: a new interface is announced on, a link coming back gets a new burst', {
  skip,
  timeout: 60_000,
}, async () => {
  const l2 = await createL2Lab('iflinks');
  after(() => l2.cleanup());
  // One address per speaker: two nodes announcing one address would be a conflict (and logged as one).
  const auto = await startBeaconL2(l2, l2.node1, 'auto', ['--address', OWNED]);
  const named = await startBeaconL2(l2, l2.node2, 'named', ['--interface', 'eth0', '--address', OTHER]);
  const firstRounds = (s: typeof auto, ifname: string) =>
    s.events('announced').filter((e) => e.interface === ifname && e.round === '1/5').length;
  assert.equal(firstRounds(auto, 'eth0'), 1);

  // A second link into the switch, while the automatic speaker runs.
  await l2.lab.attach(l2.node1, l2.bridge, { ifname: 'eth1' });
  await waitFor(
    'a burst on the new interface',
    () => firstRounds(auto, 'eth1') === 1,
    10_000,
    100,
    auto.output,
  );

  // Link down and up again: both speakers announce again, without a restart.
  for (const [ns, speaker] of [
    [l2.node1, auto],
    [l2.node2, named],
  ] as const) {
    await ns.setLink('eth0', 'down');
    await ns.setLink('eth0', 'up');
    await waitFor(
      'a new burst after the link came back',
      () => firstRounds(speaker, 'eth0') === 2,
      10_000,
      100,
      speaker.output,
    );
  }
  // And both still answer on the link that came back.
  for (const address of [OWNED, OTHER]) {
    const r = await l2.client.exec('arping', ['-c', '1', '-W', '1', '-i', 'eth0', address]);
    assert.equal(r.code, 0, r.stdout);
  }
  assert.deepEqual(auto.events('conflict'), []);
});
