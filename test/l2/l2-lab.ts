/**
 * The L2 test network: a client and two nodes on one bridge, `beacon l2` runs in a node, and helpers to
 * read the client's neighbour table and capture frames. Documentation addresses only.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../harness/binaries.ts';
import { temporaryDirectory } from '../harness/interrupt.ts';
import { type Bridge, NetLab, type Netns } from '../harness/netns.ts';
import { type TetheredProcess, waitFor } from '../harness/process.ts';

export const NODE_BIN = join(REPO_ROOT, 'node_modules', '.bin', 'node');
export const MAIN = join(REPO_ROOT, 'src', 'cli', 'main.ts');

export const CLIENT_MAC = '02:00:00:00:0c:01';
export const NODE1_MAC = '02:00:00:00:01:01';
export const NODE2_MAC = '02:00:00:00:02:02';

export interface L2Lab {
  lab: NetLab;
  client: Netns;
  node1: Netns;
  node2: Netns;
  /** The switch they are all plugged into. */
  bridge: Bridge;
  /** A scratch directory for logs and captures, removed by cleanup(). */
  dir: string;
  cleanup(): Promise<void>;
}

export async function createL2Lab(tag: string): Promise<L2Lab> {
  const lab = await NetLab.create(tag);
  const { path: dir, remove: removeDir } = temporaryDirectory(`beacon-${tag}-`);
  const cleanup = async () => {
    await lab.cleanup();
    removeDir();
  };
  try {
    const br = await lab.addBridge();
    const client = await lab.addNamespace('client');
    const node1 = await lab.addNamespace('node1');
    const node2 = await lab.addNamespace('node2');
    await lab.attach(client, br, { mac: CLIENT_MAC, addresses: ['192.0.2.1/24', '2001:db8::1/64'] });
    await lab.attach(node1, br, { mac: NODE1_MAC, addresses: ['192.0.2.11/24', '2001:db8::11/64'] });
    await lab.attach(node2, br, { mac: NODE2_MAC, addresses: ['192.0.2.12/24', '2001:db8::12/64'] });
    return { lab, client, node1, node2, bridge: br, dir, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

export interface Speaker {
  process: TetheredProcess;
  /** Everything it printed so far. */
  output(): string;
  /** Lines starting with `event` (e.g. 'answered'), as key=value records. */
  events(event: string): Record<string, string>[];
}

function parseLine(line: string): Record<string, string> {
  const record: Record<string, string> = {};
  for (const m of line.matchAll(/(\S+?)=("(?:[^"\\]|\\.)*"|\S*)/g)) {
    record[m[1]!] = m[2]!.startsWith('"') ? (JSON.parse(m[2]!) as string) : m[2]!;
  }
  return record;
}

/** Runs `beacon l2 ARGS` in `ns` and waits for its `ready` line (or for it to fail). */
export function startBeaconL2(l2: L2Lab, ns: Netns, label: string, args: string[]): Promise<Speaker> {
  return startReady(l2, ns, label, [MAIN, 'l2', '--node', label, ...args]);
}

/**
 * Runs test/l2/speaker-driver.ts (the L2Answerer API: SIGUSR1 releases the next address, SIGUSR2 acquires
 * them all) in `ns`; `flags` are its --deferred and --quiet.
 */
export function startDriver(
  l2: L2Lab,
  ns: Netns,
  label: string,
  ifname: string,
  addresses: string[],
  flags: string[] = [],
): Promise<Speaker> {
  return startReady(l2, ns, label, [
    join(import.meta.dirname, 'speaker-driver.ts'),
    ...flags,
    ifname,
    ...addresses,
  ]);
}

async function startReady(l2: L2Lab, ns: Netns, label: string, nodeArgs: string[]): Promise<Speaker> {
  const logFile = join(l2.dir, `${label}.log`);
  // It prints a line per answer: through a pipe, a test process slow to read it (a busy machine) would
  // hold it up, and the kernel would drop the frames it did not read meanwhile.
  const p = ns.spawn(label, NODE_BIN, nodeArgs, { cwd: REPO_ROOT, logFile, straightToLog: true });
  const output = () => {
    try {
      return readFileSync(logFile, 'utf8');
    } catch {
      return '';
    }
  };
  const speaker: Speaker = {
    process: p,
    output,
    events: (event) =>
      output()
        .split('\n')
        .filter((l) => l.startsWith(`${event} `))
        .map(parseLine),
  };
  await waitFor(
    `${label} to be ready`,
    () => {
      if (p.hasExited()) throw new Error(`${label} exited: ${p.tail()}`);
      return /^ready\b/m.test(output());
    },
    15_000,
    50,
    () => p.tail(),
  );
  return speaker;
}

export interface NeighbourEntry {
  dst: string;
  lladdr?: string;
  state: string[];
}

/** The client's neighbour entry for `address` on eth0, if any. */
export async function neighbour(ns: Netns, address: string): Promise<NeighbourEntry | undefined> {
  const family = address.includes(':') ? '-6' : '-4';
  const out = await ns.must('ip', ['-j', family, 'neigh', 'show', address, 'dev', 'eth0']);
  const entries = JSON.parse(out || '[]') as NeighbourEntry[];
  return entries[0];
}

export interface Capture {
  /** Stops tcpdump and returns `tcpdump -r FILE -tt -n -e -vv -xx` of what it saw. */
  stop(): Promise<string>;
  file: string;
}

/** Starts `tcpdump -w` on eth0 in `ns` with a filter, and waits until it listens. */
export async function capture(l2: L2Lab, ns: Netns, label: string, filter: string): Promise<Capture> {
  const file = join(l2.dir, `${label}.pcap`);
  const p = ns.spawn(`tcpdump-${label}`, 'tcpdump', [
    '-i',
    'eth0',
    // Without it, libpcap hands frames over in blocks, up to a second late, and a stop loses the last block.
    '--immediate-mode',
    '-U',
    '-n',
    '-w',
    file,
    filter,
  ]);
  await waitFor(
    `tcpdump (${label}) to listen`,
    () => p.tail().includes('listening on'),
    10_000,
    50,
    () => p.tail(),
  );
  return {
    file,
    async stop() {
      await p.stop(2000);
      const r = await ns.exec('tcpdump', ['-r', file, '-tt', '-n', '-e', '-vv', '-xx']);
      return r.stdout;
    },
  };
}

export interface CapturedFrame {
  /** Seconds since the epoch, from the capture. */
  time: number;
  /** tcpdump's one-line description. */
  summary: string;
  /** tcpdump's verbose lines after the summary (without the hex). */
  detail: string;
  bytes: Buffer;
}

/** Splits `tcpdump -r -tt -e -vv -xx` output (or without -tt: time of day) into frames. */
export function parseCapture(text: string): CapturedFrame[] {
  const frames: CapturedFrame[] = [];
  let current: CapturedFrame | undefined;
  for (const line of text.split('\n')) {
    // The frame's hex dump is indented by one tab; -vv also dumps options, indented further.
    const hex = /^\t0x[0-9a-f]+:\s+((?:[0-9a-f]{2,4}\s?)+)/.exec(line);
    if (hex && current) {
      current.bytes = Buffer.concat([current.bytes, Buffer.from(hex[1]!.replace(/\s/g, ''), 'hex')]);
      continue;
    }
    if (/^\S/.test(line)) {
      current = { time: parseTime(line), summary: line, detail: '', bytes: Buffer.alloc(0) };
      frames.push(current);
    } else if (current && line.trim()) {
      current.detail += `${line.trim()}\n`;
    }
  }
  return frames;
}

function parseTime(line: string): number {
  const epoch = /^(\d+\.\d+) /.exec(line);
  if (epoch) return Number(epoch[1]);
  const tod = /^(\d\d):(\d\d):(\d\d\.\d+) /.exec(line);
  return tod ? Number(tod[1]) * 3600 + Number(tod[2]) * 60 + Number(tod[3]) : Number.NaN;
}
