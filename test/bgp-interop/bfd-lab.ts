/**
 * A lab for BFD against FRR's bfdd, shared by the interop test and the benchmark: FRR (zebra, bgpd, bfdd)
 * in one namespace, `beacon bgp --bfd` in another, both on one bridge so a test can cut Beacon's port.
 *
 *   router 192.0.2.1  AS 64500   FRR, BFD profile 100 ms x 3 on the neighbour, hold time 3600 s
 *   node   192.0.2.11 AS 64512   beacon bgp --bfd, announces 198.51.100.11/32
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type Bridge, NetLab, type Netns } from '../harness/netns.ts';
import type { TetheredProcess } from '../harness/process.ts';
import { FrrRouter } from '../harness/routers/frr.ts';
import { canonicalAddress, routerDir } from '../harness/routers/router.ts';

export const REPO = join(import.meta.dirname, '..', '..');
const NODE = join(REPO, 'node_modules', '.bin', 'node');
const MAIN = join(REPO, 'src', 'cli', 'main.ts');

export const ROUTER = '192.0.2.1';
export const NODE_ADDRESS = '192.0.2.11';
export const PREFIX = '198.51.100.11/32';
/** An hour: a session or route that goes away within a test went through BFD (or a TCP close), never this. */
export const HOLD_TIME_SEC = 3600;
/** The bridge port Beacon's namespace is plugged into (the router's is 0). */
const NODE_PORT = 1;

/** One BFD session as FRR's `show bfd peers json` reports it. */
export interface FrrBfdPeer {
  peer: string;
  status: string;
  /** Why the session last went down here, e.g. "control detection time expired". */
  diagnostic?: string;
  /** What the peer's packets say, e.g. "administratively down". */
  'remote-diagnostic'?: string;
  uptime?: number;
  downtime?: number;
  'remote-id'?: number;
  'receive-interval'?: number;
  'transmit-interval'?: number;
  'remote-receive-interval'?: number;
  'remote-transmit-interval'?: number;
  'remote-detect-multiplier'?: number;
}

export interface BeaconRun {
  proc: TetheredProcess;
  logFile: string;
  /** Lines the command printed so far. */
  lines(): Promise<string[]>;
}

export class BfdLab {
  readonly lab: NetLab;
  readonly router: FrrRouter;
  readonly node: Netns;
  readonly bridge: Bridge;
  readonly detectMultiplier: number;

  private constructor(lab: NetLab, router: FrrRouter, node: Netns, bridge: Bridge, detectMultiplier: number) {
    this.lab = lab;
    this.router = router;
    this.node = node;
    this.bridge = bridge;
    this.detectMultiplier = detectMultiplier;
  }

  /**
   * Detect Mult on both sides (FRR's profile and Beacon's flag) is `detectMultiplier`: 3 for the bench,
   * which measures how fast; more for tests that hold the protocol on a CPU shared with other work, where a
   * process can wait longer than 300 ms for its turn.
   */
  static async create(tag: string, detectMultiplier = 3): Promise<BfdLab> {
    const lab = await NetLab.create(tag);
    try {
      const bridge = await lab.addBridge();
      const r = await lab.addNamespace('r');
      const n = await lab.addNamespace('n');
      await lab.attach(r, bridge, { addresses: [`${ROUTER}/24`] });
      await lab.attach(n, bridge, { addresses: [`${NODE_ADDRESS}/24`] });
      const router = await FrrRouter.start(r, {
        asn: 64500,
        routerId: ROUTER,
        bfdDetectMultiplier: detectMultiplier,
        neighbors: [
          { address: NODE_ADDRESS, asn: 64512, holdTime: HOLD_TIME_SEC, bfd: true, families: ['ipv4'] },
        ],
      });
      return new BfdLab(lab, router, n, bridge, detectMultiplier);
    } catch (err) {
      await lab.cleanup();
      throw err;
    }
  }

  /**
   * `beacon bgp --bfd` with 100 ms timers and the lab's Detect Mult (FRR's profile), announcing PREFIX.
   * FRR declares Beacon down after Beacon's multiplier times its interval (RFC 5880 6.8.4).
   */
  async startBeacon(label = 'beacon-bgp'): Promise<BeaconRun> {
    const multiplier = this.detectMultiplier;
    const dir = await routerDir('bgp');
    const logFile = join(dir, 'beacon-bgp.log');
    const args = [
      ...['--local-as', '64512', '--peer-as', '64500', '--peer', ROUTER, '--local-address', NODE_ADDRESS],
      ...['--hold-time', String(HOLD_TIME_SEC), '--prefix', PREFIX],
      ...['--bfd', '--bfd-rx', '100', '--bfd-tx', '100', '--bfd-multiplier', String(multiplier)],
    ];
    const proc = this.node.spawn(label, NODE, [MAIN, '--log-level', 'warn', 'bgp', ...args], {
      cwd: REPO,
      logFile,
    });
    return {
      proc,
      logFile,
      lines: async () => (await readFile(logFile, 'utf8').catch(() => '')).split('\n'),
    };
  }

  async bfdPeer(): Promise<FrrBfdPeer | undefined> {
    const doc = JSON.parse(await this.router.vtysh('show bfd peers json')) as FrrBfdPeer[];
    return doc.find((p) => canonicalAddress(p.peer) === NODE_ADDRESS);
  }

  /** FRR's words for why its BGP session with Beacon last went down (e.g. "Cease/BFD Down"). */
  async lastDownReason(): Promise<string | undefined> {
    return (await this.router.neighbors()).find((n) => n.address === NODE_ADDRESS)?.lastError;
  }

  async hasRoute(): Promise<boolean> {
    return (await this.router.routes(['ipv4'])).some((r) => r.prefix === PREFIX);
  }

  /** Polls as fast as vtysh answers; resolves with the ms from `since` until `check` held. */
  async timeUntil(
    what: string,
    check: () => Promise<boolean>,
    since: number,
    timeoutMs: number,
  ): Promise<number> {
    for (;;) {
      if (await check()) return performance.now() - since;
      if (performance.now() - since > timeoutMs)
        throw new Error(
          `${what}: not within ${timeoutMs} ms\n${(await this.router.log()).split('\n').slice(-30).join('\n')}`,
        );
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Cuts (or restores) Beacon's link from the switch side: no carrier loss seen inside Beacon's namespace. */
  setNodeLink(state: 'up' | 'down'): Promise<void> {
    return this.lab.setBridgePort(this.bridge, NODE_PORT, state);
  }

  cleanup(): Promise<void> {
    return this.lab.cleanup();
  }
}
