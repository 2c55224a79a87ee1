/**
 * TCP sockets for BGP with the options Node cannot set before connect(): TCP MD5 signatures (RFC 2385), and
 * the TTL / hop limit settings of GTSM (RFC 5082). The native addon creates, configures and connects the
 * socket; Node then owns it as an ordinary net.Socket (or net.Server for a listener).
 *
 * Capabilities: none for MD5 or TTL options; binding a port below 1024 (BGP's 179) needs
 * CAP_NET_BIND_SERVICE, and without it the SystemError has code EACCES.
 *
 *   const socket = await connectTcp({ host: '192.0.2.1', port: 179, md5Key: 'secret', ttl: 255 });
 *   const listener = await listenTcp({ host: '::', port: 179, md5Keys: [{ peer: '192.0.2.1', key: 'secret' }] },
 *     (socket) => ...);
 *   listener.setMd5Key('192.0.2.2', 'other');  // peers may come and go while listening
 */
import { isIP, Server, Socket } from 'node:net';
import { native, type RawMd5Key, type RawTcpSocketOptions, type SystemError } from './addon.ts';

/** An RFC 2385 key: a string is used as its UTF-8 bytes (as FRR and BIRD take `password`); 1 to 80 bytes. */
export type Md5Key = string | Buffer;

export interface TcpSocketOptions {
  /** Outgoing IPv4 TTL / IPv6 hop limit; GTSM sends 255. */
  ttl?: number;
  /** Lowest TTL / hop limit accepted on received segments; GTSM with a directly connected peer: 255 (254 with one hop between). */
  minTtl?: number;
}

export interface ConnectTcpOptions extends TcpSocketOptions {
  host: string;
  port: number;
  md5Key?: Md5Key;
  localAddress?: string;
  localPort?: number;
  /** Gives up (ETIMEDOUT) after this long; default: the kernel's own SYN retries (about two minutes). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

export interface Md5Peer {
  /** The peer's address (IPv4 or IPv6); with prefixLength, a network of peers. */
  peer: string;
  key: Md5Key;
  prefixLength?: number;
}

export interface ListenTcpOptions extends TcpSocketOptions {
  /** Address to listen on ('::' accepts IPv4 too unless v6Only). */
  host: string;
  port: number;
  backlog?: number;
  md5Keys?: Md5Peer[];
  v6Only?: boolean;
}

export interface TcpListener {
  readonly server: Server;
  /** The bound address, with the port the kernel chose when `port` was 0. */
  readonly address: { address: string; port: number };
  /** Adds or replaces a peer's key; `undefined` removes it. Accepted sockets keep the key they started with. */
  setMd5Key(peer: string, key: Md5Key | undefined, prefixLength?: number): void;
  close(): Promise<void>;
}

function keyBytes(key: Md5Key): Buffer {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
}

function family(address: string): 4 | 6 {
  const f = isIP(address);
  if (f !== 4 && f !== 6) throw new TypeError(`not an IP address: '${address}'`);
  return f;
}

function socketOptions(opts: TcpSocketOptions): Pick<RawTcpSocketOptions, 'ttl' | 'minTtl'> {
  return {
    ...(opts.ttl !== undefined ? { ttl: opts.ttl } : {}),
    ...(opts.minTtl !== undefined ? { minTtl: opts.minTtl } : {}),
  };
}

function timeoutError(host: string, port: number, ms: number): SystemError {
  const err = new Error(
    `connecting to ${host}:${port}: no answer within ${ms} ms (ETIMEDOUT)`,
  ) as SystemError;
  err.code = 'ETIMEDOUT';
  err.errno = -110;
  err.syscall = 'connect';
  return err;
}

/**
 * Creates a TCP socket with the MD5 key and TTL options set, connects it, and resolves with the connected
 * file descriptor (for `new net.Socket({ fd })`). The caller owns the fd.
 */
export function connectTcpFd(opts: ConnectTcpOptions): Promise<number> {
  const addon = native();
  const fam = family(opts.host);
  const md5: RawMd5Key[] =
    opts.md5Key !== undefined ? [{ address: opts.host, key: keyBytes(opts.md5Key) }] : [];
  const fd = addon.tcpSocket({
    family: fam,
    md5,
    ...socketOptions(opts),
    ...(opts.localAddress !== undefined ? { localAddress: opts.localAddress } : {}),
    ...(opts.localPort !== undefined ? { localPort: opts.localPort } : {}),
  });
  let connectedAtOnce: boolean;
  try {
    opts.signal?.throwIfAborted();
    connectedAtOnce = addon.tcpConnect(fd, opts.host, opts.port);
  } catch (err) {
    addon.closeFd(fd);
    return Promise.reject(err);
  }
  if (connectedAtOnce) return Promise.resolve(fd);
  return new Promise<number>((resolve, reject) => {
    let why: Error | undefined;
    const waiter = new addon.ConnectWaiter(fd, (err) => {
      if (timer) clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      if (err === null) {
        resolve(fd);
        return;
      }
      addon.closeFd(fd);
      if (why) {
        reject(why);
        return;
      }
      const where = `${fam === 6 ? `[${opts.host}]` : opts.host}:${opts.port}`;
      err.message = err.message.replace(/^connecting fd \d+/, `connecting to ${where}`);
      reject(err);
    });
    const onAbort = () => {
      why = opts.signal?.reason instanceof Error ? opts.signal.reason : new Error('connect aborted');
      waiter.cancel();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const timer =
      opts.timeoutMs !== undefined
        ? setTimeout(() => {
            why = timeoutError(opts.host, opts.port, opts.timeoutMs!);
            waiter.cancel();
          }, opts.timeoutMs)
        : undefined;
  });
}

/** Connects with MD5 and TTL options set before the SYN; resolves with a connected net.Socket. */
export async function connectTcp(opts: ConnectTcpOptions): Promise<Socket> {
  const fd = await connectTcpFd(opts);
  return new Socket({ fd, readable: true, writable: true });
}

/**
 * Creates a bound, listening TCP socket with per-peer MD5 keys and TTL options, and returns its fd (for
 * `net.Server#listen({ fd })`). The caller owns the fd.
 */
export function listenTcpFd(opts: ListenTcpOptions): number {
  const addon = native();
  const fd = addon.tcpSocket({
    family: family(opts.host),
    reuseAddress: true,
    localAddress: opts.host,
    localPort: opts.port,
    md5: (opts.md5Keys ?? []).map((k) => ({
      address: k.peer,
      key: keyBytes(k.key),
      ...(k.prefixLength !== undefined ? { prefixLength: k.prefixLength } : {}),
    })),
    ...socketOptions(opts),
    ...(opts.v6Only !== undefined ? { v6Only: opts.v6Only } : {}),
  });
  try {
    addon.tcpListen(fd, opts.backlog ?? 511);
  } catch (err) {
    addon.closeFd(fd);
    throw err;
  }
  return fd;
}

/** Listens with per-peer MD5 keys; every accepted connection goes to `onConnection`. */
export async function listenTcp(
  opts: ListenTcpOptions,
  onConnection: (socket: Socket) => void,
): Promise<TcpListener> {
  const addon = native();
  const fd = listenTcpFd(opts);
  const server = new Server(onConnection);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen({ fd, backlog: opts.backlog ?? 511 }, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    addon.closeFd(fd);
    throw err;
  }
  const bound = server.address();
  const address =
    bound && typeof bound === 'object'
      ? { address: bound.address, port: bound.port }
      : { address: opts.host, port: opts.port };
  return {
    server,
    address,
    setMd5Key(peer, key, prefixLength) {
      addon.tcpSetMd5Key(fd, peer, key === undefined ? null : keyBytes(key), prefixLength);
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
