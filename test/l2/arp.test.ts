/**
 * L2 mode for IPv4 on a real kernel bridge: `beacon l2` in a node namespace answers the client's ARP for
 * owned addresses only, and a takeover by the second node moves the client's neighbour entry with the
 * gratuitous burst alone.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { formatIPv4, formatMac } from '../../src/l2/addresses.ts';
import { ARP_REPLY, ARP_REQUEST, decodeArpFrame } from '../../src/l2/arp.ts';
import { netnsUnavailable } from '../harness/netns.ts';
import { addonUnavailable } from '../harness/preconditions.ts';
import { waitFor } from '../harness/process.ts';
import {
  CLIENT_MAC,
  capture,
  createL2Lab,
  NODE1_MAC,
  NODE2_MAC,
  neighbour,
  parseCapture,
  startBeaconL2,
} from './l2-lab.ts';

const skip = (await netnsUnavailable()) ?? addonUnavailable();
const OWNED = '192.0.2.100';
const ALSO_OWNED = '198.51.100.7';
const UNOWNED = '192.0.2.101';

test('arping for an owned address is answered with the node MAC; an unowned one gets no answer', {
  skip,
  timeout: 60_000,
}, async () => {
  const l2 = await createL2Lab('arp');
  after(() => l2.cleanup());
  const speaker = await startBeaconL2(l2, l2.node1, 'node1', [
    '--interface',
    'eth0',
    '--address',
    OWNED,
    '--address',
    ALSO_OWNED,
  ]);

  const answered = await l2.client.exec('arping', ['-c', '3', '-i', 'eth0', OWNED]);
  assert.equal(answered.code, 0, answered.stdout + answered.stderr);
  assert.match(answered.stdout, new RegExp(`bytes from ${NODE1_MAC} \\(${OWNED.replaceAll('.', '\\.')}\\)`));
  assert.match(answered.stdout, /3 packets received/);
  // An owned address outside the node's own subnet is answered too: ownership, not routing, decides.
  const other = await l2.client.exec('arping', ['-c', '1', '-i', 'eth0', '-S', '198.51.100.1', ALSO_OWNED]);
  assert.equal(other.code, 0, other.stdout + other.stderr);
  assert.match(other.stdout, new RegExp(`bytes from ${NODE1_MAC}`));

  const silent = await l2.client.exec('arping', ['-c', '2', '-W', '0.5', '-i', 'eth0', UNOWNED]);
  assert.notEqual(silent.code, 0);
  assert.match(silent.stdout, /0 packets received/);

  const lines = speaker.events('answered');
  assert.ok(
    lines.some(
      (e) =>
        e.kind === 'arp' &&
        e.address === OWNED &&
        e.requester === '192.0.2.1' &&
        e['requester-mac'] === CLIENT_MAC,
    ),
    speaker.output(),
  );
  assert.ok(!lines.some((e) => e.address === UNOWNED), 'never answers for an unowned address');
});

test("takeover: the client's neighbour entry moves to the second node from the gratuitous burst alone", {
  skip,
  timeout: 60_000,
}, async () => {
  const l2 = await createL2Lab('arptakeover');
  after(() => l2.cleanup());
  const first = await startBeaconL2(l2, l2.node1, 'node1', ['--interface', 'eth0', '--address', OWNED]);

  // The client resolves the address through the kernel (a ping nobody answers), so its entry is REACHABLE
  // at node1's MAC.
  await l2.client.exec('ping', ['-c', '1', '-W', '1', OWNED]);
  const before = await neighbour(l2.client, OWNED);
  assert.equal(before?.lladdr, NODE1_MAC, JSON.stringify(before));
  assert.ok(before?.state.includes('REACHABLE'), JSON.stringify(before));

  // From here on the client must not ask again: any ARP request from it fails the test.
  const clientAsks = await capture(l2, l2.client, 'client-arp', `arp and ether src ${CLIENT_MAC}`);
  await first.process.stop();
  await startBeaconL2(l2, l2.node2, 'node2', ['--interface', 'eth0', '--address', OWNED]);
  await waitFor(
    "the client's entry to point at node2",
    async () => (await neighbour(l2.client, OWNED))?.lladdr === NODE2_MAC,
    10_000,
    50,
  );
  const asked = parseCapture(await clientAsks.stop());
  assert.deepEqual(
    asked.map((f) => f.summary),
    [],
    'the client did not send a single ARP request',
  );
});

test('the gratuitous burst: five rounds of request and reply, well-formed, at least the ARP locktime apart', {
  skip,
  timeout: 60_000,
}, async () => {
  const l2 = await createL2Lab('arpburst');
  after(() => l2.cleanup());
  const wire = await capture(l2, l2.client, 'burst', `arp and ether src ${NODE2_MAC}`);
  const speaker = await startBeaconL2(l2, l2.node2, 'node2', ['--interface', 'eth0', '--address', OWNED]);
  await waitFor(
    'the last round',
    () => speaker.events('announced').length === 5,
    15_000,
    100,
    speaker.output,
  );
  // The last round was sent; give the capture a moment to write it.
  await waitFor(
    'five rounds on the wire',
    async () => {
      const r = await l2.client.exec('tcpdump', ['-r', wire.file, '-n']);
      return r.stdout.trim().split('\n').length >= 10;
    },
    5_000,
    100,
  );
  const frames = parseCapture(await wire.stop());
  assert.equal(frames.length, 10, frames.map((f) => f.summary).join('\n'));
  for (const [i, f] of frames.entries()) {
    // tcpdump's own reading of the frame.
    const form = i % 2 === 0 ? `Request who-has ${OWNED} tell ${OWNED}` : `Reply ${OWNED} is-at ${NODE2_MAC}`;
    assert.match(f.summary, new RegExp(`${NODE2_MAC} > ff:ff:ff:ff:ff:ff, ethertype ARP \\(0x0806\\)`));
    assert.ok(f.summary.includes(form), f.summary);
    // And ours, field by field.
    const arp = decodeArpFrame(f.bytes)!;
    assert.equal(arp.arp.operation, i % 2 === 0 ? ARP_REQUEST : ARP_REPLY);
    assert.equal(formatIPv4(arp.arp.senderIp), OWNED);
    assert.equal(formatIPv4(arp.arp.targetIp), OWNED);
    assert.equal(formatMac(arp.arp.senderMac), NODE2_MAC);
    assert.equal(formatMac(arp.arp.targetMac), i % 2 === 0 ? '00:00:00:00:00:00' : NODE2_MAC);
  }
  // Rounds step past the 1 s ARP locktime (a schedule property, not a speed figure).
  const roundStarts = frames.filter((_, i) => i % 2 === 0).map((f) => f.time);
  for (let i = 1; i < roundStarts.length; i++) {
    assert.ok(
      roundStarts[i]! - roundStarts[i - 1]! >= 1.0,
      `round ${i + 1} came ${roundStarts[i]! - roundStarts[i - 1]!} s after round ${i}`,
    );
  }
});
