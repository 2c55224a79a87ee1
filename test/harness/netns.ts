/**
 * Test networks made of Linux network namespaces, veth pairs and bridges. Nothing is created in the host's
 * own namespace: bridges live in a "switch" namespace of their own and each veth is created with both ends
 * already inside test namespaces. Every name carries the owning process id, so `cleanup()` (and, for
 * labs whose process was killed, the next lab) removes exactly what a test made.
 *
 * Addresses: use the documentation ranges (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32);
 * traffic never leaves the namespaces a lab made.
 */
import { execFile, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { removeOnInterrupt } from './interrupt.ts';
import { brokenTool } from './preconditions.ts';
import { pidAlive, spawnTethered, type TetheredProcess, type TetherOptions } from './process.ts';

const run = promisify(execFile);
const NAME_PREFIX = 'bcn';

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Why network tests cannot run here, or undefined when they can. Tests pass this to `skip`. Not being root
 * is a missing capability; an `ip` that is missing or fails is a broken tool, which under CI=true throws
 * (test/harness/preconditions.ts) instead of skipping.
 */
export async function netnsUnavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces); CI runs as root';
  try {
    await run('ip', ['netns', 'list'], { timeout: 10_000 });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    const detail = e.code === 'ENOENT' ? 'not installed' : (e.stderr || e.message).trim();
    return brokenTool(`iproute2's \`ip netns list\` failed: ${detail}`);
  }
  return undefined;
}

async function sh(cmd: string, args: string[], timeoutMs = 30_000): Promise<ExecResult> {
  try {
    const { stdout, stderr } = await run(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string; message: string };
    return {
      code: typeof e.code === 'number' ? e.code : 1,
      stdout: e.stdout ?? '',
      stderr: e.stderr || e.message,
    };
  }
}

async function must(cmd: string, args: string[]): Promise<string> {
  const r = await sh(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The names in `ip netns list` output (each line: a name, maybe followed by its id). */
function namespaceNames(listing: string): string[] {
  return listing
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.length > 0);
}

async function listNamespaces(): Promise<string[]> {
  return namespaceNames((await sh('ip', ['netns', 'list'])).stdout);
}

/** SIGKILL to each process id in `ip netns pids` output. */
function killPids(listing: string): void {
  for (const pid of listing.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

async function deleteNamespace(name: string): Promise<void> {
  killPids((await sh('ip', ['netns', 'pids', name])).stdout);
  await sh('ip', ['netns', 'del', name]);
}

/** deleteNamespace for an interrupted process, which has no time for anything asynchronous (interrupt.ts). */
function deleteNamespaceSync(name: string): void {
  killPids(execFileSync('ip', ['netns', 'pids', name], { encoding: 'utf8', timeout: 5000 }));
  execFileSync('ip', ['netns', 'del', name], { timeout: 5000, stdio: 'ignore' });
}

/** Removes namespaces left by labs whose process no longer exists (a test run that was killed). */
export async function removeStaleNamespaces(): Promise<void> {
  for (const ns of await listNamespaces()) {
    const m = new RegExp(`^${NAME_PREFIX}(\\d+)-`).exec(ns);
    if (m && !pidAlive(Number(m[1]))) await deleteNamespace(ns);
  }
}

export class Netns {
  readonly lab: NetLab;
  /** The full namespace name, for `ip netns exec`. */
  readonly name: string;

  constructor(lab: NetLab, name: string) {
    this.lab = lab;
    this.name = name;
  }

  /** Runs a command inside the namespace; never throws for a non-zero exit. */
  exec(cmd: string, args: string[] = [], timeoutMs = 30_000): Promise<ExecResult> {
    return sh('ip', ['netns', 'exec', this.name, cmd, ...args], timeoutMs);
  }

  /** Like exec, but throws with stderr when the command fails. */
  async must(cmd: string, args: string[] = []): Promise<string> {
    const r = await this.exec(cmd, args);
    if (r.code !== 0) throw new Error(`[${this.name}] ${cmd} ${args.join(' ')} failed: ${r.stderr.trim()}`);
    return r.stdout;
  }

  /** Starts a long-running process in the namespace; the lab stops it on cleanup. */
  spawn(
    label: string,
    cmd: string,
    args: string[],
    opts: Omit<TetherOptions, 'netns'> = {},
  ): TetheredProcess {
    const p = spawnTethered(`${this.name}/${label}`, cmd, args, { ...opts, netns: this.name });
    this.lab.track(p);
    return p;
  }

  async addAddress(ifname: string, cidr: string): Promise<void> {
    await this.must('ip', ['addr', 'add', cidr, 'dev', ifname, ...(cidr.includes(':') ? ['nodad'] : [])]);
  }

  async addRoute(prefix: string, via: string): Promise<void> {
    await this.must('ip', ['route', 'add', prefix, 'via', via]);
  }

  async mac(ifname: string): Promise<string> {
    const out = JSON.parse(await this.must('ip', ['-j', 'link', 'show', ifname])) as { address: string }[];
    return out[0]!.address;
  }

  async setLink(ifname: string, state: 'up' | 'down'): Promise<void> {
    await this.must('ip', ['link', 'set', ifname, state]);
  }
}

export interface Bridge {
  /** The namespace holding the bridge. */
  readonly switchNs: Netns;
  readonly name: string;
  /** Ports attached so far, for naming the next one. */
  ports: number;
}

export interface AttachOptions {
  /** Interface name inside the namespace (default eth0, eth1, ...). */
  ifname?: string;
  mac?: string;
  addresses?: string[];
}

/** One test's network: namespaces, bridges, links and processes, all removed by cleanup(). */
export class NetLab {
  private readonly namespaces: Netns[] = [];
  private readonly processes: TetheredProcess[] = [];
  private readonly ifCount = new Map<string, number>();
  private switchNs: Netns | undefined;
  private bridgeCount = 0;
  private readonly prefix: string;
  /** Withdraws removeNow from interrupt.ts; set while the lab has anything to remove. */
  private withdrawInterruptRemoval: (() => void) | undefined;

  private constructor(tag: string) {
    this.prefix = `${NAME_PREFIX}${process.pid}-${tag}`;
  }

  /** Everything cleanup() removes, at once and synchronously: for an interrupted process (interrupt.ts). */
  private removeNow(): void {
    for (const p of this.processes.splice(0)) {
      try {
        // Its own process group (spawnTethered): the group takes its children along.
        if (p.child.pid !== undefined) process.kill(-p.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    const listing = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 5000 });
    for (const n of namespaceNames(listing)) if (n.startsWith(`${this.prefix}-`)) deleteNamespaceSync(n);
    this.namespaces.splice(0);
  }

  /** `tag` tells labs of one process apart (e.g. the test file's short name). */
  static async create(tag: string): Promise<NetLab> {
    const why = await netnsUnavailable();
    if (why) throw new Error(`network lab unavailable: ${why}`);
    await removeStaleNamespaces();
    const lab = new NetLab(tag.replace(/[^a-z0-9]/gi, '').slice(0, 12));
    // Remove what a previous lab of this same process and tag left, e.g. after a failed cleanup.
    for (const ns of await listNamespaces()) if (ns.startsWith(`${lab.prefix}-`)) await deleteNamespace(ns);
    return lab;
  }

  track(p: TetheredProcess): void {
    this.processes.push(p);
  }

  async addNamespace(short: string): Promise<Netns> {
    const name = `${this.prefix}-${short}`;
    this.withdrawInterruptRemoval ??= removeOnInterrupt(`the network namespaces ${this.prefix}-*`, () =>
      this.removeNow(),
    );
    await must('ip', ['netns', 'add', name]);
    const ns = new Netns(this, name);
    this.namespaces.push(ns);
    await ns.must('ip', ['link', 'set', 'lo', 'up']);
    // No duplicate address detection: test addresses are unique by construction and DAD delays use.
    await ns.must('sysctl', ['-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']);
    return ns;
  }

  /** A bridge (a switch) in the lab's switch namespace. */
  async addBridge(): Promise<Bridge> {
    this.switchNs ??= await this.addNamespace('sw');
    const name = `br${this.bridgeCount++}`;
    await this.switchNs.must('ip', [
      'link',
      'add',
      name,
      'type',
      'bridge',
      'stp_state',
      '0',
      'forward_delay',
      '0',
      'mcast_snooping',
      '0',
    ]);
    await this.switchNs.setLink(name, 'up');
    return { switchNs: this.switchNs, name, ports: 0 };
  }

  private nextIfname(ns: Netns): string {
    const n = this.ifCount.get(ns.name) ?? 0;
    this.ifCount.set(ns.name, n + 1);
    return `eth${n}`;
  }

  /** Plugs a namespace into a bridge with a new veth pair; returns the interface name in the namespace. */
  async attach(ns: Netns, bridge: Bridge, opts: AttachOptions = {}): Promise<string> {
    const ifname = opts.ifname ?? this.nextIfname(ns);
    const port = `${bridge.name}p${bridge.ports++}`;
    await must('ip', [
      'link',
      'add',
      ifname,
      'netns',
      ns.name,
      ...(opts.mac ? ['address', opts.mac] : []),
      'type',
      'veth',
      'peer',
      'name',
      port,
      'netns',
      bridge.switchNs.name,
    ]);
    await bridge.switchNs.must('ip', ['link', 'set', port, 'master', bridge.name]);
    await bridge.switchNs.setLink(port, 'up');
    for (const a of opts.addresses ?? []) await ns.addAddress(ifname, a);
    await ns.setLink(ifname, 'up');
    return ifname;
  }

  /** The bridge port a namespace's interface is plugged into, to cut or restore its link from the switch side. */
  async setBridgePort(bridge: Bridge, portIndex: number, state: 'up' | 'down'): Promise<void> {
    await bridge.switchNs.setLink(`${bridge.name}p${portIndex}`, state);
  }

  /** A point-to-point veth between two namespaces; returns the interface names in a and b. */
  async link(
    a: Netns,
    b: Netns,
    opts: { a?: AttachOptions; b?: AttachOptions } = {},
  ): Promise<[string, string]> {
    const ifA = opts.a?.ifname ?? this.nextIfname(a);
    const ifB = opts.b?.ifname ?? this.nextIfname(b);
    await must('ip', [
      'link',
      'add',
      ifA,
      'netns',
      a.name,
      ...(opts.a?.mac ? ['address', opts.a.mac] : []),
      'type',
      'veth',
      'peer',
      'name',
      ifB,
      'netns',
      b.name,
      ...(opts.b?.mac ? ['address', opts.b.mac] : []),
    ]);
    for (const x of opts.a?.addresses ?? []) await a.addAddress(ifA, x);
    for (const x of opts.b?.addresses ?? []) await b.addAddress(ifB, x);
    await a.setLink(ifA, 'up');
    await b.setLink(ifB, 'up');
    return [ifA, ifB];
  }

  /**
   * Stops every process the lab started (SIGTERM, then SIGKILL after `graceMs`) and deletes every namespace
   * (and with them every link).
   */
  async cleanup(graceMs = 2000): Promise<void> {
    await Promise.all(this.processes.splice(0).map((p) => p.stop(graceMs)));
    for (const ns of this.namespaces.splice(0).reverse()) await deleteNamespace(ns.name);
    this.switchNs = undefined;
    this.withdrawInterruptRemoval?.();
    this.withdrawInterruptRemoval = undefined;
  }
}
