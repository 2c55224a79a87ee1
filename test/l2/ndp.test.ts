/**
 * L2 mode for IPv6 on a real kernel bridge: Neighbor Solicitations for owned addresses (multicast, unicast
 * NUD probes, duplicate address detection) are answered, others not, and a takeover moves the client's
 * neighbour entry with unsolicited Neighbor Advertisements alone.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { formatIPv6, formatMac } from '../../src/l2/addresses.ts';
import {
  decodeNeighborAdvertisement,
  linkLayerAddress,
  OPTION_TARGET_LINK_LAYER_ADDRESS,
} from '../../src/l2/ndp.ts';
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
const OWNED = '2001:db8::100';
const UNOWNED = '2001:db8::101';
const NS_FILTER = 'icmp6 and ip6[40] == 135';
const NA_FILTER = 'icmp6 and ip6[40] == 136';

test('ndisc6 for an owned address gets a solicited NA with Override clear and the node MAC; an unowned one gets nothing', {
  skip,
  timeout: 60_000,
}, async () => {
  const l2 = await createL2Lab('ndp');
  after(() => l2.cleanup());
  const speaker = await startBeaconL2(l2, l2.node1, 'node1', ['--interface', 'eth0', '--address', OWNED]);
  const answers = await capture(
    l2,
    l2.client,
    'answers',
    `${NA_FILTER} and ether src ${NODE1_MAC} and ether dst ${CLIENT_MAC}`,
  );

  const answered = await l2.client.exec('ndisc6', ['-1', '-r', '3', OWNED, 'eth0']);
  assert.equal(answered.code, 0, answered.stdout + answered.stderr);
  assert.match(answered.stdout, new RegExp(`Target link-layer address: ${NODE1_MAC}`, 'i'));

  const silent = await l2.client.exec('ndisc6', ['-1', '-r', '2', '-w', '500', UNOWNED, 'eth0']);
  assert.notEqual(silent.code, 0);
  assert.match(silent.stdout + silent.stderr, /Timed out/);

  const frames = parseCapture(await answers.stop());
  assert.ok(frames.length >= 1, 'the answer is on the wire');
  for (const f of frames) {
    const na = decodeNeighborAdvertisement(f.bytes)!;
    assert.equal(formatIPv6(na.message.target), OWNED);
    assert.equal(na.message.solicited, true);
    assert.equal(na.message.override, false);
    assert.equal(
      formatMac(linkLayerAddress(na.message.options, OPTION_TARGET_LINK_LAYER_ADDRESS)!),
      NODE1_MAC,
    );
    assert.match(
      f.summary,
      /\(hlim 255, .*\[icmp6 sum ok\] ICMP6, neighbor advertisement, .*Flags \[solicited\]$/,
    );
  }
  const lines = speaker.events('answered');
  assert.ok(
    lines.some((e) => e.kind === 'ns' && e.address === OWNED && e['requester-mac'] === CLIENT_MAC),
    speaker.output(),
  );
  assert.ok(!lines.some((e) => e.address === UNOWNED));
});

test('unicast NUD probes and duplicate address detection for an owned address are answered', {
  skip,
  timeout: 60_000,
}, async () => {
  const l2 = await createL2Lab('ndpnud');
  after(() => l2.cleanup());
  const speaker = await startBeaconL2(l2, l2.node1, 'node1', ['--interface', 'eth0', '--address', OWNED]);

  // Neighbour unreachability detection: a STALE entry that carries traffic goes DELAY, then PROBE, which
  // sends a unicast NS to the address at the cached MAC; the answer makes it REACHABLE.
  await l2.client.must('sysctl', ['-qw', 'net.ipv6.neigh.eth0.delay_first_probe_time=1']);
  await l2.client.must('ip', [
    '-6',
    'neigh',
    'replace',
    OWNED,
    'dev',
    'eth0',
    'lladdr',
    NODE1_MAC,
    'nud',
    'stale',
  ]);
  await l2.client.exec('ping', ['-6', '-c', '1', '-W', '1', OWNED]);
  await waitFor(
    'a unicast NUD probe to be answered',
    () => speaker.events('answered').some((e) => e.kind === 'ns-unicast' && e.address === OWNED),
    10_000,
    100,
    speaker.output,
  );
  await waitFor(
    'the entry to be confirmed REACHABLE',
    async () => (await neighbour(l2.client, OWNED))?.state.includes('REACHABLE') ?? false,
    5_000,
    100,
  );

  // Another host trying to configure the address runs DAD; the NA to all nodes makes its DAD fail.
  await l2.node2.must('sysctl', ['-qw', 'net.ipv6.conf.eth0.accept_dad=1']);
  await l2.node2.must('ip', ['addr', 'add', `${OWNED}/64`, 'dev', 'eth0']);
  await waitFor(
    "node2's address to fail duplicate address detection",
    async () => (await l2.node2.must('ip', ['-6', 'addr', 'show', 'dev', 'eth0'])).includes('dadfailed'),
    10_000,
    100,
  );
  assert.ok(
    speaker.events('answered').some((e) => e.kind === 'ns-dad' && e.requester === '::'),
    speaker.output(),
  );
});

test("takeover: the client's IPv6 neighbour entry moves to the second node from unsolicited NAs alone", {
  skip,
  timeout: 60_000,
}, async () => {
  const l2 = await createL2Lab('ndptakeover');
  after(() => l2.cleanup());
  const first = await startBeaconL2(l2, l2.node1, 'node1', ['--interface', 'eth0', '--address', OWNED]);
  await l2.client.exec('ping', ['-6', '-c', '1', '-W', '1', OWNED]);
  const before = await neighbour(l2.client, OWNED);
  assert.equal(before?.lladdr, NODE1_MAC, JSON.stringify(before));
  assert.ok(before?.state.includes('REACHABLE'), JSON.stringify(before));

  const clientAsks = await capture(l2, l2.client, 'client-ns', `${NS_FILTER} and ether src ${CLIENT_MAC}`);
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
    'the client did not send a single Neighbor Solicitation',
  );
});

test('the burst: five unsolicited NAs to ff02::1 from the link-local address, Override set, valid checksums', {
  skip,
  timeout: 60_000,
}, async () => {
  const l2 = await createL2Lab('ndpburst');
  after(() => l2.cleanup());
  const linkLocal = (
    await l2.node2.must('ip', ['-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'link'])
  ).match(/inet6 (fe80::[0-9a-f:]+)\//)?.[1];
  assert.ok(linkLocal, 'node2 has a link-local address');
  const wire = await capture(l2, l2.client, 'burst', `${NA_FILTER} and ether src ${NODE2_MAC}`);
  const speaker = await startBeaconL2(l2, l2.node2, 'node2', ['--interface', 'eth0', '--address', OWNED]);
  await waitFor(
    'the last round',
    () => speaker.events('announced').length === 5,
    15_000,
    100,
    speaker.output,
  );
  await waitFor(
    'five rounds on the wire',
    async () =>
      (await l2.client.exec('tcpdump', ['-r', wire.file, '-n'])).stdout.trim().split('\n').length >= 5,
    5_000,
    100,
  );
  const frames = parseCapture(await wire.stop());
  assert.equal(frames.length, 5, frames.map((f) => f.summary).join('\n'));
  for (const f of frames) {
    assert.ok(f.summary.includes(`${NODE2_MAC} > 33:33:00:00:00:01, ethertype IPv6 (0x86dd)`), f.summary);
    assert.ok(f.summary.includes('(hlim 255, next-header ICMPv6 (58) payload length: 32)'), f.summary);
    assert.ok(
      f.summary.includes(
        `${linkLocal} > ff02::1: [icmp6 sum ok] ICMP6, neighbor advertisement, length 32, tgt is ${OWNED}, Flags [override]`,
      ),
      f.summary,
    );
    assert.match(
      f.detail,
      new RegExp(`destination link-address option \\(2\\), length 8 \\(1\\): ${NODE2_MAC}`),
    );
    const na = decodeNeighborAdvertisement(f.bytes)!;
    assert.equal(formatIPv6(na.message.target), OWNED);
    assert.equal(formatIPv6(na.source), linkLocal);
    assert.deepEqual([na.message.solicited, na.message.override], [false, true]);
    assert.equal(
      formatMac(linkLayerAddress(na.message.options, OPTION_TARGET_LINK_LAYER_ADDRESS)!),
      NODE2_MAC,
    );
  }
  const times = frames.map((f) => f.time);
  for (let i = 1; i < times.length; i++)
    assert.ok(times[i]! - times[i - 1]! >= 1.0, `gap before round ${i + 1}`);
});
