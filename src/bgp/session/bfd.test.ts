/**
 * BFD beside a BGP session (the `bfd` option of BgpSession): two Beacon sessions over loopback TCP and UDP
 * (127.0.0.1 <-> 127.0.0.2), real time. When one side's BFD falls silent, the other resets BGP at once
 * with a Cease "BFD Down" instead of waiting out the 9 s hold time.
 */
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { pino } from 'pino';
import type { BfdStateChange } from '../../bfd/fsm.ts';
import { Diag } from '../../bfd/packet.ts';
import { type BfdTransport, UdpBfdTransport } from '../../bfd/transport.ts';
import { BgpListener } from './listener.ts';
import { BgpSession, type NotificationEvent } from './session.ts';

const log = pino({ level: 'silent' });

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const port = s.address().port;
  s.close();
  return port;
}

function next<T>(wait: (resolve: (v: T) => void) => void, ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    wait((v) => {
      clearTimeout(t);
      resolve(v);
    });
  });
}

test('BFD down resets an Established BGP session at once with Cease/BFD Down', async (t) => {
  const port = await freeUdpPort();
  const bfd = { receiveInterval: 30, transmitInterval: 30, detectMultiplier: 3 };
  const real = new UdpBfdTransport({ log, port, listenAddress: { ipv4: '127.0.0.2' } });
  let mute = false;
  // b's BFD goes silent on demand, the way a dead node's would, while its TCP stays up.
  const muted: BfdTransport = {
    allocateDiscriminator: () => real.allocateDiscriminator(),
    async open(...args) {
      const link = await real.open(...args);
      return { send: (bytes) => mute || link.send(bytes), close: () => link.close() };
    },
  };
  const listener = await BgpListener.listen({ host: '127.0.0.2', port: 0, log });
  const a = new BgpSession({
    localAs: 65001,
    peerAs: 65002,
    peerAddress: '127.0.0.2',
    peerPort: listener.address.port,
    localAddress: '127.0.0.1',
    routerId: '192.0.2.1',
    holdTimeSec: 9,
    backoffInitialMs: 60_000,
    log,
    bfd,
    bfdTransport: new UdpBfdTransport({ log, port, listenAddress: { ipv4: '127.0.0.1' } }),
  });
  const b = new BgpSession({
    localAs: 65002,
    peerAs: 65001,
    peerAddress: '127.0.0.1',
    localAddress: '127.0.0.2',
    routerId: '192.0.2.2',
    holdTimeSec: 9,
    passive: true,
    log,
    bfd,
    bfdTransport: muted,
  });
  listener.add(b);
  t.after(async () => {
    await Promise.all([a.stop(), b.stop()]);
    await listener.close();
  });
  const aBfd: BfdStateChange[] = [];
  a.on('bfd', (c) => aBfd.push(c));
  const bfdUp = (s: BgpSession) =>
    next<void>((done) => s.on('bfd', (c) => c.to === 'Up' && done()), 5_000, 'BFD Up');
  const up = [bfdUp(a), bfdUp(b)];
  a.start();
  b.start();
  await Promise.all([a.waitForState('Established'), b.waitForState('Established'), ...up]);
  // Until b is Up too and the polls are answered, a's detection time still follows b's 1 s start-up rate.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(a.bfd?.detectionTimeMs, 90);

  // b hears a's Down packets and resets too; which Cease crosses the wire first is a race, so check a's own.
  const sent = next<NotificationEvent>(
    (done) => a.on('notification', (n) => n.direction === 'sent' && done(n)),
    2_000,
    'the Cease from a',
  );
  const left = next<void>(
    (done) => a.on('state', (c) => c.from === 'Established' && done()),
    2_000,
    'a reset',
  );
  const started = performance.now();
  mute = true;
  await left;
  const took = performance.now() - started;
  const n = await sent;
  assert.equal(n.code, 6);
  assert.equal(n.subcode, 10);
  assert.match(n.text, /bfd-down/);
  const down = aBfd.find((c) => c.from === 'Up' && c.to === 'Down')!;
  assert.equal(down.diag, Diag.CONTROL_DETECTION_TIME_EXPIRED);
  assert.ok(took < 1_000, `BGP reset ${took.toFixed(0)} ms after BFD fell silent (hold time is 9 s)`);
});

test('an AdminDown from the peer does not touch the BGP session (RFC 5882 3.2)', async (t) => {
  const port = await freeUdpPort();
  const bfd = { receiveInterval: 30, transmitInterval: 30, detectMultiplier: 3 };
  const listener = await BgpListener.listen({ host: '127.0.0.2', port: 0, log });
  const a = new BgpSession({
    localAs: 65001,
    peerAs: 65002,
    peerAddress: '127.0.0.2',
    peerPort: listener.address.port,
    localAddress: '127.0.0.1',
    routerId: '192.0.2.1',
    holdTimeSec: 9,
    log,
    bfd,
    bfdTransport: new UdpBfdTransport({ log, port, listenAddress: { ipv4: '127.0.0.1' } }),
  });
  const b = new BgpSession({
    localAs: 65002,
    peerAs: 65001,
    peerAddress: '127.0.0.1',
    localAddress: '127.0.0.2',
    routerId: '192.0.2.2',
    holdTimeSec: 9,
    passive: true,
    log,
    bfd,
    bfdTransport: new UdpBfdTransport({ log, port, listenAddress: { ipv4: '127.0.0.2' } }),
  });
  listener.add(b);
  t.after(async () => {
    await Promise.all([a.stop(), b.stop()]);
    await listener.close();
  });
  const bfdUp = next<void>((done) => a.on('bfd', (c) => c.to === 'Up' && done()), 5_000, 'BFD Up');
  a.start();
  b.start();
  await Promise.all([a.waitForState('Established'), b.waitForState('Established'), bfdUp]);
  const down = next<BfdStateChange>((done) => a.on('bfd', (c) => c.to === 'Down' && done(c)), 2_000, 'Down');
  await b.bfd!.stop();
  const c = await down;
  assert.equal(c.failure, false);
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(a.state, 'Established');
});
