/**
 * The L2Answerer API in a node namespace: release stops the answers at once while the speaker keeps
 * running, solicited-node groups are shared by addresses that map to the same group, and with an
 * MLD-snooping switch the Neighbor Solicitations reach the node only because it joined the groups.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { netnsUnavailable } from '../harness/netns.ts';
import { addonUnavailable } from '../harness/preconditions.ts';
import { waitFor } from '../harness/process.ts';
import { createL2Lab, type L2Lab, NODE1_MAC, type Speaker, startDriver } from './l2-lab.ts';

const skip = (await netnsUnavailable()) ?? addonUnavailable();
const V4 = '192.0.2.100';
// Both map to the solicited-node group ff02::1:ff00:100.
const V6 = '2001:db8::100';
const V6_SAME_GROUP = '2001:db8:1::100';

async function arpAnswered(l2: L2Lab, address: string): Promise<boolean> {
  const r = await l2.client.exec('arping', ['-c', '1', '-W', '0.5', '-i', 'eth0', address]);
  return r.code === 0 && r.stdout.includes(`bytes from ${NODE1_MAC}`);
}

async function ndAnswered(l2: L2Lab, address: string): Promise<boolean> {
  const r = await l2.client.exec('ndisc6', ['-1', '-r', '2', '-w', '500', address, 'eth0']);
  return r.code === 0 && r.stdout.toLowerCase().includes(NODE1_MAC);
}

async function releaseNext(driver: Speaker, address: string): Promise<void> {
  driver.process.child.kill('SIGUSR1');
  await waitFor(
    `release of ${address}`,
    () => driver.output().includes(`released address=${address}\n`),
    5_000,
    20,
  );
}

async function groups(l2: L2Lab): Promise<string> {
  return l2.node1.must('ip', ['maddr', 'show', 'dev', 'eth0']);
}

test('release stops the answers at once; a shared solicited-node group stays joined until its last address goes', {
  skip,
  timeout: 60_000,
}, async () => {
  const l2 = await createL2Lab('release');
  after(() => l2.cleanup());
  const driver = await startDriver(l2, l2.node1, 'driver', 'eth0', [V4, V6, V6_SAME_GROUP]);
  assert.equal(await arpAnswered(l2, V4), true);
  assert.equal(await ndAnswered(l2, V6), true);
  assert.equal(await ndAnswered(l2, V6_SAME_GROUP), true);
  assert.match(await groups(l2), /inet6 ff02::1:ff00:100\b/);
  assert.match(await groups(l2), /link {2}33:33:ff:00:01:00\b/);

  await releaseNext(driver, V4);
  assert.equal(await arpAnswered(l2, V4), false, 'no answer right after release');
  assert.equal(await ndAnswered(l2, V6), true, 'the other addresses are still answered');

  await releaseNext(driver, V6);
  assert.equal(await ndAnswered(l2, V6), false);
  assert.equal(await ndAnswered(l2, V6_SAME_GROUP), true);
  assert.match(
    await groups(l2),
    /inet6 ff02::1:ff00:100\b/,
    'still joined for the address sharing the group',
  );

  await releaseNext(driver, V6_SAME_GROUP);
  assert.equal(await ndAnswered(l2, V6_SAME_GROUP), false);
  assert.doesNotMatch(await groups(l2), /ff02::1:ff00:100\b/);
  assert.doesNotMatch(await groups(l2), /33:33:ff:00:01:00\b/);
  assert.equal(driver.process.hasExited(), false, 'all of this while the speaker runs');
});

test('behind an MLD-snooping switch, solicitations reach the node because it joins the solicited-node group', {
  skip,
  timeout: 60_000,
}, async () => {
  const l2 = await createL2Lab('snooping');
  after(() => l2.cleanup());
  // The lab's bridge floods multicast; this one forwards a group only to ports that reported it (MLD),
  // with a querier so that it trusts its table instead of flooding.
  const sw = l2.bridge.switchNs;
  await sw.must('ip', [
    'link',
    'set',
    l2.bridge.name,
    'type',
    'bridge',
    'mcast_snooping',
    '1',
    'mcast_querier',
    '1',
  ]);
  const driver = await startDriver(l2, l2.node1, 'driver', 'eth0', [V6]);
  await waitFor(
    'the switch to learn the group on the node port',
    async () => (await sw.must('bridge', ['mdb', 'show'])).includes('ff02::1:ff00:100'),
    10_000,
    100,
  );
  assert.equal(await ndAnswered(l2, V6), true, (await sw.exec('bridge', ['mdb', 'show'])).stdout);
  await releaseNext(driver, V6);
  await waitFor(
    'the switch to forget the group',
    async () => !(await sw.must('bridge', ['mdb', 'show'])).includes('ff02::1:ff00:100'),
    10_000,
    100,
  );
});
