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
import { waitFor } from '../../test/harness/process.ts';
import { BgpAnnouncer, type PeerConfig } from './bgp-announcer.ts';

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
