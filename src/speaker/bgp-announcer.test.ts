/**
 * The announcer keeps a session for as long as its peer's settings stay the same: the speaker calls
 * `setPeers` on every configuration change, so a session that restarted on an unchanged config would flap
 * with every change to a pool or advertisement. The peer here is a plain TCP server on loopback
 * that counts the connections the announcer opens and notices when one closes.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { capturingLogger, duplicateKeys } from '../../test/harness/log-lines.ts';
import { waitFor } from '../../test/harness/process.ts';
import { BgpListener, BgpSession, formatPrefix } from '../bgp/index.ts';
import { FakeClock } from '../time/clock.ts';
import { BgpAnnouncer, type DesiredRoute, type PeerConfig } from './bgp-announcer.ts';
import { speakerMetrics } from './metrics.ts';

interface CountingPeer {
  server: Server;
  port: number;
  sockets: Socket[];
  closed: number;
}

async function countingPeer(): Promise<CountingPeer> {
  const peer: CountingPeer = { server: createServer(), port: 0, sockets: [], closed: 0 };
  peer.server.on('connection', (s) => {
    peer.sockets.push(s);
    s.on('error', () => {});
    // Read and drop what the session sends (its OPEN, then a CEASE), so its close is seen.
    s.resume();
    s.on('close', () => {
      peer.closed++;
    });
  });
  peer.server.listen(0, '127.0.0.1');
  await once(peer.server, 'listening');
  peer.port = (peer.server.address() as AddressInfo).port;
  return peer;
}

/** Puts routes on peers' sessions and sends them, as the applier does after deciding them. */
function announceAll(announcer: BgpAnnouncer, byPeer: Record<string, readonly DesiredRoute[]>): void {
  for (const [peer, routes] of Object.entries(byPeer)) for (const r of routes) announcer.announce(peer, r);
  announcer.flush();
}

function config(port: number, over: Partial<PeerConfig['spec']> = {}): PeerConfig {
  return {
    name: 'router',
    spec: { myASN: 64512, peerASN: 64500, peerAddress: '127.0.0.1', peerPort: port, ...over },
  };
}

test('an unchanged peer keeps its session through repeated reconciles; a changed one gets a new session', {
  timeout: 20_000,
}, async () => {
  const peer = await countingPeer();
  const { announcer } = recordingAnnouncer();
  try {
    announcer.setPeers([config(peer.port)]);
    await waitFor('the first connection', () => peer.sockets.length === 1, 5000, 10);
    // Fresh but equal objects each time, as the speaker builds them from its caches.
    for (let i = 0; i < 5; i++) {
      announcer.setPeers([config(peer.port)]);
      await sleep(20);
    }
    announceAll(announcer, { router: [{ prefix: '198.51.100.1/32', communities: [] }] });
    announcer.setPeers([config(peer.port)]);
    assert.equal(announcer.states().length, 1);

    announcer.setPeers([config(peer.port, { holdTime: '30s' })]);
    await waitFor('a second connection for the changed settings', () => peer.sockets.length >= 2, 5000, 10);
    await waitFor('the old connection to close', () => peer.closed === 1, 5000, 10);
    assert.equal(peer.sockets.length, 2, 'equal settings must never have reconnected');
  } finally {
    await announcer.stop();
    for (const s of peer.sockets) s.destroy();
    peer.server.close();
  }
});

/** A passive BGP router on 127.0.0.2 that accepts the announcer's sessions from the given source addresses. */
async function loopbackRouter(asn: number, peers: { from: string; asn: number }[]) {
  const quiet = pino({ level: 'silent' });
  const listener = await BgpListener.listen({ host: '127.0.0.2', port: 0, log: quiet });
  const received = new Map<string, Set<string>>();
  const sessions = peers.map((p) => {
    const s = new BgpSession({
      localAs: asn,
      peerAs: p.asn,
      peerAddress: p.from,
      routerId: '192.0.2.254',
      passive: true,
      log: quiet,
    });
    const got = new Set<string>();
    received.set(p.from, got);
    s.on('update', (u) => {
      for (const x of u.nlri) got.add(formatPrefix(x));
      for (const x of u.withdrawn) got.delete(formatPrefix(x));
    });
    listener.add(s);
    s.start();
    return s;
  });
  return {
    port: listener.address.port,
    received,
    async close() {
      await Promise.all(sessions.map((s) => s.stop()));
      await listener.close();
    },
  };
}

function recordingAnnouncer() {
  const announcer = new BgpAnnouncer({
    node: 'node-1',
    routerId: '192.0.2.11',
    log: pino({ level: 'silent' }),
    restarted: false,
    onStateChange: () => {},
  });
  const row = (peer: string) => announcer.states().find((s) => s.peer === peer);
  return { announcer, row };
}

test('one peer whose session cannot be created does not stop the others: it gets a row with the reason', {
  timeout: 20_000,
}, async () => {
  const router = await loopbackRouter(64500, [{ from: '127.0.0.1', asn: 64512 }]);
  const { announcer, row } = recordingAnnouncer();
  const good: PeerConfig = {
    name: 'good',
    spec: {
      myASN: 64512,
      peerASN: 64500,
      peerAddress: '127.0.0.2',
      peerPort: router.port,
      sourceAddress: '127.0.0.1',
    },
  };
  // What a CRD from before the routerID rule let through; the session refuses it in its constructor.
  const bad: PeerConfig = {
    name: 'bad',
    spec: { myASN: 64512, peerASN: 64500, peerAddress: '127.0.0.2', routerID: '0.0.0.0' },
  };
  try {
    announcer.setPeers([bad, good]);
    announceAll(announcer, { good: [{ prefix: '198.51.100.1/32', communities: [] }] });
    await waitFor(
      'the good peer to deliver its route',
      () => !!router.received.get('127.0.0.1')?.has('198.51.100.1/32'),
      10_000,
      10,
    );
    assert.equal(row('good')?.state, 'Established');
    assert.equal(row('good')?.lastError, undefined);
    assert.equal(row('bad')?.state, 'Idle');
    assert.match(row('bad')?.lastError ?? '', /^cannot start the session: router id must be a non-zero/);
    assert.equal(row('bad')?.prefixes, 0);
  } finally {
    await announcer.stop();
    await router.close();
  }
});

test('lastError says why a session is not up (refused connect, NOTIFICATION) and is cleared once it is; PREFIXES counts what the router was sent', {
  timeout: 30_000,
}, async () => {
  // A port nobody listens on: the kernel answers the SYN with a reset.
  const probe = createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const router = await loopbackRouter(64500, [
    { from: '127.0.0.1', asn: 64512 },
    { from: '127.0.0.3', asn: 64512 },
  ]);
  const { announcer, row } = recordingAnnouncer();
  const peer = (name: string, over: Partial<PeerConfig['spec']>): PeerConfig => ({
    name,
    spec: { myASN: 64512, peerASN: 64500, peerAddress: '127.0.0.2', peerPort: router.port, ...over },
  });
  const routes = [
    { prefix: '198.51.100.1/32', communities: [] },
    { prefix: '198.51.100.2/32', communities: ['65535:65281'] },
  ];
  try {
    announcer.setPeers([
      peer('refused', { peerAddress: '127.0.0.1', peerPort: closedPort }),
      // The router's AS is 64500: this node expects 64501 and says so in a NOTIFICATION.
      peer('wrong-as', { peerASN: 64501, sourceAddress: '127.0.0.1' }),
    ]);
    announceAll(announcer, { 'wrong-as': routes });
    await waitFor(
      'both failures in the rows',
      () => !!row('refused')?.lastError && !!row('wrong-as')?.lastError,
      10_000,
      10,
    );
    assert.match(
      row('refused')!.lastError!,
      new RegExp(`^127\\.0\\.0\\.1:${closedPort}: connection refused`),
    );
    assert.equal(
      row('wrong-as')!.lastError,
      'sent NOTIFICATION 2/2 open-message-error/bad-peer-as: peer AS 64500, expected 64501',
    );
    assert.equal(row('wrong-as')!.prefixes, 0, 'nothing reached the router');

    announcer.setPeers([
      peer('refused', { peerAddress: '127.0.0.1', peerPort: closedPort }),
      peer('wrong-as', { sourceAddress: '127.0.0.1' }),
      // dynamicASN external: any AS but our own, here the router's 64500.
      {
        name: 'dynamic',
        spec: {
          myASN: 64512,
          dynamicASN: 'external',
          peerAddress: '127.0.0.2',
          peerPort: router.port,
          sourceAddress: '127.0.0.3',
        },
      },
    ]);
    announceAll(announcer, { 'wrong-as': routes, dynamic: routes.slice(0, 1) });
    await waitFor(
      'the router to hold the routes',
      () => router.received.get('127.0.0.1')?.size === 2 && router.received.get('127.0.0.3')?.size === 1,
      10_000,
      10,
    );
    await waitFor(
      'the rows to count them',
      () => row('wrong-as')?.prefixes === 2 && row('dynamic')?.prefixes === 1,
      5000,
      10,
    );
    assert.equal(row('wrong-as')?.lastError, undefined, 'cleared once established');
    assert.equal(row('dynamic')?.state, 'Established');
    assert.equal(row('refused')?.prefixes, 0);
  } finally {
    await announcer.stop();
    await router.close();
  }
});

test('per-peer metrics follow the session: up, prefixes, UPDATEs as the router counts them; no log key twice', {
  timeout: 20_000,
}, async () => {
  const quiet = pino({ level: 'silent' });
  const listener = await BgpListener.listen({ host: '127.0.0.2', port: 0, log: quiet });
  const router = new BgpSession({
    localAs: 64500,
    peerAs: 64512,
    peerAddress: '127.0.0.1',
    routerId: '192.0.2.254',
    passive: true,
    log: quiet,
  });
  listener.add(router);
  router.start();
  let updatesAtRouter = 0;
  const received = new Set<string>();
  router.on('update', (u) => {
    updatesAtRouter++;
    for (const p of u.nlri) received.add(formatPrefix(p));
  });
  // Bound the way the speaker binds its logger (component from createLogger, node from the Speaker).
  const { log, lines } = capturingLogger('debug', { component: 'speaker' });
  const metrics = speakerMetrics();
  const value = async (name: string, peer = 'router') =>
    (await metrics.registry.getSingleMetric(name)?.get())?.values.find((v) => v.labels.peer === peer)?.value;
  const announcer = new BgpAnnouncer({
    node: 'node-1',
    routerId: '192.0.2.11',
    log: log.child({ node: 'node-1' }),
    restarted: false,
    metrics,
    onStateChange: () => {},
  });
  const peerConfig: PeerConfig = {
    name: 'router',
    spec: {
      myASN: 64512,
      peerASN: 64500,
      peerAddress: '127.0.0.2',
      peerPort: listener.address.port,
      sourceAddress: '127.0.0.1',
    },
  };
  try {
    announcer.setPeers([peerConfig]);
    assert.equal(await value('beacon_speaker_bgp_session_up'), 0);
    await waitFor('Established', () => router.state === 'Established', 10_000, 10);
    await waitFor('the gauge', async () => (await value('beacon_speaker_bgp_session_up')) === 1, 5000, 10);
    announceAll(announcer, {
      router: [
        { prefix: '198.51.100.1/32', communities: [] },
        { prefix: '198.51.100.2/32', communities: ['65000:1'] },
      ],
    });
    // The gauge counts what the session has sent, not what it was asked to send.
    await waitFor('both routes at the router', () => received.size === 2, 5000, 10);
    await waitFor(
      'the prefix gauge',
      async () => (await value('beacon_speaker_bgp_announced_prefixes')) === 2,
      5000,
      10,
    );
    // Whatever else is in flight (an End-of-RIB) arrives well within this.
    await sleep(300);
    assert.equal(
      await value('beacon_speaker_bgp_updates_sent_total'),
      updatesAtRouter,
      'UPDATEs counted as the router received them',
    );
    announcer.setPeers([]);
    assert.equal(await value('beacon_speaker_bgp_session_up'), undefined, 'a removed peer has no series');
    assert.equal(await value('beacon_speaker_bgp_announced_prefixes'), undefined);
  } finally {
    await announcer.stop();
    await router.stop();
    await listener.close();
  }
  assert.ok(
    lines.some((l) => l.includes('"bgp session state"')),
    'the announcer logged',
  );
  assert.deepEqual(
    lines.flatMap((l) => (duplicateKeys(l).length ? [l] : [])),
    [],
    'no line names a key twice',
  );
});

test('a prefix count that changes with every round of UPDATEs is published once per second of the clock, a state change at once', {
  timeout: 20_000,
}, async () => {
  const router = await loopbackRouter(64500, [{ from: '127.0.0.1', asn: 64512 }]);
  const clock = new FakeClock();
  const published: { state: string; prefixes: number }[] = [];
  const announcer = new BgpAnnouncer({
    node: 'node-1',
    routerId: '192.0.2.11',
    log: pino({ level: 'silent' }),
    restarted: false,
    clock,
    onStateChange: (s) => published.push({ state: s.state, prefixes: s.prefixes }),
  });
  try {
    announcer.setPeers([
      { ...config(router.port, { peerAddress: '127.0.0.2', sourceAddress: '127.0.0.1' }), name: 'tor' },
    ]);
    await waitFor('Established published', () => published.at(-1)?.state === 'Established', 10_000, 10);
    const before = published.length;
    // Five rounds, one Service each, as a burst brings them.
    for (let i = 1; i <= 5; i++) {
      announceAll(announcer, { tor: [{ prefix: `198.51.100.${i}/32`, communities: [] }] });
      await waitFor(`route ${i} at the router`, () => router.received.get('127.0.0.1')?.size === i, 5000, 5);
    }
    assert.equal(announcer.states()[0]?.prefixes, 5, 'the row itself is current');
    assert.deepEqual(published.slice(before), [], 'no publication before the clock moves');
    clock.advance(1000);
    assert.deepEqual(
      published.slice(before),
      [{ state: 'Established', prefixes: 5 }],
      'one, with the last count',
    );
    clock.advance(5000);
    assert.equal(published.length, before + 1, 'nothing more while nothing changes');
  } finally {
    await announcer.stop();
    await router.close();
  }
});
