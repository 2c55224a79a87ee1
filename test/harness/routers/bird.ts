/**
 * BIRD 2 (Debian's bird2 2.0.12) in a test namespace: `bird -f` with its config, control socket and pid
 * file in the router's temp dir, and `birdc -s` to read it. BIRD 2.0.12 prints no JSON, so the table and the
 * sessions are parsed from `show route all` and `show protocols all`.
 *
 * BIRD imports nothing it is not told to: every channel carries an explicit import (and export) rule.
 */
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
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
  type NeighborConfig,
  type NeighborStatus,
  neighborFamilies,
  normaliseState,
  type OriginatedPrefix,
  RouterBase,
  type RouterConfig,
  routerDir,
  sortCommunities,
} from './router.ts';

const run = promisify(execFile);

/** The BGP protocol's name in BIRD's config for the i-th neighbour. */
export function birdProtocolName(i: number): string {
  return `beacon${i + 1}`;
}

function birdCommunity(c: string): string {
  return `(${c.split(':').join(', ')})`;
}

function originateBlock(o: OriginatedPrefix): string {
  const cmds: string[] = [];
  for (const c of o.communities ?? []) cmds.push(`bgp_community.add(${birdCommunity(c)});`);
  for (const c of o.largeCommunities ?? []) cmds.push(`bgp_large_community.add(${birdCommunity(c)});`);
  if (o.localPref !== undefined) cmds.push(`bgp_local_pref = ${o.localPref};`);
  if (o.med !== undefined) cmds.push(`bgp_med = ${o.med};`);
  return `  route ${o.prefix} blackhole${cmds.length ? ` { ${cmds.join(' ')} }` : ''};`;
}

function importRule(n: NeighborConfig, family: Family): string {
  if (!n.importPrefixes) return 'import all;';
  const ranges = n.importPrefixes.filter((p) => (p.includes(':') ? 'ipv6' : 'ipv4') === family);
  if (ranges.length === 0) return 'import none;';
  const len = family === 'ipv6' ? 128 : 32;
  // Host routes inside the ranges only: what Beacon announces, nothing else.
  return `import where net ~ [ ${ranges.map((r) => `${r}{${len},${len}}`).join(', ')} ];`;
}

/** bird.conf for a RouterConfig (BIRD 2.0 syntax). */
export function birdConfig(cfg: RouterConfig): string {
  const l: string[] = [];
  l.push(`router id ${cfg.routerId};`, 'log stderr all;', '');
  // Interfaces and their addresses: BIRD needs them to treat a neighbour (and a next hop) as on-link.
  l.push('protocol device {', '  scan time 10;', '}', '');
  for (const family of FAMILIES) {
    const routes = (cfg.originate ?? []).filter((o) => (o.prefix.includes(':') ? 'ipv6' : 'ipv4') === family);
    if (routes.length === 0) continue;
    l.push(`protocol static originate_${family === 'ipv4' ? 'v4' : 'v6'} {`, `  ${family};`);
    for (const o of routes) l.push(originateBlock(o));
    l.push('}', '');
  }
  if (cfg.neighbors.some((n) => n.bfd)) {
    l.push(
      'protocol bfd {',
      '  interface "*" {',
      '    min rx interval 100 ms;',
      '    min tx interval 100 ms;',
    );
    l.push('    multiplier 3;', '  };', '}', '');
  }
  cfg.neighbors.forEach((n, i) => {
    l.push(`protocol bgp ${birdProtocolName(i)} {`);
    l.push(`  local ${cfg.listenAddress ? `${cfg.listenAddress} ` : ''}as ${cfg.asn};`);
    l.push(`  neighbor ${n.address} as ${n.asn};`);
    // On the same link: next hops resolve directly, for iBGP too (whose default is a recursive lookup).
    l.push('  direct;');
    l.push(`  hold time ${holdTimeOf(n)};`, `  keepalive time ${keepaliveOf(n)};`);
    l.push('  connect delay time 1;', '  connect retry time 1;', '  error wait time 1, 5;');
    if (n.password !== undefined) l.push(`  password "${n.password}";`);
    if (n.passive) l.push('  passive on;');
    // BIRD's expected TTL is 255 for a direct neighbour, 256 minus `multihop` otherwise.
    if (n.ttlSecurity !== undefined) l.push('  ttl security on;');
    if (n.gracefulRestart)
      l.push('  graceful restart on;', `  graceful restart time ${n.restartTime ?? 120};`);
    if (n.bfd) l.push('  bfd on;');
    for (const family of neighborFamilies(n)) {
      l.push(`  ${family} {`, `    ${importRule(n, family)}`);
      l.push(`    export ${n.exportRoutes === false ? 'none' : 'all'};`);
      const nh = family === 'ipv6' ? cfg.ipv6NextHop : cfg.ipv4NextHop;
      if (nh && (n.address.includes(':') ? 'ipv6' : 'ipv4') !== family) l.push(`    next hop address ${nh};`);
      l.push('  };');
    }
    l.push('}', '');
  });
  return l.join('\n');
}

/** Parses `birdc show route all` (BIRD 2.0.12); `protoPeers` maps BGP protocol names to neighbour addresses. */
export function parseBirdRoutes(text: string, protoPeers: ReadonlyMap<string, string>): BgpRoute[] {
  const out: BgpRoute[] = [];
  let prefix = '';
  let cur: BgpRoute | undefined;
  const flush = () => {
    if (cur) out.push(cur);
    cur = undefined;
  };
  for (const raw of text.split('\n')) {
    if (raw.startsWith('Table ') || raw.startsWith('BIRD ') || raw.trim() === '') continue;
    // A route line: "<prefix> <dest> [<proto> <since>( from <addr>)?] <*| > (<pref>)( [<AS path info>])?";
    // further routes of the same prefix leave the prefix out and start with blanks.
    const m = /^(\S+)?\s+(\w+)\s+\[(\S+) [^\]]*?(?: from (\S+))?\]\s*(\*)?\s*\((\d+)(?:\/\S+)?\)/.exec(raw);
    if (m && !raw.startsWith('\t')) {
      flush();
      if (m[1]) prefix = canonicalPrefix(m[1]);
      const proto = m[3]!;
      const peer = protoPeers.get(proto);
      cur = {
        family: prefix.includes(':') ? 'ipv6' : 'ipv4',
        prefix,
        nextHops: [],
        asPath: [],
        communities: [],
        largeCommunities: [],
        localPref: undefined,
        med: undefined,
        stale: false,
        fromPeer: peer ? canonicalAddress(peer) : m[4] ? canonicalAddress(m[4]) : undefined,
        best: m[5] === '*',
      };
      continue;
    }
    if (!cur) continue;
    const attr = /^\s+(BGP\.\w+): ?(.*)$/.exec(raw);
    if (!attr) continue;
    const [, name, value] = attr as unknown as [string, string, string];
    switch (name) {
      case 'BGP.next_hop':
        cur.nextHops = value.split(/\s+/).filter(Boolean).map(canonicalAddress);
        break;
      case 'BGP.as_path':
        cur.asPath = value
          .split(/\s+/)
          .filter((w) => /^\d+$/.test(w))
          .map(Number);
        break;
      case 'BGP.community':
        cur.communities = sortCommunities(
          [...value.matchAll(/\((\d+),\s*(\d+)\)/g)].map((c) => `${c[1]}:${c[2]}`),
        );
        break;
      case 'BGP.large_community':
        cur.largeCommunities = sortCommunities(
          [...value.matchAll(/\((\d+),\s*(\d+),\s*(\d+)\)/g)].map((c) => `${c[1]}:${c[2]}:${c[3]}`),
        );
        break;
      case 'BGP.local_pref':
        cur.localPref = Number(value);
        break;
      case 'BGP.med':
        cur.med = Number(value);
        break;
    }
  }
  flush();
  return out;
}

/**
 * BGP protocols whose neighbour is in graceful restart. BIRD 2.0.12 marks no single route as stale in its
 * output, but every route of such a protocol is stale: BIRD keeps them from the moment the session drops
 * until the neighbour's End-of-RIB (when "Neighbor graceful restart active" goes away).
 */
export function birdGracefulRestartActive(text: string): Set<string> {
  const out = new Set<string>();
  for (const block of text.split(/\n(?=\S)/)) {
    const head = /^(\S+)\s+BGP\s/.exec(block);
    if (head && /^\s+Neighbor graceful restart active/m.test(block)) out.add(head[1]!);
  }
  return out;
}

/** Parses `birdc show protocols all`: one status per BGP protocol. */
export function parseBirdProtocols(text: string): NeighborStatus[] {
  const out: NeighborStatus[] = [];
  const blocks = text.split(/\n(?=\S)/);
  for (const block of blocks) {
    const head = /^(\S+)\s+BGP\s/.exec(block);
    if (!head) continue;
    const field = (name: string) => new RegExp(`^\\s+${name}:\\s*(.*)$`, 'm').exec(block)?.[1]?.trim();
    const address = field('Neighbor address');
    if (!address) continue;
    const state = normaliseState(field('BGP state') ?? 'idle');
    const hold = /\/(\d+)/.exec(field('Hold timer') ?? '');
    const imported = [...block.matchAll(/^\s+Routes:\s+(\d+) imported/gm)].map((m) => Number(m[1]));
    const asn = field('Neighbor AS');
    out.push({
      address: canonicalAddress(address),
      asn: asn ? Number(asn) : undefined,
      state,
      holdTime: state === 'established' && hold ? Number(hold[1]) : undefined,
      prefixesReceived: imported.length ? imported.reduce((a, b) => a + b, 0) : undefined,
      lastError: field('Last error'),
    });
  }
  return out;
}

export class BirdRouter extends RouterBase {
  readonly kind = 'bird' as const;
  private proc: TetheredProcess | undefined;
  private readonly protoPeers = new Map<string, string>();

  get socket(): string {
    return join(this.dir, 'bird.ctl');
  }

  /** birdc against this router; throws with BIRD's message when the command fails. */
  async birdc(command: string): Promise<string> {
    try {
      const { stdout } = await run('birdc', ['-s', this.socket, command], {
        timeout: 30_000,
        maxBuffer: 1024 * 1024 * 1024,
      });
      // birdc reports errors on stdout with a zero exit status.
      if (/^(?:syntax error|Unknown command)/m.test(stdout)) throw new Error(stdout);
      return stdout;
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`birdc ${command}: ${e.stderr || e.stdout || e.message}`);
    }
  }

  static async start(ns: Netns, cfg: RouterConfig): Promise<BirdRouter> {
    const r = new BirdRouter(ns, cfg, await routerDir('bird'));
    for (const [i, n] of cfg.neighbors.entries()) r.protoPeers.set(birdProtocolName(i), n.address);
    await r.launch();
    return r;
  }

  private async launch(): Promise<void> {
    const conf = join(this.dir, 'bird.conf');
    await writeFile(conf, birdConfig(this.config));
    const p = this.ns.spawn(
      'bird',
      'bird',
      ['-f', '-c', conf, '-s', this.socket, '-P', join(this.dir, 'bird.pid')],
      { logFile: this.logFile },
    );
    this.proc = p;
    await waitFor(
      `BIRD in ${this.ns.name} to answer`,
      async () => {
        if (p.hasExited()) throw new Error(`bird exited: ${p.tail()}`);
        return (await this.birdc('show status')).includes('Daemon is up and running');
      },
      15_000,
      20,
      () => p.tail(),
    );
  }

  async routes(families: readonly Family[] = FAMILIES): Promise<BgpRoute[]> {
    const out: BgpRoute[] = [];
    const restarting = birdGracefulRestartActive(await this.birdc('show protocols all'));
    const stalePeers = new Set([...restarting].map((p) => canonicalAddress(this.protoPeers.get(p) ?? '')));
    for (const f of families) {
      const text = await this.birdc(`show route all table master${f === 'ipv4' ? 4 : 6}`);
      for (const r of parseBirdRoutes(text, this.protoPeers)) {
        if (r.fromPeer !== undefined && stalePeers.has(r.fromPeer)) r.stale = true;
        out.push(r);
      }
    }
    return out;
  }

  async prefixCount(family: Family): Promise<number> {
    const text = await this.birdc(`show route table master${family === 'ipv4' ? 4 : 6} count`);
    const m = /(\d+) of \d+ routes for (\d+) networks/.exec(text);
    return m ? Number(m[2]) : 0;
  }

  async neighbors(): Promise<NeighborStatus[]> {
    return parseBirdProtocols(await this.birdc('show protocols all'));
  }

  /** BFD sessions (`show bfd sessions`): peer address and state (Up, Down, Init, AdminDown), lower case. */
  async bfdPeers(): Promise<BfdPeer[]> {
    const text = await this.birdc('show bfd sessions');
    const out: BfdPeer[] = [];
    for (const m of text.matchAll(/^(\S+)\s+\S+\s+(Up|Down|Init|AdminDown)\b/gm))
      out.push({ peer: canonicalAddress(m[1]!), status: m[2]!.toLowerCase() });
    return out;
  }

  async stop(graceMs = 3000): Promise<void> {
    await this.proc?.stop(graceMs);
  }

  pids(): number[] {
    return this.proc?.child.pid === undefined ? [] : [this.proc.child.pid];
  }

  async kill(): Promise<void> {
    if (!this.proc || this.proc.hasExited()) return;
    this.proc.child.kill('SIGKILL');
    await this.proc.exited;
  }
}
