/**
 * Where a session's TCP sockets come from. Node's `net` cannot set TCP_MD5SIG, IP_TTL or IP_MINTTL before
 * connect(), so sessions that need them (RFC 2385 passwords, GTSM, eBGP multihop TTL) get their sockets from
 * Beacon's native addon; all others from `node:net`. Tests and embedders may pass their own factory.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { nativeUnavailable } from '../../native/addon.ts';

export interface TcpSecurity {
  /** RFC 2385 TCP MD5 signature key. */
  md5Password?: string;
  /** Outgoing IP TTL / hop limit (GTSM: 255; eBGP multihop: the hop count). */
  ttl?: number;
  /** Lowest TTL accepted on received segments (GTSM: 255 minus the hops allowed, usually 254 or 255). */
  minTtl?: number;
}

export interface ConnectRequest extends TcpSecurity {
  host: string;
  port: number;
  localAddress?: string;
  timeoutMs: number;
  signal: AbortSignal;
}

export interface ListenRequest extends Omit<TcpSecurity, 'md5Password'> {
  host: string;
  port: number;
  /** Peers will be given MD5 passwords (`setPeerPassword`), so the socket must support them. */
  passwords?: boolean;
}

export interface BgpTcpServer {
  readonly address: { address: string; port: number };
  /** Sets (or with `undefined` removes) the MD5 key expected from one peer address. */
  setPeerPassword(peer: string, password: string | undefined): void;
  close(): Promise<void>;
}

export interface SocketFactory {
  readonly name: string;
  /** Why this factory cannot honour these options, or undefined when it can. */
  unsupported(options: TcpSecurity): string | undefined;
  connect(request: ConnectRequest): Promise<Socket>;
  listen(request: ListenRequest, onConnection: (socket: Socket) => void): Promise<BgpTcpServer>;
}

function needsNative(o: TcpSecurity & { passwords?: boolean }): string | undefined {
  if (o.md5Password !== undefined || o.passwords) return 'TCP MD5 (RFC 2385) needs the native addon';
  if (o.minTtl !== undefined) return 'GTSM (IP_MINTTL) needs the native addon';
  if (o.ttl !== undefined) return 'setting the outgoing TTL before connect needs the native addon';
  return undefined;
}

/** Plain `node:net`: no MD5, no TTL options. */
export const nodeSocketFactory: SocketFactory = {
  name: 'node:net',
  unsupported: needsNative,
  connect(req) {
    return new Promise<Socket>((resolve, reject) => {
      const socket = netConnect({
        host: req.host,
        port: req.port,
        ...(req.localAddress ? { localAddress: req.localAddress } : {}),
      });
      let settled = false;
      const finish = (err?: Error) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        req.signal.removeEventListener('abort', onAbort);
        socket.off('error', finish);
        if (err) {
          socket.destroy();
          reject(err);
        } else resolve(socket);
      };
      const onAbort = () => finish(new Error('connect aborted'));
      const timer = setTimeout(
        () => finish(new Error(`no answer within ${req.timeoutMs} ms`)),
        req.timeoutMs,
      );
      timer.unref();
      req.signal.addEventListener('abort', onAbort, { once: true });
      socket.once('error', finish);
      socket.once('connect', () => finish());
    });
  },
  async listen(req, onConnection) {
    const reason = needsNative(req);
    if (reason) throw new Error(reason);
    const server: Server = createServer(onConnection);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ host: req.host, port: req.port }, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const bound = server.address();
    const address =
      bound && typeof bound === 'object'
        ? { address: bound.address, port: bound.port }
        : { address: req.host, port: req.port };
    return {
      address,
      setPeerPassword(_peer, password) {
        if (password !== undefined) throw new Error('TCP MD5 (RFC 2385) needs the native addon');
      },
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  },
};

type NativeTcp = typeof import('../../native/tcp.ts');
let nativeTcp: Promise<NativeTcp> | undefined;
/** Loaded on first use, so that `src/bgp` works (without MD5/TTL) where the addon is not built. */
function loadNative(): Promise<NativeTcp> {
  nativeTcp ??= import('../../native/tcp.ts');
  return nativeTcp;
}

/** Beacon's native addon: sockets created with TCP_MD5SIG, IP_TTL and IP_MINTTL set before connect/listen. */
export const nativeSocketFactory: SocketFactory = {
  name: 'native',
  unsupported: () => nativeUnavailable(),
  async connect(req) {
    const tcp = await loadNative();
    return tcp.connectTcp({
      host: req.host,
      port: req.port,
      timeoutMs: req.timeoutMs,
      signal: req.signal,
      ...(req.localAddress ? { localAddress: req.localAddress } : {}),
      ...(req.md5Password !== undefined ? { md5Key: req.md5Password } : {}),
      ...(req.ttl !== undefined ? { ttl: req.ttl } : {}),
      ...(req.minTtl !== undefined ? { minTtl: req.minTtl } : {}),
    });
  },
  async listen(req, onConnection) {
    const tcp = await loadNative();
    const listener = await tcp.listenTcp(
      {
        host: req.host,
        port: req.port,
        ...(req.ttl !== undefined ? { ttl: req.ttl } : {}),
        ...(req.minTtl !== undefined ? { minTtl: req.minTtl } : {}),
      },
      onConnection,
    );
    return {
      address: listener.address,
      setPeerPassword: (peer, password) => listener.setMd5Key(peer, password),
      close: () => listener.close(),
    };
  },
};

/**
 * `node:net` when no socket option is asked for, the native addon otherwise: the default, so that the common
 * case needs nothing built and MD5/GTSM work wherever the addon is.
 */
export const defaultSocketFactory: SocketFactory = {
  name: 'auto',
  unsupported: (o) => (needsNative(o) ? nativeUnavailable() : undefined),
  connect: (req) => (needsNative(req) ? nativeSocketFactory : nodeSocketFactory).connect(req),
  listen: (req, onConnection) =>
    (needsNative(req) ? nativeSocketFactory : nodeSocketFactory).listen(req, onConnection),
};
