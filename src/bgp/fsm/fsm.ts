/**
 * The RFC 4271 section 8 finite state machine for one connection attempt sequence to one peer. It owns no
 * socket and no real timer: the host performs its effects (connect, send, disconnect) and feeds it events
 * (connected, connection failed, bytes received); timers come from the injected clock.
 *
 * Collision detection (section 6.8) needs two connections at once; the session runs one FSM per
 * connection and asks, through `openReceived`, whether this one may go on.
 */

import type { Clock, Timer } from '../../time/clock.ts';
import { CeaseSubcode, ErrorCode, FsmSubcode, MessageType } from '../codec/constants.ts';
import { decodeMessage } from '../codec/decode.ts';
import { encodeKeepalive, encodeNotification, encodeOpen } from '../codec/encode.ts';
import { MessageFramer } from '../codec/framer.ts';
import type {
  CodecContext,
  NotificationMessage,
  OpenMessage,
  RouteRefreshMessage,
  UpdateMessage,
} from '../codec/messages.ts';
import { EMPTY, type WireError } from '../codec/wire-error.ts';
import { buildOpen, isWireError, type Negotiated, negotiate, type OpenConfig } from './negotiate.ts';

export type BgpState = 'Idle' | 'Connect' | 'Active' | 'OpenSent' | 'OpenConfirm' | 'Established';

export interface FsmHost {
  /** Start a TCP connection to the peer; answer with `tcpConnected` or `tcpFailed`. */
  connect(): void;
  /** Close the connection (or abandon the attempt) after writing what was sent. */
  disconnect(): void;
  send(bytes: Uint8Array): void;
  transition(from: BgpState, to: BgpState, reason: string): void;
  /** The peer's OPEN passed validation. Return false to close this connection with Cease 6/7 (collision lost). */
  openReceived(open: OpenMessage, negotiated: Negotiated): boolean;
  established(negotiated: Negotiated): void;
  /** An UPDATE, possibly one RFC 7606 turned into a withdrawal; `raw` is the message as received. */
  update(message: UpdateMessage, raw: Uint8Array): void;
  routeRefresh(message: RouteRefreshMessage): void;
  notificationSent(n: Pick<NotificationMessage, 'code' | 'subcode' | 'data'>, reason: string): void;
  notificationReceived(n: NotificationMessage): void;
  /** The peer sent a NOTIFICATION that does not decode; it is never answered with one (RFC 4271 6.4). */
  notificationMalformed(error: WireError, raw: Uint8Array): void;
}

export interface FsmOptions {
  open: OpenConfig;
  clock: Clock;
  /** Wait for the peer to connect instead of connecting (PassiveTcpEstablishment). */
  passive: boolean;
  /** After a failure, start again by itself (after the back-off); false for one-shot collision connections. */
  autoRestart: boolean;
  /** How long one TCP connect attempt may take (the ConnectRetryTimer in Connect). Default 10 s. */
  connectTimeoutMs?: number;
  /** Back-off between attempts: starts here, doubles, stops growing at `backoffMaxMs`. Defaults 1 s and 60 s. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Hold time while waiting for the peer's OPEN (RFC 4271 suggests 4 minutes). */
  openSentHoldMs?: number;
  /** Returns a factor in [0.75, 1] that spreads retries (RFC 4271 section 10 jitter). */
  jitter?: () => number;
}

const TWO_OCTET: CodecContext = { fourOctetAs: false };

export class BgpFsm {
  private _state: BgpState = 'Idle';
  private readonly host: FsmHost;
  private readonly o: Required<Omit<FsmOptions, 'open' | 'clock'>> & Pick<FsmOptions, 'open' | 'clock'>;
  private framer = new MessageFramer();
  private ctx: CodecContext = TWO_OCTET;
  private _negotiated: Negotiated | undefined;
  private _peerOpen: OpenMessage | undefined;
  private connectRetry: Timer | undefined;
  private hold: Timer | undefined;
  private keepalive: Timer | undefined;
  private idleHold: Timer | undefined;
  private lastSentAt = 0;
  private failures = 0;
  private keepalivesSuspended = false;
  /** Bumped whenever the connection is dropped, so that work queued for an old one is ignored. */
  private generation = 0;

  constructor(host: FsmHost, options: FsmOptions) {
    this.host = host;
    this.o = {
      connectTimeoutMs: 10_000,
      backoffInitialMs: 1_000,
      backoffMaxMs: 60_000,
      openSentHoldMs: 240_000,
      jitter: () => 0.75 + Math.random() * 0.25,
      ...options,
    };
  }

  get state(): BgpState {
    return this._state;
  }
  get negotiated(): Negotiated | undefined {
    return this._negotiated;
  }
  get peerOpen(): OpenMessage | undefined {
    return this._peerOpen;
  }
  get codecContext(): CodecContext {
    return this.ctx;
  }
  set autoRestart(on: boolean) {
    this.o.autoRestart = on;
  }

  /** ManualStart (or ManualStart_with_PassiveTcpEstablishment). */
  start(): void {
    if (this._state !== 'Idle') return;
    this.cancel('idleHold');
    this.begin('start');
  }

  /** ManualStop: a Cease (Administrative Shutdown unless told otherwise) if a session is up, then Idle for good. */
  stop(reason = 'stopped', cease?: { subcode: number; data?: Uint8Array }): void {
    this.o.autoRestart = false;
    this.cancel('idleHold');
    if (this._state === 'OpenSent' || this._state === 'OpenConfirm' || this._state === 'Established') {
      this.notify(
        ErrorCode.CEASE,
        cease?.subcode ?? CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
        reason,
        cease?.data ?? new Uint8Array(0),
      );
    }
    this.drop();
    this.go('Idle', reason);
  }

  /**
   * Ends the connection with a NOTIFICATION the host chose (a Cease: BFD Down, Out of Resources), then starts
   * again after the back-off, as after any other failure. Does nothing before the OPEN went out.
   */
  abort(code: number, subcode: number, reason: string): void {
    if (this._state !== 'OpenSent' && this._state !== 'OpenConfirm' && this._state !== 'Established') return;
    this.notify(code, subcode, reason, new Uint8Array(0));
    this.tcpFailed(reason);
  }

  /** Stop sending keepalives while staying up: lets tests prove the peer enforces its hold timer. */
  suspendKeepalives(on: boolean): void {
    this.keepalivesSuspended = on;
  }

  /** The host sent an UPDATE: it counts as a keepalive (RFC 4271 4.4). */
  sentUpdate(): void {
    this.lastSentAt = this.o.clock.now();
  }

  /** A TCP connection to the peer is up (outgoing attempt succeeded, or an incoming one was accepted). */
  tcpConnected(): void {
    if (this._state !== 'Connect' && this._state !== 'Active') return;
    this.cancel('connectRetry');
    this.framer = new MessageFramer();
    this.ctx = TWO_OCTET;
    this.send(encodeOpen(buildOpen(this.o.open)));
    this.startHold(this.o.openSentHoldMs);
    this.go('OpenSent', 'TCP connection up, OPEN sent');
  }

  /** The connect attempt failed, or the connection closed or broke. */
  tcpFailed(reason: string): void {
    switch (this._state) {
      case 'Connect':
        this.cancel('connectRetry');
        this.host.disconnect();
        this.waitActive(`connect failed: ${reason}`);
        return;
      case 'Active':
        return;
      case 'OpenSent':
        this.drop();
        if (this.o.autoRestart) this.waitActive(`connection lost in OpenSent: ${reason}`);
        else this.go('Idle', `connection lost: ${reason}`);
        return;
      case 'OpenConfirm':
      case 'Established':
        this.drop();
        this.fail(`connection lost: ${reason}`);
        return;
      default:
        return;
    }
  }

  /** Bytes from the connection. Handles any number of whole or partial messages; never throws on their content. */
  receive(chunk: Uint8Array): void {
    if (this._state !== 'OpenSent' && this._state !== 'OpenConfirm' && this._state !== 'Established') return;
    const generation = this.generation;
    this.framer.push(chunk);
    while (generation === this.generation) {
      const frame = this.framer.next();
      if (!frame) return;
      if (!frame.ok) {
        if (frame.messageType === MessageType.NOTIFICATION) this.badNotification(frame.error, EMPTY);
        else this.malformed(frame.error);
        return;
      }
      const decoded = decodeMessage(frame.bytes, this.ctx);
      if (!decoded.ok) {
        if (frame.bytes[18] === MessageType.NOTIFICATION) this.badNotification(decoded.error, frame.bytes);
        else this.malformed(decoded.error);
        return;
      }
      const m = decoded.value;
      switch (m.type) {
        case 'open':
          this.onOpen(m);
          break;
        case 'keepalive':
          this.onKeepalive();
          break;
        case 'update':
          this.onUpdate(m, frame.bytes);
          break;
        case 'route-refresh':
          this.onRouteRefresh(m);
          break;
        case 'notification':
          this.host.notificationReceived(m);
          this.drop();
          this.fail(`NOTIFICATION ${m.code}/${m.subcode} received`);
          break;
      }
    }
  }

  private onOpen(open: OpenMessage): void {
    if (this._state !== 'OpenSent') {
      this.unexpected('OPEN');
      return;
    }
    const result = negotiate(open, this.o.open);
    if (isWireError(result)) {
      this.malformed(result);
      return;
    }
    this._peerOpen = open;
    this._negotiated = result;
    this.ctx = { fourOctetAs: result.fourOctetAs, ibgp: result.ibgp };
    if (!this.host.openReceived(open, result)) {
      this.stop('connection collision resolved in favour of the other connection', {
        subcode: CeaseSubcode.CONNECTION_COLLISION_RESOLUTION,
      });
      return;
    }
    this.send(encodeKeepalive());
    this.startHold(result.holdTimeMs);
    this.startKeepalive();
    this.go('OpenConfirm', `OPEN received from ${open.bgpId}`);
  }

  private onKeepalive(): void {
    if (this._state === 'OpenSent') {
      this.unexpected('KEEPALIVE');
      return;
    }
    this.startHold(this._negotiated!.holdTimeMs);
    if (this._state === 'OpenConfirm') {
      this.failures = 0;
      this.go('Established', 'KEEPALIVE received');
      // The host may stop us from inside `established`; only then is the state no longer Established.
      this.host.established(this._negotiated!);
    }
  }

  private onUpdate(m: UpdateMessage, raw: Uint8Array): void {
    if (this._state !== 'Established') {
      this.unexpected('UPDATE');
      return;
    }
    this.startHold(this._negotiated!.holdTimeMs);
    this.host.update(m, raw);
  }

  private onRouteRefresh(m: RouteRefreshMessage): void {
    if (this._state !== 'Established') {
      this.unexpected('ROUTE-REFRESH');
      return;
    }
    this.startHold(this._negotiated!.holdTimeMs);
    this.host.routeRefresh(m);
  }

  private unexpected(what: string): void {
    const subcode =
      this._state === 'OpenSent'
        ? FsmSubcode.UNEXPECTED_IN_OPENSENT
        : this._state === 'OpenConfirm'
          ? FsmSubcode.UNEXPECTED_IN_OPENCONFIRM
          : FsmSubcode.UNEXPECTED_IN_ESTABLISHED;
    const reason = `unexpected ${what} in ${this._state}`;
    this.notify(ErrorCode.FSM, subcode, reason, new Uint8Array(0));
    this.drop();
    this.fail(reason);
  }

  private malformed(e: WireError): void {
    this.notify(e.code, e.subcode, e.reason, e.data);
    this.drop();
    this.fail(e.reason);
  }

  /** The peer's NOTIFICATION is itself malformed: close without a NOTIFICATION of ours (RFC 4271 6.4). */
  private badNotification(e: WireError, raw: Uint8Array): void {
    this.host.notificationMalformed(e, raw);
    this.drop();
    this.fail(`malformed NOTIFICATION received: ${e.reason}`);
  }

  /** Idle -> Connect, or -> Active when passive. */
  private begin(reason: string): void {
    if (this.o.passive) {
      this.go('Active', `${reason}, waiting for the peer to connect`);
      return;
    }
    this.go('Connect', reason);
    this.connectRetry = this.o.clock.setTimer(this.o.connectTimeoutMs, () => this.connectTimedOut());
    this.host.connect();
  }

  private connectTimedOut(): void {
    this.connectRetry = undefined;
    if (this._state !== 'Connect') return;
    this.host.disconnect();
    this.waitActive('connect timed out');
  }

  /** Active with the ConnectRetryTimer set to the back-off, then Connect again (RFC 4271 8.2.2, Connect state). */
  private waitActive(reason: string): void {
    const delay = this.nextBackoff();
    this.go('Active', `${reason}; retrying in ${Math.round(delay)} ms`);
    if (this.o.passive) return;
    this.connectRetry = this.o.clock.setTimer(delay, () => {
      this.connectRetry = undefined;
      if (this._state === 'Active') this.begin('retry');
    });
  }

  private nextBackoff(): number {
    const base = Math.min(this.o.backoffMaxMs, this.o.backoffInitialMs * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return base * this.o.jitter();
  }

  /** Any error after the OPEN exchange: Idle, then an automatic start after the back-off (IdleHoldTimer). */
  private fail(reason: string): void {
    if (!this.o.autoRestart) {
      this.go('Idle', reason);
      return;
    }
    const delay = this.nextBackoff();
    this.go('Idle', `${reason}; restarting in ${Math.round(delay)} ms`);
    this.idleHold = this.o.clock.setTimer(delay, () => {
      this.idleHold = undefined;
      if (this._state === 'Idle' && this.o.autoRestart) this.begin('automatic restart');
    });
  }

  private startHold(ms: number): void {
    this.cancel('hold');
    if (ms === 0) return;
    this.hold = this.o.clock.setTimer(ms, () => {
      this.hold = undefined;
      this.notify(
        ErrorCode.HOLD_TIMER_EXPIRED,
        0,
        `no message from the peer for ${ms} ms`,
        new Uint8Array(0),
      );
      this.drop();
      this.fail('hold timer expired');
    });
  }

  private startKeepalive(): void {
    this.cancel('keepalive');
    const every = this._negotiated?.keepaliveMs ?? 0;
    if (every === 0) return;
    const tick = (wait: number) => {
      this.keepalive = this.o.clock.setTimer(wait, () => {
        const idle = this.o.clock.now() - this.lastSentAt;
        if (idle >= every) {
          if (!this.keepalivesSuspended) this.send(encodeKeepalive());
          tick(every);
        } else {
          tick(every - idle);
        }
      });
    };
    tick(every);
  }

  private send(bytes: Uint8Array): void {
    this.lastSentAt = this.o.clock.now();
    this.host.send(bytes);
  }

  private notify(code: number, subcode: number, reason: string, data: Uint8Array): void {
    const n = { code, subcode, data };
    this.host.notificationSent(n, reason);
    this.host.send(encodeNotification(n));
  }

  /** Releases the connection and every connection timer. */
  private drop(): void {
    this.generation++;
    this.cancel('connectRetry');
    this.cancel('hold');
    this.cancel('keepalive');
    this.host.disconnect();
  }

  private cancel(which: 'connectRetry' | 'hold' | 'keepalive' | 'idleHold'): void {
    const t =
      which === 'connectRetry'
        ? this.connectRetry
        : which === 'hold'
          ? this.hold
          : which === 'keepalive'
            ? this.keepalive
            : this.idleHold;
    t?.cancel();
    if (which === 'connectRetry') this.connectRetry = undefined;
    else if (which === 'hold') this.hold = undefined;
    else if (which === 'keepalive') this.keepalive = undefined;
    else this.idleHold = undefined;
  }

  private go(to: BgpState, reason: string): void {
    const from = this._state;
    this._state = to;
    if (to === 'Idle' || to === 'Connect' || to === 'Active') this._negotiated = undefined;
    if (from !== to) this.host.transition(from, to, reason);
  }
}
