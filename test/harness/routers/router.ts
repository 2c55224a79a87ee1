/**
 * What every router the network tests run (FRR, BIRD 2, GoBGP) has in common: a small typed configuration
 * from which each module generates its own config file, and the router's table and sessions read back as
 * typed data. Each router runs inside a test namespace with every file it writes (config, sockets, pid
 * files, state, log) in a temp dir of its own, so several run at once and nothing touches /etc or /run.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Netns } from '../netns.ts';
import { waitFor } from '../process.ts';

export type RouterKind = 'frr' | 'bird' | 'gobgp';
export type Family = 'ipv4' | 'ipv6';
export const FAMILIES: readonly Family[] = ['ipv4', 'ipv6'];

/** RFC 4271 session states, lower case, the same for every router. */
export type SessionState = 'idle' | 'connect' | 'active' | 'opensent' | 'openconfirm' | 'established';

export interface NeighborConfig {
  /** The neighbour's address; the session runs over this address's family. */
  address: string;
  asn: number;
  /** TCP MD5 signature (RFC 2385) password. */
  password?: string;
  /** Only accept the neighbour's connection, never open one. */
  passive?: boolean;
  /**
   * GTSM (RFC 5082): send with TTL 255 and accept only what crossed at most this many hops (1: the
   * neighbour is on the link, only TTL 255 passes). FRR `ttl-security hops N`, BIRD `ttl security on`.
   */
  ttlSecurity?: number;
  /** Proposed hold time in seconds (default 9); the keepalive interval is a third of it. */
  holdTime?: number;
  /** Graceful restart (RFC 4724): keep the neighbour's routes, marked stale, while it restarts. */
  gracefulRestart?: boolean;
  /** How long stale routes are kept when the neighbour does not come back (seconds, default 120). */
  restartTime?: number;
  /** BFD (RFC 5880) single hop on the session's address (FRR and BIRD). */
  bfd?: boolean;
  /** Address families exchanged over the session (default both, IPv6 over an IPv4 session and vice versa). */
  families?: Family[];
  /**
   * Accept only host routes (/32, /128) inside these ranges, the policy the README recommends toward
   * Beacon; default: accept every route. Either way the policy is explicit (FRR's ebgp-requires-policy).
   */
  importPrefixes?: string[];
  /** Send this router's routes to the neighbour (default true); the README's configs send nothing to Beacon. */
  exportRoutes?: boolean;
}

export interface OriginatedPrefix {
  prefix: string;
  /** RFC 1997 communities, "asn:value". */
  communities?: string[];
  /** RFC 8092 large communities, "global:local1:local2". */
  largeCommunities?: string[];
  /** LOCAL_PREF, only sent to iBGP neighbours. */
  localPref?: number;
  med?: number;
}

export interface RouterConfig {
  asn: number;
  routerId: string;
  /** Accept sessions on this address only (default: every address). */
  listenAddress?: string;
  neighbors: NeighborConfig[];
  /** Prefixes this router announces to every neighbour, with their attributes. */
  originate?: OriginatedPrefix[];
  /**
   * The router's own global IPv6 address, the next hop it sends for IPv6 routes over IPv4 sessions
   * (BIRD and GoBGP need it spelled out; FRR takes it from the interface).
   */
  ipv6NextHop?: string;
  /** The router's own IPv4 address, the next hop for IPv4 routes over IPv6 sessions. */
  ipv4NextHop?: string;
  /** Detect Mult of the BFD profile its neighbours use (default 3; FRR only). */
  bfdDetectMultiplier?: number;
}

export interface BgpRoute {
  family: Family;
  /** Canonical CIDR, e.g. 192.0.2.0/24 or 2001:db8::/64. */
  prefix: string;
  /** Next hop addresses as the router holds them (an IPv6 route may carry a global and a link-local one). */
  nextHops: string[];
  asPath: number[];
  /** "asn:value", sorted. */
  communities: string[];
  /** "global:local1:local2", sorted. */
  largeCommunities: string[];
  localPref: number | undefined;
  med: number | undefined;
  /** Kept through a neighbour's graceful restart and not yet refreshed. */
  stale: boolean;
  /** The neighbour the route came from, or undefined when the router originated it. */
  fromPeer: string | undefined;
  best: boolean;
}

export interface NeighborStatus {
  address: string;
  asn: number | undefined;
  state: SessionState;
  /** Hold time agreed in OPEN, seconds, once established. */
  holdTime: number | undefined;
  /** Prefixes received from the neighbour (both families), when the router reports it. */
  prefixesReceived: number | undefined;
  /** The router's own words about the last error, for messages. */
  lastError: string | undefined;
}

export interface BfdPeer {
  peer: string;
  status: string;
}

export interface Router {
  readonly kind: RouterKind;
  readonly ns: Netns;
  readonly config: RouterConfig;
  /** Temp dir with the generated config, sockets, pid files and the log. */
  readonly dir: string;
  readonly logFile: string;
  /** Every route in the router's BGP table for these families (default both), best and non-best. */
  routes(families?: readonly Family[]): Promise<BgpRoute[]>;
  /** Number of prefixes in the table, cheap enough to poll with 100,000 routes. */
  prefixCount(family: Family): Promise<number>;
  neighbors(): Promise<NeighborStatus[]>;
  /** Polls routes() until `predicate` holds; the error names the last table and the log's tail. */
  waitForRoutes(
    predicate: (routes: BgpRoute[]) => boolean,
    timeoutMs: number,
    families?: readonly Family[],
  ): Promise<BgpRoute[]>;
  /** Polls neighbors() until the session with `address` is in one of `states`. */
  waitForSessionState(
    address: string,
    states: SessionState | readonly SessionState[],
    timeoutMs: number,
  ): Promise<NeighborStatus>;
  /** SIGTERM, then SIGKILL after `graceMs`, for every daemon of the router. */
  stop(graceMs?: number): Promise<void>;
  /** SIGKILL, no goodbye (what a crash looks like to the neighbours). */
  kill(): Promise<void>;
  /**
   * BFD sessions (peer address, state in lower case: up, down, init, admindown), for routers with BFD
   * (FRR's bfdd, BIRD); absent for GoBGP, which has none.
   */
  bfdPeers?(): Promise<BfdPeer[]>;
  /** Process ids of the router's daemons (BGP daemon first), e.g. to pause one with SIGSTOP. */
  pids(): number[];
  /** The whole log so far. */
  log(): Promise<string>;
}

const DIR_NAME = /^beacon-(?:frr|bird|gobgp|bgp)-(\d+)-[A-Za-z0-9]{6}$/;

/**
 * A temp dir of its own for one router (or `beacon bgp`) instance, named after this process. Dirs stay
 * after the test, for their logs; those of test processes that have ended go when the next one starts.
 */
export async function routerDir(kind: RouterKind | 'bgp'): Promise<string> {
  const base = tmpdir();
  for (const name of await readdir(base).catch(() => [])) {
    const pid = Number(DIR_NAME.exec(name)?.[1]);
    if (pid && pid !== process.pid && !alive(pid))
      await rm(join(base, name), { recursive: true, force: true });
  }
  return mkdtemp(join(base, `beacon-${kind}-${process.pid}-`));
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Shared polling and error reporting; each router supplies the reads. */
export abstract class RouterBase implements Router {
  abstract readonly kind: RouterKind;
  readonly ns: Netns;
  readonly config: RouterConfig;
  readonly dir: string;
  readonly logFile: string;

  constructor(ns: Netns, config: RouterConfig, dir: string) {
    this.ns = ns;
    this.config = config;
    this.dir = dir;
    this.logFile = join(dir, 'router.log');
  }

  abstract routes(families?: readonly Family[]): Promise<BgpRoute[]>;
  abstract prefixCount(family: Family): Promise<number>;
  abstract neighbors(): Promise<NeighborStatus[]>;
  abstract stop(graceMs?: number): Promise<void>;
  abstract kill(): Promise<void>;
  abstract pids(): number[];

  async log(): Promise<string> {
    return readFile(this.logFile, 'utf8').catch(() => '');
  }

  private async failureReport(extra: string): Promise<string> {
    const log = await this.log();
    const tail = log.split('\n').slice(-40).join('\n');
    return `${extra}\n--- ${this.kind} in ${this.ns.name}, log ${this.logFile} (last 40 lines) ---\n${tail}`;
  }

  async waitForRoutes(
    predicate: (routes: BgpRoute[]) => boolean,
    timeoutMs: number,
    families: readonly Family[] = FAMILIES,
  ): Promise<BgpRoute[]> {
    let last: BgpRoute[] = [];
    let report = '';
    try {
      await waitFor(
        `${this.kind} routes to match`,
        async () => {
          last = await this.routes(families);
          return predicate(last);
        },
        timeoutMs,
        100,
        () => report,
      );
    } catch (err) {
      report = await this.failureReport(`last table: ${JSON.stringify(last, null, 1)}`);
      throw new Error(`${(err as Error).message}\n${report}`);
    }
    return last;
  }

  async waitForSessionState(
    address: string,
    states: SessionState | readonly SessionState[],
    timeoutMs: number,
  ): Promise<NeighborStatus> {
    const want = typeof states === 'string' ? [states] : states;
    let last: NeighborStatus | undefined;
    try {
      await waitFor(
        `${this.kind} session with ${address} to be ${want.join('|')}`,
        async () => {
          last = (await this.neighbors()).find((n) => sameAddress(n.address, address));
          return last !== undefined && want.includes(last.state);
        },
        timeoutMs,
      );
    } catch (err) {
      const report = await this.failureReport(`last neighbour status: ${JSON.stringify(last)}`);
      throw new Error(`${(err as Error).message}\n${report}`);
    }
    return last!;
  }
}

/** Compares addresses in any spelling (2001:db8::1 vs 2001:0db8:0:0::1). */
export function sameAddress(a: string, b: string): boolean {
  return canonicalAddress(a) === canonicalAddress(b);
}

/** The RFC 5952 spelling of an IPv6 address; IPv4 addresses unchanged. */
export function canonicalAddress(addr: string): string {
  if (!addr.includes(':')) return addr;
  try {
    // The URL parser applies RFC 5952 compression and lower case.
    return new URL(`http://[${addr}]/`).hostname.slice(1, -1);
  } catch {
    return addr.toLowerCase();
  }
}

/** "2001:DB8:0::/64" -> "2001:db8::/64". */
export function canonicalPrefix(prefix: string): string {
  const slash = prefix.lastIndexOf('/');
  if (slash < 0) return canonicalAddress(prefix);
  return `${canonicalAddress(prefix.slice(0, slash))}/${prefix.slice(slash + 1)}`;
}

export function familyOf(addressOrPrefix: string): Family {
  return addressOrPrefix.includes(':') ? 'ipv6' : 'ipv4';
}

/** Every family the neighbour exchanges (default both). */
export function neighborFamilies(n: NeighborConfig): Family[] {
  return n.families ?? ['ipv4', 'ipv6'];
}

export function holdTimeOf(n: NeighborConfig): number {
  return n.holdTime ?? 9;
}

/** The lowest TTL GTSM accepts from a neighbour `hops` away: 255 for one on the link. */
export function gtsmMinTtl(hops: number): number {
  return 256 - hops;
}

/** A keepalive interval a third of the hold time, at least 1 s (routers refuse 0 with a non-zero hold). */
export function keepaliveOf(n: NeighborConfig): number {
  return Math.max(1, Math.floor(holdTimeOf(n) / 3));
}

/** The longest host route a prefix may carry: /32 for IPv4, /128 for IPv6. */
export function hostLength(prefix: string): number {
  return prefix.includes(':') ? 128 : 32;
}

/** Sorts communities numerically part by part, so all routers report them in one order. */
export function sortCommunities(list: readonly string[]): string[] {
  const key = (c: string) => c.split(':').map(Number);
  return [...list].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    for (let i = 0; i < Math.max(ka.length, kb.length); i++) {
      const d = (ka[i] ?? 0) - (kb[i] ?? 0);
      if (d !== 0) return d;
    }
    return 0;
  });
}

/** Maps a router's own state names ("Established", "OpenSent", "BGP_FSM_ESTABLISHED", ...) to ours. */
export function normaliseState(raw: string): SessionState {
  const s = raw
    .toLowerCase()
    .replace(/^bgp_fsm_/, '')
    .replace(/[^a-z]/g, '');
  switch (s) {
    case 'established':
    case 'connect':
    case 'active':
    case 'opensent':
    case 'openconfirm':
      return s;
    default:
      return 'idle';
  }
}
