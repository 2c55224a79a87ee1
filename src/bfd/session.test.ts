import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import {
  advanceUntil,
  type CountingTransport,
  freeUdpPort,
  loopbackTransports,
  runFor,
} from '../../test/bfd/fake-time.ts';
import { addonUnavailable } from '../../test/harness/preconditions.ts';
import { FakeClock } from '../time/clock.ts';
import type { BfdStateChange } from './fsm.ts';
import { Diag, decodeControlPacket, encodeControlPacket } from './packet.ts';
import { type BfdProfileOptions, BfdSession } from './session.ts';
import { SOURCE_PORT_MAX, SOURCE_PORT_MIN, UdpBfdTransport } from './transport.ts';

const log = pino({ level: 'silent' });

/** Two sessions, 127.0.0.1 and 127.0.0.2, over real UDP with counting transports on one fake clock. */
async function loopbackPair(profile: BfdProfileOptions) {
  const clock = new FakeClock();
  const { ta, tb, pairs } = await loopbackTransports(clock, log);
  const session = (local: string, peer: string, transport: CountingTransport) =>
    new BfdSession({ localAddress: local, peerAddress: peer, profile, log, clock, transport });
  const a = session('127.0.0.1', '127.0.0.2', ta);
  const b = session('127.0.0.2', '127.0.0.1', tb);
  const changes: { at: number; session: 'a' | 'b'; change: BfdStateChange }[] = [];
  a.on('state', (change) => changes.push({ at: clock.now(), session: 'a', change }));
  b.on('state', (change) => changes.push({ at: clock.now(), session: 'b', change }));
  /** Stops a session, letting fake time run for its AdminDown farewell. */
  const stop = async (s: BfdSession) => {
    let stopped = false;
    const done = s.stop().then(() => {
      stopped = true;
    });
    await advanceUntil(clock, pairs, 'the stop', () => stopped, 10_000);
    await done;
  };
  return { clock, ta, tb, a, b, pairs, changes, stop };
}

test('two sessions over loopback UDP come Up, hold 20 ms x 3 without a flap, and a stop reaches the other side as AdminDown', {
  timeout: 60_000,
}, async (t) => {
  const p = await loopbackPair({ receiveInterval: 20, transmitInterval: 20, detectMultiplier: 3 });
  t.after(async () => {
    await p.stop(p.a);
    await p.stop(p.b);
  });
  p.a.start();
  p.b.start();
  await advanceUntil(p.clock, p.pairs, 'both Up', () => p.a.state === 'Up' && p.b.state === 'Up', 10_000);
  assert.equal(p.a.remoteDiscriminator, p.b.localDiscriminator);
  assert.equal(p.b.remoteDiscriminator, p.a.localDiscriminator);
  // Going Up starts the poll sequence that brings both from the 1 s start-up rate to 20 ms (RFC 5880 6.8.3).
  // A side sends faster as soon as its peer allows, but takes the shorter detection time only when its own
  // poll is answered: wait for both polls to end.
  await advanceUntil(
    p.clock,
    p.pairs,
    'the fast timers',
    () => p.a.transmitIntervalMs === 20 && p.b.transmitIntervalMs === 20 && !p.a.polling && !p.b.polling,
    5_000,
  );
  // RFC 5880 6.8.4: detection time is the peer's Detect Mult times the agreed interval.
  assert.equal(p.a.detectionTimeMs, 60);
  const before = p.changes.length;
  await runFor(p.clock, p.pairs, 5_000);
  assert.deepEqual(p.changes.slice(before), [], 'no flap in 5 s of BFD time (250 packets each way)');

  const stopAt = p.changes.length;
  await p.stop(p.b);
  assert.equal(p.b.state, 'AdminDown');
  const down = p.changes.slice(stopAt).find((c) => c.session === 'a' && c.change.to === 'Down');
  assert.ok(down, 'a heard the AdminDown');
  assert.equal(down.change.diag, Diag.NEIGHBOR_SIGNALED_SESSION_DOWN);
  assert.equal(down.change.failure, false, 'AdminDown is not a failure (RFC 5882 3.2)');
});

test('a session whose peer goes silent goes Down one detection time after the last packet (RFC 5880 6.8.4)', {
  timeout: 60_000,
}, async (t) => {
  const p = await loopbackPair({ receiveInterval: 20, transmitInterval: 20, detectMultiplier: 3 });
  t.after(async () => {
    await p.stop(p.a);
    await p.stop(p.b);
  });
  p.a.start();
  p.b.start();
  await advanceUntil(
    p.clock,
    p.pairs,
    'the fast timers',
    () => p.a.transmitIntervalMs === 20 && p.b.transmitIntervalMs === 20,
    15_000,
  );
  await runFor(p.clock, p.pairs, 200);
  // The peer goes silent without a goodbye, as a dead node does.
  const cutAt = p.changes.length;
  p.tb.muted = true;
  await advanceUntil(p.clock, p.pairs, 'a Down', () => p.a.state === 'Down', 1_000, 1);
  const down = p.changes.slice(cutAt).find((c) => c.session === 'a' && c.change.to === 'Down')!;
  assert.equal(down.change.diag, Diag.CONTROL_DETECTION_TIME_EXPIRED);
  assert.equal(down.change.failure, true);
  assert.equal(down.at - p.ta.lastReceivedAt, 60, 'Down exactly 3 x 20 ms after the last packet heard');
});

test('packets leave from a port in 49152-65535 and the local address, to the control port', async (t) => {
  const port = await freeUdpPort();
  const peer = createSocket('udp4');
  peer.bind(port, '127.0.0.3');
  await once(peer, 'listening');
  const transport = new UdpBfdTransport({ log, port, listenAddress: { ipv4: '127.0.0.1' } });
  const link = await transport.open({ localAddress: '127.0.0.1', peerAddress: '127.0.0.3' }, 7, () => {});
  t.after(async () => {
    await link.close();
    peer.close();
  });
  const got = once(peer, 'message');
  const bytes = encodeControlPacket({
    diag: 0,
    state: 'Down',
    detectMult: 3,
    myDiscriminator: 7,
    yourDiscriminator: 0,
    desiredMinTxUs: 1_000_000,
    requiredMinRxUs: 100_000,
  });
  link.send(bytes);
  const [msg, rinfo] = (await got) as [Buffer, { address: string; port: number }];
  assert.ok(decodeControlPacket(msg).ok);
  assert.equal(rinfo.address, '127.0.0.1');
  assert.ok(rinfo.port >= SOURCE_PORT_MIN && rinfo.port <= SOURCE_PORT_MAX, `source port ${rinfo.port}`);
});

test('the transport drops malformed packets, strangers and low TTLs without throwing', async (t) => {
  const port = await freeUdpPort();
  const transport = new UdpBfdTransport({ log, port, listenAddress: { ipv4: '127.0.0.1' } });
  const received: number[] = [];
  const link = await transport.open({ peerAddress: '192.0.2.1' }, 42, (p) =>
    received.push(p.myDiscriminator),
  );
  t.after(() => link.close());
  const packet = (your: number) =>
    encodeControlPacket({
      diag: 0,
      state: your ? 'Up' : 'Down',
      detectMult: 3,
      myDiscriminator: 9,
      yourDiscriminator: your,
      desiredMinTxUs: 1_000_000,
      requiredMinRxUs: 100_000,
    });
  transport.deliver(new Uint8Array([1, 2, 3]), '192.0.2.1');
  transport.deliver(packet(0), '192.0.2.99');
  transport.deliver(packet(43), '192.0.2.1');
  transport.deliver(packet(42), '192.0.2.99');
  transport.deliver(packet(42), '192.0.2.1', 64);
  assert.deepEqual(received, []);
  transport.deliver(packet(0), '::ffff:192.0.2.1');
  transport.deliver(packet(42), '192.0.2.1', 255);
  assert.deepEqual(received, [9, 9]);
});

for (const family of ['udp4', 'udp6'] as const) {
  const [local, peerAddress] = family === 'udp4' ? ['127.0.0.1', '127.0.0.1'] : ['::1', '::1'];
  test(`${family}: the receive socket's filter discards datagrams below TTL 255 before they reach a session (GTSM)`, {
    skip: addonUnavailable(),
  }, async (t) => {
    const port = await freeUdpPort();
    const transport = new UdpBfdTransport({
      log,
      port,
      listenAddress: family === 'udp4' ? { ipv4: local } : { ipv6: local },
    });
    const received: number[] = [];
    const link = await transport.open({ peerAddress }, 42, (p) => received.push(p.myDiscriminator));
    const sender = createSocket(family);
    sender.bind(0, local);
    await once(sender, 'listening');
    t.after(async () => {
      sender.close();
      await link.close();
    });
    const packet = (my: number) =>
      encodeControlPacket({
        diag: 0,
        state: 'Up',
        detectMult: 3,
        myDiscriminator: my,
        yourDiscriminator: 42,
        desiredMinTxUs: 1_000_000,
        requiredMinRxUs: 100_000,
      });
    const sendWithTtl = async (ttl: number, my: number) => {
      sender.setTTL(ttl);
      await new Promise<void>((resolve, reject) =>
        sender.send(packet(my), port, peerAddress, (err) => (err ? reject(err) : resolve())),
      );
    };
    // Loopback keeps the TTL as sent. The TTL-255 datagram goes last, so once it has arrived the earlier
    // ones would have too, had the filter let them through.
    await sendWithTtl(64, 1);
    await sendWithTtl(254, 2);
    await sendWithTtl(255, 3);
    const until = Date.now() + 5000;
    while (!received.includes(3) && Date.now() < until) await sleep(10);
    assert.deepEqual(received, [3]);
  });
}
