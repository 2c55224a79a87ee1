/**
 * Hostile frames at the L2 responder (`beacon l2` in a node namespace), sent by an attacker on the same
 * bridge from a raw socket: ARP and Neighbor Solicitations with wrong lengths, wrong types and spoofed
 * senders get no answer; floods from one MAC and from ever-new spoofed MACs are rate-limited; the client
 * next to them keeps getting answers throughout; nothing is ever answered for an address not owned.
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ipv4Bytes, ipv6Bytes, parseMac, solicitedNodeGroup } from '../../src/l2/addresses.ts';
import { ARP_REQUEST, encodeArpFrame } from '../../src/l2/arp.ts';
import {
  encodeNeighborSolicitation,
  linkLayerOption,
  OPTION_SOURCE_LINK_LAYER_ADDRESS,
} from '../../src/l2/ndp.ts';
import { netnsUnavailable } from '../harness/netns.ts';
import { addonUnavailable } from '../harness/preconditions.ts';
import {
  type Capture,
  CLIENT_MAC,
  capture,
  createL2Lab,
  type L2Lab,
  NODE_BIN,
  NODE1_MAC,
  parseCapture,
  type Speaker,
  startBeaconL2,
} from '../l2/l2-lab.ts';

const skip = (await netnsUnavailable()) ?? addonUnavailable();
const OWNED = '192.0.2.50';
const OWNED6 = '2001:db8::50';
const UNOWNED = '192.0.2.51';
const UNOWNED6 = '2001:db8::51';
const ATTACKER_IP = '192.0.2.12';
const ATTACKER_IP6 = '2001:db8::12';
const INJECTOR = join(import.meta.dirname, 'inject-frames.ts');

/** Each hostile frame comes from its own MAC, so an answer to it is recognisable in the capture. */
const hostileMac = (i: number) => `02:66:00:00:00:${i.toString(16).padStart(2, '0')}`;

function arpRequest(
  i: number,
  target: string,
  o: { senderIp?: string; senderMac?: string; to?: string } = {},
): Buffer {
  const mac = parseMac(hostileMac(i));
  return encodeArpFrame({
    destination: parseMac(o.to ?? 'ff:ff:ff:ff:ff:ff'),
    source: mac,
    arp: {
      operation: ARP_REQUEST,
      senderMac: o.senderMac ? parseMac(o.senderMac) : mac,
      senderIp: ipv4Bytes(o.senderIp ?? ATTACKER_IP),
      targetMac: Buffer.alloc(6),
      targetIp: ipv4Bytes(target),
    },
  });
}

function solicitation(i: number, target: string, o: { hopLimit?: number; source?: string } = {}): Buffer {
  const mac = parseMac(hostileMac(i));
  const t = ipv6Bytes(target);
  const group = solicitedNodeGroup(t);
  return encodeNeighborSolicitation({
    destinationMac: Buffer.from([0x33, 0x33, group[12]!, group[13]!, group[14]!, group[15]!]),
    sourceMac: mac,
    source: ipv6Bytes(o.source ?? ATTACKER_IP6),
    destination: group,
    hopLimit: o.hopLimit ?? 255,
    message: { target: t, options: [linkLayerOption(OPTION_SOURCE_LINK_LAYER_ADDRESS, mac)] },
  });
}

function edit(frame: Buffer, change: (b: Buffer) => void): Buffer {
  const b = Buffer.from(frame);
  change(b);
  return b;
}

/** The malformed and spoofed frames, each with why it must go unanswered. */
function hostileFrames(): { why: string; frame: Buffer }[] {
  let i = 0;
  const next = () => ++i;
  return [
    { why: 'ARP cut short (20 of 28 bytes)', frame: arpRequest(next(), OWNED).subarray(0, 34) },
    { why: 'ARP with hardware length 8', frame: edit(arpRequest(next(), OWNED), (b) => (b[18] = 8)) },
    {
      why: 'ARP with hardware type 6',
      frame: edit(arpRequest(next(), OWNED), (b) => b.writeUInt16BE(6, 14)),
    },
    {
      why: 'ARP with protocol type IPv6',
      frame: edit(arpRequest(next(), OWNED), (b) => b.writeUInt16BE(0x86dd, 16)),
    },
    { why: 'ARP opcode 3 (RARP)', frame: edit(arpRequest(next(), OWNED), (b) => b.writeUInt16BE(3, 20)) },
    {
      why: 'ARP spoofing the node own MAC as sender',
      frame: arpRequest(next(), OWNED, { senderMac: NODE1_MAC }),
    },
    {
      why: 'ARP claiming the owned address (a conflict)',
      frame: arpRequest(next(), OWNED, { senderIp: OWNED }),
    },
    { why: 'ARP for an address not owned', frame: arpRequest(next(), UNOWNED) },
    { why: 'NS with hop limit 64', frame: solicitation(next(), OWNED6, { hopLimit: 64 }) },
    {
      why: 'NS with a wrong checksum',
      frame: edit(solicitation(next(), OWNED6), (b) => (b[56] = b[56]! ^ 0xff)),
    },
    {
      why: 'NS cut short (ICMPv6 of 20 bytes)',
      frame: solicitation(next(), OWNED6).subarray(0, 14 + 40 + 20),
    },
    {
      why: 'NS whose IPv6 payload length runs past the frame',
      frame: edit(solicitation(next(), OWNED6), (b) => b.writeUInt16BE(400, 18)),
    },
    {
      why: 'NS with an option of length 0',
      frame: edit(solicitation(next(), OWNED6), (b) => (b[14 + 40 + 24 + 1] = 0)),
    },
    {
      why: 'NS from :: carrying a source link-layer option (invalid DAD)',
      frame: solicitation(next(), OWNED6, { source: '::' }),
    },
    { why: 'NS for an address not owned', frame: solicitation(next(), UNOWNED6) },
    { why: 'NS for a multicast target', frame: solicitation(next(), 'ff02::1') },
  ];
}

let l2: L2Lab;
let speaker: Speaker;
let cap: Capture;
before(async () => {
  if (skip) return;
  l2 = await createL2Lab('hostilel2');
  speaker = await startBeaconL2(l2, l2.node1, 'node1', [
    '--interface',
    'eth0',
    '--address',
    OWNED,
    '--address',
    OWNED6,
  ]);
  // Every frame the responder sends, from its own side.
  cap = await capture(l2, l2.node1, 'replies', `ether src ${NODE1_MAC} and (arp or icmp6)`);
});
after(async () => {
  await l2?.cleanup();
});

async function inject(label: string, frames: Buffer[], args: string[] = []): Promise<string> {
  const file = join(l2.dir, `${label}.hex`);
  writeFileSync(file, frames.map((f) => f.toString('hex')).join('\n'));
  const r = await l2.node2.exec(NODE_BIN, [INJECTOR, 'eth0', file, ...args], 60_000);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout;
}

/** arping from the client: how many of `count` requests for `address` got an answer from node1. */
async function legitimate(count: number, address = OWNED): Promise<number> {
  const r = await l2.client.exec('arping', ['-c', String(count), '-W', '0.2', '-i', 'eth0', address], 30_000);
  return [...r.stdout.matchAll(new RegExp(`bytes from ${NODE1_MAC}`, 'g'))].length;
}

test('malformed and spoofed ARP/NDP frames get no answer, and the client is still answered', {
  skip,
  timeout: 60_000,
}, async () => {
  const cases = hostileFrames();
  // Five rounds, so a frame that slipped through once would be answered several times.
  await inject('malformed', Array.from({ length: 5 }, () => cases.map((c) => c.frame)).flat());
  assert.equal(await legitimate(3), 3);
  const ndisc = await l2.client.exec('ndisc6', ['-1', '-r', '2', '-w', '500', OWNED6, 'eth0'], 10_000);
  assert.match(ndisc.stdout, new RegExp(`Target link-layer address: ${NODE1_MAC}`, 'i'), ndisc.stdout);
  assert.equal(speaker.process.hasExited(), false, speaker.process.tail());
  const frames = parseCapture(await cap.stop());
  const answered = cases.filter((_c, i) => frames.some((f) => f.summary.includes(hostileMac(i + 1))));
  assert.deepEqual(
    answered.map((c) => c.why),
    [],
  );
  // The frame spoofing the node's own MAC would be answered to that MAC.
  assert.ok(!frames.some((f) => f.summary.includes(`> ${NODE1_MAC}`)));
  // The conflict is noticed, not answered.
  assert.ok(
    speaker.events('conflict').some((e) => e.address === OWNED && e['claimant-mac'] === hostileMac(7)),
  );
  assert.ok(!frames.some((f) => f.summary.includes(UNOWNED) || f.summary.includes(UNOWNED6)));
  // The replies it did send went to the client.
  assert.ok(frames.some((f) => f.summary.includes(`> ${CLIENT_MAC}`)));
});

interface FloodResult {
  sentSingle: number;
  sentSpoofed: number;
  toFlooder: number;
  toSpoofed: number;
  toClient: number;
  /** Answers the rate limiter withheld from spoofed MACs (each new, so none may be). */
  limitedSpoofed: number;
  client: number;
  /** Frames the kernel dropped at the responder's socket before it read them (its overrun lines). */
  socketDropped: number;
  /** Frames every CPU's input backlog dropped meanwhile (/proc/net/softnet_stat), whoever they were for. */
  backlogDropped: number;
}

/** Frames every CPU's input backlog dropped so far (the second column of /proc/net/softnet_stat, hex). */
function backlogDrops(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8')
    .trim()
    .split('\n')
    .reduce((n, line) => n + Number.parseInt(line.trim().split(/\s+/)[1] ?? '0', 16), 0);
}

/**
 * For `seconds`: one MAC asking 5,000 times a second, ever-new spoofed MACs at `spoofRate` (0: as fast as
 * the attacker can), and the client asking 10 times. Unicast to the node (a neighbour re-checking its
 * cache is answered too), so the floods load the responder, not the client's own receive path.
 */
async function flood(seconds: number, spoofRate: number, singleRate = 5000): Promise<FloodResult> {
  const before = speaker.events('answered').length;
  const limitedBefore = speaker.events('rate-limited').length;
  const overrunBefore = speaker.events('overrun').length;
  const backlogBefore = backlogDrops();
  const [single, spoofed, client] = await Promise.all([
    inject(
      'single',
      [arpRequest(0x99, OWNED, { to: NODE1_MAC })],
      ['--rate', String(singleRate), '--seconds', String(seconds)],
    ),
    inject(
      'spoofed',
      [arpRequest(0x98, OWNED, { to: NODE1_MAC })],
      ['--rate', String(spoofRate), '--seconds', String(seconds), '--random-source'],
    ),
    legitimate(10),
  ]);
  // The responder may still be working through its socket, and reports drops once a second; its event
  // lines reach the log after that.
  await new Promise((r) => setTimeout(r, 2500));
  const answered = speaker.events('answered').slice(before);
  const r: FloodResult = {
    sentSingle: Number(/sent (\d+)/.exec(single)![1]),
    sentSpoofed: Number(/sent (\d+)/.exec(spoofed)![1]),
    toFlooder: answered.filter((e) => e['requester-mac'] === hostileMac(0x99)).length,
    toSpoofed: answered.filter((e) => e['requester-mac']?.startsWith('02:77:')).length,
    toClient: answered.filter((e) => e['requester-mac'] === CLIENT_MAC).length,
    limitedSpoofed: speaker
      .events('rate-limited')
      .slice(limitedBefore)
      .filter((e) => e['requester-mac']?.startsWith('02:77:'))
      .reduce((n, e) => n + Number(e.dropped), 0),
    client,
    socketDropped: speaker
      .events('overrun')
      .slice(overrunBefore)
      .reduce((n, e) => n + Number(e.dropped), 0),
    backlogDropped: backlogDrops() - backlogBefore,
  };
  process.stdout.write(
    `# spoofed at ${spoofRate || 'full'}/s: one MAC ${r.sentSingle} sent, ${r.toFlooder} answered; spoofed MACs ` +
      `${r.sentSpoofed} sent, ${r.toSpoofed} answered; client ${r.client}/10 answered; ` +
      `dropped before the responder read them: ${r.socketDropped} at its socket, ${r.backlogDropped} in a CPU's input backlog\n`,
  );
  return r;
}

test('floods from one MAC and from spoofed MACs within its capacity: rate-limited, and the client keeps its answers', {
  skip,
  timeout: 120_000,
}, async () => {
  const seconds = 3;
  // Within capacity means that nothing was dropped before the responder read it: what it never saw, no
  // rate limit decided. How fast that is depends on the CPU the machine gives it at the moment: beside two
  // busy loops, the injectors and the client on two cores, its socket overflowed at 750 and 500 a second
  // (1,055 frames dropped) and not at 375 and 250. A flood that overran it is beyond capacity, the next
  // test's case, and is tried again at half the rate.
  let r: FloodResult | undefined;
  let singleRate = 0;
  for (const [single, spoofed] of [
    [1500, 1000],
    [750, 500],
    [375, 250],
    [190, 125],
    [95, 60],
  ] as const) {
    singleRate = single;
    r = await flood(seconds, spoofed, single);
    if (r.socketDropped + r.backlogDropped === 0) break;
  }
  assert.ok(r);
  assert.equal(
    r.socketDropped + r.backlogDropped,
    0,
    `frames were dropped before the responder read them even at ${singleRate} a second`,
  );
  assert.ok(r.sentSingle > singleRate * seconds * 0.6, `the single-MAC flood sent only ${r.sentSingle}`);
  // Per question: a burst of 20, then 10 a second.
  assert.ok(r.toFlooder <= 20 + 10 * (seconds + 2), `${r.toFlooder} answers to one flooding MAC`);
  // Each spoofed MAC is new (its own per-requester bucket), and together they stay under the interface
  // limit: the limiter withholds none of their answers. (How many the responder gets through on a busy
  // machine, where the kernel drops what the socket cannot hold, is the l2-responder benchmark's figure.)
  assert.equal(r.limitedSpoofed, 0, `${r.limitedSpoofed} answers to spoofed MACs withheld by the limiter`);
  assert.ok(r.toSpoofed > 0 && r.toSpoofed <= r.sentSpoofed, `${r.toSpoofed} spoofed answered`);
  // The responder got and answered each of the client's ten questions: the floods did not crowd them out.
  assert.equal(r.toClient, 10, `the speaker answered ${r.toClient} of the client's 10 questions`);
  assert.equal(r.client, 10, 'the client was answered every time during the floods');
  assert.equal(speaker.process.hasExited(), false, speaker.process.tail());
});

test('a spoofed flood beyond its capacity: answers stay under the interface limit, the responder lives and recovers at once', {
  skip,
  timeout: 60_000,
}, async () => {
  const seconds = 3;
  const r = await flood(seconds, 0);
  // Per interface: a burst of 20,000, then 20,000 a second, whatever the source MACs.
  assert.ok(r.toSpoofed <= 20_000 + 20_000 * (seconds + 2), `${r.toSpoofed} answers to spoofed MACs`);
  assert.ok(r.toFlooder <= 20 + 10 * (seconds + 5), `${r.toFlooder} answers to one flooding MAC`);
  assert.equal(speaker.process.hasExited(), false, speaker.process.tail());
  // What the client lost during the overload is in the line above; right after it, every request is answered.
  assert.equal(await legitimate(5), 5, 'answers after the flood');
});
