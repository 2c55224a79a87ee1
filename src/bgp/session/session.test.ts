/**
 * Two Beacon sessions peering each other over real TCP on loopback (127.0.0.1 <-> 127.0.0.2, random ports).
 * Timers run on a shared fake clock, so hold-timer expiry is tested without waiting for it.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { FakeClock } from '../../time/clock.ts';
import { decodeMessage } from '../codec/decode.ts';
import { endOfRib } from '../codec/decode-update.ts';
import { encodeKeepalive, encodeOpen, encodeRouteRefresh } from '../codec/encode.ts';
import { MessageFramer } from '../codec/framer.ts';
import type { BgpMessage, UpdateMessage } from '../codec/messages.ts';
import { formatPrefix } from '../codec/prefix.ts';
import { BgpListener } from './listener.ts';
import { BgpSession, type SessionOptions } from './session.ts';

const A_ADDR = '127.0.0.1';
const B_ADDR = '127.0.0.2';

class LogLines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    for (const l of chunk.toString().split('\n')) if (l) this.lines.push(JSON.parse(l));
    done();
  }
}

/** Received routes, as a router would hold them, from a session's 'update' events. */
function table(s: BgpSession) {
  const routes = new Map<string, UpdateMessage>();
  const eor = new Set<string>();
  s.on('update', (u) => {
    for (const p of [...u.withdrawn, ...(u.attributes.mpUnreach?.withdrawn ?? [])])
      routes.delete(formatPrefix(p));
    for (const p of [...u.nlri, ...(u.attributes.mpReach?.nlri ?? [])]) routes.set(formatPrefix(p), u);
    const e = endOfRib(u);
    if (e) eor.add(`${e.afi}/${e.safi}`);
  });
  return { routes, eor };
}

async function until(cond: () => boolean, signal: AbortSignal): Promise<void> {
  while (!cond()) {
    if (signal.aborted) throw new Error(`timed out waiting for ${cond.toString()}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Pair {
  a: BgpSession;
  b: BgpSession;
  listener: BgpListener;
  clock: FakeClock;
  logs: LogLines;
  close(): Promise<void>;
}

async function pair(over: { a?: Partial<SessionOptions>; b?: Partial<SessionOptions> } = {}): Promise<Pair> {
  const logs = new LogLines();
  const log = pino({ level: 'debug' }, logs);
  const clock = new FakeClock();
  const listener = await BgpListener.listen({ host: B_ADDR, port: 0, log });
  const a = new BgpSession({
    localAs: 65001,
    peerAs: 65002,
    peerAddress: B_ADDR,
    peerPort: listener.address.port,
    localAddress: A_ADDR,
    routerId: '192.0.2.1',
    holdTimeSec: 9,
    log: log.child({ side: 'a' }),
    clock,
    nextHop: { ipv4: '192.0.2.1', ipv6: ['2001:db8::1', 'fe80::1'] },
    ...over.a,
  });
  const b = new BgpSession({
    localAs: 65002,
    peerAs: 65001,
    peerAddress: A_ADDR,
    routerId: '192.0.2.2',
    holdTimeSec: 9,
    passive: true,
    log: log.child({ side: 'b' }),
    clock,
    nextHop: { ipv4: '192.0.2.2', ipv6: ['2001:db8::2'] },
    ...over.b,
  });
  listener.add(b);
  return {
    a,
    b,
    listener,
    clock,
    logs,
    async close() {
      await Promise.all([a.stop(), b.stop()]);
      await listener.close();
    },
  };
}

/**
 * A passive session B (AS 65002) and a raw TCP peer in AS 65001 that has sent its OPEN; the test writes
 * the rest (the KEEPALIVE, then what it tests) and reads what B sent back in `received`.
 */
async function rawPeer(t: { after(fn: () => Promise<void>): void }) {
  const logs = new LogLines();
  const log = pino({ level: 'debug' }, logs);
  const listener = await BgpListener.listen({ host: B_ADDR, port: 0, log });
  const b = new BgpSession({
    localAs: 65002,
    peerAs: 65001,
    peerAddress: A_ADDR,
    routerId: '192.0.2.2',
    passive: true,
    log,
    clock: new FakeClock(),
  });
  listener.add(b);
  let raw: Socket | undefined;
  t.after(async () => {
    raw?.destroy();
    await b.stop();
    await listener.close();
  });
  b.start();
  raw = connect({ host: B_ADDR, port: listener.address.port, localAddress: A_ADDR });
  await once(raw, 'connect');
  const received: BgpMessage[] = [];
  const framer = new MessageFramer();
  raw.on('data', (chunk: Buffer) => {
    framer.push(chunk);
    for (let f = framer.next(); f?.ok; f = framer.next()) {
      const d = decodeMessage(f.bytes, { fourOctetAs: true });
      if (d.ok) received.push(d.value);
    }
  });
  raw.write(
    encodeOpen({
      myAs: 65001,
      holdTime: 90,
      bgpId: '192.0.2.1',
      capabilities: [{ kind: 'four-octet-as', asn: 65001 }, { kind: 'route-refresh' }],
    }),
  );
  return { b, raw, received, logs };
}

function hosts(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`);
}

/** The test playing a router on a raw socket: every message it receives, decoded. */
class RawPeer {
  readonly messages: BgpMessage[] = [];
  closed = false;
  readonly socket: Socket;
  constructor(socket: Socket) {
    this.socket = socket;
    const framer = new MessageFramer();
    socket.on('error', () => {});
    socket.on('close', () => {
      this.closed = true;
    });
    socket.on('data', (chunk: Buffer) => {
      framer.push(chunk);
      for (let f = framer.next(); f?.ok; f = framer.next()) {
        const d = decodeMessage(f.bytes, { fourOctetAs: true });
        if (d.ok) this.messages.push(d.value);
      }
    });
  }
  types(): string[] {
    return this.messages.map((m) =>
      m.type === 'notification' ? `notification ${m.code}/${m.subcode}` : m.type,
    );
  }
}

describe('two Beacon sessions over loopback TCP', () => {
  test('establish, exchange routes with End-of-RIB, withdraw, route refresh, clean close', {
    timeout: 20_000,
  }, async (t) => {
    const p = await pair();
    const signal = AbortSignal.timeout(15_000);
    t.after(() => p.close());
    const atB = table(p.b);
    const states: string[] = [];
    p.a.on('state', (c) => states.push(c.to));
    const list = hosts(2_000);
    for (const x of list) p.a.announce(x, { communities: [0xfde90064], largeCommunities: [[65001, 7, 9]] });
    p.a.announce('2001:db8:1::1/128', { med: 10 });
    p.b.start();
    p.a.start();
    await Promise.all([p.a.waitForState('Established', signal), p.b.waitForState('Established', signal)]);
    assert.deepEqual(states, ['Connect', 'OpenSent', 'OpenConfirm', 'Established']);
    assert.deepEqual(p.a.negotiated?.families, ['ipv4', 'ipv6']);
    assert.equal(p.a.peerOpen?.bgpId, '192.0.2.2');

    await until(() => atB.eor.size === 2, signal);
    assert.equal(atB.routes.size, 2_001);
    const v4 = atB.routes.get('10.0.7.207/32')!;
    assert.equal(v4.attributes.nextHop, '192.0.2.1');
    assert.deepEqual(v4.attributes.asPath, [{ type: 2, asns: [65001] }]);
    assert.deepEqual(v4.attributes.communities, [0xfde90064]);
    assert.deepEqual(v4.attributes.largeCommunities, [[65001, 7, 9]]);
    const v6 = atB.routes.get('2001:db8:1::1/128')!;
    assert.deepEqual(v6.attributes.mpReach?.nextHops, ['2001:db8::1', 'fe80::1']);
    assert.equal(v6.attributes.med, 10);
    assert.equal(p.a.stats.updatesSent, Math.ceil(2_000 / 806) + 1 + 2);

    // Withdraw some, flap others: the flapping prefix never reaches B.
    for (const x of list.slice(0, 500)) p.a.withdraw(x);
    p.a.announce('192.0.2.200/32');
    p.a.withdraw('192.0.2.200/32');
    await until(() => atB.routes.size === 1_501, signal);
    assert.equal(atB.routes.has('192.0.2.200/32'), false);

    // B asks for a route refresh; A sends its whole IPv4 Adj-RIB-Out again.
    let updatesBefore = p.b.stats.updatesReceived;
    const refreshed = once(p.a, 'route-refresh');
    assert.ok(p.b.requestRouteRefresh('ipv4'));
    assert.deepEqual((await refreshed)[0], { family: 'ipv4' });
    await until(() => p.b.stats.prefixesReceived >= 2_001 + 1_500, signal);
    assert.equal(p.b.stats.updatesReceived - updatesBefore, Math.ceil(1_500 / 806));
    assert.equal(atB.routes.size, 1_501);

    // Keepalives keep both up across many hold times.
    updatesBefore = p.b.stats.updatesReceived;
    for (let i = 0; i < 10; i++) {
      p.clock.advance(3_000);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(p.a.state, 'Established');
    assert.equal(p.b.state, 'Established');

    // Clean close: withdraw everything, then Cease 6/2 with a shutdown message.
    const ceased = once(p.b, 'notification');
    await p.a.stop({ withdraw: true, message: 'maintenance' });
    const [n] = await ceased;
    assert.deepEqual([n.direction, n.code, n.subcode, n.shutdownMessage], ['received', 6, 2, 'maintenance']);
    assert.equal(atB.routes.size, 0, 'every route withdrawn before the Cease');
    assert.equal(p.a.state, 'Idle');
    await until(() => p.b.state === 'Idle', signal);
    p.clock.advance(1_000);
    assert.equal(p.b.state, 'Active', 'B waits for A to come back');
  });

  test('receive hold timer: when one side stops sending keepalives the other sends 4/0 and drops', {
    timeout: 20_000,
  }, async (t) => {
    const p = await pair();
    const signal = AbortSignal.timeout(15_000);
    t.after(() => p.close());
    p.b.start();
    p.a.start();
    await Promise.all([p.a.waitForState('Established', signal), p.b.waitForState('Established', signal)]);
    // Fake time must not move while messages sent at time 0 are still in flight (the End-of-RIBs).
    await until(() => p.a.stats.updatesReceived === 2 && p.b.stats.updatesReceived === 2, signal);
    p.a.suspendKeepalives(true);
    const atA = once(p.a, 'notification');
    for (let i = 0; i < 3 && p.b.state === 'Established'; i++) {
      p.clock.advance(3_000);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.notEqual(p.b.state, 'Established');
    const [n] = await atA;
    assert.deepEqual([n.direction, n.code, n.subcode], ['received', 4, 0]);
    const line = p.logs.lines.find((l) => l.side === 'b' && l.notification === '4/0 hold-timer-expired');
    assert.ok(line, 'a structured log line names the NOTIFICATION sent');
    assert.equal(line.peer, A_ADDR);
    assert.equal(line.peerAs, 65001);
  });

  test('graceful restart: the R bit is set in the first OPEN after a restart only, not on reconnects', {
    timeout: 20_000,
  }, async (t) => {
    const p = await pair({
      a: { gracefulRestart: { restartTimeSec: 120, forwardingPreserved: true, restarting: true } },
    });
    const signal = AbortSignal.timeout(15_000);
    t.after(() => p.close());
    const restartBit = () =>
      p.b.peerOpen?.capabilities.find((c) => c.kind === 'graceful-restart') as
        | { restarting: boolean }
        | undefined;
    p.b.start();
    p.a.start();
    await Promise.all([p.a.waitForState('Established', signal), p.b.waitForState('Established', signal)]);
    assert.equal(restartBit()?.restarting, true);
    await until(() => p.a.stats.updatesReceived === 2 && p.b.stats.updatesReceived === 2, signal);
    // Drop the session (B's hold timer), then let A reconnect.
    p.a.suspendKeepalives(true);
    for (let i = 0; i < 3 && p.b.state === 'Established'; i++) {
      p.clock.advance(3_000);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.notEqual(p.b.state, 'Established');
    p.a.suspendKeepalives(false);
    for (let i = 0; i < 200 && p.b.stats.established < 2; i++) {
      p.clock.advance(1_000);
      await new Promise((r) => setTimeout(r, 5));
    }
    await p.b.waitForState('Established', signal);
    assert.equal(restartBit()?.restarting, false, 'a reconnect is not a restart');
  });

  test('both sides connecting and listening end with one session (collision detection)', {
    timeout: 20_000,
  }, async (t) => {
    const logs = new LogLines();
    const log = pino({ level: 'debug' }, logs);
    const clock = new FakeClock();
    const la = await BgpListener.listen({ host: A_ADDR, port: 0, log });
    const lb = await BgpListener.listen({ host: B_ADDR, port: 0, log });
    const common = { holdTimeSec: 9, clock, log };
    const a = new BgpSession({
      ...common,
      localAs: 65001,
      peerAs: 65002,
      peerAddress: B_ADDR,
      peerPort: lb.address.port,
      localAddress: A_ADDR,
      routerId: '192.0.2.1',
    });
    const b = new BgpSession({
      ...common,
      localAs: 65002,
      peerAs: 65001,
      peerAddress: A_ADDR,
      peerPort: la.address.port,
      localAddress: B_ADDR,
      routerId: '192.0.2.2',
    });
    la.add(a);
    lb.add(b);
    t.after(async () => {
      await Promise.all([a.stop(), b.stop()]);
      await Promise.all([la.close(), lb.close()]);
    });
    const signal = AbortSignal.timeout(15_000);
    a.start();
    b.start();
    // A connection that loses the collision, or an attempt refused meanwhile, backs off: let fake time pass.
    while (a.state !== 'Established' || b.state !== 'Established') {
      signal.throwIfAborted();
      await new Promise((r) => setTimeout(r, 20));
      clock.advance(500);
    }
    // Settle: no more than one connection survives, and it stays up across hold times.
    for (let i = 0; i < 6; i++) {
      clock.advance(3_000);
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(a.state, 'Established');
    assert.equal(b.state, 'Established');
    assert.equal(a.stats.established, 1);
    assert.equal(b.stats.established, 1);
  });

  test('a malformed UPDATE from the peer ends the session with its NOTIFICATION and a log line, nothing throws', {
    timeout: 20_000,
  }, async (t) => {
    const { raw, received, logs } = await rawPeer(t);
    const closed = once(raw, 'close');
    raw.write(encodeKeepalive());
    // An UPDATE whose AS_PATH segment claims more ASNs than it carries: 3/11.
    raw.write(
      Buffer.from('ffffffffffffffffffffffffffffffff001e0200000007400204020300010000', 'hex').subarray(0, 30),
    );
    await closed;
    const n = received.find((m) => m.type === 'notification');
    assert.ok(n && n.type === 'notification');
    assert.deepEqual([n.code, n.subcode], [3, 11]);
    const line = logs.lines.find((l) => l.notification === '3/11 update-message-error/malformed-as-path');
    assert.ok(line);
    assert.equal(line.direction, 'sent');
    assert.match(String(line.reason), /AS_PATH/);
  });

  test('ROUTE-REFRESH subtypes other than 0 (BoRR, EoRR, unknown) are ignored, not answered (RFC 7313 5)', {
    timeout: 20_000,
  }, async (t) => {
    const { b, raw, received, logs } = await rawPeer(t);
    const refreshes: unknown[] = [];
    b.on('route-refresh', (r) => refreshes.push(r));
    raw.write(encodeKeepalive());
    // IPv4 unicast: BoRR (1), EoRR (2), subtype 3 (undefined), subtype 255 (reserved), then a request (0).
    raw.write(Buffer.concat([1, 2, 3, 255, 0].map((subtype) => encodeRouteRefresh(1, 1, subtype))));
    const signal = AbortSignal.timeout(10_000);
    await until(() => refreshes.length > 0, signal);
    assert.deepEqual(refreshes, [{ family: 'ipv4' }], 'only the subtype 0 request was answered');
    assert.equal(b.state, 'Established');
    assert.equal(received.filter((m) => m.type === 'notification').length, 0);
    const warned = logs.lines.filter((l) => l.level === 40 && String(l.msg).includes('unknown subtype'));
    assert.deepEqual(
      warned.map((l) => l.subtype),
      [3, 255],
    );
  });

  // B is 192.0.2.2 in AS 65002; the peer is in AS 65001. With equal identifiers, RFC 6286 2.1 keeps the
  // connection of the larger AS: B's own.
  for (const [peerId, kept] of [
    ['192.0.2.9', 'incoming'],
    ['192.0.2.1', 'outgoing'],
    ['192.0.2.2', 'outgoing'],
  ] as const) {
    test(`collision with a peer whose BGP identifier is ${peerId}: the ${kept} connection is kept, the other gets 6/7`, {
      timeout: 20_000,
    }, async (t) => {
      const log = pino({ level: 'silent' });
      const signal = AbortSignal.timeout(15_000);
      const server = createServer();
      server.listen(0, A_ADDR);
      await once(server, 'listening');
      const listener = await BgpListener.listen({ host: B_ADDR, port: 0, log });
      const b = new BgpSession({
        localAs: 65002,
        peerAs: 65001,
        peerAddress: A_ADDR,
        peerPort: (server.address() as AddressInfo).port,
        localAddress: B_ADDR,
        routerId: '192.0.2.2',
        log,
        clock: new FakeClock(),
      });
      listener.add(b);
      const peers: RawPeer[] = [];
      t.after(async () => {
        for (const p of peers) p.socket.destroy();
        await b.stop();
        await listener.close();
        server.close();
      });
      const accepted = once(server, 'connection');
      b.start();
      const out = new RawPeer((await accepted)[0] as Socket);
      peers.push(out);
      const incSocket = connect({ host: B_ADDR, port: listener.address.port, localAddress: A_ADDR });
      const inc = new RawPeer(incSocket);
      peers.push(inc);
      await until(() => out.types().includes('open') && inc.types().includes('open'), signal);
      const open = encodeOpen({
        myAs: 65001,
        holdTime: 90,
        bgpId: peerId,
        capabilities: [{ kind: 'four-octet-as', asn: 65001 }],
      });
      out.socket.write(open);
      await until(() => b.state === 'OpenConfirm', signal);
      inc.socket.write(open);
      const [winner, loser] = kept === 'incoming' ? [inc, out] : [out, inc];
      await until(() => loser.closed && winner.types().includes('keepalive'), signal);
      assert.equal(loser.types().at(-1), 'notification 6/7');
      winner.socket.write(encodeKeepalive());
      await until(() => b.state === 'Established', signal);
      assert.equal(winner.closed, false);
    });
  }

  test('connections from addresses with no session are closed', { timeout: 10_000 }, async (t) => {
    const log = pino({ level: 'silent' });
    const listener = await BgpListener.listen({ host: B_ADDR, port: 0, log });
    t.after(() => listener.close());
    const raw = connect({ host: B_ADDR, port: listener.address.port, localAddress: '127.0.0.3' });
    raw.on('error', () => {});
    await once(raw, 'close');
  });
});
