/**
 * Beacon's side of the interop tests: the `beacon bgp` diagnostic command, run inside a node namespace (the
 * library cannot run there: in-process code stays in the host's namespace). This file is the only place
 * that knows the command's flags.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Netns } from '../harness/netns.ts';
import type { TetheredProcess } from '../harness/process.ts';
import { routerDir } from '../harness/routers/router.ts';

export const REPO = join(import.meta.dirname, '..', '..');
const NODE = join(REPO, 'node_modules', '.bin', 'node');
const MAIN = join(REPO, 'src', 'cli', 'main.ts');
/** What the container image runs: the compiled JavaScript (`npm run build`), without the type stripper. */
const COMPILED_MAIN = join(REPO, 'dist', 'cli', 'main.js');

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
  /** Run BFD beside the session with these timers (both directions), e.g. 100 ms x 3. */
  bfd?: { intervalMs: number; multiplier: number };
  /** Run dist/cli/main.js (build it first) instead of the TypeScript sources. */
  compiled?: boolean;
  /** Log level of the command's own log (default debug). */
  logLevel?: string;
}

/** The command line for these options. */
export function beaconBgpArgs(o: BeaconBgpOptions): string[] {
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
  if (o.restarting) a.push('--restarting');
  for (const p of o.prefixes ?? []) a.push('--prefix', p);
  for (const c of o.communities ?? []) a.push('--community', c);
  for (const c of o.largeCommunities ?? []) a.push('--community', `large:${c}`);
  if (o.localPref !== undefined) a.push('--local-pref', String(o.localPref));
  if (o.med !== undefined) a.push('--med', String(o.med));
  if (o.prefixCount !== undefined) a.push('--prefix-count', String(o.prefixCount));
  if (o.prefixBase !== undefined) a.push('--prefix-base', o.prefixBase);
  if (o.bfd) {
    const ms = String(o.bfd.intervalMs);
    a.push('--bfd', '--bfd-rx', ms, '--bfd-tx', ms, '--bfd-multiplier', String(o.bfd.multiplier));
  }
  return a;
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
    const args = beaconBgpArgs(options);
    const main = options.compiled ? COMPILED_MAIN : MAIN;
    const proc = ns.spawn(label, NODE, [main, '--log-level', options.logLevel ?? 'debug', 'bgp', ...args], {
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
   * Withdraws every prefix, or announces them again, keeping the session up (SIGUSR2 toggles).
   */
  toggleAnnouncements(): void {
    this.signal('SIGUSR2');
  }

  /** The lines the command printed so far (its log holds stdout and stderr). */
  async lines(): Promise<string[]> {
    return (await this.log()).split('\n');
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
