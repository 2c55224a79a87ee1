/**
 * FRR (Debian's frr 8.4) in a test namespace: zebra and bgpd (and bfdd when a neighbour wants BFD) run as
 * direct daemons, no watchfrr, with their config, vty sockets, zserv socket and pid files in the router's
 * temp dir. vtysh talks to them through that socket dir (unix sockets need no namespace).
 *
 * The config keeps FRR's "traditional" defaults, the ones a network engineer's router has, including
 * `bgp ebgp-requires-policy`: explicit permit route-maps on every neighbour are what let eBGP routes in.
 */
import { execFile } from 'node:child_process';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Netns } from '../netns.ts';
import { type TetheredProcess, waitFor } from '../process.ts';
import {
  type BfdPeer,
  type BgpRoute,
  canonicalAddress,
  canonicalPrefix,
  FAMILIES,
  type Family,
  holdTimeOf,
  keepaliveOf,
  type NeighborStatus,
  neighborFamilies,
  normaliseState,
  RouterBase,
  type RouterConfig,
  routerDir,
  sortCommunities,
} from './router.ts';

const run = promisify(execFile);
const FRR_DAEMONS = '/usr/lib/frr';

/**
 * The explicit policies each neighbour gets, named once per distinct policy: BEACON-IN accepts only host
 * routes inside the neighbour's `importPrefixes` (BEACON-IN-2, ... for further distinct lists), BEACON-OUT
 * sends nothing; PERMIT-ALL-IN / PERMIT-ALL-OUT are the plain explicit permits.
 */
export function frrPolicyNames(cfg: RouterConfig): { imports: string[]; exports: string[] } {
  const lists: string[] = [];
  const imports = cfg.neighbors.map((n) => {
    if (!n.importPrefixes) return 'PERMIT-ALL-IN';
    const key = JSON.stringify(n.importPrefixes);
    if (!lists.includes(key)) lists.push(key);
    const k = lists.indexOf(key);
    return k === 0 ? 'BEACON-IN' : `BEACON-IN-${k + 1}`;
  });
  const exports = cfg.neighbors.map((n) => (n.exportRoutes === false ? 'BEACON-OUT' : 'PERMIT-ALL-OUT'));
  return { imports, exports };
}

/** bgpd's part of the config for a RouterConfig (FRR 8.x syntax). */
export function frrBgpdConfig(cfg: RouterConfig, hostname = 'router'): string {
  const l: string[] = [];
  const anyGr = cfg.neighbors.some((n) => n.gracefulRestart);
  const policy = frrPolicyNames(cfg);
  l.push('frr defaults traditional', `hostname ${hostname}`, '!');
  // ebgp-requires-policy (on by default) drops every eBGP route in and out unless a route-map is attached.
  const done = new Set<string>();
  cfg.neighbors.forEach((n, i) => {
    const name = policy.imports[i]!;
    if (done.has(name)) return;
    done.add(name);
    if (!n.importPrefixes) {
      l.push(`route-map ${name} permit 10`, 'exit', '!');
      return;
    }
    const v4 = n.importPrefixes.filter((p) => !p.includes(':'));
    const v6 = n.importPrefixes.filter((p) => p.includes(':'));
    const listName = name.replace('-IN', '');
    for (const [j, p] of v4.entries())
      l.push(`ip prefix-list ${listName}-V4 seq ${(j + 1) * 5} permit ${p} ge 32`);
    for (const [j, p] of v6.entries())
      l.push(`ipv6 prefix-list ${listName}-V6 seq ${(j + 1) * 5} permit ${p} ge 128`);
    l.push('!');
    if (v4.length)
      l.push(`route-map ${name} permit 10`, ` match ip address prefix-list ${listName}-V4`, 'exit');
    if (v6.length)
      l.push(`route-map ${name} permit 20`, ` match ipv6 address prefix-list ${listName}-V6`, 'exit');
    l.push('!');
  });
  for (const name of new Set(policy.exports)) {
    l.push(`route-map ${name} ${name === 'BEACON-OUT' ? 'deny' : 'permit'} 10`, 'exit', '!');
  }
  (cfg.originate ?? []).forEach((o, i) => {
    l.push(`route-map ORIGINATE-${i} permit 10`);
    if (o.communities?.length) l.push(` set community ${o.communities.join(' ')}`);
    if (o.largeCommunities?.length) l.push(` set large-community ${o.largeCommunities.join(' ')}`);
    if (o.localPref !== undefined) l.push(` set local-preference ${o.localPref}`);
    if (o.med !== undefined) l.push(` set metric ${o.med}`);
    l.push('exit', '!');
  });
  l.push(`router bgp ${cfg.asn}`);
  l.push(` bgp router-id ${cfg.routerId}`);
  l.push(' bgp ebgp-requires-policy');
  l.push(' no bgp default ipv4-unicast');
  // Originate the configured prefixes even though no IGP or static route backs them.
  if (cfg.originate?.length) l.push(' no bgp network import-check');
  if (anyGr) {
    const restart = Math.max(...cfg.neighbors.map((n) => n.restartTime ?? 120));
    l.push(' bgp graceful-restart', ` bgp graceful-restart restart-time ${restart}`);
    l.push(` bgp graceful-restart stalepath-time ${restart}`);
  }
  for (const n of cfg.neighbors) {
    const a = n.address;
    l.push(` neighbor ${a} remote-as ${n.asn}`);
    l.push(` neighbor ${a} timers ${keepaliveOf(n)} ${holdTimeOf(n)}`);
    // Traditional defaults wait 120 s between connection attempts and 30 s between eBGP updates.
    l.push(` neighbor ${a} timers connect 1`);
    l.push(` neighbor ${a} advertisement-interval 0`);
    if (n.password !== undefined) l.push(` neighbor ${a} password ${n.password}`);
    if (n.passive) l.push(` neighbor ${a} passive`);
    if (n.ttlSecurity !== undefined) l.push(` neighbor ${a} ttl-security hops ${n.ttlSecurity}`);
    if (n.gracefulRestart) l.push(` neighbor ${a} graceful-restart`);
    if (n.bfd) l.push(` neighbor ${a} bfd profile ${FRR_BFD_PROFILE}`);
  }
  for (const family of FAMILIES) {
    const neighbors = cfg.neighbors.filter((n) => neighborFamilies(n).includes(family));
    const originated = (cfg.originate ?? [])
      .map((o, i) => ({ o, i }))
      .filter(({ o }) => (o.prefix.includes(':') ? 'ipv6' : 'ipv4') === family);
    if (neighbors.length === 0 && originated.length === 0) continue;
    l.push(' !', ` address-family ${family} unicast`);
    for (const { o, i } of originated) l.push(`  network ${o.prefix} route-map ORIGINATE-${i}`);
    for (const n of neighbors) {
      const i = cfg.neighbors.indexOf(n);
      l.push(`  neighbor ${n.address} activate`);
      l.push(`  neighbor ${n.address} send-community all`);
      l.push(`  neighbor ${n.address} route-map ${policy.imports[i]} in`);
      l.push(`  neighbor ${n.address} route-map ${policy.exports[i]} out`);
    }
    l.push(' exit-address-family');
  }
  l.push('exit', '!');
  return `${l.join('\n')}\n`;
}

export const FRR_BFD_PROFILE = 'beacon';

/** bfdd's part: the profile the BGP neighbours name (bgpd creates the BFD sessions through zebra). */
export function frrBfdConfig(cfg: RouterConfig): string {
  if (!cfg.neighbors.some((n) => n.bfd)) return '';
  // 100 ms x 3 unless told: a dead link is noticed within 300 ms.
  return [
    'bfd',
    ` profile ${FRR_BFD_PROFILE}`,
    `  detect-multiplier ${cfg.bfdDetectMultiplier ?? 3}`,
    '  receive-interval 100',
    '  transmit-interval 100',
    ' exit',
    'exit',
    '!',
    '',
  ].join('\n');
}

/** The whole config as one integrated frr.conf, the way a router's operator keeps it (and the docs show). */
export function frrConfig(cfg: RouterConfig, hostname = 'router'): string {
  return frrBgpdConfig(cfg, hostname) + frrBfdConfig(cfg);
}

interface FrrPath {
  valid?: boolean;
  bestpath?: { overall?: boolean } | boolean;
  stale?: boolean;
  aspath?: { segments?: { type: string; list: number[] }[]; string?: string };
  community?: { list?: string[]; string?: string };
  largeCommunity?: { list?: string[]; string?: string };
  locPrf?: number;
  metric?: number;
  nexthops?: { ip?: string; afi?: string; scope?: string }[];
  peer?: { peerId?: string };
  local?: boolean;
  sourced?: boolean;
}

/** FRR prints well-known communities by name (JSON list and text differ); the other routers print numbers. */
const FRR_WELL_KNOWN: Record<string, string> = {
  internet: '0:0',
  gracefulShutdown: '65535:0',
  'graceful-shutdown': '65535:0',
  acceptown: '65535:1',
  'accept-own': '65535:1',
  routeFilterTranslatedV4: '65535:2',
  routeFilterV4: '65535:3',
  routeFilterTranslatedV6: '65535:4',
  routeFilterV6: '65535:5',
  llgrStale: '65535:6',
  'llgr-stale': '65535:6',
  noLlgr: '65535:7',
  'no-llgr': '65535:7',
  acceptownnexthop: '65535:8',
  'accept-own-nexthop': '65535:8',
  blackhole: '65535:666',
  noExport: '65535:65281',
  'no-export': '65535:65281',
  noAdvertise: '65535:65282',
  'no-advertise': '65535:65282',
  localAs: '65535:65283',
  'local-AS': '65535:65283',
  noPeer: '65535:65284',
  'no-peer': '65535:65284',
};

/** Parses `show bgp <family> unicast json detail` (FRR 8.4). */
export function parseFrrRoutes(json: string, family: Family): BgpRoute[] {
  const doc = JSON.parse(json) as { routes?: Record<string, (FrrPath & { prefix?: string })[]> };
  const out: BgpRoute[] = [];
  for (const [prefix, entries] of Object.entries(doc.routes ?? {})) {
    // The first element of each list is the prefix header, the rest are paths.
    for (const p of entries.filter((e) => e.aspath !== undefined || e.nexthops !== undefined)) {
      const words = (s: string | undefined) => (s ? s.split(' ').filter(Boolean) : []);
      const asPath = (p.aspath?.segments ?? []).flatMap((s) => s.list);
      const peer = p.peer?.peerId;
      out.push({
        family,
        prefix: canonicalPrefix(prefix),
        nextHops: (p.nexthops ?? []).map((h) => canonicalAddress(h.ip ?? '')).filter((ip) => ip !== ''),
        asPath,
        communities: sortCommunities(
          (p.community?.list ?? words(p.community?.string)).map((c) => FRR_WELL_KNOWN[c] ?? c),
        ),
        largeCommunities: sortCommunities(p.largeCommunity?.list ?? words(p.largeCommunity?.string)),
        localPref: p.locPrf,
        med: p.metric,
        stale: p.stale === true,
        fromPeer: p.sourced || p.local || !peer || peer === '0.0.0.0' ? undefined : canonicalAddress(peer),
        best: typeof p.bestpath === 'object' ? p.bestpath.overall === true : p.bestpath === true,
      });
    }
  }
  return out;
}

interface FrrNeighbor {
  remoteAs?: number;
  bgpState?: string;
  bgpTimerHoldTimeMsecs?: number;
  lastResetDueTo?: string;
  lastNotificationReason?: string;
  lastErrorCodeSubcode?: string;
  addressFamilyInfo?: Record<string, { acceptedPrefixCounter?: number }>;
}

/** Parses `show bgp neighbors json`. */
export function parseFrrNeighbors(json: string): NeighborStatus[] {
  const doc = JSON.parse(json) as Record<string, FrrNeighbor>;
  return Object.entries(doc)
    .filter(([, n]) => typeof n === 'object' && n !== null && 'bgpState' in n)
    .map(([address, n]) => {
      const state = normaliseState(n.bgpState ?? 'idle');
      const afi = Object.values(n.addressFamilyInfo ?? {});
      return {
        address: canonicalAddress(address),
        asn: n.remoteAs,
        state,
        holdTime:
          state === 'established' && n.bgpTimerHoldTimeMsecs !== undefined
            ? n.bgpTimerHoldTimeMsecs / 1000
            : undefined,
        prefixesReceived: afi.length
          ? afi.reduce((s, f) => s + (f.acceptedPrefixCounter ?? 0), 0)
          : undefined,
        lastError: n.lastNotificationReason ?? n.lastResetDueTo,
      };
    });
}

export class FrrRouter extends RouterBase {
  readonly kind = 'frr' as const;
  private readonly daemons: TetheredProcess[] = [];

  /** vtysh against this router's daemons; throws with FRR's message when the command fails. */
  async vtysh(...commands: string[]): Promise<string> {
    const args = ['--vty_socket', this.dir, ...commands.flatMap((c) => ['-c', c])];
    try {
      const { stdout } = await run('vtysh', args, { timeout: 30_000, maxBuffer: 1024 * 1024 * 1024 });
      return stdout;
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`vtysh ${commands.join('; ')}: ${e.stderr || e.stdout || e.message}`);
    }
  }

  /** Starts the daemons; resolves once bgpd answers on its vty socket with zebra connected. */
  static async start(
    ns: Netns,
    cfg: RouterConfig,
    opts: { installRoutes?: boolean } = {},
  ): Promise<FrrRouter> {
    const dir = await routerDir('frr');
    const r = new FrrRouter(ns, cfg, dir);
    await r.launch(opts.installRoutes ?? false);
    return r;
  }

  private daemon(name: string, args: string[]): TetheredProcess {
    // Two bind mounts, private to the mount namespace `ip netns exec` made for this daemon alone:
    // - /var/tmp, so FRR's per-daemon crash-log dirs (/var/tmp/frr/<daemon>.<pid>) land in the temp dir;
    // - /etc/group with root added to frrvty: FRR refuses to run as a user outside its vty group, and
    //   running as root matters because dropping to the frr user would clear the parent-death signal
    //   that tethers the daemon to the test (the kernel resets it on every credential change).
    const p = this.ns.spawn(
      `frr-${name}`,
      'sh',
      [
        '-c',
        'mount --bind "$0" /var/tmp && mount --bind "$1" /etc/group && shift && exec "$@"',
        join(this.dir, 'var-tmp'),
        join(this.dir, 'group'),
        join(FRR_DAEMONS, name),
        '-u',
        'root',
        '-g',
        'root',
        '-f',
        join(this.dir, `${name}.conf`),
        '-i',
        join(this.dir, `${name}.pid`),
        '-z',
        join(this.dir, 'zserv.api'),
        '--vty_socket',
        this.dir,
        '-A',
        '127.0.0.1',
        '-P',
        '0',
        '--log',
        'stdout',
        '--log-level',
        'debugging',
        ...args,
      ],
      { logFile: this.logFile },
    );
    this.daemons.push(p);
    return p;
  }

  private async launch(installRoutes: boolean): Promise<void> {
    const hostname = `${this.ns.name}`;
    await mkdir(join(this.dir, 'var-tmp'));
    await writeFile(join(this.dir, 'zebra.conf'), `hostname ${hostname}\n`);
    await writeFile(join(this.dir, 'bgpd.conf'), frrBgpdConfig(this.config, hostname));
    const withBfd = this.config.neighbors.some((n) => n.bfd);
    if (withBfd)
      await writeFile(join(this.dir, 'bfdd.conf'), `hostname ${hostname}\n${frrBfdConfig(this.config)}`);
    await writeFile(join(this.dir, 'group'), withRootInVtyGroup(await readFile('/etc/group', 'utf8')));

    const zebra = this.daemon('zebra', []);
    // bgpd only treats eBGP neighbours as connected once zebra has told it the interfaces, and its
    // zclient retries slowly, so zebra must be listening before bgpd starts.
    await this.waitUntil('zebra to listen', [zebra], () => socketReady(join(this.dir, 'zebra.vty')));
    const started = [zebra];
    if (withBfd) started.push(this.daemon('bfdd', ['--bfdctl', join(this.dir, 'bfdd.sock')]));
    started.push(this.daemon('bgpd', installRoutes ? [] : ['-n']));
    await this.waitUntil('bgpd and zebra to talk', started, async () => {
      const out = await this.vtysh('show bgp summary json');
      return out.includes('routerId') || out.includes('{');
    });
    if (withBfd)
      await this.waitUntil('bfdd to answer', started, () => this.vtysh('show bfd peers').then(() => true));
  }

  private async waitUntil(
    what: string,
    procs: TetheredProcess[],
    check: () => Promise<boolean>,
  ): Promise<void> {
    await waitFor(
      `FRR in ${this.ns.name}: ${what}`,
      async () => {
        const dead = procs.find((p) => p.hasExited());
        if (dead) throw new Error(`${dead.name} exited: ${dead.tail()}`);
        return check();
      },
      15_000,
      20,
      () => procs.map((p) => `--- ${p.name} ---\n${p.tail()}`).join('\n'),
    );
  }

  async routes(families: readonly Family[] = FAMILIES): Promise<BgpRoute[]> {
    const out: BgpRoute[] = [];
    for (const f of families)
      out.push(...parseFrrRoutes(await this.vtysh(`show bgp ${f} unicast json detail`), f));
    return out;
  }

  async prefixCount(family: Family): Promise<number> {
    // Not the summary's ribCount: that counts the table's tree nodes, inner ones too (199,999 for
    // 100,000 /32s), so it passes N while half the routes are still on their way.
    const doc = JSON.parse(await this.vtysh(`show bgp ${family} unicast statistics json`)) as Record<
      string,
      { totalPrefixes?: number }[] | undefined
    >;
    const key = family === 'ipv4' ? 'ipv4Unicast' : 'ipv6Unicast';
    return doc[key]?.[0]?.totalPrefixes ?? 0;
  }

  /**
   * bgpd's table version for a family: it goes up by one for every prefix whose best path bgpd has (re)run,
   * so `version >= before + N` says N changes are fully processed, not just received.
   */
  async tableVersion(family: Family): Promise<number> {
    const doc = JSON.parse(await this.vtysh(`show bgp ${family} unicast summary json`)) as {
      tableVersion?: number;
    };
    return doc.tableVersion ?? 0;
  }

  async neighbors(): Promise<NeighborStatus[]> {
    return parseFrrNeighbors(await this.vtysh('show bgp neighbors json'));
  }

  /** BFD sessions as bfdd reports them (`show bfd peers json`): peer address and up/down/init. */
  async bfdPeers(): Promise<BfdPeer[]> {
    const doc = JSON.parse(await this.vtysh('show bfd peers json')) as BfdPeer[];
    return doc.map((p) => ({ peer: canonicalAddress(p.peer), status: p.status }));
  }

  async stop(graceMs = 3000): Promise<void> {
    // bgpd first, so it says goodbye (NOTIFICATION Cease) while zebra still runs.
    for (const p of [...this.daemons].reverse()) await p.stop(graceMs);
  }

  pids(): number[] {
    // `ip netns exec` and `sh -c 'exec ...'` exec in place: the child's pid is the daemon's.
    return [...this.daemons]
      .reverse()
      .map((p) => p.child.pid)
      .filter((pid): pid is number => pid !== undefined);
  }

  async kill(): Promise<void> {
    for (const p of this.daemons) p.child.kill('SIGKILL');
    await Promise.all(this.daemons.map((p) => p.exited));
  }
}

async function socketReady(path: string): Promise<boolean> {
  return stat(path).then(
    (s) => s.isSocket(),
    () => false,
  );
}

/** /etc/group with root added to FRR's vty group. */
export function withRootInVtyGroup(groups: string): string {
  return groups
    .split('\n')
    .map((line) => {
      const f = line.split(':');
      if (f[0] !== 'frrvty' || f.length < 4) return line;
      const members = f[3]!.split(',').filter(Boolean);
      if (!members.includes('root')) members.push('root');
      f[3] = members.join(',');
      return f.join(':');
    })
    .join('\n');
}
