/**
 * One BGP session to one peer: the FSM on top of real TCP sockets, the Adj-RIB-Out, and collision handling
 * between an outgoing and an incoming connection (RFC 4271 6.8). Everything the peer sends is decoded and
 * discarded (Beacon announces, it does not learn); nothing it sends can throw out of a socket callback.
 *
 *   const s = new BgpSession({ localAs: 65001, peerAs: 65000, peerAddress: '192.0.2.1', routerId: '192.0.2.10', log });
 *   s.on('state', (c) => console.log(c.to));
 *   s.announce('198.51.100.7/32', { communities: [parseCommunity('65001:100')!] });
 *   s.start();
 *   await s.waitForState('Established');
 *   await s.stop({ withdraw: true });
 *
 * With `bfd` (a BFDProfile's timers), a BFD session to the same peer runs beside the BGP session for its
 * whole life; when BFD declares the path dead, the BGP connection is reset at once (RFC 5882 4.3) with a
 * Cease "BFD Down" (RFC 9384) instead of waiting for the hold timer. An AdminDown from the peer is not a
 * failure and resets nothing (RFC 5882 3.2); a BFD session that never comes Up does not hold BGP back.
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import type { BfdStateChange } from '../../bfd/fsm.ts';
import { diagName } from '../../bfd/packet.ts';
import { type BfdProfileOptions, BfdSession } from '../../bfd/session.ts';
import type { BfdTransport } from '../../bfd/transport.ts';
import { Afi, CeaseSubcode, ErrorCode, type OriginValue, Safi } from '../codec/constants.ts';
import { describeCapability, describeNotification } from '../codec/describe.ts';
import { encodeNotification, encodeRouteRefresh, shutdownCommunication } from '../codec/encode.ts';
import type {
  NotificationMessage,
  OpenMessage,
  RouteRefreshMessage,
  UpdateMessage,
} from '../codec/messages.ts';
import { type Family, type Prefix, parseIp } from '../codec/prefix.ts';
import { type Clock, systemClock, type Timer } from '../fsm/clock.ts';
import { BgpFsm, type BgpState, type FsmHost } from '../fsm/fsm.ts';
import { compareRouterIds, type GracefulRestartConfig, type Negotiated } from '../fsm/negotiate.ts';
import { AdjRibOut, type ExportPolicy, endOfRibFor, type RouteAttributes } from '../rib/adj-rib-out.ts';
import { chooseNextHops, type InterfaceTable, type NextHops } from './next-hop.ts';
import { defaultSocketFactory, type SocketFactory, type TcpSecurity } from './socket-factory.ts';

export interface SessionOptions {
  localAs: number;
  /** The peer's ASN; 'external': whatever ASN it presents, as long as it is not localAs (eBGP). */
  peerAs: number | 'external';
  peerAddress: string;
  /** Default 179. */
  peerPort?: number;
  /** Source address for the outgoing connection. */
  localAddress?: string;
  /** BGP identifier, a non-zero dotted quad. */
  routerId: string;
  /** Proposed hold time in seconds (0, or 3 and more). Default 90. */
  holdTimeSec?: number;
  keepaliveTimeSec?: number;
  /** Time allowed for one TCP connect. Default 10 s. */
  connectTimeoutMs?: number;
  /** Reconnect back-off: first delay and cap. Defaults 1 s and 60 s. */
  backoffInitialMs?: number;
  backoffMaxMs?: number;
  /** Never connect out; the peer connects to a BgpListener this session is added to. */
  passive?: boolean;
  /** RFC 2385 TCP MD5 password (needs the native addon). */
  password?: string;
  /** eBGP to a peer this many hops away: outgoing TTL (set through the native addon when it is built). */
  ebgpMultihop?: number;
  /** RFC 5082 GTSM: send TTL 255, accept only TTL >= 255 - hops (default hops 1). Needs the native addon. */
  gtsm?: boolean | { hops: number };
  /** Advertise graceful restart (RFC 4724) so the peer keeps Beacon's routes through a speaker restart. */
  gracefulRestart?: GracefulRestartConfig;
  /** Families to offer. Default both. */
  families?: readonly Family[];
  /** Next hops to announce instead of the ones derived from the session's local address. */
  nextHop?: NextHops;
  /** Least time between two rounds of announcements (withdrawals never wait). Default 0: batch per tick. */
  minRouteAdvertisementIntervalMs?: number;
  /** ORIGIN of Beacon's routes. Default IGP. */
  origin?: OriginValue;
  /** Run BFD (RFC 5880/5881 single hop) to the peer with these timers; a BFDProfile's spec fits as it is. */
  bfd?: BfdProfileOptions;
  /** BFD's UDP transport; the process's shared one on port 3784 by default. */
  bfdTransport?: BfdTransport;
  log: Logger;
  clock?: Clock;
  socketFactory?: SocketFactory;
  /** The host's interfaces, for next hop selection; default os.networkInterfaces. */
  interfaces?: () => InterfaceTable;
}

export interface StateChange {
  from: BgpState;
  to: BgpState;
  reason: string;
}

export interface NotificationEvent {
  direction: 'sent' | 'received';
  code: number;
  subcode: number;
  data: Uint8Array;
  /** e.g. `4/0 hold-timer-expired`. */
  text: string;
  reason?: string;
  shutdownMessage?: string;
}

export interface SentEvent {
  /** UPDATEs carrying routes or withdrawals. */
  updates: number;
  /** Families whose End-of-RIB marker followed. */
  endOfRib: Family[];
}

export interface SessionStats {
  updatesReceived: number;
  prefixesReceived: number;
  updatesSent: number;
  established: number;
}

export interface SessionEvents {
  state: [StateChange];
  open: [{ open: OpenMessage; negotiated: Negotiated }];
  established: [Negotiated];
  notification: [NotificationEvent];
  update: [UpdateMessage];
  'route-refresh': [{ family: Family }];
  sent: [SentEvent];
  /** A state change of the session's BFD session (only with the `bfd` option). */
  bfd: [BfdStateChange];
}

/** RFC 9384 Cease subcode: the BGP session went down because BFD said the path is down. */
const CEASE_BFD_DOWN = 10;

type Direction = 'outgoing' | 'incoming';

function familyOf(afi: number, safi: number): Family | undefined {
  if (safi !== Safi.UNICAST) return undefined;
  return afi === Afi.IPV4 ? 'ipv4' : afi === Afi.IPV6 ? 'ipv6' : undefined;
}

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** `::ffff:192.0.2.1` and `192.0.2.1` are the same peer. */
export function normalizeAddress(address: string): string {
  const bare = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  const ip = parseIp(bare.split('%')[0]!);
  if (!ip) return bare;
  return ip.family === 'ipv4' ? bare : bare.toLowerCase();
}

/** One TCP connection (or attempt) with its own FSM; a session has one, two during a collision. */
class Connection implements FsmHost {
  readonly fsm: BgpFsm;
  direction: Direction;
  socket: Socket | undefined;
  #attempt: AbortController | undefined;
  readonly #session: BgpSession;

  constructor(session: BgpSession, direction: Direction, passive: boolean, autoRestart: boolean) {
    this.#session = session;
    this.direction = direction;
    this.fsm = session.createFsm(this, passive, autoRestart);
  }

  connect(): void {
    const attempt = new AbortController();
    this.#attempt = attempt;
    this.direction = 'outgoing';
    this.#session
      .openSocket(attempt.signal)
      .then(
        (socket) => {
          if (this.#attempt !== attempt) {
            socket.destroy();
            return;
          }
          this.#attempt = undefined;
          this.attach(socket);
          this.#session.guard(this, () => this.fsm.tcpConnected());
        },
        (err: Error) => {
          if (this.#attempt !== attempt) return;
          this.#attempt = undefined;
          this.#session.guard(this, () => this.fsm.tcpFailed(err.message));
        },
      )
      .catch(() => {});
  }

  /** Takes an incoming socket (or the result of our own connect). */
  attach(socket: Socket): void {
    this.abortAttempt();
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.socket === socket) this.#session.guard(this, () => this.fsm.receive(chunk));
    });
    socket.on('error', (err) => this.#session.log.debug({ err: err.message }, 'socket error'));
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.#session.guard(this, () => this.fsm.tcpFailed('connection closed by the peer'));
    });
  }

  abortAttempt(): void {
    this.#attempt?.abort();
    this.#attempt = undefined;
  }

  disconnect(): void {
    this.abortAttempt();
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return;
    // Let what is queued (a NOTIFICATION) go out, then close; a peer that never closes its side is cut off.
    socket.end();
    const force = setTimeout(() => socket.destroy(), 2_000);
    force.unref();
    socket.once('close', () => clearTimeout(force));
    this.#session.trackClosing(socket);
  }

  send(bytes: Uint8Array): void {
    const s = this.socket;
    if (s && !s.destroyed && s.writable) s.write(bytes);
  }

  transition(from: BgpState, to: BgpState, reason: string): void {
    this.#session.onTransition(this, from, to, reason);
  }
  openReceived(open: OpenMessage, negotiated: Negotiated): boolean {
    return this.#session.onOpen(this, open, negotiated);
  }
  established(negotiated: Negotiated): void {
    this.#session.onEstablished(this, negotiated);
  }
  update(message: UpdateMessage): void {
    this.#session.onUpdate(message);
  }
  routeRefresh(message: RouteRefreshMessage): void {
    this.#session.onRouteRefresh(this, message);
  }
  notificationSent(n: Pick<NotificationMessage, 'code' | 'subcode' | 'data'>, reason: string): void {
    this.#session.onNotification(this, 'sent', n, reason);
  }
  notificationReceived(n: NotificationMessage): void {
    this.#session.onNotification(this, 'received', n);
  }
}

export class BgpSession extends EventEmitter<SessionEvents> {
  readonly log: Logger;
  readonly options: Readonly<SessionOptions>;
  readonly peerAddress: string;
  readonly stats: SessionStats = {
    updatesReceived: 0,
    prefixesReceived: 0,
    updatesSent: 0,
    established: 0,
  };
  readonly #rib = new AdjRibOut();
  readonly #clock: Clock;
  readonly #factory: SocketFactory;
  #security: TcpSecurity = {};
  #primary: Connection | undefined;
  #secondary: Connection | undefined;
  #policy: ExportPolicy | undefined;
  #flushTimer: Timer | undefined;
  #flushDue = Number.POSITIVE_INFINITY;
  #lastAnnounceAt = Number.NEGATIVE_INFINITY;
  #started = false;
  #keepalivesSuspended = false;
  #bfd: BfdSession | undefined;
  readonly #closing = new Set<Socket>();

  constructor(options: SessionOptions) {
    super();
    this.options = options;
    this.peerAddress = normalizeAddress(options.peerAddress);
    this.#clock = options.clock ?? systemClock;
    this.#factory = options.socketFactory ?? defaultSocketFactory;
    this.log = options.log.child({
      peer: this.peerAddress,
      localAs: options.localAs,
      peerAs: options.peerAs,
    });
    const hold = options.holdTimeSec ?? 90;
    if (hold === 1 || hold === 2 || hold < 0 || hold > 65535)
      throw new RangeError(`hold time ${hold}: use 0 or 3..65535`);
    if (!parseIp(this.peerAddress))
      throw new TypeError(`peer address is not an IP address: ${options.peerAddress}`);
    const id = parseIp(options.routerId);
    if (id?.family !== 'ipv4' || options.routerId === '0.0.0.0')
      throw new TypeError(`router id must be a non-zero IPv4 dotted quad: ${options.routerId}`);
    for (const asn of [options.localAs, ...(options.peerAs === 'external' ? [] : [options.peerAs])])
      if (!Number.isInteger(asn) || asn < 1 || asn > 0xffffffff)
        throw new RangeError(`ASN out of range: ${asn}`);
  }

  // ---- public API ----

  get state(): BgpState {
    return this.#primary?.fsm.state ?? 'Idle';
  }
  get negotiated(): Negotiated | undefined {
    return this.#primary?.fsm.negotiated;
  }
  get peerOpen(): OpenMessage | undefined {
    return this.#primary?.fsm.peerOpen;
  }
  get localAddress(): string | undefined {
    return this.#primary?.socket?.localAddress;
  }
  get routes(): Map<string, RouteAttributes> {
    return this.#rib.routes();
  }
  isAdvertised(prefix: string): boolean {
    return this.#rib.isAdvertised(prefix);
  }
  /** The BFD session beside this one, while started with the `bfd` option. */
  get bfd(): BfdSession | undefined {
    return this.#bfd;
  }

  /**
   * Starts connecting (or waiting, when passive). Throws when the options ask for something this host
   * cannot do (an MD5 password or GTSM without the native addon), rather than running unprotected.
   */
  start(): void {
    if (this.#started) return;
    const o = this.options;
    const security: TcpSecurity = {};
    if (o.password !== undefined) security.md5Password = o.password;
    if (o.gtsm) {
      const hops = typeof o.gtsm === 'object' ? o.gtsm.hops : 1;
      security.ttl = 255;
      security.minTtl = 255 - hops;
    } else if (o.ebgpMultihop !== undefined && o.peerAs !== o.localAs) {
      security.ttl = o.ebgpMultihop;
    }
    const hard = { ...security };
    delete hard.ttl;
    const refused = this.#factory.unsupported(hard);
    if (refused) throw new Error(refused);
    if (security.ttl !== undefined && !security.minTtl && this.#factory.unsupported(security)) {
      // Multihop needs a TTL of at least the hop count; the system default (64) already is, so go on.
      this.log.warn(
        { ttl: security.ttl, why: this.#factory.unsupported(security) },
        'cannot set the outgoing TTL; using the system default',
      );
      delete security.ttl;
    }
    this.#security = security;
    this.#started = true;
    this.#primary = new Connection(this, 'outgoing', o.passive ?? false, true);
    this.#primary.fsm.start();
    if (o.bfd) this.#startBfd(o.bfd);
  }

  /**
   * Ends the session: optionally withdraws every route first, then sends a Cease (Administrative Shutdown,
   * with `message` as RFC 8203 text) and closes. Resolves once the sockets are closed.
   */
  async stop(opts: { withdraw?: boolean; message?: string } = {}): Promise<void> {
    if (!this.#started) return;
    this.#started = false;
    // AdminDown, so the peer does not take the BFD silence that follows for a failure (RFC 5882 3.2).
    const bfdStopped = this.#bfd?.stop();
    this.#bfd = undefined;
    if (opts.withdraw && this.state === 'Established') {
      this.#rib.withdrawAll();
      this.#flush();
    }
    this.#cancelFlush();
    const data = opts.message ? shutdownCommunication(opts.message) : undefined;
    for (const c of [this.#secondary, this.#primary]) {
      c?.fsm.stop(opts.message ?? 'stopped', {
        subcode: CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
        ...(data ? { data } : {}),
      });
    }
    this.#secondary = undefined;
    await bfdStopped;
    await Promise.all(
      [...this.#closing].map(
        (s) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve()))),
      ),
    );
  }

  announce(prefix: Prefix | string, attributes: RouteAttributes = {}): void {
    this.#rib.announce(prefix, attributes);
    this.#scheduleFlush();
  }

  withdraw(prefix: Prefix | string): void {
    this.#rib.withdraw(prefix);
    this.#scheduleFlush();
  }

  withdrawAll(): void {
    this.#rib.withdrawAll();
    this.#scheduleFlush();
  }

  /** Asks the peer to send its routes again (RFC 2918), if it supports route refresh. */
  requestRouteRefresh(family: Family): boolean {
    const n = this.negotiated;
    if (this.state !== 'Established' || !n?.routeRefresh || !n.families.includes(family)) return false;
    this.#primary!.send(encodeRouteRefresh(family === 'ipv4' ? Afi.IPV4 : Afi.IPV6, Safi.UNICAST));
    this.#primary!.fsm.sentUpdate();
    return true;
  }

  /** Stops (or resumes) sending keepalives while staying up, so a test can watch the peer's hold timer fire. */
  suspendKeepalives(on: boolean): void {
    this.#keepalivesSuspended = on;
    this.#primary?.fsm.suspendKeepalives(on);
  }

  /** Resolves when the session reaches `state`; rejects when `signal` aborts. */
  waitForState(state: BgpState, signal?: AbortSignal): Promise<void> {
    if (this.state === state) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onState = (c: StateChange) => {
        if (c.to !== state) return;
        cleanup();
        resolve();
      };
      const onAbort = () => {
        cleanup();
        reject(signal?.reason ?? new Error('aborted'));
      };
      const cleanup = () => {
        this.off('state', onState);
        signal?.removeEventListener('abort', onAbort);
      };
      this.on('state', onState);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (signal?.aborted) onAbort();
    });
  }

  /** An incoming TCP connection from this peer (from a BgpListener). */
  acceptConnection(socket: Socket): void {
    const primary = this.#primary;
    const state = primary?.fsm.state;
    if (!this.#started || !primary || state === 'Idle' || state === 'Established' || this.#secondary) {
      this.log.info({ state }, 'refusing incoming connection');
      socket.destroy();
      return;
    }
    if (state === 'Connect' || state === 'Active') {
      primary.direction = 'incoming';
      primary.attach(socket);
      this.guard(primary, () => primary.fsm.tcpConnected());
      return;
    }
    // OpenSent or OpenConfirm: both connections run until the OPENs tell which one to keep.
    this.log.info({ state }, 'incoming connection while one is being set up: collision detection');
    const second = new Connection(this, 'incoming', true, false);
    this.#secondary = second;
    second.fsm.start();
    second.attach(socket);
    this.guard(second, () => second.fsm.tcpConnected());
  }

  // ---- BFD ----

  #startBfd(profile: BfdProfileOptions): void {
    const o = this.options;
    const bfd = new BfdSession({
      peerAddress: o.peerAddress,
      profile,
      log: this.log,
      clock: this.#clock,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
      ...(o.bfdTransport ? { transport: o.bfdTransport } : {}),
    });
    this.#bfd = bfd;
    bfd.on('state', (c) => {
      this.emit('bfd', c);
      if (c.failure && this.#bfd === bfd) this.guard(undefined, () => this.#resetForBfd(c));
    });
    bfd.start();
  }

  /** The path is down: drop the connection now and let the FSM reconnect after its back-off. */
  #resetForBfd(c: BfdStateChange): void {
    const conn = this.#primary;
    const state = conn?.fsm.state;
    if (!conn || (state !== 'OpenSent' && state !== 'OpenConfirm' && state !== 'Established')) return;
    const reason = `BFD session down (${diagName(c.diag)})`;
    this.log.warn({ state, diag: c.diag }, 'BFD down: resetting the BGP session');
    // Likely lost on a dead path, but it tells a peer on a one-way failure why.
    const n = { code: ErrorCode.CEASE, subcode: CEASE_BFD_DOWN, data: new Uint8Array(0) };
    this.onNotification(conn, 'sent', n, reason);
    conn.send(encodeNotification(n));
    conn.disconnect();
    conn.fsm.tcpFailed(reason);
  }

  // ---- used by Connection ----

  /**
   * The Restart State (R) bit says "this speaker has just restarted": true in the OPEN of the first session
   * after a restart only (RFC 4724 section 3), so it is read afresh for every OPEN this session sends.
   */
  #gracefulRestartForOpen(gr: GracefulRestartConfig): GracefulRestartConfig {
    const stats = this.stats;
    return {
      restartTimeSec: gr.restartTimeSec,
      forwardingPreserved: gr.forwardingPreserved,
      get restarting() {
        return gr.restarting && stats.established === 0;
      },
    };
  }

  createFsm(host: FsmHost, passive: boolean, autoRestart: boolean): BgpFsm {
    const o = this.options;
    const clock: Clock = {
      now: () => this.#clock.now(),
      setTimer: (ms, fire) => this.#clock.setTimer(ms, () => this.guard(undefined, fire)),
    };
    const fsm = new BgpFsm(host, {
      open: {
        localAs: o.localAs,
        peerAs: o.peerAs,
        routerId: o.routerId,
        holdTimeSec: o.holdTimeSec ?? 90,
        families: o.families ?? ['ipv4', 'ipv6'],
        ...(o.keepaliveTimeSec !== undefined ? { keepaliveTimeSec: o.keepaliveTimeSec } : {}),
        ...(o.gracefulRestart ? { gracefulRestart: this.#gracefulRestartForOpen(o.gracefulRestart) } : {}),
      },
      clock,
      passive,
      autoRestart,
      ...(o.connectTimeoutMs !== undefined ? { connectTimeoutMs: o.connectTimeoutMs } : {}),
      ...(o.backoffInitialMs !== undefined ? { backoffInitialMs: o.backoffInitialMs } : {}),
      ...(o.backoffMaxMs !== undefined ? { backoffMaxMs: o.backoffMaxMs } : {}),
    });
    fsm.suspendKeepalives(this.#keepalivesSuspended);
    return fsm;
  }

  openSocket(signal: AbortSignal): Promise<Socket> {
    const o = this.options;
    return this.#factory.connect({
      host: this.peerAddress,
      port: o.peerPort ?? 179,
      timeoutMs: o.connectTimeoutMs ?? 10_000,
      signal,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
      ...this.#security,
    });
  }

  trackClosing(socket: Socket): void {
    this.#closing.add(socket);
    socket.once('close', () => this.#closing.delete(socket));
    if (socket.destroyed) this.#closing.delete(socket);
  }

  /**
   * Runs socket and timer callbacks. Whatever goes wrong inside (a bug, a listener that throws) ends this
   * connection with a log line instead of escaping into the event loop and taking the process down.
   */
  guard(conn: Connection | undefined, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err }, 'internal error handling the session; dropping the connection');
      const target = conn ?? this.#primary;
      if (!target) return;
      try {
        target.socket?.destroy();
        target.socket = undefined;
        target.fsm.tcpFailed('internal error');
      } catch (again) {
        this.log.error({ err: again }, 'internal error while dropping the connection');
      }
    }
  }

  onTransition(conn: Connection, from: BgpState, to: BgpState, reason: string): void {
    if (conn !== this.#primary) {
      this.log.debug({ from, to, reason, connection: conn.direction }, 'collision connection state');
      if (to === 'Idle' && conn === this.#secondary) this.#secondary = undefined;
      return;
    }
    if (from === 'Established') {
      this.#cancelFlush();
      this.#policy = undefined;
      this.#rib.reset();
    }
    const line = { from, to, reason, connection: conn.direction };
    if (to === 'Established' || from === 'Established') this.log.info(line, `BGP state ${to}`);
    else this.log.debug(line, `BGP state ${to}`);
    this.emit('state', { from, to, reason });
  }

  onOpen(conn: Connection, open: OpenMessage, negotiated: Negotiated): boolean {
    const other = conn === this.#primary ? this.#secondary : this.#primary;
    if (other && (other.fsm.state === 'OpenConfirm' || other.fsm.state === 'Established')) {
      // RFC 4271 6.8: keep the connection opened by the side with the higher BGP identifier.
      const localWins = compareRouterIds(this.options.routerId, open.bgpId) > 0;
      const keepDirection: Direction = localWins ? 'outgoing' : 'incoming';
      const keepThis =
        other.fsm.state !== 'Established' &&
        conn.direction !== other.direction &&
        conn.direction === keepDirection;
      this.log.info(
        {
          localId: this.options.routerId,
          peerId: open.bgpId,
          kept: keepThis ? conn.direction : other.direction,
        },
        'connection collision resolved',
      );
      if (!keepThis) return false;
      if (other === this.#primary) {
        this.#primary = conn;
        this.#secondary = undefined;
        conn.fsm.autoRestart = true;
      }
      other.fsm.stop('connection collision resolved in favour of the other connection', {
        subcode: CeaseSubcode.CONNECTION_COLLISION_RESOLUTION,
      });
    }
    if (conn === this.#primary) {
      this.log.info(
        {
          peerRouterId: open.bgpId,
          peerAsn: negotiated.peerAs,
          holdTime: open.holdTime,
          negotiatedHoldTime: negotiated.holdTimeMs / 1000,
          capabilities: open.capabilities.map(describeCapability),
          families: negotiated.families,
        },
        'OPEN received',
      );
      this.emit('open', { open, negotiated });
    }
    return true;
  }

  onEstablished(conn: Connection, negotiated: Negotiated): void {
    if (conn !== this.#primary) return;
    this.stats.established++;
    const local = conn.socket?.localAddress ?? this.options.localAddress ?? '';
    const hops =
      this.options.nextHop ??
      chooseNextHops(local, this.peerAddress, (this.options.interfaces ?? networkInterfaces)());
    this.#policy = {
      localAs: this.options.localAs,
      ibgp: negotiated.ibgp,
      fourOctetAs: negotiated.fourOctetAs,
      families: new Set(negotiated.families),
      ...(hops.ipv4 ? { nextHopIpv4: hops.ipv4 } : {}),
      ...(hops.ipv6 ? { nextHopIpv6: hops.ipv6 } : {}),
      ...(this.options.origin !== undefined ? { origin: this.options.origin } : {}),
    };
    for (const f of negotiated.families) {
      if ((f === 'ipv4' && !hops.ipv4) || (f === 'ipv6' && !hops.ipv6))
        this.log.warn(
          { family: f, localAddress: local },
          'no local address of this family for the next hop; its routes wait',
        );
    }
    this.emit('established', negotiated);
    if (this.#primary !== conn || conn.fsm.state !== 'Established') return;
    // The initial table, then End-of-RIB for every family (RFC 4724 says to send it even without GR).
    this.#rib.reset();
    this.#flush(negotiated.families);
  }

  onUpdate(message: UpdateMessage): void {
    this.stats.updatesReceived++;
    const n = message.nlri.length + (message.attributes.mpReach?.nlri.length ?? 0);
    this.stats.prefixesReceived += n;
    if (message.attributes.discarded?.length)
      this.log.debug(
        { discarded: message.attributes.discarded },
        'attributes discarded from a received UPDATE',
      );
    this.emit('update', message);
  }

  onRouteRefresh(conn: Connection, m: RouteRefreshMessage): void {
    const family = familyOf(m.afi, m.safi);
    // RFC 2918: a refresh for a family that was not negotiated is ignored.
    if (conn !== this.#primary || !family || !this.#policy?.families.has(family)) {
      this.log.debug({ afi: m.afi, safi: m.safi }, 'ignoring ROUTE-REFRESH for a family not negotiated');
      return;
    }
    this.#flush();
    const msgs = this.#rib.fullTable(family, this.#policy);
    this.#sendUpdates(conn, msgs);
    this.log.info({ family, updates: msgs.length }, 'ROUTE-REFRESH received: Adj-RIB-Out sent again');
    this.emit('route-refresh', { family });
  }

  onNotification(
    conn: Connection,
    direction: 'sent' | 'received',
    n: Pick<NotificationMessage, 'code' | 'subcode' | 'data'> & { shutdownMessage?: string },
    reason?: string,
  ): void {
    const text = describeNotification(n.code, n.subcode);
    const fields = {
      direction,
      code: n.code,
      subcode: n.subcode,
      notification: text,
      data: hex(n.data),
      connection: conn.direction,
      ...(reason ? { reason } : {}),
      ...(n.shutdownMessage ? { shutdownMessage: n.shutdownMessage } : {}),
    };
    const routine = n.code === 6 && (n.subcode === 2 || n.subcode === 7);
    if (routine) this.log.info(fields, `NOTIFICATION ${direction}`);
    else this.log.warn(fields, `NOTIFICATION ${direction}`);
    if (conn !== this.#primary) return;
    this.emit('notification', {
      direction,
      code: n.code,
      subcode: n.subcode,
      data: n.data,
      text,
      ...(reason ? { reason } : {}),
      ...(n.shutdownMessage ? { shutdownMessage: n.shutdownMessage } : {}),
    });
  }

  // ---- sending ----

  #scheduleFlush(): void {
    if (!this.#policy || this.state !== 'Established' || !this.#rib.hasChanges) return;
    const now = this.#clock.now();
    const mrai = this.options.minRouteAdvertisementIntervalMs ?? 0;
    const due = this.#rib.hasWithdrawals ? now : Math.max(now, this.#lastAnnounceAt + mrai);
    if (this.#flushTimer && this.#flushDue <= due) return;
    this.#cancelFlush();
    this.#flushDue = due;
    const run = () =>
      this.guard(undefined, () => {
        this.#flushTimer = undefined;
        this.#flushDue = Number.POSITIVE_INFINITY;
        this.#flush();
        this.#scheduleFlush();
      });
    if (due > now) {
      this.#flushTimer = this.#clock.setTimer(due - now, run);
      return;
    }
    // Due now: batch every change made in this turn of the event loop into one round of UPDATEs.
    const immediate = setImmediate(run);
    this.#flushTimer = { cancel: () => clearImmediate(immediate) };
  }

  #cancelFlush(): void {
    this.#flushTimer?.cancel();
    this.#flushTimer = undefined;
    this.#flushDue = Number.POSITIVE_INFINITY;
  }

  /** Sends pending changes now (announcements only once the MRAI has passed), and End-of-RIB when asked. */
  #flush(endOfRib: readonly Family[] = []): void {
    const conn = this.#primary;
    if (!conn || !this.#policy || conn.fsm.state !== 'Established') return;
    const now = this.#clock.now();
    const mrai = this.options.minRouteAdvertisementIntervalMs ?? 0;
    const announce = endOfRib.length > 0 || now >= this.#lastAnnounceAt + mrai;
    const msgs = this.#rib.takeChanges(this.#policy, { announcements: announce });
    if (announce && msgs.length) this.#lastAnnounceAt = now;
    const eor = endOfRib.map(endOfRibFor);
    this.#sendUpdates(conn, [...msgs, ...eor]);
    if (msgs.length || eor.length) {
      this.emit('sent', { updates: msgs.length, endOfRib: [...endOfRib] });
    }
  }

  #sendUpdates(conn: Connection, msgs: readonly Uint8Array[]): void {
    if (msgs.length === 0) return;
    for (const m of msgs) conn.send(m);
    conn.fsm.sentUpdate();
    this.stats.updatesSent += msgs.length;
  }
}
