/**
 * Beacon's side of the interop tests: the `beacon bgp` diagnostic command, run inside a node namespace (the
 * library cannot run there: in-process code stays in the host's namespace). This file is the only place
 * that knows the command's flags.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Netns } from '../harness/netns.ts';
import type { TetheredProcess } from '../harness/process.ts';
import { routerDir } from '../harness/routers/router.ts';

const run = promisify(execFile);
export const REPO = join(import.meta.dirname, '..', '..');
const NODE = join(REPO, 'node_modules', '.bin', 'node');
const MAIN = join(REPO, 'src', 'cli', 'main.ts');

export interface BeaconBgpOptions {
  localAs: number;
  peerAs: number;
  peerAddress: string;
  routerId: string;
  /** Source address of the session. */
  localAddress?: string;
  /** Proposed hold time, seconds. */
  holdTime?: number;
  password?: string;
  /** Advertise graceful restart with this restart time (seconds). */
  gracefulRestart?: number;
  /** Set the Restart State bit: this speaker has just restarted (RFC 4724). */
  restarting?: boolean;
  prefixes?: string[];
  communities?: string[];
  largeCommunities?: string[];
  localPref?: number;
  med?: number;
  /** Announce this many generated /32 (or /128) prefixes counting up from `prefixBase`. */
  prefixCount?: number;
  prefixBase?: string;
}

/** The command line for these options (`usage`: the command's --help, for flags that came later). */
export function beaconBgpArgs(o: BeaconBgpOptions, usage = ''): string[] {
  const a = [
    '--local-as',
    String(o.localAs),
    '--peer-as',
    String(o.peerAs),
    '--peer',
    o.peerAddress,
    '--router-id',
    o.routerId,
  ];
  if (o.localAddress) a.push('--local-address', o.localAddress);
  if (o.holdTime !== undefined) a.push('--hold-time', String(o.holdTime));
  if (o.password !== undefined) a.push('--password', o.password);
  if (o.gracefulRestart !== undefined)
    a.push('--graceful-restart', '--restart-time', String(o.gracefulRestart));
  // The Restart State bit only once the command can set it; routers take the new session without it too.
  if (o.restarting && usage.includes('--restarting')) a.push('--restarting');
  for (const p of o.prefixes ?? []) a.push('--prefix', p);
  for (const c of o.communities ?? []) a.push('--community', c);
  for (const c of o.largeCommunities ?? []) a.push('--community', `large:${c}`);
  if (o.localPref !== undefined) a.push('--local-pref', String(o.localPref));
  if (o.med !== undefined) a.push('--med', String(o.med));
  if (o.prefixCount !== undefined) a.push('--prefix-count', String(o.prefixCount));
  if (o.prefixBase !== undefined) a.push('--prefix-base', o.prefixBase);
  return a;
}

let usageCache: Promise<string | undefined> | undefined;

/** `beacon bgp --help`, or undefined while the command does not exist. */
export function beaconBgpUsage(): Promise<string | undefined> {
  usageCache ??= run(NODE, [MAIN, 'bgp', '--help'], { cwd: REPO, timeout: 30_000 }).then(
    (r) => r.stdout,
    () => undefined,
  );
  return usageCache;
}

/** Why the interop tests cannot run Beacon's side yet, or undefined when they can. */
export async function beaconBgpUnavailable(): Promise<string | undefined> {
  return (await beaconBgpUsage()) === undefined
    ? '`beacon bgp` does not exist yet (src/cli/bgp-command.ts)'
    : undefined;
}

/** Why a feature of the command cannot be tested: the flag (or signal) is not in its usage text. */
export async function beaconBgpLacks(...needles: string[]): Promise<string | undefined> {
  const usage = await beaconBgpUsage();
  if (usage === undefined) return '`beacon bgp` does not exist yet';
  const missing = needles.filter((n) => !usage.includes(n));
  return missing.length ? `\`beacon bgp\` has no ${missing.join(', ')} yet` : undefined;
}

export class BeaconBgp {
  readonly ns: Netns;
  readonly options: BeaconBgpOptions;
  readonly logFile: string;
  readonly proc: TetheredProcess;

  private constructor(ns: Netns, options: BeaconBgpOptions, logFile: string, proc: TetheredProcess) {
    this.ns = ns;
    this.options = options;
    this.logFile = logFile;
    this.proc = proc;
  }

  /** Starts the command in `ns`; returns at once (the router side tells when the session is up). */
  static async start(ns: Netns, options: BeaconBgpOptions, label = 'beacon-bgp'): Promise<BeaconBgp> {
    const dir = await routerDir('bgp');
    const logFile = join(dir, 'beacon-bgp.log');
    const args = beaconBgpArgs(options, (await beaconBgpUsage()) ?? '');
    const proc = ns.spawn(label, NODE, [MAIN, '--log-level', 'debug', 'bgp', ...args], {
      cwd: REPO,
      logFile,
    });
    return new BeaconBgp(ns, options, logFile, proc);
  }

  get pid(): number {
    return this.proc.child.pid!;
  }

  /** Signals the command, failing with its last lines when it is no longer running. */
  signal(sig: NodeJS.Signals): void {
    if (this.proc.hasExited()) throw new Error(`beacon bgp has exited, cannot send ${sig}\n${this.tail()}`);
    process.kill(this.pid, sig);
  }

  /** Freezes the process: no keepalives, no reads, the socket stays open. */
  pause(): void {
    this.signal('SIGSTOP');
  }

  resume(): void {
    this.signal('SIGCONT');
  }

  /** Stops (or resumes) sending keepalives while everything else goes on (SIGUSR1 toggles). */
  toggleKeepalives(): void {
    this.signal('SIGUSR1');
  }

  /**
   * Withdraws every prefix, or announces them again, keeping the session up: SIGUSR2 as a toggle, asked of
   * the command (the matrix skips the withdraw case until its usage mentions SIGUSR2).
   */
  toggleAnnouncements(): void {
    this.signal('SIGUSR2');
  }

  /** SIGTERM: the command withdraws, says goodbye and exits. */
  stop(graceMs = 5000): Promise<void> {
    return this.proc.stop(graceMs);
  }

  /** SIGKILL: what a crashed speaker looks like to the router. */
  async kill(): Promise<void> {
    if (this.proc.hasExited()) return;
    this.proc.child.kill('SIGKILL');
    await this.proc.exited;
  }

  async log(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }

  /** For failure messages: the last lines the command wrote. */
  tail(): string {
    return `--- ${this.proc.name} (log ${this.logFile}) ---\n${this.proc.tail()}`;
  }
}
