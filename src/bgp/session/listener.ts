/**
 * A passive BGP listener: accepts TCP connections and hands each to the session configured for the remote
 * address. Connections from addresses with no session are closed at once. With MD5 passwords or GTSM the
 * socket comes from the native addon, so the kernel drops unsigned or far-away segments before Node sees them.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { type BgpSession, normalizeAddress } from './session.ts';
import { type BgpTcpServer, defaultSocketFactory, type SocketFactory } from './socket-factory.ts';

export interface ListenerOptions {
  /** Default '::' (IPv4 and IPv6). */
  host?: string;
  /** Default 179; 0 picks a free port. */
  port?: number;
  log: Logger;
  socketFactory?: SocketFactory;
  /** Sessions will have MD5 passwords: take the socket from the native addon. */
  passwords?: boolean;
  /** GTSM on the listening socket: accept only segments with TTL >= 255 - hops. */
  gtsmHops?: number;
}

export class BgpListener {
  private readonly server: BgpTcpServer;
  private readonly sessions = new Map<string, BgpSession>();
  private readonly log: Logger;

  private constructor(server: BgpTcpServer, log: Logger) {
    this.server = server;
    this.log = log;
  }

  static async listen(o: ListenerOptions): Promise<BgpListener> {
    const factory = o.socketFactory ?? defaultSocketFactory;
    let self: BgpListener | undefined;
    const pending: Socket[] = [];
    const server = await factory.listen(
      {
        host: o.host ?? '::',
        port: o.port ?? 179,
        ...(o.passwords ? { passwords: true } : {}),
        ...(o.gtsmHops !== undefined ? { ttl: 255, minTtl: 255 - o.gtsmHops } : {}),
      },
      (socket) => (self ? self.accept(socket) : pending.push(socket)),
    );
    self = new BgpListener(
      server,
      o.log.child({ listener: `${server.address.address}:${server.address.port}` }),
    );
    for (const s of pending) self.accept(s);
    return self;
  }

  get address(): { address: string; port: number } {
    return this.server.address;
  }

  add(session: BgpSession): void {
    this.sessions.set(session.peerAddress, session);
    if (session.options.password !== undefined)
      this.server.setPeerPassword(session.peerAddress, session.options.password);
  }

  remove(session: BgpSession): void {
    if (this.sessions.get(session.peerAddress) !== session) return;
    this.sessions.delete(session.peerAddress);
    if (session.options.password !== undefined) this.server.setPeerPassword(session.peerAddress, undefined);
  }

  close(): Promise<void> {
    return this.server.close();
  }

  private accept(socket: Socket): void {
    socket.on('error', () => {});
    const remote = normalizeAddress(socket.remoteAddress ?? '');
    const session = this.sessions.get(remote);
    if (!session) {
      this.log.info({ remote }, 'connection from an address with no BGP session; closed');
      socket.destroy();
      return;
    }
    session.acceptConnection(socket);
  }
}
