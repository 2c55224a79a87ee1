/**
 * The BGP interop matrix for one router kind: Beacon's `beacon bgp` command in node namespaces against a
 * real router, everything read back from the router's own table and session state.
 *
 * One lab per router kind, one bridge, two routers and one Beacon node per case, so the cases share the
 * routers' start-up and each case only touches its own session:
 *
 *   R1 192.0.2.1  AS 64500        R2 192.0.2.2  AS 4200000001
 *   n11  AS 64512       -> R1   eBGP, both 2-octet ASNs (routes, withdraw, router's hold timer)
 *   n12  AS 4200000012  -> R1   eBGP, Beacon 4-octet, router 2-octet (AS_TRANS in OPEN)
 *   n13  AS 64500       -> R1   iBGP, 2-octet (LOCAL_PREF)
 *   n14  AS 4200000001  -> R2   iBGP, 4-octet (LOCAL_PREF)
 *   n15  AS 64512       -> R2   eBGP, Beacon 2-octet, router 4-octet (Beacon's own hold timer)
 *   n16  AS 64512       -> R1   MD5, the right password
 *   n17  AS 64512       -> R1   MD5, a wrong password
 *   n18  AS 64512       -> R1   graceful restart
 *   n19  AS 64512       -> R1   BFD 100 ms x 3, hold time 3600 s (FRR's bfdd and BIRD; GoBGP 3.10 has no BFD)
 *
 * Addresses: host h is 192.0.2.h/24 and 2001:db8::h/64; node h announces 198.51.100.h/32 and
 * 2001:db8:100::h/128.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Bridge, NetLab, type Netns, netnsUnavailable } from '../harness/netns.ts';
import { waitFor } from '../harness/process.ts';
import {
  type BgpRoute,
  gobgpLacksBfd,
  type NeighborConfig,
  type Router,
  type RouterKind,
  type SessionState,
  sameAddress,
  startRouter,
} from '../harness/routers/index.ts';
import { BeaconBgp, type BeaconBgpOptions } from './beacon-bgp.ts';

interface Host {
  ns: Netns;
  v4: string;
  v6: string;
}

interface NodeCase {
  host: number;
  asn: number;
  router: 1 | 2;
  holdTime?: number;
  password?: string;
  /** The password Beacon uses when it differs from the router's. */
  beaconPassword?: string;
  gracefulRestart?: boolean;
  bfd?: boolean;
}

const ROUTER_ASN = { 1: 64500, 2: 4200000001 } as const;
const MD5_SECRET = 'beacon-interop-md5';

const CASES: NodeCase[] = [
  { host: 11, asn: 64512, router: 1, holdTime: 3 },
  { host: 12, asn: 4200000012, router: 1 },
  { host: 13, asn: 64500, router: 1 },
  { host: 14, asn: 4200000001, router: 2 },
  { host: 15, asn: 64512, router: 2, holdTime: 3 },
  { host: 16, asn: 64512, router: 1, password: MD5_SECRET },
  { host: 17, asn: 64512, router: 1, password: MD5_SECRET, beaconPassword: 'not-the-secret' },
  { host: 18, asn: 64512, router: 1, gracefulRestart: true },
  // An hour of hold time: within the test only BFD can take the session down.
  { host: 19, asn: 64512, router: 1, bfd: true, holdTime: 3600 },
];

/** The routers' BFD timers (both harness configs use 100 ms x 3); Beacon asks for the same. */
const BFD_TIMERS = { intervalMs: 100, multiplier: 3 } as const;

const v4Of = (h: number) => `192.0.2.${h}`;
const v6Of = (h: number) => `2001:db8::${h}`;
const ibgp = (c: NodeCase) => c.asn === ROUTER_ASN[c.router];

/** What node `c` announces, and with which attributes. */
function announcement(c: NodeCase, prefixes?: string[]): BeaconBgpOptions {
  const peer = c.router;
  return {
    localAs: c.asn,
    peerAs: ROUTER_ASN[peer],
    peerAddress: v4Of(peer),
    routerId: v4Of(c.host),
    localAddress: v4Of(c.host),
    holdTime: c.holdTime ?? 9,
    ...(c.password !== undefined ? { password: c.beaconPassword ?? c.password } : {}),
    ...(c.gracefulRestart ? { gracefulRestart: 120 } : {}),
    ...(c.bfd ? { bfd: BFD_TIMERS } : {}),
    prefixes: prefixes ?? [`198.51.100.${c.host}/32`, `2001:db8:100::${c.host}/128`],
    communities: [`65000:${c.host}`, '65001:7'],
    largeCommunities: [`${c.asn}:1:${c.host}`],
    localPref: 200 + c.host,
    med: c.host,
  };
}

function routerNeighbor(c: NodeCase): NeighborConfig {
  return {
    address: v4Of(c.host),
    asn: c.asn,
    holdTime: c.holdTime ?? 9,
    ...(c.password !== undefined ? { password: c.password } : {}),
    ...(c.gracefulRestart ? { gracefulRestart: true } : {}),
    ...(c.bfd ? { bfd: true } : {}),
  };
}

/**
 * Why the router last took its session with `address` down, in its own words: FRR names the NOTIFICATION
 * it sent ("Cease/BFD Down"), BIRD its last error ("BFD session down").
 */
async function lastDownReason(r: Router, address: string): Promise<string | undefined> {
  return (await r.neighbors()).find((n) => sameAddress(n.address, address))?.lastError;
}

/** Polls every session of a router in the background and remembers every state each one was seen in. */
class SessionWatch {
  readonly seen = new Map<string, Set<SessionState>>();
  private stopped = false;
  private rounds = 0;
  private readonly loop: Promise<void>;

  constructor(router: Router) {
    this.loop = (async () => {
      while (!this.stopped) {
        try {
          const neighbors = await router.neighbors();
          this.rounds++;
          for (const n of neighbors) {
            let s = this.seen.get(n.address);
            if (!s) {
              s = new Set();
              this.seen.set(n.address, s);
            }
            s.add(n.state);
          }
        } catch {
          // The router may be paused or stopping; the next round tells.
        }
        await sleep(200);
      }
    })();
  }

  /** Resolves after one more complete poll, so a short window is watched at its edges too. */
  async nextRound(): Promise<void> {
    const target = this.rounds + 2;
    while (this.rounds < target && !this.stopped) await sleep(50);
  }

  /** Forgets what was seen, to watch one test's window. */
  reset(address: string): void {
    this.seen.set(address, new Set());
  }

  states(address: string): SessionState[] {
    return [...(this.seen.get(address) ?? [])];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
  }
}

const fromHost = (routes: BgpRoute[], h: number) => routes.filter((r) => r.fromPeer === v4Of(h));

// Why the matrix cannot run here: network namespaces need root.
const skip = await netnsUnavailable();

export function interopMatrix(kind: RouterKind): void {
  describe(`BGP interop: Beacon and ${kind}`, { timeout: 150_000 }, () => {
    const noBfd = kind === 'gobgp' ? gobgpLacksBfd() : undefined;
    const run = CASES.filter((c) => !(c.bfd && noBfd));
    /** Bridge port of each host, in the order they were plugged in, to cut a node's link. */
    const ports = new Map<number, number>();
    let bridge: Bridge;

    let lab: NetLab;
    const routers = new Map<1 | 2, Router>();
    const hosts = new Map<number, Host>();
    const beacons = new Map<number, BeaconBgp>();
    const watches = new Map<1 | 2, SessionWatch>();
    let started = 0;
    const router = (c: NodeCase) => routers.get(c.router)!;
    /** The session of node `c` comes (back) up; fails early, with the command's output, if it has exited. */
    const established = async (c: NodeCase, timeoutMs = 20_000) => {
      const b = beacons.get(c.host)!;
      const exited = b.proc.exited.then((code) => {
        throw new Error(
          `beacon bgp for n${c.host} exited (${code}) instead of keeping its session\n${b.tail()}`,
        );
      });
      return Promise.race([router(c).waitForSessionState(v4Of(c.host), 'established', timeoutMs), exited]);
    };
    const report = () => [...beacons.values()].map((b) => b.tail()).join('\n');

    before(async () => {
      if (skip) return;
      lab = await NetLab.create(`interop${kind}`);
      bridge = await lab.addBridge();
      for (const h of [1, 2, ...run.map((c) => c.host)]) {
        const ns = await lab.addNamespace(`h${h}`);
        ports.set(h, bridge.ports);
        await lab.attach(ns, bridge, { addresses: [`${v4Of(h)}/24`, `${v6Of(h)}/64`] });
        hosts.set(h, { ns, v4: v4Of(h), v6: v6Of(h) });
      }
      const started2 = await Promise.all(
        ([1, 2] as const).map((r) =>
          startRouter(kind, hosts.get(r)!.ns, {
            asn: ROUTER_ASN[r],
            routerId: v4Of(r),
            neighbors: run.filter((c) => c.router === r).map(routerNeighbor),
          }),
        ),
      );
      routers.set(1, started2[0]!);
      routers.set(2, started2[1]!);
      for (const r of [1, 2] as const) watches.set(r, new SessionWatch(routers.get(r)!));
      started = Date.now();
      for (const c of run) {
        beacons.set(
          c.host,
          await BeaconBgp.start(hosts.get(c.host)!.ns, announcement(c), `beacon-n${c.host}`),
        );
      }
    });

    after(async () => {
      for (const w of watches.values()) await w.stop();
      await lab?.cleanup();
    });

    const sessionCases = CASES.slice(0, 5);

    test('eBGP and iBGP sessions establish, with 2- and 4-octet ASNs on either side', { skip }, async () => {
      for (const c of sessionCases) {
        const status = await established(c);
        assert.equal(status.asn, c.asn, `n${c.host}: the router sees Beacon's real ASN`);
        assert.equal(status.holdTime, c.holdTime ?? 9, `n${c.host}: agreed hold time`);
      }
    });

    test('IPv4 and IPv6 prefixes arrive with next hop, AS path, communities, large communities, MED and local-pref', {
      skip,
    }, async () => {
      for (const c of sessionCases) {
        const a = announcement(c);
        const routes = fromHost(
          await router(c).waitForRoutes((rs) => fromHost(rs, c.host).length === 2, 15_000),
          c.host,
        );
        for (const prefix of a.prefixes!) {
          const r = routes.find((x) => x.prefix === prefix);
          assert.ok(r, `n${c.host}: ${prefix} in ${kind}'s table: ${JSON.stringify(routes)}`);
          const what = `n${c.host} ${prefix}`;
          assert.equal(
            r.nextHops[0],
            prefix.includes(':') ? v6Of(c.host) : v4Of(c.host),
            `${what}: next hop`,
          );
          assert.deepEqual(r.asPath, ibgp(c) ? [] : [c.asn], `${what}: AS path`);
          assert.deepEqual(r.communities, [...a.communities!].sort(), `${what}: communities`);
          assert.deepEqual(r.largeCommunities, a.largeCommunities, `${what}: large communities`);
          assert.equal(r.med, a.med, `${what}: MED`);
          if (ibgp(c)) assert.equal(r.localPref, a.localPref, `${what}: LOCAL_PREF on iBGP`);
          else assert.notEqual(r.localPref, a.localPref, `${what}: no LOCAL_PREF to an eBGP peer`);
          assert.equal(r.stale, false);
        }
      }
    });

    test("the router's prefix count (what the bench polls) is the number of prefixes in its table", {
      skip,
    }, async () => {
      for (const rt of routers.values()) {
        for (const family of ['ipv4', 'ipv6'] as const) {
          let table = 0;
          let counted = 0;
          await waitFor(
            `${kind} prefix count for ${family} to match its table`,
            async () => {
              table = new Set((await rt.routes([family])).map((x) => x.prefix)).size;
              counted = await rt.prefixCount(family);
              return table > 0 && counted === table;
            },
            5000,
            100,
            () => `table has ${table} prefixes, prefixCount says ${counted}`,
          );
        }
      }
    });

    test('withdrawing removes the prefixes while the session stays up', { skip }, async () => {
      const c = CASES[0]!;
      const r = router(c);
      await r.waitForRoutes((rs) => fromHost(rs, c.host).length === 2, 15_000);
      const watch = watches.get(c.router)!;
      watch.reset(v4Of(c.host));
      await watch.nextRound();
      beacons.get(c.host)!.toggleAnnouncements();
      await r.waitForRoutes((rs) => fromHost(rs, c.host).length === 0, 15_000);
      beacons.get(c.host)!.toggleAnnouncements();
      await r.waitForRoutes((rs) => fromHost(rs, c.host).length === 2, 15_000);
      await watch.nextRound();
      assert.deepEqual(watch.states(v4Of(c.host)), ['established'], 'the session never went down');
    });

    test('MD5: the right password establishes, a wrong one never does', { skip }, async () => {
      const [right, wrong] = [CASES[5]!, CASES[6]!];
      await established(right);
      await router(right).waitForRoutes((rs) => fromHost(rs, right.host).length === 2, 10_000);
      // The wrong one has been retrying since the start; give it at least 5 s in all.
      await sleep(Math.max(0, started + 5000 - Date.now()));
      const states = watches.get(wrong.router)!.states(v4Of(wrong.host));
      assert.ok(states.length > 0, 'the router was watched');
      assert.ok(!states.includes('established'), `a wrong password established: ${states.join(', ')}`);
    });

    test('graceful restart: the router keeps a killed speaker’s routes as stale, then takes the new table', {
      skip,
    }, async () => {
      const c = CASES[7]!;
      const r = router(c);
      const addr = v4Of(c.host);
      await r.waitForRoutes((rs) => fromHost(rs, c.host).length === 2, 20_000);
      await beacons.get(c.host)!.kill();
      await r.waitForSessionState(addr, ['idle', 'connect', 'active', 'opensent', 'openconfirm'], 15_000);
      const kept = fromHost(await r.routes(), c.host);
      assert.equal(kept.length, 2, `${kind} keeps both routes: ${JSON.stringify(kept)}`);
      assert.ok(
        kept.every((x) => x.stale),
        `${kind} marks them stale: ${JSON.stringify(kept)}`,
      );
      // Back with only the IPv4 prefix: the IPv6 one must go with Beacon's End-of-RIB.
      const restarted = await BeaconBgp.start(
        hosts.get(c.host)!.ns,
        { ...announcement(c, [`198.51.100.${c.host}/32`]), restarting: true },
        `beacon-n${c.host}-restarted`,
      );
      beacons.set(c.host, restarted);
      await r.waitForRoutes((rs) => {
        const mine = fromHost(rs, c.host);
        return mine.length === 1 && mine[0]!.prefix === `198.51.100.${c.host}/32` && !mine[0]!.stale;
      }, 20_000);
    });

    test('the router drops the session after its hold time when Beacon stops sending keepalives', {
      skip,
    }, async () => {
      const c = CASES[0]!;
      const r = router(c);
      await established(c);
      const b = beacons.get(c.host)!;
      // Only the keepalives stop: the process, its socket and its reads go on.
      const logBefore = (await b.log()).length;
      b.toggleKeepalives();
      try {
        await r.waitForSessionState(v4Of(c.host), ['idle', 'connect', 'active'], 20_000);
        // Why it dropped, in the router's own words on the wire: its hold timer expired (RFC 4271 6.5).
        await waitFor(
          'the router’s NOTIFICATION 4/0 Hold Timer Expired at Beacon',
          async () =>
            (await b.log())
              .slice(logBefore)
              .split('\n')
              .some((l) => l.startsWith('notification received 4/0 hold-timer-expired')),
          10_000,
          100,
          report,
        );
      } finally {
        b.toggleKeepalives();
      }
      // And the speaker comes back: it reconnects on its own.
      await established(c);
    });

    test('Beacon drops the session after its hold time when the router goes silent, then comes back', {
      skip,
    }, async () => {
      const c = CASES[4]!;
      const r = router(c);
      await established(c);
      const b = beacons.get(c.host)!;
      const daemon = r.pids()[0]!;
      const logBefore = (await b.log()).length;
      process.kill(daemon, 'SIGSTOP');
      try {
        await waitFor(
          'Beacon to report its hold timer expiring',
          async () => /hold[ _-]?timer[ _-]?expired/i.test((await b.log()).slice(logBefore)),
          8000,
          100,
          report,
        );
      } finally {
        process.kill(daemon, 'SIGCONT');
      }
      await established(c);
    });

    test('BFD: when a node’s link is cut, the router drops its routes through BFD, with an hour of hold time left', {
      skip: skip ?? noBfd,
    }, async (t) => {
      const c = CASES.find((x) => x.bfd)!;
      const r = router(c);
      const addr = v4Of(c.host);
      const b = beacons.get(c.host)!;
      const routerBfd = async () => (await r.bfdPeers!()).find((p) => sameAddress(p.peer, addr))?.status;
      await established(c);
      await r.waitForRoutes((rs) => fromHost(rs, c.host).length === 2, 15_000);
      await waitFor(
        `${kind}'s BFD session with ${addr} to be up`,
        async () => (await routerBfd()) === 'up',
        10_000,
        100,
        report,
      );
      assert.ok(
        (await b.lines()).some((l) => l.startsWith('bfd Up ')),
        `Beacon saw BFD come Up\n${b.tail()}`,
      );
      const port = ports.get(c.host)!;
      t.after(() => lab.setBridgePort(bridge, port, 'up'));
      // From the switch side: nothing inside the node's namespace notices, as when a node dies.
      const cut = performance.now();
      await lab.setBridgePort(bridge, port, 'down');
      // The hold time is an hour: routes gone within this wait can only be BFD's doing, and the router
      // says so. How fast it goes is a figure of bench/bfd.bench.ts, not a bound here.
      await r.waitForRoutes((rs) => fromHost(rs, c.host).length === 0, 30_000);
      t.diagnostic(
        `${kind} dropped n${c.host}'s routes ${(performance.now() - cut).toFixed(0)} ms after its link was cut`,
      );
      assert.match(
        (await lastDownReason(r, addr)) ?? '',
        /BFD/i,
        `${kind}'s reason for the session going down`,
      );
      assert.notEqual(await routerBfd(), 'up', `${kind}'s BFD session went down`);
      await waitFor(
        'Beacon to report BFD Down and reset its BGP session',
        async () => {
          const lines = await b.lines();
          return (
            lines.some((l) => l.startsWith('bfd Down from=Up')) &&
            lines.some((l) => l.startsWith('notification sent 6/10'))
          );
        },
        10_000,
        50,
        report,
      );
      // Link back: BFD and BGP come back by themselves, and so do the routes.
      await lab.setBridgePort(bridge, port, 'up');
      await established(c, 30_000);
      await r.waitForRoutes((rs) => fromHost(rs, c.host).length === 2, 10_000);
    });
  });
}
