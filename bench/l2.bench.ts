/**
 * L2 mode on the wire, in network namespaces joined by a kernel bridge:
 *  - takeover: from acquire() on the new node to the client's neighbour entry pointing at it (the client's
 *    `ip -ts monitor neigh`), IPv4 and IPv6, alternating the owner between two nodes;
 *  - responder: ARP requests and Neighbor Solicitations at ~1,000/s across 1,000 owned addresses, latency
 *    from the request to the answer as the node's own capture timestamps them, the share answered, and
 *    the speaker's CPU use (from /proc/PID/stat).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { formatIPv4, formatIPv6 } from '../src/l2/addresses.ts';
import { ARP_REPLY, ARP_REQUEST, decodeArpFrame } from '../src/l2/arp.ts';
import { decodeNeighborAdvertisement, decodeNeighborSolicitation } from '../src/l2/ndp.ts';
import { REPO_ROOT } from '../test/harness/binaries.ts';
import { netnsUnavailable } from '../test/harness/netns.ts';
import { addonUnavailable } from '../test/harness/preconditions.ts';
import { waitFor } from '../test/harness/process.ts';
import {
  createL2Lab,
  type L2Lab,
  NODE_BIN,
  NODE1_MAC,
  NODE2_MAC,
  neighbour,
  type Speaker,
  startDriver,
} from '../test/l2/l2-lab.ts';
import { type Bench, type Figure, percentile } from './figures.ts';

async function unavailable(): Promise<string | undefined> {
  return (await netnsUnavailable()) ?? addonUnavailable();
}

/** Epoch milliseconds of an `ip -ts monitor` line's "[2026-11-22T02:30:54.658190]" (local time). */
function monitorTime(line: string): number | undefined {
  const m = /^\[(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?\]/.exec(line);
  if (!m) return undefined;
  return new Date(m[1]!).getTime() + Number(m[2] ?? 0) * 1000;
}

function acquiredTimes(s: Speaker): number[] {
  return s.events('acquired').map((e) => Number(e.at));
}

async function takeover(ctx: { log(l: string): void; quick: boolean }): Promise<Figure[]> {
  const V4 = '192.0.2.100';
  const V6 = '2001:db8::100';
  const runs = ctx.quick ? 3 : 10;
  const l2 = await createL2Lab('l2takeover');
  try {
    const nodes = [
      {
        name: 'node1',
        mac: NODE1_MAC,
        driver: await startDriver(l2, l2.node1, 'node1', 'eth0', [V4, V6], ['--deferred', '--quiet']),
      },
      {
        name: 'node2',
        mac: NODE2_MAC,
        driver: await startDriver(l2, l2.node2, 'node2', 'eth0', [V4, V6], ['--deferred', '--quiet']),
      },
    ];
    // node1 owns the addresses first, and the client resolves them through its kernel.
    nodes[0]!.driver.process.child.kill('SIGUSR2');
    await waitFor('node1 to acquire', () => acquiredTimes(nodes[0]!.driver).length === 1, 5_000, 20);
    await l2.client.exec('ping', ['-c', '1', '-W', '1', V4]);
    await l2.client.exec('ping', ['-6', '-c', '1', '-W', '1', V6]);
    for (const a of [V4, V6]) {
      const e = await neighbour(l2.client, a);
      if (e?.lladdr !== NODE1_MAC)
        throw new Error(`client did not resolve ${a} to node1: ${JSON.stringify(e)}`);
    }
    const monitorLog = join(l2.dir, 'monitor.log');
    const monitor = l2.client.spawn('monitor', 'ip', ['-ts', 'monitor', 'neigh', 'dev', 'eth0'], {
      logFile: monitorLog,
    });
    await sleep(300);
    const v4: number[] = [];
    const v6: number[] = [];
    let owner = 0;
    for (let run = 0; run < runs; run++) {
      const next = nodes[1 - owner]!;
      const previous = nodes[owner]!;
      // As when the owner dies: it stops first (its burst with it), then the next node acquires.
      // One signal at a time: a second SIGUSR1 sent before the first is handled would merge with it.
      for (let i = 0; i < 2; i++) {
        const released = previous.driver.events('released').length;
        previous.driver.process.child.kill('SIGUSR1');
        await waitFor('release', () => previous.driver.events('released').length > released, 5_000, 5);
      }
      await sleep(200);
      const before = acquiredTimes(next.driver).length;
      next.driver.process.child.kill('SIGUSR2');
      await waitFor('acquire', () => acquiredTimes(next.driver).length > before, 5_000, 5);
      const at = acquiredTimes(next.driver).at(-1)!;
      const updated = (address: string) =>
        readFileSync(monitorLog, 'utf8')
          .split('\n')
          .filter((l) => new RegExp(`\\] ${address} (dev eth0 )?lladdr ${next.mac} `).test(l))
          .map(monitorTime)
          .find((t) => t !== undefined && t >= at - 1);
      await waitFor(
        'the client entries to move',
        () => updated(V4) !== undefined && updated(V6) !== undefined,
        10_000,
        10,
        monitor.tail,
      );
      v4.push(updated(V4)! - at);
      v6.push(updated(V6)! - at);
      ctx.log(
        `run ${run + 1}/${runs}: ${previous.name} -> ${next.name}: IPv4 ${v4.at(-1)!.toFixed(2)} ms, IPv6 ${v6.at(-1)!.toFixed(2)} ms`,
      );
      // Past the burst's second round, so that the next move starts from a settled entry.
      await sleep(1_200);
      owner = 1 - owner;
    }
    return [
      {
        name: 'l2.takeover.v4.acquire_to_neighbour_ms',
        unit: 'ms',
        samples: v4,
        description: "acquire() on the new node -> client's IPv4 neighbour entry at its MAC (gratuitous ARP)",
        aim: '< 1 s (whole takeover)',
      },
      {
        name: 'l2.takeover.v6.acquire_to_neighbour_ms',
        unit: 'ms',
        samples: v6,
        description: "acquire() on the new node -> client's IPv6 neighbour entry at its MAC (unsolicited NA)",
        aim: '< 1 s (whole takeover)',
      },
    ];
  } finally {
    await l2.cleanup();
  }
}

interface PcapRecord {
  /** Nanoseconds since the epoch, as a double (exact to ~0.1 µs). */
  ns: number;
  bytes: Buffer;
}

/** Records of a pcap file written with --time-stamp-precision=nano (magic a1b23c4d, little or big endian). */
function readPcap(file: string): PcapRecord[] {
  const b = readFileSync(file);
  const magic = b.readUInt32LE(0);
  const le = magic === 0xa1b23c4d;
  if (!le && b.readUInt32BE(0) !== 0xa1b23c4d) throw new Error(`${file}: not a nanosecond pcap file`);
  const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
  const records: PcapRecord[] = [];
  for (let o = 24; o + 16 <= b.length; ) {
    const captured = u32(o + 8);
    records.push({ ns: u32(o) * 1e9 + u32(o + 4), bytes: b.subarray(o + 16, o + 16 + captured) });
    o += 16 + captured;
  }
  return records;
}

/**
 * Request -> answer delays (µs). Each address is asked about once per cycle (a second at 1,000/s over 1,000
 * addresses); an answer pairs with the latest question for its address if that came within half a cycle,
 * so a question the capture missed cannot pair an answer with the previous cycle's question.
 */
function answerDelays(
  records: PcapRecord[],
  nodeMac: string,
  maxDelayUs: number,
): { delays: number[]; questions: number; answers: number } {
  const latest = new Map<string, number>();
  const delays: number[] = [];
  let questions = 0;
  let answers = 0;
  const macHex = nodeMac.replaceAll(':', '');
  for (const r of records) {
    const fromNode = r.bytes.subarray(6, 12).toString('hex') === macHex;
    const arp = decodeArpFrame(r.bytes);
    let key: string | undefined;
    let isAnswer = false;
    if (arp?.arp.operation === ARP_REQUEST && !fromNode) key = formatIPv4(arp.arp.targetIp);
    else if (arp?.arp.operation === ARP_REPLY && fromNode) {
      key = formatIPv4(arp.arp.senderIp);
      isAnswer = true;
    } else if (!arp) {
      const ns = fromNode ? undefined : decodeNeighborSolicitation(r.bytes);
      const na = fromNode ? decodeNeighborAdvertisement(r.bytes) : undefined;
      if (ns) key = formatIPv6(ns.message.target);
      else if (na?.message.solicited) {
        key = formatIPv6(na.message.target);
        isAnswer = true;
      }
    }
    if (!key) continue;
    if (!isAnswer) {
      questions++;
      latest.set(key, r.ns);
      continue;
    }
    const asked = latest.get(key);
    latest.delete(key);
    if (asked === undefined || (r.ns - asked) / 1000 > maxDelayUs) continue;
    answers++;
    delays.push((r.ns - asked) / 1000);
  }
  return { delays, questions, answers };
}

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields after the command: state is 3rd overall, utime 14th, stime 15th.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function owned(): string[] {
  const v4: string[] = [];
  for (let i = 20; i <= 254; i++) v4.push(`192.0.2.${i}`);
  for (let i = 1; i <= 254; i++) v4.push(`198.51.100.${i}`);
  const v6: string[] = [];
  for (let i = 0; v4.length + v6.length < 1000; i++) v6.push(`2001:db8::1:${i.toString(16)}`);
  return [...v4, ...v6];
}

async function responder(ctx: { log(l: string): void; quick: boolean }): Promise<Figure[]> {
  const seconds = ctx.quick ? 3 : 10;
  const rate = 1000;
  const addresses = owned();
  const l2: L2Lab = await createL2Lab('l2responder');
  try {
    const driver = await startDriver(l2, l2.node1, 'node1', 'eth0', addresses, ['--quiet']);
    const pid = driver.process.child.pid!;
    if (!readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('speaker-driver.ts')) {
      throw new Error(`pid ${pid} is not the speaker`);
    }
    // Let the 4.4 s of gratuitous bursts for 1,000 addresses pass before measuring answers.
    await sleep(5_000);
    const pcap = join(l2.dir, 'node1.pcap');
    const capture = l2.node1.spawn('tcpdump', 'tcpdump', [
      '-i',
      'eth0',
      '-n',
      // Frames are handed over at once, not in blocks of which the last would be lost at stop.
      '--immediate-mode',
      '-B',
      '16384',
      '--time-stamp-precision=nano',
      '-w',
      pcap,
      'arp or (icmp6 and (ip6[40] == 135 or ip6[40] == 136))',
    ]);
    await waitFor(
      'tcpdump to listen',
      () => capture.tail().includes('listening on'),
      10_000,
      50,
      capture.tail,
    );
    const targets = join(l2.dir, 'targets.json');
    writeFileSync(targets, JSON.stringify(addresses));
    const cpuBefore = cpuSeconds(pid);
    const t0 = performance.now();
    const load = await l2.client.exec(
      NODE_BIN,
      [
        join(REPO_ROOT, 'test', 'l2', 'load-generator.ts'),
        'eth0',
        '192.0.2.1',
        '2001:db8::1',
        String(rate),
        String(seconds),
        targets,
      ],
      (seconds + 30) * 1000,
    );
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = ((cpuSeconds(pid) - cpuBefore) / elapsed) * 100;
    if (load.code !== 0) throw new Error(`load generator failed: ${load.stderr}`);
    const sent = JSON.parse(load.stdout) as { sent: number; failed: number; seconds: number };
    await sleep(500);
    await capture.stop(2000);
    const cycleUs = (addresses.length / rate) * 1e6;
    const { delays, questions, answers } = answerDelays(readPcap(pcap), NODE1_MAC, cycleUs / 2);
    const dropped = /(\d+) packets? dropped by kernel/.exec(capture.tail())?.[1];
    if (dropped && dropped !== '0')
      ctx.log(`capture dropped ${dropped} frames; latencies come from the rest`);
    ctx.log(
      `sent ${sent.sent} (${sent.failed} refused by the kernel) in ${sent.seconds.toFixed(1)} s; node saw ${questions} questions, answered ${answers}; ` +
        `p50 ${percentile(delays, 50).toFixed(1)} µs, p99 ${percentile(delays, 99).toFixed(1)} µs; speaker CPU ${cpu.toFixed(1)} %`,
    );
    return [
      {
        name: 'l2.responder.request_rate_per_s',
        unit: 'per_s',
        samples: [sent.sent / sent.seconds],
        description: `ARP requests and NSs sent, across ${addresses.length} owned addresses (half IPv4, half IPv6)`,
      },
      {
        name: 'l2.responder.latency_p50_ms',
        unit: 'ms',
        samples: [percentile(delays, 50) / 1000],
        description: "request seen -> answer sent, on the node's interface (tcpdump timestamps), median",
      },
      {
        name: 'l2.responder.latency_p99_ms',
        unit: 'ms',
        samples: [percentile(delays, 99) / 1000],
        description:
          "request seen -> answer sent, on the node's interface (tcpdump timestamps), 99th percentile",
      },
      {
        name: 'l2.responder.answered_percent',
        unit: 'percent',
        samples: [questions ? (answers / questions) * 100 : 0],
        description:
          'questions on the wire that got an answer (rate limits allow 10/s per requester and address)',
      },
      {
        name: 'l2.responder.speaker_cpu_percent',
        unit: 'percent',
        samples: [cpu],
        description: 'speaker process CPU (user + system, one core = 100) while answering ~1,000/s',
      },
    ];
  } finally {
    await l2.cleanup();
  }
}

export const benches: Bench[] = [
  { name: 'l2-takeover', unavailable, run: takeover },
  { name: 'l2-responder', unavailable, run: responder },
];
