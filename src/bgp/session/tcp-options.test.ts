/**
 * MD5 passwords (RFC 2385) and GTSM (RFC 5082) between two sessions over loopback, through the native
 * addon's sockets. Skipped where the addon is not built.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { addonUnavailable } from '../../../test/harness/preconditions.ts';
import { FakeClock } from '../../time/clock.ts';
import { BgpListener } from './listener.ts';
import { BgpSession } from './session.ts';
import { nodeSocketFactory } from './socket-factory.ts';

const skip = addonUnavailable();

async function attempt(listenerPassword: string, connectPassword: string, gtsm: boolean) {
  const log = pino({ level: 'silent' });
  const clock = new FakeClock();
  const listener = await BgpListener.listen({
    host: '127.0.0.2',
    port: 0,
    log,
    passwords: true,
    ...(gtsm ? { gtsmHops: 1 } : {}),
  });
  const b = new BgpSession({
    localAs: 65002,
    peerAs: 65001,
    peerAddress: '127.0.0.1',
    routerId: '192.0.2.2',
    passive: true,
    log,
    clock,
    password: listenerPassword,
  });
  listener.add(b);
  const a = new BgpSession({
    localAs: 65001,
    peerAs: 65002,
    peerAddress: '127.0.0.2',
    peerPort: listener.address.port,
    localAddress: '127.0.0.1',
    routerId: '192.0.2.1',
    log,
    clock,
    password: connectPassword,
    connectTimeoutMs: 1_000,
    ...(gtsm ? { gtsm: true } : {}),
  });
  return {
    a,
    b,
    async close() {
      await Promise.all([a.stop(), b.stop()]);
      await listener.close();
    },
  };
}

describe('TCP MD5 and GTSM through the native addon', { skip }, () => {
  test('matching passwords with GTSM establish', { timeout: 15_000 }, async (t) => {
    const s = await attempt('secret', 'secret', true);
    t.after(() => s.close());
    s.b.start();
    s.a.start();
    const signal = AbortSignal.timeout(10_000);
    await Promise.all([s.a.waitForState('Established', signal), s.b.waitForState('Established', signal)]);
  });

  test('a wrong password never gets a TCP connection up', { timeout: 15_000 }, async (t) => {
    const s = await attempt('secret', 'wrong', false);
    t.after(() => s.close());
    const states: string[] = [];
    s.a.on('state', (c) => states.push(c.to));
    s.b.start();
    s.a.start();
    // The kernel drops unsigned or badly signed SYNs; the connect attempt times out (real 1 s timeout).
    await s.a.waitForState('Active', AbortSignal.timeout(10_000));
    assert.deepEqual(states, ['Connect', 'Active']);
    assert.equal(s.b.state, 'Active');
  });
});

test('a password without the native addon is refused at start, not silently ignored', () => {
  const s = new BgpSession({
    localAs: 65001,
    peerAs: 65002,
    peerAddress: '192.0.2.2',
    routerId: '192.0.2.1',
    log: pino({ level: 'silent' }),
    password: 'secret',
    socketFactory: nodeSocketFactory,
  });
  assert.throws(() => s.start(), /MD5/);
});
