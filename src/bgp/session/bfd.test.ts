/**
 * BFD beside a BGP session (the `bfd` option of BgpSession): two Beacon sessions over loopback TCP and UDP
 * (127.0.0.1 <-> 127.0.0.2) on one fake clock (test/bfd/fake-time.ts delivers every packet between steps).
 * When one side's BFD falls silent, the other resets BGP at that instant with a Cease "BFD Down", an hour
 * before its hold timer could; an AdminDown resets nothing. Asserted on the protocols' clock, not the
 * machine's.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { advanceUntil, loopbackTransports, runFor } from '../../../test/bfd/fake-time.ts';
import { Diag } from '../../bfd/packet.ts';
import { FakeClock } from '../../time/clock.ts';
import { BgpListener } from './listener.ts';
import { BgpSession } from './session.ts';

const log = pino({ level: 'silent' });

/**
 * Two BGP sessions with BFD (127.0.0.1 <-> 127.0.0.2), real TCP and UDP, one fake clock for both protocols.
 * The hold time is an hour, so within these tests only BFD can take BGP down.
 */
async function bfdPair(t: { after(fn: () => Promise<void>): void }) {
  const clock = new FakeClock();
  const bfd = { receiveInterval: 30, transmitInterval: 30, detectMultiplier: 3 };
  const { ta, tb, pairs } = await loopbackTransports(clock, log);
  const listener = await BgpListener.listen({ host: '127.0.0.2', port: 0, log });
  const common = { holdTimeSec: HOLD_TIME_SEC, clock, log, bfd };
  const a = new BgpSession({
    ...common,
    localAs: 65001,
    peerAs: 65002,
    peerAddress: '127.0.0.2',
    peerPort: listener.address.port,
    localAddress: '127.0.0.1',
    routerId: '192.0.2.1',
    bfdTransport: ta,
  });
  const b = new BgpSession({
    ...common,
    localAs: 65002,
    peerAs: 65001,
    peerAddress: '127.0.0.1',
    localAddress: '127.0.0.2',
    routerId: '192.0.2.2',
    passive: true,
    bfdTransport: tb,
  });
  listener.add(b);
  const events: { at: number; what: string }[] = [];
  a.on('bfd', (c) =>
    events.push({ at: clock.now(), what: `bfd ${c.to} diag=${c.diag} failure=${c.failure}` }),
  );
  a.on('state', (c) => events.push({ at: clock.now(), what: `bgp ${c.to} ${c.reason}` }));
  a.on('notification', (n) =>
    events.push({ at: clock.now(), what: `notification ${n.direction} ${n.text}` }),
  );
  /** Fake time runs while `promise` settles (a BFD stop sends its AdminDown packets on BFD's clock). */
  const during = async (promise: Promise<void>) => {
    let done = false;
    void promise.then(() => {
      done = true;
    });
    await advanceUntil(clock, pairs, 'the stop', () => done, 10_000);
  };
  t.after(async () => {
    await during(Promise.all([a.stop(), b.stop()]).then(() => {}));
    await listener.close();
  });
  a.start();
  b.start();
  const signal = AbortSignal.timeout(20_000);
  await Promise.all([a.waitForState('Established', signal), b.waitForState('Established', signal)]);
  // Up at 30 ms x 3 once the poll sequence that follows Up is done (RFC 5880 6.8.3).
  await advanceUntil(
    clock,
    pairs,
    'BFD Up at 30 ms x 3',
    () =>
      a.bfd?.detectionTimeMs === 90 &&
      b.bfd?.detectionTimeMs === 90 &&
      a.bfd.state === 'Up' &&
      b.bfd.state === 'Up',
    15_000,
  );
  return { clock, ta, tb, pairs, a, b, events, during };
}

const HOLD_TIME_SEC = 3600;

test('BFD down resets an Established BGP session at once with Cease/BFD Down, with an hour of hold time left', {
  timeout: 60_000,
}, async (t) => {
  const p = await bfdPair(t);
  const from = p.events.length;
  // b's BFD goes silent the way a dead node's would, while its TCP connection stays up.
  p.tb.muted = true;
  await advanceUntil(p.clock, p.pairs, 'a leaving Established', () => p.a.state !== 'Established', 1_000, 1);
  const after = p.events.slice(from);
  const bfdDown = after.find((e) => e.what.startsWith('bfd Down'))!;
  assert.equal(bfdDown.what, `bfd Down diag=${Diag.CONTROL_DETECTION_TIME_EXPIRED} failure=true`);
  // RFC 5880 6.8.4: one detection time (3 x 30 ms) after the last packet heard.
  assert.equal(bfdDown.at - p.ta.lastReceivedAt, 90);
  // RFC 5882 4.3 and RFC 9384: the BGP session goes at that same instant, with Cease 6/10.
  assert.deepEqual(
    after.filter((e) => !e.what.startsWith('bfd')).map((e) => [e.at, e.what.split(' (')[0]]),
    [
      [bfdDown.at, 'notification sent 6/10 cease/bfd-down'],
      [bfdDown.at, 'bgp Idle connection lost: BFD session down'],
    ],
  );
  assert.ok(bfdDown.at - p.ta.lastReceivedAt < HOLD_TIME_SEC * 1000);
});

test('an AdminDown from the peer does not touch the BGP session (RFC 5882 3.2)', {
  timeout: 60_000,
}, async (t) => {
  const p = await bfdPair(t);
  const from = p.events.length;
  await p.during(p.b.bfd!.stop());
  // Ten detection times of BFD silence after the AdminDown: nothing may follow from it.
  await runFor(p.clock, p.pairs, 900);
  assert.deepEqual(
    p.events.slice(from).map((e) => e.what),
    [`bfd Down diag=${Diag.NEIGHBOR_SIGNALED_SESSION_DOWN} failure=false`],
  );
  assert.equal(p.a.state, 'Established');
});
