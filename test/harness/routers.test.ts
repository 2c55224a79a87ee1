/**
 * The router harness proven with routers alone: FRR, BIRD 2 and GoBGP peer with each other in namespaces
 * joined by a bridge, and each reads the others' routes back with the right attributes. What passes here is
 * what the BGP interop tests rely on when Beacon takes one side.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type Bridge, NetLab, type Netns, netnsUnavailable } from './netns.ts';
import { waitFor } from './process.ts';
import {
  type BgpRoute,
  BirdRouter,
  EXAMPLE_NODE_ASN,
  EXAMPLE_NODES,
  EXAMPLE_ROUTER,
  FrrRouter,
  GobgpRouter,
  ROUTER_KINDS,
  type Router,
  type RouterConfig,
  type RouterKind,
  startRouter,
} from './routers/index.ts';

const skip = await netnsUnavailable();

interface Member {
  ns: Netns;
  v4: string;
  v6: string;
}

/**
 * A lab with one bridge and a namespace per host number: host h has 192.0.2.h and 2001:db8::h
 * (`count` instead of a list: hosts 1..count).
 */
async function bridgedLab(
  tag: string,
  hosts: number | number[],
): Promise<{ lab: NetLab; bridge: Bridge; members: Member[] }> {
  const lab = await NetLab.create(tag);
  after(() => lab.cleanup());
  const br = await lab.addBridge();
  const members: Member[] = [];
  const list = typeof hosts === 'number' ? Array.from({ length: hosts }, (_, i) => i + 1) : hosts;
  for (const h of list) {
    const ns = await lab.addNamespace(`r${h}`);
    const v4 = `192.0.2.${h}`;
    const v6 = `2001:db8::${h}`;
    await lab.attach(ns, br, { addresses: [`${v4}/24`, `${v6}/64`] });
    members.push({ ns, v4, v6 });
  }
  return { lab, bridge: br, members };
}

function find(routes: BgpRoute[], prefix: string): BgpRoute | undefined {
  return routes.find((r) => r.prefix === prefix && r.fromPeer !== undefined);
}

function assertRoute(
  routes: BgpRoute[],
  prefix: string,
  want: { nextHop: string; asPath: number[]; communities: string[]; largeCommunities: string[] },
): void {
  const r = find(routes, prefix);
  assert.ok(r, `${prefix} missing from ${JSON.stringify(routes)}`);
  assert.equal(r.nextHops[0], want.nextHop, `${prefix} next hop`);
  assert.deepEqual(r.asPath, want.asPath, `${prefix} AS path`);
  assert.deepEqual(r.communities, want.communities, `${prefix} communities`);
  assert.deepEqual(r.largeCommunities, want.largeCommunities, `${prefix} large communities`);
  assert.equal(r.stale, false);
}

/** What side i (0 or 1) originates: an IPv4 and an IPv6 prefix, tagged with its own ASN. */
function originated(i: number, asn: number): RouterConfig['originate'] {
  return [
    {
      prefix: `198.51.100.${i * 64}/26`,
      // graceful-shutdown is well known: FRR prints it by name, the others by number.
      communities: [`${asn % 65536}:100`, `65000:${i + 1}`, '65535:0'],
      largeCommunities: [`${asn}:1:${i + 1}`],
    },
    {
      prefix: `2001:db8:${i + 1}::/48`,
      communities: [`65000:6${i}`],
      largeCommunities: [`${asn}:6:${i + 1}`],
    },
  ];
}

async function exchange(tag: string, kinds: [RouterKind, RouterKind]): Promise<void> {
  const { members } = await bridgedLab(tag, 2);
  // One 2-octet and one 4-octet ASN, so both encodings cross every pair.
  const asns = [64500, 4200000001];
  const routers = await Promise.all(
    kinds.map((kind, i) => {
      const me = members[i]!;
      const other = members[1 - i]!;
      return startRouter(kind, me.ns, {
        asn: asns[i]!,
        routerId: me.v4,
        ipv4NextHop: me.v4,
        ipv6NextHop: me.v6,
        neighbors: [{ address: other.v4, asn: asns[1 - i]! }],
        originate: originated(i, asns[i]!),
      });
    }),
  );
  for (let i = 0; i < 2; i++) {
    const me = routers[i]!;
    const other = members[1 - i]!;
    // A bound, not a figure: on a loaded CI machine a collision or a slow daemon start costs retries.
    const status = await me.waitForSessionState(other.v4, 'established', 40_000);
    assert.equal(status.asn, asns[1 - i]);
    assert.equal(status.holdTime, 9);
    const theirs = originated(1 - i, asns[1 - i]!)!;
    const routes = await me.waitForRoutes(
      (rs) => theirs.every((o) => find(rs, o.prefix) !== undefined),
      10_000,
    );
    for (const o of theirs) {
      assertRoute(routes, o.prefix, {
        nextHop: o.prefix.includes(':') ? other.v6 : other.v4,
        asPath: [asns[1 - i]!],
        communities: o.communities!,
        largeCommunities: o.largeCommunities!,
      });
    }
  }
}

/**
 * The README's router config (EXAMPLE_ROUTER) run as is, with an FRR at the first node's address standing
 * in for Beacon (FRR retries its connection every second, GoBGP only every few): the router takes the host routes inside the pools, refuses everything else, and sends none
 * of its own routes back.
 */
async function readmePolicy(kind: RouterKind): Promise<void> {
  const { members } = await bridgedLab(`readme${kind}`, [1, 11]);
  const [r, node] = members as [Member, Member];
  assert.equal(r.v4, EXAMPLE_ROUTER.routerId);
  assert.equal(node.v4, EXAMPLE_NODES[0]);
  const accepted = ['198.51.100.10/32', '2001:db8:100::10/128'];
  const refused = [
    '198.51.100.0/24',
    '198.51.100.128/25',
    '192.0.2.200/32',
    '2001:db8:100::/64',
    '2001:db8:200::1/128',
  ];
  const [router, standIn] = await Promise.all([
    startRouter(kind, r.ns, {
      ...EXAMPLE_ROUTER,
      ipv4NextHop: r.v4,
      ipv6NextHop: r.v6,
      // Something the router could send, to prove the export policy sends nothing.
      originate: [{ prefix: '192.0.2.128/25' }, { prefix: '2001:db8:ff::/48' }],
    }),
    FrrRouter.start(node.ns, {
      asn: EXAMPLE_NODE_ASN,
      routerId: node.v4,
      ipv4NextHop: node.v4,
      ipv6NextHop: node.v6,
      neighbors: [{ address: r.v4, asn: EXAMPLE_ROUTER.asn }],
      originate: [...refused, ...accepted].map((prefix) => ({ prefix })),
    }),
  ]);
  const fromNode = (rs: BgpRoute[]) =>
    rs
      .filter((x) => x.fromPeer === node.v4)
      .map((x) => x.prefix)
      .sort();
  await router.waitForRoutes((rs) => fromNode(rs).length >= accepted.length, 15_000);
  // Everything the stand-in has goes out at once when the session comes up; give stragglers a moment.
  await sleep(1000);
  assert.deepEqual(fromNode(await router.routes()), [...accepted].sort());
  assert.deepEqual(
    (await standIn.routes()).filter((x) => x.fromPeer !== undefined),
    [],
    `${kind} must send nothing to Beacon`,
  );
}

describe('router harness', { skip, concurrency: true, timeout: 90_000 }, () => {
  test('FRR and BIRD exchange IPv4 and IPv6 routes with communities', () =>
    exchange('frrbird', ['frr', 'bird']));

  test('FRR and GoBGP exchange IPv4 and IPv6 routes with communities', () =>
    exchange('frrgobgp', ['frr', 'gobgp']));

  test('BIRD and GoBGP exchange IPv4 and IPv6 routes with communities', () =>
    exchange('birdgobgp', ['bird', 'gobgp']));

  for (const kind of ROUTER_KINDS) {
    test(`${kind} with the README's config takes only host routes inside the pools and sends nothing back`, () =>
      readmePolicy(kind));
  }

  test('FRR and BIRD with a TCP MD5 password: the right one establishes, a wrong one never', async () => {
    const { members } = await bridgedLab('md5', 3);
    const [a, b, c] = members as [Member, Member, Member];
    const password = 'beacon-md5-secret';
    const [frr] = await Promise.all([
      FrrRouter.start(a.ns, {
        asn: 64500,
        routerId: a.v4,
        neighbors: [
          { address: b.v4, asn: 64501, password },
          { address: c.v4, asn: 64502, password },
        ],
        originate: [{ prefix: '198.51.100.0/24' }],
      }),
      BirdRouter.start(b.ns, {
        asn: 64501,
        routerId: b.v4,
        neighbors: [{ address: a.v4, asn: 64500, password }],
      }),
      BirdRouter.start(c.ns, {
        asn: 64502,
        routerId: c.v4,
        neighbors: [{ address: a.v4, asn: 64500, password: 'not-the-secret' }],
      }),
    ]);
    await frr.waitForSessionState(b.v4, 'established', 15_000);
    // Both BIRDs retry every second; give the wrong one several attempts, watching all the time.
    const until = Date.now() + 4000;
    while (Date.now() < until) {
      const wrong = (await frr.neighbors()).find((n) => n.address === c.v4);
      assert.ok(wrong, 'FRR lists the neighbour with the wrong password');
      assert.notEqual(wrong.state, 'established', 'a wrong MD5 password must never establish');
      await sleep(200);
    }
  });

  test('FRR and BIRD keep a killed neighbour’s routes as stale through graceful restart, then refresh', async () => {
    const { members } = await bridgedLab('gr', 3);
    const [a, b, c] = members as [Member, Member, Member];
    const speaker = (originate: RouterConfig['originate']): RouterConfig => ({
      asn: 64503,
      routerId: c.v4,
      ipv4NextHop: c.v4,
      ipv6NextHop: c.v6,
      neighbors: [
        { address: a.v4, asn: 64500, gracefulRestart: true },
        { address: b.v4, asn: 64501, gracefulRestart: true },
      ],
      originate,
    });
    const both = [
      { prefix: '198.51.100.0/24', communities: ['64503:1'] },
      { prefix: '2001:db8:3::/48', communities: ['64503:2'] },
    ];
    const listeners: Router[] = await Promise.all([
      FrrRouter.start(a.ns, {
        asn: 64500,
        routerId: a.v4,
        neighbors: [{ address: c.v4, asn: 64503, gracefulRestart: true }],
      }),
      BirdRouter.start(b.ns, {
        asn: 64501,
        routerId: b.v4,
        neighbors: [{ address: c.v4, asn: 64503, gracefulRestart: true }],
      }),
    ]);
    const gobgp = await GobgpRouter.start(c.ns, speaker(both));
    const fromC = (rs: BgpRoute[]) => rs.filter((r) => r.fromPeer === c.v4);
    for (const r of listeners) await r.waitForRoutes((rs) => fromC(rs).length === 2, 15_000);

    await gobgp.kill();
    for (const r of listeners) {
      await r.waitForSessionState(c.v4, ['idle', 'connect', 'active'], 5000);
      const kept = fromC(await r.routes());
      assert.equal(kept.length, 2, `${r.kind} keeps both routes through the restart`);
      assert.ok(
        kept.every((x) => x.stale),
        `${r.kind} marks them stale: ${JSON.stringify(kept)}`,
      );
    }

    // The restarted speaker announces only the IPv4 prefix: the IPv6 one must go at its End-of-RIB.
    await GobgpRouter.start(c.ns, speaker(both.slice(0, 1)), { restarting: true });
    for (const r of listeners) {
      await r.waitForRoutes((rs) => {
        const mine = fromC(rs);
        return mine.length === 1 && mine[0]!.prefix === '198.51.100.0/24' && !mine[0]!.stale;
      }, 15_000);
    }
  });

  test('FRR and BIRD drop a neighbour that stops sending keepalives after the hold time', async () => {
    const { members } = await bridgedLab('hold', 3);
    const [a, b, c] = members as [Member, Member, Member];
    const listeners: Router[] = await Promise.all([
      FrrRouter.start(a.ns, {
        asn: 64500,
        routerId: a.v4,
        neighbors: [{ address: c.v4, asn: 64503, holdTime: 3 }],
      }),
      BirdRouter.start(b.ns, {
        asn: 64501,
        routerId: b.v4,
        neighbors: [{ address: c.v4, asn: 64503, holdTime: 3 }],
      }),
    ]);
    const gobgp = await GobgpRouter.start(c.ns, {
      asn: 64503,
      routerId: c.v4,
      neighbors: [
        { address: a.v4, asn: 64500, holdTime: 3 },
        { address: b.v4, asn: 64501, holdTime: 3 },
      ],
    });
    for (const r of listeners) await r.waitForSessionState(c.v4, 'established', 15_000);
    const pid = gobgp.pids()[0]!;
    process.kill(pid, 'SIGSTOP');
    try {
      await Promise.all(
        listeners.map((r) => r.waitForSessionState(c.v4, ['idle', 'connect', 'active'], 20_000)),
      );
      // Why each dropped it, in its own words: the hold timer expired (not, say, a TCP error).
      for (const r of listeners) {
        const n = (await r.neighbors()).find((x) => x.address === c.v4);
        assert.match(n?.lastError ?? '', /hold time/i, `${r.kind}: ${n?.lastError}`);
      }
    } finally {
      process.kill(pid, 'SIGCONT');
    }
  });

  test('FRR and BIRD with BFD: cutting the link drops the routes through BFD, long before the hold time', async () => {
    const { lab, bridge, members } = await bridgedLab('bfd', 2);
    const [a, b] = members as [Member, Member];
    const [frr, bird] = await Promise.all([
      FrrRouter.start(a.ns, {
        asn: 64500,
        routerId: a.v4,
        neighbors: [{ address: b.v4, asn: 64501, bfd: true, holdTime: 3600 }],
      }),
      BirdRouter.start(b.ns, {
        asn: 64501,
        routerId: b.v4,
        neighbors: [{ address: a.v4, asn: 64500, bfd: true, holdTime: 3600 }],
        originate: [{ prefix: '198.51.100.0/24' }],
      }),
    ]);
    await frr.waitForRoutes((rs) => find(rs, '198.51.100.0/24') !== undefined, 15_000);
    const bfdUp = async () =>
      (await frr.bfdPeers()).some((p) => p.peer === b.v4 && p.status === 'up') &&
      (await bird.bfdPeers()).some((p) => p.peer === a.v4 && p.status === 'up');
    await waitFor('BFD up on both sides', bfdUp, 10_000);
    await lab.setBridgePort(bridge, 1, 'down');
    // With an hour of hold time, a route gone within this wait went through BFD; FRR says so.
    await frr.waitForRoutes((rs) => find(rs, '198.51.100.0/24') === undefined, 30_000);
    // FRR's words for the last NOTIFICATION it sent: "Cease/BFD Down" (RFC 9384).
    const n = (await frr.neighbors()).find((x) => x.address === b.v4);
    assert.match(n?.lastError ?? '', /BFD/i, `FRR: ${n?.lastError}`);
  });
});
