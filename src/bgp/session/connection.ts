/**
 * One TCP connection (or connection attempt) to the peer, with its own FSM: a session has one, and two while
 * a collision (RFC 4271 6.8) is being resolved. This file does the socket plumbing; what the FSM reports
 * goes to the owning session through ConnectionOwner, so none of it is public API of BgpSession.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type {
  NotificationMessage,
  OpenMessage,
  RouteRefreshMessage,
  UpdateMessage,
} from '../codec/messages.ts';
import type { WireError } from '../codec/wire-error.ts';
import type { BgpFsm, BgpState, FsmHost } from '../fsm/fsm.ts';
import type { Negotiated } from '../fsm/negotiate.ts';
import type { Direction } from './collision.ts';

/** A NOTIFICATION as the session reports it, sent or received. */
export type NotificationSeen = Pick<NotificationMessage, 'code' | 'subcode' | 'data'> & {
  shutdownMessage?: string;
};

/** What a connection needs from the session that owns it. */
export interface ConnectionOwner {
  readonly log: Logger;
  createFsm(host: FsmHost, passive: boolean, autoRestart: boolean): BgpFsm;
  openSocket(signal: AbortSignal): Promise<Socket>;
  /** A socket being closed: the owner waits for it when it stops. */
  closing(socket: Socket): void;
  transition(conn: Connection, from: BgpState, to: BgpState, reason: string): void;
  /** The peer's OPEN passed validation; false closes this connection (collision lost). */
  openReceived(conn: Connection, open: OpenMessage, negotiated: Negotiated): boolean;
  established(conn: Connection, negotiated: Negotiated): void;
  update(conn: Connection, message: UpdateMessage, raw: Uint8Array): void;
  routeRefresh(conn: Connection, message: RouteRefreshMessage): void;
  notification(conn: Connection, direction: 'sent' | 'received', n: NotificationSeen, reason?: string): void;
  malformedNotification(conn: Connection, error: WireError, raw: Uint8Array): void;
  /** The socket took everything queued after asking the writer to wait. */
  drained(conn: Connection): void;
}

/** How long a closing socket may take to flush its last NOTIFICATION before it is cut off. */
const CLOSE_GRACE_MS = 2_000;

export class Connection {
  readonly fsm: BgpFsm;
  private readonly owner: ConnectionOwner;
  private _direction: Direction;
  private socket: Socket | undefined;
  private attempt: AbortController | undefined;

  constructor(owner: ConnectionOwner, direction: Direction, passive: boolean, autoRestart: boolean) {
    this.owner = owner;
    this._direction = direction;
    const host: FsmHost = {
      connect: () => this.connect(),
      disconnect: () => this.disconnect(),
      send: (bytes) => this.send(bytes),
      transition: (from, to, reason) => owner.transition(this, from, to, reason),
      openReceived: (open, negotiated) => owner.openReceived(this, open, negotiated),
      established: (negotiated) => owner.established(this, negotiated),
      update: (message, raw) => owner.update(this, message, raw),
      routeRefresh: (message) => owner.routeRefresh(this, message),
      notificationSent: (n, reason) => owner.notification(this, 'sent', n, reason),
      notificationReceived: (n) => owner.notification(this, 'received', n),
      notificationMalformed: (error, raw) => owner.malformedNotification(this, error, raw),
    };
    this.fsm = owner.createFsm(host, passive, autoRestart);
  }

  /** Who opened the TCP connection (the last one, for a connection that reconnects). */
  get direction(): Direction {
    return this._direction;
  }

  get localAddress(): string | undefined {
    return this.socket?.localAddress;
  }

  /** Bytes written that the kernel has not taken yet: they wait in this process's memory. */
  get queuedBytes(): number {
    return this.socket?.writableLength ?? 0;
  }

  /** The socket asked its writer to wait for 'drain' (the peer is not reading as fast as we write). */
  get congested(): boolean {
    return this.socket?.writableNeedDrain ?? false;
  }

  /** Takes a socket the peer opened, and tells the FSM it is connected. */
  accept(socket: Socket): void {
    this._direction = 'incoming';
    this.attach(socket);
    this.run(() => this.fsm.tcpConnected());
  }

  send(bytes: Uint8Array): void {
    const s = this.socket;
    if (s && !s.destroyed && s.writable) s.write(bytes);
  }

  disconnect(): void {
    this.abortAttempt();
    const socket = this.socket;
    this.socket = undefined;
    if (!socket) return;
    // Let what is queued (a NOTIFICATION) go out, then close; a peer that never closes its side is cut off.
    socket.end();
    const force = setTimeout(() => socket.destroy(), CLOSE_GRACE_MS);
    force.unref();
    socket.once('close', () => clearTimeout(force));
    this.owner.closing(socket);
  }

  /**
   * Runs a socket or timer callback of this connection. Whatever goes wrong inside (a bug, a listener that
   * throws) ends this connection with a log line instead of escaping into the event loop.
   */
  run(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.owner.log.error({ err }, 'internal error handling the session; dropping the connection');
      try {
        this.socket?.destroy();
        this.socket = undefined;
        this.fsm.tcpFailed('internal error');
      } catch (again) {
        this.owner.log.error({ err: again }, 'internal error while dropping the connection');
      }
    }
  }

  private connect(): void {
    const attempt = new AbortController();
    this.attempt = attempt;
    this._direction = 'outgoing';
    this.owner
      .openSocket(attempt.signal)
      .then(
        (socket) => {
          if (this.attempt !== attempt) {
            socket.destroy();
            return;
          }
          this.attempt = undefined;
          this.attach(socket);
          this.run(() => this.fsm.tcpConnected());
        },
        (err: Error) => {
          if (this.attempt !== attempt) return;
          this.attempt = undefined;
          this.run(() => this.fsm.tcpFailed(err.message));
        },
      )
      .catch(() => {});
  }

  private attach(socket: Socket): void {
    this.abortAttempt();
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      if (this.socket === socket) this.run(() => this.fsm.receive(chunk));
    });
    socket.on('drain', () => {
      if (this.socket === socket) this.run(() => this.owner.drained(this));
    });
    socket.on('error', (err) => this.owner.log.debug({ err: err.message }, 'socket error'));
    socket.on('close', () => {
      if (this.socket !== socket) return;
      this.socket = undefined;
      this.run(() => this.fsm.tcpFailed('connection closed by the peer'));
    });
  }

  private abortAttempt(): void {
    this.attempt?.abort();
    this.attempt = undefined;
  }
}
