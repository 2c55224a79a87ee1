import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { once } from 'node:events';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { nativeUnavailable } from '../native/addon.ts';
import type { BfdStateChange } from './fsm.ts';
import { Diag, decodeControlPacket, encodeControlPacket } from './packet.ts';
import { BfdSession } from './session.ts';
import { SOURCE_PORT_MAX, SOURCE_PORT_MIN, UdpBfdTransport } from './transport.ts';

const log = pino({ level: 'silent' });

/** A UDP port free on 127.0.0.1 and 127.0.0.2 right now. */
async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  s.bind(0, '127.0.0.1');
  await once(s, 'listening');
  const port = s.address().port;
  s.close();
  return port;
}

function waitFor(s: BfdSession, pred: (c: BfdStateChange) => boolean, ms: number): Promise<BfdStateChange> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`no matching BFD change within ${ms} ms (state ${s.state})`)),
      ms,
    );
    s.on('state', (c) => {
      if (!pred(c)) return;
      clearTimeout(t);
      resolve(c);
    });
  });
}

test('two sessions over loopback UDP come Up, and a stop reaches the other side as AdminDown', async (t) => {
  const port = await freePort();
  const ta = new UdpBfdTransport({ log, port, listenAddress: { ipv4: '127.0.0.1' } });
  const tb = new UdpBfdTransport({ log, port, listenAddress: { ipv4: '127.0.0.2' } });
  const profile = { receiveInterval: 20, transmitInterval: 20, detectMultiplier: 3 };
  const a = new BfdSession({
    localAddress: '127.0.0.1',
    peerAddress: '127.0.0.2',
    profile,
    log,
    transport: ta,
  });
  const b = new BfdSession({
    localAddress: '127.0.0.2',
    peerAddress: '127.0.0.1',
    profile,
    log,
    transport: tb,
  });
  t.after(async () => {
    await a.stop();
    await b.stop();
  });
  const aUp = waitFor(a, (c) => c.to === 'Up', 5_000);
  const bUp = waitFor(b, (c) => c.to === 'Up', 5_000);
  a.start();
  b.start();
  await Promise.all([aUp, bUp]);
  assert.equal(a.remoteDiscriminator, b.localDiscriminator);
  assert.equal(b.remoteDiscriminator, a.localDiscriminator);

  // Up for a while at 20 ms x 3 without a flap, once the poll for fast timers is done.
  let flaps = 0;
  a.on('state', () => flaps++);
  await sleep(500);
  assert.equal(a.transmitIntervalMs, 20);
  assert.equal(a.detectionTimeMs, 60);
  assert.equal(flaps, 0);

  const started = performance.now();
  const aDown = waitFor(a, (c) => c.to === 'Down', 1_000);
  await b.stop();
  const c = await aDown;
  assert.equal(b.state, 'AdminDown');
  assert.equal(c.diag, Diag.NEIGHBOR_SIGNALED_SESSION_DOWN);
  assert.equal(c.failure, false, 'AdminDown is not a failure');
  assert.ok(performance.now() - started < 1_000);
});

test('a session whose peer goes silent goes Down after the detection time', async (t) => {
  const port = await freePort();
  const ta = new UdpBfdTransport({ log, port, listenAddress: { ipv4: '127.0.0.1' } });
  const tb = new UdpBfdTransport({ log, port, listenAddress: { ipv4: '127.0.0.2' } });
  const profile = { receiveInterval: 20, transmitInterval: 20, detectMultiplier: 3 };
  const a = new BfdSession({
    localAddress: '127.0.0.1',
    peerAddress: '127.0.0.2',
    profile,
    log,
    transport: ta,
  });
  // The peer speaks through a link this test can cut without any goodbye.
  let cut = false;
  const silenced = {
    allocateDiscriminator: () => tb.allocateDiscriminator(),
    open: async (...args: Parameters<UdpBfdTransport['open']>) => {
      const link = await tb.open(...args);
      return { send: (bytes: Uint8Array) => cut || link.send(bytes), close: () => link.close() };
    },
  };
  const b = new BfdSession({
    localAddress: '127.0.0.2',
    peerAddress: '127.0.0.1',
    profile,
    log,
    transport: silenced,
  });
  t.after(async () => {
    await a.stop();
    await b.stop();
  });
  const aUp = waitFor(a, (c) => c.to === 'Up', 5_000);
  a.start();
  b.start();
  await aUp;
  await sleep(200);
  const aDown = waitFor(a, (c) => c.to === 'Down', 1_000);
  const started = performance.now();
  cut = true;
  const c = await aDown;
  const took = performance.now() - started;
  assert.equal(c.diag, Diag.CONTROL_DETECTION_TIME_EXPIRED);
  assert.equal(c.failure, true);
  assert.ok(took >= 40 && took < 500, `detected after ${took} ms`);
});

test('packets leave from a port in 49152-65535 and the local address, to the control port', async (t) => {
  const port = await freePort();
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
  const port = await freePort();
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
    skip: nativeUnavailable(),
  }, async (t) => {
    const port = await freePort();
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
