import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../time/clock.ts';
import { BfdFsm, type BfdStateChange, type BfdTimers } from './fsm.ts';
import { type BfdState, type ControlPacket, Diag, decodeControlPacket } from './packet.ts';

const LOCAL = 0x0a0b0c0d;
const REMOTE = 0x01020304;

/** One FSM with fake time; every packet it sends is decoded and kept with the time it left. */
class Harness {
  readonly clock = new FakeClock();
  readonly sent: (ControlPacket & { at: number })[] = [];
  readonly changes: BfdStateChange[] = [];
  readonly fsm: BfdFsm;

  /** Work the FSM deferred until the input already received has been read (with `deferInput`). */
  readonly deferred: (() => void)[] = [];

  constructor(timers: Partial<BfdTimers> = {}, random = () => 1 - Number.EPSILON, deferInput = false) {
    this.fsm = new BfdFsm(
      {
        ...(deferInput ? { afterPendingInput: (fn: () => void) => void this.deferred.push(fn) } : {}),
        send: (bytes) => {
          const d = decodeControlPacket(bytes);
          assert.ok(d.ok, `the FSM sent a packet that does not decode: ${!d.ok && d.reason}`);
          this.sent.push({ ...d.packet, at: this.clock.now() });
        },
        transition: (c) => this.changes.push(c),
      },
      {
        localDiscriminator: LOCAL,
        timers: {
          transmitIntervalMs: 100,
          receiveIntervalMs: 100,
          detectMultiplier: 3,
          passive: false,
          ...timers,
        },
        clock: this.clock,
        random,
      },
    );
  }

  /** A packet from the peer; by default Down, 100 ms timers, mult 3, knowing our discriminator once we sent one. */
  peer(state: BfdState, p: Partial<ControlPacket> = {}): void {
    this.fsm.receive({
      version: 1,
      diag: 0,
      state,
      poll: false,
      final: false,
      controlPlaneIndependent: false,
      authPresent: false,
      demand: false,
      multipoint: false,
      detectMult: 3,
      myDiscriminator: REMOTE,
      yourDiscriminator: state === 'Down' || state === 'AdminDown' ? 0 : LOCAL,
      desiredMinTxUs: 100_000,
      requiredMinRxUs: 100_000,
      requiredMinEchoRxUs: 0,
      ...p,
    });
  }

  last(): ControlPacket & { at: number } {
    return this.sent.at(-1)!;
  }

  transitions(): string[] {
    return this.changes.map((c) => `${c.from}->${c.to}`);
  }

  /** Handshake to Up, then the poll for fast timers answered. */
  up(): void {
    this.fsm.start();
    this.peer('Down');
    this.peer('Up');
    assert.equal(this.fsm.state, 'Up');
    this.peer('Up', { final: true });
    assert.equal(this.fsm.polling, false);
  }
}

describe('handshake', () => {
  test('starts Down, sending at one packet a second with no Your Discriminator', () => {
    const h = new Harness();
    assert.equal(h.fsm.state, 'AdminDown');
    h.fsm.start();
    assert.equal(h.fsm.state, 'Down');
    h.clock.advance(0);
    const p = h.last();
    assert.equal(p.state, 'Down');
    assert.equal(p.myDiscriminator, LOCAL);
    assert.equal(p.yourDiscriminator, 0);
    assert.equal(p.desiredMinTxUs, 1_000_000, 'slow while not Up (RFC 5880 6.8.3)');
    assert.equal(p.requiredMinRxUs, 100_000);
    assert.equal(p.detectMult, 3);
    const before = h.sent.length;
    h.clock.advance(2_000);
    assert.equal(h.sent.length - before, 2);
  });

  test('Down + Down -> Init, Init + Up -> Up, with the peer discriminator echoed', () => {
    const h = new Harness();
    h.fsm.start();
    h.peer('Down', { desiredMinTxUs: 1_000_000 });
    assert.equal(h.fsm.state, 'Init');
    h.clock.advance(1_000);
    assert.equal(h.last().state, 'Init');
    assert.equal(h.last().yourDiscriminator, REMOTE);
    h.peer('Up');
    assert.equal(h.fsm.state, 'Up');
    assert.deepEqual(h.transitions(), ['AdminDown->Down', 'Down->Init', 'Init->Up']);
    assert.equal(h.changes.at(-1)!.diag, Diag.NONE);
  });

  test('Down + Init -> Up, Init + Init -> Up', () => {
    const a = new Harness();
    a.fsm.start();
    a.peer('Init');
    assert.equal(a.fsm.state, 'Up');
    const b = new Harness();
    b.fsm.start();
    b.peer('Down');
    b.peer('Init');
    assert.equal(b.fsm.state, 'Up');
  });

  test('Down ignores Up (the peer must see us first)', () => {
    const h = new Harness();
    h.fsm.start();
    h.peer('Up');
    assert.equal(h.fsm.state, 'Down');
  });

  test('Init stays Init on Down', () => {
    const h = new Harness();
    h.fsm.start();
    h.peer('Down');
    h.peer('Down');
    assert.equal(h.fsm.state, 'Init');
  });
});

describe('going down', () => {
  test('Up + Down -> Down, diag 3, a failure', () => {
    const h = new Harness();
    h.up();
    h.peer('Down');
    assert.equal(h.fsm.state, 'Down');
    const c = h.changes.at(-1)!;
    assert.deepEqual(
      [c.from, c.to, c.diag, c.failure],
      ['Up', 'Down', Diag.NEIGHBOR_SIGNALED_SESSION_DOWN, true],
    );
  });

  test('Up + AdminDown -> Down, diag 3, not a failure (RFC 5882 3.2)', () => {
    const h = new Harness();
    h.up();
    h.peer('AdminDown', { diag: Diag.ADMINISTRATIVELY_DOWN });
    const c = h.changes.at(-1)!;
    assert.deepEqual(
      [c.from, c.to, c.diag, c.failure],
      ['Up', 'Down', Diag.NEIGHBOR_SIGNALED_SESSION_DOWN, false],
    );
  });

  test('Init + AdminDown -> Down', () => {
    const h = new Harness();
    h.fsm.start();
    h.peer('Down');
    h.peer('AdminDown');
    assert.equal(h.fsm.state, 'Down');
  });

  test('back to slow transmission once Down', () => {
    const h = new Harness();
    h.up();
    h.peer('Down');
    h.clock.advance(1_000);
    assert.equal(h.last().desiredMinTxUs, 1_000_000);
    assert.equal(h.fsm.transmitIntervalMs, 1_000);
  });
});

describe('detection time', () => {
  test('Detect Mult x agreed interval without a packet: Down, diag 1, a failure, peer forgotten', () => {
    const h = new Harness();
    h.up();
    assert.equal(h.fsm.detectionTimeMs, 300);
    h.clock.advance(299);
    assert.equal(h.fsm.state, 'Up');
    h.clock.advance(1);
    assert.equal(h.fsm.state, 'Down');
    const c = h.changes.at(-1)!;
    assert.deepEqual([c.diag, c.failure], [Diag.CONTROL_DETECTION_TIME_EXPIRED, true]);
    assert.equal(h.fsm.remoteDiscriminator, 0);
    h.clock.advance(1_000);
    assert.equal(h.last().yourDiscriminator, 0);
    assert.equal(h.last().diag, Diag.CONTROL_DETECTION_TIME_EXPIRED);
  });

  test('every packet restarts it', () => {
    const h = new Harness();
    h.up();
    for (let i = 0; i < 10; i++) {
      h.clock.advance(250);
      h.peer('Up');
    }
    assert.equal(h.fsm.state, 'Up');
  });

  test("uses the peer's multiplier and the larger of our RX and its TX", () => {
    const h = new Harness({ receiveIntervalMs: 50 });
    h.fsm.start();
    h.peer('Init', { detectMult: 5, desiredMinTxUs: 200_000 });
    assert.equal(h.fsm.detectionTimeMs, 1_000);
    h.peer('Up', { detectMult: 2, desiredMinTxUs: 20_000, final: true });
    assert.equal(h.fsm.detectionTimeMs, 100);
  });

  test('a process stalled past the detection time reads the packets waiting for it before calling the peer silent', () => {
    const h = new Harness({}, undefined, true);
    h.up();
    // Stalled for 400 ms: the detection timer is overdue, and the peer's packets are in the socket.
    h.clock.advance(400);
    assert.equal(h.fsm.state, 'Up', 'not before the input has been read');
    assert.equal(h.deferred.length, 1);
    h.peer('Up');
    for (const fn of h.deferred.splice(0)) fn();
    assert.equal(h.fsm.state, 'Up', 'a packet was waiting: the peer is alive');
    // Silent for real: nothing waiting once the input is read.
    h.clock.advance(300);
    for (const fn of h.deferred.splice(0)) fn();
    assert.equal(h.fsm.state, 'Down');
    assert.equal(h.fsm.diag, Diag.CONTROL_DETECTION_TIME_EXPIRED);
  });

  test('Init times out too', () => {
    const h = new Harness();
    h.fsm.start();
    h.peer('Down', { desiredMinTxUs: 1_000_000 });
    assert.equal(h.fsm.state, 'Init');
    h.clock.advance(3_000);
    assert.equal(h.fsm.state, 'Down');
    assert.equal(h.fsm.diag, Diag.CONTROL_DETECTION_TIME_EXPIRED);
  });
});

describe('transmission', () => {
  test('interval is the larger of our TX and the peer RX, with 0-25% jitter', () => {
    for (const [r, min, max] of [
      [0, 75, 75],
      [0.5, 87.5, 87.5],
    ] as const) {
      const h = new Harness({}, () => r);
      h.up();
      const from = h.sent.length;
      h.peer('Up', { requiredMinRxUs: 100_000 });
      h.clock.advance(1_000);
      const gaps = h.sent.slice(from + 1).map((p, i) => p.at - h.sent[from + i]!.at);
      for (const g of gaps) assert.ok(g >= min - 1e-9 && g <= max + 1e-9, `gap ${g}`);
    }
    const slow = new Harness();
    slow.up();
    slow.peer('Up', { requiredMinRxUs: 400_000 });
    assert.equal(slow.fsm.transmitIntervalMs, 400);
  });

  test('never less than 75% nor more than 90% when Detect Mult is 1', () => {
    for (const r of [0, 0.999999]) {
      const h = new Harness({ detectMultiplier: 1 }, () => r);
      h.up();
      const from = h.sent.length;
      h.clock.advance(90);
      for (let i = 0; i < 5; i++) {
        h.peer('Up');
        h.clock.advance(90);
      }
      const gaps = h.sent.slice(from + 1).map((p, i) => p.at - h.sent[from + i]!.at);
      assert.ok(gaps.length > 0);
      for (const g of gaps) assert.ok(g >= 75 - 1e-9 && g <= 90 + 1e-9, `gap ${g}`);
    }
  });

  test('silent while the peer asks for Required Min RX 0', () => {
    const h = new Harness();
    h.up();
    h.peer('Up', { requiredMinRxUs: 0 });
    const n = h.sent.length;
    h.clock.advance(250);
    assert.equal(h.sent.length, n);
    assert.equal(h.fsm.transmitIntervalMs, undefined);
    h.peer('Up');
    h.clock.advance(0);
    assert.equal(h.sent.length, n + 1, 'resumes at once');
  });

  test('passive: nothing until the peer speaks', () => {
    const h = new Harness({ passive: true });
    h.fsm.start();
    h.clock.advance(5_000);
    assert.equal(h.sent.length, 0);
    h.peer('Down');
    assert.equal(h.fsm.state, 'Init');
    h.clock.advance(0);
    assert.equal(h.sent.length, 1);
    assert.equal(h.last().state, 'Init');
  });

  test('no periodic packets while the peer is in demand mode and both are Up', () => {
    const h = new Harness();
    h.up();
    h.peer('Up', { demand: true });
    const n = h.sent.length;
    h.clock.advance(200);
    assert.equal(h.sent.length, n);
  });
});

describe('poll sequence', () => {
  test('going Up polls for the fast timers and stops polling on Final', () => {
    const h = new Harness();
    h.fsm.start();
    h.peer('Down');
    h.peer('Up');
    assert.ok(h.fsm.polling);
    // Sending faster than the advertised 1 s is allowed before the peer agrees.
    assert.equal(h.fsm.transmitIntervalMs, 100);
    h.clock.advance(100);
    const p = h.last();
    assert.ok(p.poll && !p.final);
    assert.equal(p.desiredMinTxUs, 100_000);
    h.peer('Up', { final: true });
    assert.ok(!h.fsm.polling);
    h.clock.advance(100);
    assert.ok(!h.last().poll);
  });

  test('a slower TX takes effect only after Final', () => {
    const h = new Harness();
    h.up();
    h.fsm.setTimers({ transmitIntervalMs: 500, receiveIntervalMs: 100, detectMultiplier: 3, passive: false });
    assert.ok(h.fsm.polling);
    assert.equal(h.fsm.transmitIntervalMs, 100);
    h.clock.advance(100);
    assert.ok(h.last().poll);
    assert.equal(h.last().desiredMinTxUs, 500_000);
    h.peer('Up', { final: true });
    assert.equal(h.fsm.transmitIntervalMs, 500);
  });

  test('a shorter RX changes the detection time only after Final', () => {
    const h = new Harness({ receiveIntervalMs: 300 });
    h.up();
    h.peer('Up');
    assert.equal(h.fsm.detectionTimeMs, 900);
    h.fsm.setTimers({ transmitIntervalMs: 100, receiveIntervalMs: 50, detectMultiplier: 3, passive: false });
    h.peer('Up', { desiredMinTxUs: 50_000 });
    assert.equal(h.fsm.detectionTimeMs, 900);
    h.peer('Up', { desiredMinTxUs: 50_000, final: true });
    assert.equal(h.fsm.detectionTimeMs, 150);
  });

  test('a longer RX takes effect at once', () => {
    const h = new Harness();
    h.up();
    h.fsm.setTimers({
      transmitIntervalMs: 100,
      receiveIntervalMs: 1_000,
      detectMultiplier: 3,
      passive: false,
    });
    h.peer('Up');
    assert.equal(h.fsm.detectionTimeMs, 3_000);
  });

  test('a change during a poll is polled for again after the Final', () => {
    const h = new Harness();
    h.up();
    h.fsm.setTimers({ transmitIntervalMs: 200, receiveIntervalMs: 100, detectMultiplier: 3, passive: false });
    h.fsm.setTimers({ transmitIntervalMs: 400, receiveIntervalMs: 100, detectMultiplier: 3, passive: false });
    h.peer('Up', { final: true });
    assert.equal(h.fsm.transmitIntervalMs, 200);
    assert.ok(h.fsm.polling);
    h.peer('Up', { final: true });
    assert.equal(h.fsm.transmitIntervalMs, 400);
    assert.ok(!h.fsm.polling);
  });

  test("the peer's Poll is answered at once with Final, never Poll and Final together", () => {
    const h = new Harness();
    h.up();
    h.fsm.setTimers({ transmitIntervalMs: 300, receiveIntervalMs: 100, detectMultiplier: 3, passive: false });
    const n = h.sent.length;
    h.peer('Up', { poll: true });
    assert.equal(h.sent.length, n + 1);
    assert.ok(h.last().final);
    assert.ok(!h.last().poll);
    assert.equal(h.last().at, h.clock.now());
  });
});

describe('administrative down', () => {
  test('stop sends AdminDown with diag 7 for a detection time, then falls silent', () => {
    const h = new Harness();
    h.up();
    let done = false;
    const n = h.sent.length;
    h.fsm.stop(() => {
      done = true;
    });
    assert.equal(h.fsm.state, 'AdminDown');
    const c = h.changes.at(-1)!;
    assert.deepEqual(
      [c.from, c.to, c.diag, c.failure],
      ['Up', 'AdminDown', Diag.ADMINISTRATIVELY_DOWN, false],
    );
    assert.equal(h.last().state, 'AdminDown');
    assert.equal(h.last().at, h.clock.now(), 'the first goes out at once');
    h.clock.advance(1_000);
    const farewell = h.sent.slice(n);
    assert.equal(farewell.length, 3);
    for (const p of farewell) {
      assert.equal(p.state, 'AdminDown');
      assert.equal(p.diag, Diag.ADMINISTRATIVELY_DOWN);
      assert.equal(p.yourDiscriminator, REMOTE);
    }
    assert.ok(farewell.at(-1)!.at - farewell[0]!.at <= 200);
    assert.ok(done);
    assert.equal(h.clock.pending, 0, 'no timer left');
  });

  test('AdminDown ignores the peer; start() begins again from Down', () => {
    const h = new Harness();
    h.up();
    h.fsm.stop();
    h.clock.advance(1_000);
    h.peer('Init');
    assert.equal(h.fsm.state, 'AdminDown');
    h.fsm.start();
    assert.equal(h.fsm.state, 'Down');
    h.peer('Init');
    assert.equal(h.fsm.state, 'Up');
  });

  test('a session that never heard the peer says AdminDown once', () => {
    const h = new Harness();
    h.fsm.start();
    const n = h.sent.length;
    h.fsm.stop();
    h.clock.advance(5_000);
    assert.equal(h.sent.length, n + 1);
  });
});

test('packets for another discriminator are ignored', () => {
  const h = new Harness();
  h.up();
  h.peer('Down', { yourDiscriminator: LOCAL + 1 });
  assert.equal(h.fsm.state, 'Up');
});

test('timers out of range are refused', () => {
  assert.throws(() => new Harness({ detectMultiplier: 0 }), RangeError);
  assert.throws(() => new Harness({ transmitIntervalMs: 0 }), RangeError);
});
