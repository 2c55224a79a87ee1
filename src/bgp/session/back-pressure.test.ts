/**
 * Back-pressure: a real peer over loopback TCP that completes the OPEN exchange, then stops reading while it
 * keeps sending KEEPALIVEs (and ROUTE-REFRESH requests). What Beacon queues for it must stay bounded, and
 * once the queue passes the cap the session is dropped with Cease "Out of Resources" (RFC 4486 4).
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { answerOpen, onMessages } from '../../../test/bgp/raw-peer.ts';
import { encodeKeepalive, encodeRouteRefresh } from '../codec/encode.ts';
import { BgpSession, type NotificationEvent } from './session.ts';

const log = pino({ level: 'silent' });

/** A peer that answers the OPEN, then stops reading for good. */
class DeafPeer {
  readonly server: Server;
  socket: Socket | undefined;
  readonly deaf: Promise<void>;
  private timers: NodeJS.Timeout[] = [];

  constructor() {
    let deafened!: () => void;
    this.deaf = new Promise((r) => {
      deafened = r;
    });
    this.server = createServer((socket) => {
      if (this.socket) {
        socket.destroy();
        return;
      }
      this.socket = socket;
      onMessages(socket, (m) => {
        if (m.type === 'open')
          answerOpen(socket, 65001, '192.0.2.1', [
            { kind: 'multiprotocol', afi: 1, safi: 1 },
            { kind: 'route-refresh' },
          ]);
        if (m.type !== 'keepalive') return true;
        // Beacon is in OpenConfirm and about to send its table: from here on, nothing is read.
        socket.pause();
        this.timers.push(setInterval(() => socket.write(encodeKeepalive()), 200));
        deafened();
        return false;
      });
    });
  }

  /** `burst` ROUTE-REFRESH requests for IPv4 unicast every `ms`. */
  refreshEvery(ms: number, burst = 1): void {
    const bytes = Buffer.concat(Array.from({ length: burst }, () => encodeRouteRefresh(1, 1)));
    this.timers.push(setInterval(() => this.socket?.write(bytes), ms));
  }

  async close(): Promise<void> {
    for (const t of this.timers) clearInterval(t);
    this.socket?.destroy();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

async function setUp(maxQueuedBytes: number) {
  const peer = new DeafPeer();
  peer.server.listen(0, '127.0.0.1');
  await once(peer.server, 'listening');
  const session = new BgpSession({
    localAs: 65002,
    peerAs: 65001,
    peerAddress: '127.0.0.1',
    peerPort: (peer.server.address() as AddressInfo).port,
    routerId: '192.0.2.2',
    families: ['ipv4'],
    backoffInitialMs: 60_000,
    maxQueuedBytes,
    log,
  });
  return { peer, session };
}

/** `n` host routes from 10.<base>.0.0 up. */
function hosts(base: number, n: number): string[] {
  return Array.from({ length: n }, (_, i) => `10.${base}.${(i >> 8) & 255}.${i & 255}/32`);
}

test('ROUTE-REFRESH in a loop from a peer that stops reading: one pending per family, the queue stays bounded', {
  timeout: 30_000,
}, async (t) => {
  const { peer, session } = await setUp(64 * 1024 * 1024);
  t.after(async () => {
    await session.stop();
    await peer.close();
  });
  // About 100 KB of UPDATEs per table.
  for (const p of hosts(1, 20_000)) session.announce(p);
  let refreshes = 0;
  session.on('route-refresh', () => refreshes++);
  session.start();
  await peer.deaf;
  await session.waitForState('Established', AbortSignal.timeout(10_000));
  peer.refreshEvery(5, 10);
  // Enough requests that answering each one would queue hundreds of tables (tens of megabytes).
  let most = 0;
  while (refreshes < 1_000) {
    most = Math.max(most, session.queuedBytes);
    await new Promise((r) => setTimeout(r, 5));
  }
  most = Math.max(most, session.queuedBytes);
  assert.equal(session.state, 'Established', 'no cap reached: the session stays up');
  assert.ok(
    session.stats.routeRefreshesCoalesced > 800,
    `${session.stats.routeRefreshesCoalesced} coalesced`,
  );
  // One table in flight and one waiting at most, whatever the number of requests.
  assert.ok(most < 512 * 1024, `${most} bytes queued for a peer that reads nothing`);
});

test('a peer that stops reading while routes change is dropped with Cease/Out of Resources at the cap', {
  timeout: 30_000,
}, async (t) => {
  const cap = 1024 * 1024;
  const { peer, session } = await setUp(cap);
  t.after(async () => {
    await session.stop();
    await peer.close();
  });
  session.announce('198.51.100.7/32');
  const sent: NotificationEvent[] = [];
  session.on('notification', (n) => n.direction === 'sent' && sent.push(n));
  session.start();
  await peer.deaf;
  await session.waitForState('Established', AbortSignal.timeout(10_000));
  peer.refreshEvery(10);
  // Beacon's side keeps changing: each round announces 64 new routes with 1,000 communities each (one
  // UPDATE of about 4 KB apiece) and withdraws the previous round's.
  let most = 0;
  let previous: string[] = [];
  for (let round = 0; session.state === 'Established'; round++) {
    assert.ok(round < 200, `still Established after ${round} rounds, ${session.queuedBytes} bytes queued`);
    const batch = hosts(2 + (round % 200), 64);
    batch.forEach((p, i) => {
      const communities = Array.from({ length: 1_000 }, (_, k) => ((round * 64 + i) * 1_000 + k) >>> 0);
      session.announce(p, { communities });
    });
    for (const p of previous) session.withdraw(p);
    previous = batch;
    await new Promise((r) => setTimeout(r, 1));
    most = Math.max(most, session.queuedBytes);
  }
  assert.deepEqual(
    sent.map((n) => `${n.code}/${n.subcode}`),
    ['6/8'],
  );
  assert.match(sent[0]!.text, /out-of-resources/);
  assert.equal(session.stats.sendQueueOverflows, 1);
  // Never more than the cap plus the one round (about 256 KB) that crossed it.
  assert.ok(most <= cap + 320 * 1024, `${most} bytes queued, cap ${cap}`);
});
