/**
 * The announcer keeps a session for as long as its peer's settings stay the same: the speaker calls
 * `setPeers` on every reconcile (any Service, node or config change), so a session that restarted on an
 * unchanged config would flap with every Service created. The peer here is a plain TCP server on loopback
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
import { BgpAnnouncer, type PeerConfig } from './bgp-announcer.ts';
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
  const announcer = new BgpAnnouncer({
    node: 'node-1',
    routerId: '192.0.2.11',
    log: pino({ level: 'silent' }),
    restarted: false,
    onStateChange: () => {},
  });
  try {
    announcer.setPeers([config(peer.port)]);
    await waitFor('the first connection', () => peer.sockets.length === 1, 5000, 10);
    // Fresh but equal objects each time, as the speaker builds them from its caches.
    for (let i = 0; i < 5; i++) {
      announcer.setPeers([config(peer.port)]);
      await sleep(20);
    }
    announcer.setRoutes(new Map([['router', [{ prefix: '198.51.100.1/32', communities: [] }]]]));
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
    announcer.setRoutes(
      new Map([
        [
          'router',
          [
            { prefix: '198.51.100.1/32', communities: [] },
            { prefix: '198.51.100.2/32', communities: ['65000:1'] },
          ],
        ],
      ]),
    );
    assert.equal(await value('beacon_speaker_bgp_announced_prefixes'), 2);
    await waitFor('both routes at the router', () => received.size === 2, 5000, 10);
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
