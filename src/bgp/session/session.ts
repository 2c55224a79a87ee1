/**
 * One BGP session to one peer, the public face of src/bgp: options, events, the routes to announce, and the
 * session's connections (one, two while a collision is resolved). Everything the peer sends is decoded and
 * discarded (Beacon announces, it does not learn); nothing it sends can throw out of a socket callback.
 *
 *   const s = new BgpSession({ localAs: 65001, peerAs: 65000, peerAddress: '192.0.2.1', routerId: '192.0.2.10', log });
 *   s.on('state', (c) => console.log(c.to));
 *   s.announce('198.51.100.7/32', { communities: [parseCommunity('65001:100')!] });
 *   s.start();
 *   await s.waitForState('Established');
 *   await s.stop({ withdraw: true });
 *
 * The parts live beside this file: connection.ts (socket plumbing under one FSM), collision.ts (RFC 4271
 * 6.8), update-sender.ts (MRAI and batching of the Adj-RIB-Out), export-policy.ts and next-hop.ts (what the
 * UPDATEs carry), bfd-coupling.ts (with `bfd`, a BFD session runs beside this one for its whole life; when
 * BFD declares the path dead, the connection is reset at once with a Cease "BFD Down", RFC 5882 4.3 and
 * RFC 9384, instead of waiting for the hold timer).
 */
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Logger } from 'pino';
import { type Clock, systemClock } from '../../time/clock.ts';
import { Afi, CeaseSubcode, ErrorCode, type OriginValue, Safi } from '../codec/constants.ts';
import { describeCapability, describeNotification } from '../codec/describe.ts';
import { encodeRouteRefresh, shutdownCommunication } from '../codec/encode.ts';
import type { OpenMessage, RouteRefreshMessage, UpdateMessage } from '../codec/messages.ts';
import { type Family, type Prefix, parseIp } from '../codec/prefix.ts';
import { BgpFsm, type BgpState, type FsmHost } from '../fsm/fsm.ts';
import type { GracefulRestartConfig, Negotiated } from '../fsm/negotiate.ts';
import { AdjRibOut, type RouteAttributes } from '../rib/adj-rib-out.ts';
import {
  type BfdProfileOptions,
  type BfdSession,
  type BfdStateChange,
  type BfdTransport,
  startBfdBeside,
} from './bfd-coupling.ts';
import { resolveCollision } from './collision.ts';
import { Connection, type ConnectionOwner, type NotificationSeen } from './connection.ts';
import { exportFor } from './export-policy.ts';
import { hex, MalformedLog } from './malformed-log.ts';
import type { InterfaceTable, NextHops } from './next-hop.ts';
import { defaultSocketFactory, type SocketFactory, type TcpSecurity } from './socket-factory.ts';
import { type SentEvent, UpdateSender } from './update-sender.ts';

export type { SentEvent };

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
  /**
   * Most bytes that may wait in this process for a peer that does not read what it is sent. Above it the
   * session is dropped with a Cease "Out of Resources" (RFC 4486 4). It must hold one whole table: an
   * initial table or a ROUTE-REFRESH answer is written in one go. Default 32 MiB (about 6 million /32s).
   */
  maxQueuedBytes?: number;
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

export interface SessionStats {
  updatesReceived: number;
  prefixesReceived: number;
  updatesSent: number;
  established: number;
  /** Malformed UPDATEs whose routes were treated as withdrawn (RFC 7606 2). */
  updatesTreatedAsWithdraw: number;
  /** Attributes dropped from received UPDATEs (RFC 7606 2 "attribute discard", repeats, RFC 6793). */
  attributesDiscarded: number;
  /** ROUTE-REFRESH requests merged into one already waiting for the socket to drain. */
  routeRefreshesCoalesced: number;
  /** Sessions dropped because the peer did not read and the send queue passed `maxQueuedBytes`. */
  sendQueueOverflows: number;
}

/** The default of `maxQueuedBytes`. */
export const DEFAULT_MAX_QUEUED_BYTES = 32 * 1024 * 1024;

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

function familyOf(afi: number, safi: number): Family | undefined {
  if (safi !== Safi.UNICAST) return undefined;
  return afi === Afi.IPV4 ? 'ipv4' : afi === Afi.IPV6 ? 'ipv6' : undefined;
}

/** `::ffff:192.0.2.1` and `192.0.2.1` are the same peer. */
export function normalizeAddress(address: string): string {
  const bare = address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
  const ip = parseIp(bare.split('%')[0]!);
  if (!ip) return bare;
  return ip.family === 'ipv4' ? bare : bare.toLowerCase();
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
    updatesTreatedAsWithdraw: 0,
    attributesDiscarded: 0,
    routeRefreshesCoalesced: 0,
    sendQueueOverflows: 0,
  };
  private readonly rib = new AdjRibOut();
  private readonly clock: Clock;
  private readonly factory: SocketFactory;
  private readonly sender: UpdateSender;
  private readonly owner: ConnectionOwner;
  private security: TcpSecurity = {};
  private primary: Connection | undefined;
  private secondary: Connection | undefined;
  private started = false;
  private keepalivesSuspended = false;
  private _bfd: BfdSession | undefined;
  private readonly closing = new Set<Socket>();
  /** ROUTE-REFRESH subtypes RFC 7313 does not define that were already logged at warn. */
  private readonly unknownRefreshSubtypes = new Set<number>();
  private readonly malformed: MalformedLog;

  constructor(options: SessionOptions) {
    super();
    this.options = options;
    this.peerAddress = normalizeAddress(options.peerAddress);
    this.clock = options.clock ?? systemClock;
    this.factory = options.socketFactory ?? defaultSocketFactory;
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
    this.malformed = new MalformedLog(this.log);
    this.sender = new UpdateSender({
      rib: this.rib,
      clock: this.clock,
      mraiMs: options.minRouteAdvertisementIntervalMs ?? 0,
      guard: (fn) => this.guard(fn),
      onSent: (e) => this.emit('sent', e),
    });
    // What the connections call back into: kept off the public surface of the session.
    this.owner = {
      log: this.log,
      createFsm: (host, passive, autoRestart) => this.createFsm(host, passive, autoRestart),
      openSocket: (signal) => this.openSocket(signal),
      closing: (socket) => this.trackClosing(socket),
      transition: (conn, from, to, reason) => this.onTransition(conn, from, to, reason),
      openReceived: (conn, open, negotiated) => this.onOpen(conn, open, negotiated),
      established: (conn, negotiated) => this.onEstablished(conn, negotiated),
      update: (_conn, message, raw) => this.onUpdate(message, raw),
      routeRefresh: (conn, message) => this.onRouteRefresh(conn, message),
      notification: (conn, direction, n, reason) => this.onNotification(conn, direction, n, reason),
      drained: (conn) => {
        if (conn === this.primary) this.sender.drained();
      },
      malformedNotification: (conn, error, raw) => this.malformed.notification(error, raw, conn.direction),
    };
  }

  // ---- public API ----

  get state(): BgpState {
    return this.primary?.fsm.state ?? 'Idle';
  }
  get negotiated(): Negotiated | undefined {
    return this.primary?.fsm.negotiated;
  }
  get peerOpen(): OpenMessage | undefined {
    return this.primary?.fsm.peerOpen;
  }
  get localAddress(): string | undefined {
    return this.primary?.localAddress;
  }
  /** Bytes written to the peer that wait in this process because the kernel has not taken them yet. */
  get queuedBytes(): number {
    return this.primary?.queuedBytes ?? 0;
  }
  /** A copy of the routes wanted, prefix text to attributes: dear with a large table. */
  get routes(): Map<string, RouteAttributes> {
    return this.rib.routes();
  }
  /** How many routes are wanted (announced or about to be). */
  get routeCount(): number {
    return this.rib.size;
  }
  /** How many routes the peer was sent and not since told to forget: 0 while no session is up. */
  get advertisedCount(): number {
    return this.rib.advertisedCount;
  }
  isAdvertised(prefix: string): boolean {
    return this.rib.isAdvertised(prefix);
  }
  /** The BFD session beside this one, while started with the `bfd` option. */
  get bfd(): BfdSession | undefined {
    return this._bfd;
  }

  /**
   * Starts connecting (or waiting, when passive). Throws when the options ask for something this host
   * cannot do (an MD5 password or GTSM without the native addon), rather than running unprotected.
   */
  start(): void {
    if (this.started) return;
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
    const refused = this.factory.unsupported(hard);
    if (refused) throw new Error(refused);
    if (security.ttl !== undefined && !security.minTtl && this.factory.unsupported(security)) {
      // Multihop needs a TTL of at least the hop count; the system default (64) already is, so go on.
      this.log.warn(
        { ttl: security.ttl, why: this.factory.unsupported(security) },
        'cannot set the outgoing TTL; using the system default',
      );
      delete security.ttl;
    }
    this.security = security;
    this.started = true;
    this.primary = new Connection(this.owner, 'outgoing', o.passive ?? false, true);
    this.primary.fsm.start();
    if (o.bfd) this.startBfd(o.bfd);
  }

  /**
   * Ends the session: optionally withdraws every route first, then sends a Cease (Administrative Shutdown,
   * with `message` as RFC 8203 text) and closes. Resolves once the sockets are closed.
   */
  async stop(opts: { withdraw?: boolean; message?: string } = {}): Promise<void> {
    if (!this.started) return;
    this.started = false;
    // AdminDown, so the peer does not take the BFD silence that follows for a failure (RFC 5882 3.2).
    const bfdStopped = this._bfd?.stop();
    this._bfd = undefined;
    if (opts.withdraw && this.state === 'Established') {
      this.rib.withdrawAll();
      this.sender.flush();
    }
    this.sender.detach();
    const data = opts.message ? shutdownCommunication(opts.message) : undefined;
    for (const c of [this.secondary, this.primary]) {
      c?.fsm.stop(opts.message ?? 'stopped', {
        subcode: CeaseSubcode.ADMINISTRATIVE_SHUTDOWN,
        ...(data ? { data } : {}),
      });
    }
    this.secondary = undefined;
    await bfdStopped;
    await Promise.all(
      [...this.closing].map(
        (s) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve()))),
      ),
    );
  }

  announce(prefix: Prefix | string, attributes: RouteAttributes = {}): void {
    this.rib.announce(prefix, attributes);
    this.sender.schedule();
  }

  withdraw(prefix: Prefix | string): void {
    this.rib.withdraw(prefix);
    this.sender.schedule();
  }

  withdrawAll(): void {
    this.rib.withdrawAll();
    this.sender.schedule();
  }

  /**
   * Sends the changes made so far now, rather than on the next turn of the event loop: for a caller that
   * has made all of its changes and must not have them wait behind other work. Withdrawals go first.
   */
  flush(): void {
    if (!this.primary) return;
    this.guard(() => this.sender.sendNow());
  }

  /** Asks the peer to send its routes again (RFC 2918), if it supports route refresh. */
  requestRouteRefresh(family: Family): boolean {
    const n = this.negotiated;
    if (this.state !== 'Established' || !n?.routeRefresh || !n.families.includes(family)) return false;
    this.primary!.send(encodeRouteRefresh(family === 'ipv4' ? Afi.IPV4 : Afi.IPV6, Safi.UNICAST));
    this.primary!.fsm.sentUpdate();
    return true;
  }

  /** Stops (or resumes) sending keepalives while staying up, so a test can watch the peer's hold timer fire. */
  suspendKeepalives(on: boolean): void {
    this.keepalivesSuspended = on;
    this.primary?.fsm.suspendKeepalives(on);
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
    const primary = this.primary;
    const state = primary?.fsm.state;
    if (!this.started || !primary || state === 'Idle' || state === 'Established' || this.secondary) {
      this.log.info({ state }, 'refusing incoming connection');
      socket.destroy();
      return;
    }
    if (state === 'Connect' || state === 'Active') {
      primary.accept(socket);
      return;
    }
    // OpenSent or OpenConfirm: both connections run until the OPENs tell which one to keep.
    this.log.info({ state }, 'incoming connection while one is being set up: collision detection');
    const second = new Connection(this.owner, 'incoming', true, false);
    this.secondary = second;
    second.fsm.start();
    second.accept(socket);
  }

  // ---- BFD ----

  private startBfd(profile: BfdProfileOptions): void {
    const o = this.options;
    const bfd = startBfdBeside({
      peerAddress: o.peerAddress,
      profile,
      log: this.log,
      clock: this.clock,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
      ...(o.bfdTransport ? { transport: o.bfdTransport } : {}),
      onChange: (c) => this.emit('bfd', c),
      onPathDown: (reason, c) => {
        if (this._bfd === bfd) this.guard(() => this.resetForBfd(reason, c));
      },
    });
    this._bfd = bfd;
  }

  /** The path is down: drop the connection now and let the FSM reconnect after its back-off (RFC 5882 4.3). */
  private resetForBfd(reason: string, c: BfdStateChange): void {
    const conn = this.primary;
    const state = conn?.fsm.state;
    if (!conn || (state !== 'OpenSent' && state !== 'OpenConfirm' && state !== 'Established')) return;
    this.log.warn({ state, diag: c.diag }, 'BFD down: resetting the BGP session');
    // Likely lost on a dead path, but it tells a peer on a one-way failure why.
    conn.fsm.abort(ErrorCode.CEASE, CeaseSubcode.BFD_DOWN, reason);
  }

  // ---- what the connections call back into ----

  /** Runs a timer or BFD callback against the primary connection: what it throws drops that connection. */
  private guard(fn: () => void): void {
    if (this.primary) {
      this.primary.run(fn);
      return;
    }
    try {
      fn();
    } catch (err) {
      this.log.error({ err }, 'internal error handling the session');
    }
  }

  /**
   * The Restart State (R) bit says "this speaker has just restarted": true in the OPEN of the first session
   * after a restart only (RFC 4724 section 3), so it is read afresh for every OPEN this session sends.
   */
  private gracefulRestartForOpen(gr: GracefulRestartConfig): GracefulRestartConfig {
    const stats = this.stats;
    return {
      restartTimeSec: gr.restartTimeSec,
      forwardingPreserved: gr.forwardingPreserved,
      get restarting() {
        return gr.restarting && stats.established === 0;
      },
    };
  }

  private createFsm(host: FsmHost, passive: boolean, autoRestart: boolean): BgpFsm {
    const o = this.options;
    const clock: Clock = {
      now: () => this.clock.now(),
      setTimer: (ms, fire) => this.clock.setTimer(ms, () => this.guard(fire)),
    };
    const fsm = new BgpFsm(host, {
      open: {
        localAs: o.localAs,
        peerAs: o.peerAs,
        routerId: o.routerId,
        holdTimeSec: o.holdTimeSec ?? 90,
        families: o.families ?? ['ipv4', 'ipv6'],
        ...(o.keepaliveTimeSec !== undefined ? { keepaliveTimeSec: o.keepaliveTimeSec } : {}),
        ...(o.gracefulRestart ? { gracefulRestart: this.gracefulRestartForOpen(o.gracefulRestart) } : {}),
      },
      clock,
      passive,
      autoRestart,
      ...(o.connectTimeoutMs !== undefined ? { connectTimeoutMs: o.connectTimeoutMs } : {}),
      ...(o.backoffInitialMs !== undefined ? { backoffInitialMs: o.backoffInitialMs } : {}),
      ...(o.backoffMaxMs !== undefined ? { backoffMaxMs: o.backoffMaxMs } : {}),
    });
    fsm.suspendKeepalives(this.keepalivesSuspended);
    return fsm;
  }

  private openSocket(signal: AbortSignal): Promise<Socket> {
    const o = this.options;
    return this.factory.connect({
      host: this.peerAddress,
      port: o.peerPort ?? 179,
      timeoutMs: o.connectTimeoutMs ?? 10_000,
      signal,
      ...(o.localAddress ? { localAddress: o.localAddress } : {}),
      ...this.security,
    });
  }

  private trackClosing(socket: Socket): void {
    this.closing.add(socket);
    socket.once('close', () => this.closing.delete(socket));
    if (socket.destroyed) this.closing.delete(socket);
  }

  private onTransition(conn: Connection, from: BgpState, to: BgpState, reason: string): void {
    if (conn !== this.primary) {
      this.log.debug({ from, to, reason, connection: conn.direction }, 'collision connection state');
      if (to === 'Idle' && conn === this.secondary) this.secondary = undefined;
      return;
    }
    if (from === 'Established') {
      this.sender.detach();
      this.malformed.sessionEnded();
    }
    const line = { from, to, reason, connection: conn.direction };
    if (to === 'Established' || from === 'Established') this.log.info(line, `BGP state ${to}`);
    else this.log.debug(line, `BGP state ${to}`);
    this.emit('state', { from, to, reason });
  }

  private onOpen(conn: Connection, open: OpenMessage, negotiated: Negotiated): boolean {
    const other = conn === this.primary ? this.secondary : this.primary;
    const verdict = resolveCollision({
      localId: this.options.routerId,
      peerId: open.bgpId,
      localAs: this.options.localAs,
      peerAs: negotiated.peerAs,
      received: conn.direction,
      ...(other ? { other: { direction: other.direction, state: other.fsm.state } } : {}),
    });
    if (verdict !== 'none') {
      this.log.info(
        {
          localId: this.options.routerId,
          peerId: open.bgpId,
          kept: verdict === 'close-other' ? conn.direction : other!.direction,
        },
        'connection collision resolved',
      );
    }
    if (verdict === 'close-received') return false;
    if (verdict === 'close-other') {
      if (other === this.primary) {
        this.primary = conn;
        this.secondary = undefined;
        conn.fsm.autoRestart = true;
      }
      other!.fsm.stop('connection collision resolved in favour of the other connection', {
        subcode: CeaseSubcode.CONNECTION_COLLISION_RESOLUTION,
      });
    }
    if (conn === this.primary) {
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

  private onEstablished(conn: Connection, negotiated: Negotiated): void {
    if (conn !== this.primary) return;
    this.stats.established++;
    const localAddress = conn.localAddress ?? this.options.localAddress ?? '';
    const { policy, withoutNextHop } = exportFor(this.options, negotiated, {
      localAddress,
      peerAddress: this.peerAddress,
      interfaces: this.options.interfaces ?? networkInterfaces,
    });
    for (const family of withoutNextHop)
      this.log.warn(
        { family, localAddress },
        'no local address of this family for the next hop; its routes wait',
      );
    const maxQueued = this.options.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    this.sender.attach(
      {
        write: (msgs) => {
          for (const m of msgs) conn.send(m);
          conn.fsm.sentUpdate();
          this.stats.updatesSent += msgs.length;
          if (conn.queuedBytes > maxQueued) this.overflow(conn, maxQueued);
        },
        get congested() {
          return conn.congested;
        },
      },
      policy,
    );
    this.emit('established', negotiated);
    if (this.primary !== conn || conn.fsm.state !== 'Established') return;
    this.sender.sendTable(negotiated.families);
  }

  /**
   * The peer does not read what it is sent and the queue for it passed the cap: drop the session rather than
   * grow without bound (RFC 4486 4: Cease, "Out of Resources"). The NOTIFICATION queues behind the rest;
   * the socket is cut off if the peer has not taken it all within the close grace.
   */
  private overflow(conn: Connection, maxQueued: number): void {
    this.stats.sendQueueOverflows++;
    const queuedBytes = conn.queuedBytes;
    this.log.error(
      {
        queuedBytes,
        maxQueuedBytes: maxQueued,
        pendingChanges: this.rib.pendingChanges,
        refreshPending: this.sender.refreshPending,
      },
      'the peer is not reading what Beacon sends: send queue above its cap; dropping the session with Cease/Out of Resources (RFC 4486)',
    );
    conn.fsm.abort(
      ErrorCode.CEASE,
      CeaseSubcode.OUT_OF_RESOURCES,
      `send queue of ${queuedBytes} bytes above the cap of ${maxQueued}: the peer is not reading`,
    );
  }

  private onUpdate(message: UpdateMessage, raw: Uint8Array): void {
    this.stats.updatesReceived++;
    const n = message.nlri.length + (message.attributes.mpReach?.nlri.length ?? 0);
    this.stats.prefixesReceived += n;
    if (message.treatAsWithdraw) this.stats.updatesTreatedAsWithdraw++;
    this.stats.attributesDiscarded += message.attributes.discarded?.length ?? 0;
    if (message.treatAsWithdraw || message.attributes.discarded) this.malformed.update(message, raw);
    this.emit('update', message);
  }

  private onRouteRefresh(conn: Connection, m: RouteRefreshMessage): void {
    // RFC 7313: only subtype 0 asks for the Adj-RIB-Out again. 1 and 2 (BoRR, EoRR) frame the peer's own
    // re-advertisement, which Beacon, keeping no Adj-RIB-In, has nothing to do with; any other subtype
    // "MUST" be ignored, and SHOULD be logged as an error.
    if (m.subtype !== 0) {
      const known = m.subtype === 1 || m.subtype === 2;
      const fields = { afi: m.afi, safi: m.safi, subtype: m.subtype };
      if (known) this.log.debug(fields, 'ignoring a ROUTE-REFRESH that only marks the peer re-advertising');
      else if (this.unknownRefreshSubtypes.has(m.subtype))
        this.log.debug(fields, 'ignoring a ROUTE-REFRESH of an unknown subtype (RFC 7313 5)');
      else {
        // Warn once per subtype, so that a peer repeating it cannot flood the log.
        this.unknownRefreshSubtypes.add(m.subtype);
        this.log.warn(fields, 'ignoring a ROUTE-REFRESH of an unknown subtype (RFC 7313 5)');
      }
      return;
    }
    const family = familyOf(m.afi, m.safi);
    // RFC 2918: a refresh for a family that was not negotiated is ignored.
    const outcome = conn === this.primary && family ? this.sender.refresh(family) : undefined;
    if (!outcome || !family) {
      this.log.debug({ afi: m.afi, safi: m.safi }, 'ignoring ROUTE-REFRESH for a family not negotiated');
      return;
    }
    if ('sent' in outcome) {
      this.log.info({ family, updates: outcome.sent }, 'ROUTE-REFRESH received: Adj-RIB-Out sent again');
    } else if (outcome.coalesced) {
      this.stats.routeRefreshesCoalesced++;
    } else {
      this.log.info(
        { family, queuedBytes: conn.queuedBytes },
        'ROUTE-REFRESH received while the peer is still reading the last one: answered when it has',
      );
    }
    this.emit('route-refresh', { family });
  }

  private onNotification(
    conn: Connection,
    direction: 'sent' | 'received',
    n: NotificationSeen,
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
    if (conn !== this.primary) return;
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
}
