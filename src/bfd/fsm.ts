/**
 * The RFC 5880 state machine for one session in asynchronous mode (section 6.8): the three-way handshake
 * (Down -> Init -> Up), detection time, the transmit interval with jitter (6.8.7), and poll/final sequences
 * (6.5) for every change of timers while Up. Pure: packets in and out as values, time from an injected
 * clock, so tests drive it packet by packet with fake time.
 *
 * Timer values follow 6.8.3: while the session is not Up, the Desired Min TX Interval advertised is at least
 * one second; going Up starts a poll sequence that brings it down to the configured value. Increasing the
 * transmit interval, or lowering the receive interval, only takes effect once the peer has answered the
 * poll with Final.
 */
import type { Clock, Timer } from '../time/clock.ts';
import { type BfdState, type ControlPacket, Diag, encodeControlPacket } from './packet.ts';

/** The profile's timers in milliseconds (BFDProfile: receiveInterval, transmitInterval, ...). */
export interface BfdTimers {
  /** Fastest rate at which this end wants to send (Desired Min TX Interval), ms. */
  transmitIntervalMs: number;
  /** Fastest rate at which this end can receive (Required Min RX Interval), ms. */
  receiveIntervalMs: number;
  /** Packets missed before the peer declares the session down (Detect Mult). */
  detectMultiplier: number;
  /** Wait for the peer's first packet before sending (RFC 5880 6.1 passive role). */
  passive: boolean;
}

export interface BfdStateChange {
  from: BfdState;
  to: BfdState;
  /** Local diagnostic code after the change (Diag.*). */
  diag: number;
  /**
   * Whether clients must treat this as a loss of connectivity: a Down from Init or Up, except when the
   * peer said AdminDown, which RFC 5882 3.2 says must not be reported as a failure.
   */
  failure: boolean;
}

export interface BfdFsmHost {
  send(bytes: Uint8Array): void;
  transition(change: BfdStateChange): void;
  /**
   * Calls `fn` once every packet that has already reached this host has been passed to `receive`. A
   * process that was itself stalled (a long GC, a starved CPU) finds its detection timer expired and the
   * peer's packets waiting in its socket; without this it would declare a live peer down.
   */
  afterPendingInput?(fn: () => void): void;
}

export interface BfdFsmOptions {
  /** This session's non-zero discriminator (bfd.LocalDiscr). */
  localDiscriminator: number;
  timers: BfdTimers;
  clock: Clock;
  /** Uniform in [0, 1), for jitter; Math.random by default. */
  random?: () => number;
}

/** 6.8.3: the slowest Desired Min TX a session that is not Up may use is at least this (1 s). */
export const SLOW_TX_US = 1_000_000;

export function validateTimers(t: BfdTimers): void {
  for (const [name, v] of [
    ['transmit interval', t.transmitIntervalMs],
    ['receive interval', t.receiveIntervalMs],
  ] as const)
    if (!Number.isFinite(v) || v < 1 || v > 4_294_967)
      throw new RangeError(`BFD ${name} ${v} ms out of range`);
  if (!Number.isInteger(t.detectMultiplier) || t.detectMultiplier < 1 || t.detectMultiplier > 255)
    throw new RangeError(`BFD detect multiplier ${t.detectMultiplier}: use 1..255`);
}

export class BfdFsm {
  readonly localDiscriminator: number;
  private readonly host: BfdFsmHost;
  private readonly clock: Clock;
  private readonly random: () => number;
  private _timers: BfdTimers;

  private _state: BfdState = 'AdminDown';
  private _diag: number = Diag.NONE;
  private _remoteDiscriminator = 0;
  private _remoteState: BfdState = 'Down';
  private remoteDemand = false;
  private remoteMinRxUs = 1;
  private remoteDesiredTxUs = 0;
  private remoteDetectMult = 0;
  private heardFromPeer = false;

  /** Values sent in packets (bfd.DesiredMinTxInterval, bfd.RequiredMinRxInterval). */
  private advertisedTxUs = SLOW_TX_US;
  private advertisedRxUs = 0;
  /** Values in force: the transmit interval and the detection time use these. */
  private effectiveTxUs = SLOW_TX_US;
  private effectiveRxUs = 0;
  /** The values a running poll sequence asks the peer to accept, undefined when none runs. */
  private poll: { txUs: number; rxUs: number } | undefined;

  private txTimer: Timer | undefined;
  private txDue = Number.POSITIVE_INFINITY;
  private detectTimer: Timer | undefined;
  /** Moves on whenever detection restarts or stops, so that a deferred expiry can tell it is stale. */
  private detectEpoch = 0;
  /** AdminDown packets still to send after stop(). */
  private farewell = 0;
  private onFarewellDone: (() => void) | undefined;

  constructor(host: BfdFsmHost, options: BfdFsmOptions) {
    if (!Number.isInteger(options.localDiscriminator) || options.localDiscriminator < 1)
      throw new RangeError('local discriminator must be a non-zero 32-bit integer');
    validateTimers(options.timers);
    this.host = host;
    this.localDiscriminator = options.localDiscriminator;
    this.clock = options.clock;
    this.random = options.random ?? Math.random;
    this._timers = { ...options.timers };
    this.advertisedRxUs = this.effectiveRxUs = Math.round(this._timers.receiveIntervalMs * 1000);
    this.advertisedTxUs = this.effectiveTxUs = this.wantedTxUs();
  }

  get state(): BfdState {
    return this._state;
  }
  get diag(): number {
    return this._diag;
  }
  get remoteState(): BfdState {
    return this._remoteState;
  }
  get remoteDiscriminator(): number {
    return this._remoteDiscriminator;
  }
  get polling(): boolean {
    return this.poll !== undefined;
  }
  get timers(): Readonly<BfdTimers> {
    return this._timers;
  }
  /** The interval between two packets before jitter, ms; undefined while nothing is sent periodically. */
  get transmitIntervalMs(): number | undefined {
    return this.mayTransmit() ? Math.max(this.effectiveTxUs, this.remoteMinRxUs) / 1000 : undefined;
  }
  /** How long without a packet before the session goes Down, ms (0 before the first packet). */
  get detectionTimeMs(): number {
    return (this.remoteDetectMult * Math.max(this.effectiveRxUs, this.remoteDesiredTxUs)) / 1000;
  }

  /** AdminDown -> Down: begin the handshake (a passive session waits for the peer's first packet). */
  start(): void {
    if (this._state !== 'AdminDown') return;
    this.farewell = 0;
    this.cancelTx();
    this.go('Down', this._diag, false);
    this.applyTimers();
    this.scheduleTx(0);
  }

  /**
   * Down administratively (diag 7): tells the peer with AdminDown packets, now and for about one detection
   * time when the peer was listening, so it does not take the silence that follows for a failure.
   * `done` runs once the last of those packets has gone.
   */
  stop(done?: () => void): void {
    if (this._state === 'AdminDown') {
      if (this.farewell === 0) done?.();
      else if (done) this.onFarewellDone = done;
      return;
    }
    const wasTalking = this._state === 'Up' || this._state === 'Init';
    this.cancelDetect();
    this.poll = undefined;
    this.go('AdminDown', Diag.ADMINISTRATIVELY_DOWN, false);
    this.cancelTx();
    this.farewell = wasTalking && this.remoteMinRxUs > 0 ? this._timers.detectMultiplier : 1;
    this.onFarewellDone = done;
    this.transmitPeriodic();
  }

  /** New timers from the profile; a running Up session renegotiates them with a poll sequence. */
  setTimers(timers: BfdTimers): void {
    validateTimers(timers);
    this._timers = { ...timers };
    this.applyTimers();
    if (timers.passive === false && this._state !== 'AdminDown') this.scheduleTx(0);
  }

  /** A packet the transport has decoded and found to be for this session (RFC 5880 6.8.6). */
  receive(p: ControlPacket): void {
    if (p.yourDiscriminator !== 0 && p.yourDiscriminator !== this.localDiscriminator) return;
    if (this._state === 'AdminDown' && this.farewell === 0) return;
    this._remoteDiscriminator = p.myDiscriminator;
    this._remoteState = p.state;
    this.remoteDemand = p.demand;
    this.remoteDesiredTxUs = p.desiredMinTxUs;
    this.remoteDetectMult = p.detectMult;
    const oldInterval = this.transmitIntervalMs;
    this.heardFromPeer = true;
    this.remoteMinRxUs = p.requiredMinRxUs;
    if (p.final && this.poll) this.endPoll();
    if (this._state === 'AdminDown') return;

    if (p.state === 'AdminDown') {
      if (this._state !== 'Down') this.go('Down', Diag.NEIGHBOR_SIGNALED_SESSION_DOWN, false);
    } else if (this._state === 'Down') {
      if (p.state === 'Down') this.go('Init', this._diag, false);
      else if (p.state === 'Init') this.go('Up', Diag.NONE, false);
    } else if (this._state === 'Init') {
      if (p.state === 'Init' || p.state === 'Up') this.go('Up', Diag.NONE, false);
    } else if (p.state === 'Down') {
      this.go('Down', Diag.NEIGHBOR_SIGNALED_SESSION_DOWN, true);
    }
    this.restartDetect();
    // Answer a poll at once, regardless of the transmit timer (6.8.7).
    if (p.poll) this.send({ final: true });
    const interval = this.transmitIntervalMs;
    if (interval === undefined) this.cancelTx();
    // A passive session's first packet, or a peer that stopped asking for silence (Required Min RX 0).
    else if (oldInterval === undefined) this.scheduleTx(0);
    else if (interval !== oldInterval) this.scheduleTx(this.jittered(interval));
  }

  /** Cancels every timer without sending anything (the owner is going away). */
  destroy(): void {
    this.cancelTx();
    this.cancelDetect();
    this.farewell = 0;
    const done = this.onFarewellDone;
    this.onFarewellDone = undefined;
    done?.();
  }

  // ---- state ----

  private go(to: BfdState, diag: number, failure: boolean): void {
    const from = this._state;
    this._diag = diag;
    if (from === to) return;
    this._state = to;
    if (from === 'Up') this.poll = undefined;
    // Going AdminDown keeps the timers: the farewell packets go at the rate the peer expects.
    if (to !== 'AdminDown' && (to === 'Up' || from === 'Up')) this.applyTimers();
    this.host.transition({ from, to, diag, failure: failure && (from === 'Up' || from === 'Init') });
  }

  private wantedTxUs(): number {
    const configured = Math.round(this._timers.transmitIntervalMs * 1000);
    return this._state === 'Up' ? configured : Math.max(configured, SLOW_TX_US);
  }

  /** Brings the advertised timers to what the state and profile want, with a poll when Up (6.8.3). */
  private applyTimers(): void {
    const txUs = this.wantedTxUs();
    const rxUs = Math.round(this._timers.receiveIntervalMs * 1000);
    if (txUs === this.advertisedTxUs && rxUs === this.advertisedRxUs) return;
    const before = this.transmitIntervalMs;
    this.advertisedTxUs = txUs;
    this.advertisedRxUs = rxUs;
    if (this._state !== 'Up') {
      this.effectiveTxUs = txUs;
      this.effectiveRxUs = rxUs;
      this.poll = undefined;
    } else {
      // Sending faster, or accepting a longer detection time, is safe before the peer agrees.
      this.effectiveTxUs = Math.min(this.effectiveTxUs, txUs);
      this.effectiveRxUs = Math.max(this.effectiveRxUs, rxUs);
      this.poll ??= { txUs, rxUs };
    }
    this.afterIntervalChange(before);
  }

  private endPoll(): void {
    const poll = this.poll!;
    this.poll = undefined;
    const before = this.transmitIntervalMs;
    this.effectiveTxUs = poll.txUs;
    this.effectiveRxUs = poll.rxUs;
    // Timers changed again while the peer was answering: ask about the newest values.
    if (poll.txUs !== this.advertisedTxUs || poll.rxUs !== this.advertisedRxUs)
      this.poll = { txUs: this.advertisedTxUs, rxUs: this.advertisedRxUs };
    this.afterIntervalChange(before);
    if (this.detectTimer) this.restartDetect();
  }

  private afterIntervalChange(before: number | undefined): void {
    const after = this.transmitIntervalMs;
    if (after !== undefined && after !== before && this.txTimer) this.scheduleTx(this.jittered(after));
  }

  // ---- transmission ----

  private mayTransmit(): boolean {
    if (this._state === 'AdminDown') return this.farewell > 0;
    if (this._timers.passive && !this.heardFromPeer) return false;
    if (this.remoteMinRxUs === 0) return false;
    // 6.8.7: no periodic packets while the peer runs demand mode, unless a poll is under way.
    if (this.remoteDemand && this._state === 'Up' && this._remoteState === 'Up' && !this.poll) return false;
    return true;
  }

  /** 6.8.7: 0 to 25% less than the interval, and no more than 90% of it when Detect Mult is 1. */
  private jittered(intervalMs: number): number {
    const r = this.random();
    const factor = this._timers.detectMultiplier === 1 ? 0.75 + 0.15 * r : 0.75 + 0.25 * r;
    return intervalMs * factor;
  }

  private scheduleTx(delayMs: number): void {
    if (!this.mayTransmit()) return;
    const due = this.clock.now() + delayMs;
    if (this.txTimer && this.txDue <= due && delayMs > 0) return;
    this.cancelTx();
    this.txDue = due;
    this.txTimer = this.clock.setTimer(delayMs, () => {
      this.txTimer = undefined;
      this.txDue = Number.POSITIVE_INFINITY;
      this.transmitPeriodic();
    });
  }

  private cancelTx(): void {
    this.txTimer?.cancel();
    this.txTimer = undefined;
    this.txDue = Number.POSITIVE_INFINITY;
  }

  private transmitPeriodic(): void {
    if (!this.mayTransmit()) return;
    this.send({ poll: this.poll !== undefined });
    if (this._state === 'AdminDown' && --this.farewell === 0) {
      const done = this.onFarewellDone;
      this.onFarewellDone = undefined;
      done?.();
      return;
    }
    const interval = Math.max(this.effectiveTxUs, this.remoteMinRxUs) / 1000;
    this.scheduleTx(this.jittered(interval));
  }

  private send(flags: { poll?: boolean; final?: boolean }): void {
    this.host.send(
      encodeControlPacket({
        diag: this._diag,
        state: this._state,
        // A packet never carries both (4.1); a Final answer goes out on its own.
        poll: flags.final ? false : (flags.poll ?? false),
        final: flags.final ?? false,
        detectMult: this._timers.detectMultiplier,
        myDiscriminator: this.localDiscriminator,
        yourDiscriminator: this._remoteDiscriminator,
        desiredMinTxUs: this.advertisedTxUs,
        requiredMinRxUs: this.advertisedRxUs,
        requiredMinEchoRxUs: 0,
      }),
    );
  }

  // ---- detection ----

  private restartDetect(): void {
    this.cancelDetect();
    const ms = this.detectionTimeMs;
    if (ms <= 0) return;
    const epoch = this.detectEpoch;
    this.detectTimer = this.clock.setTimer(ms, () => {
      this.detectTimer = undefined;
      if (!this.host.afterPendingInput) return this.detectionExpired();
      // A packet read meanwhile restarts (or a stop cancels) detection, which moves the epoch on.
      this.host.afterPendingInput(() => {
        if (this.detectEpoch === epoch) this.detectionExpired();
      });
    });
  }

  private cancelDetect(): void {
    this.detectEpoch++;
    this.detectTimer?.cancel();
    this.detectTimer = undefined;
  }

  private detectionExpired(): void {
    if (this._state === 'AdminDown') return;
    // 6.8.1: a session that went down this way forgets the peer's discriminator.
    this._remoteDiscriminator = 0;
    this._remoteState = 'Down';
    if (this._state === 'Init' || this._state === 'Up')
      this.go('Down', Diag.CONTROL_DETECTION_TIME_EXPIRED, true);
  }
}
