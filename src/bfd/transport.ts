/**
 * RFC 5881 single-hop transport over UDP: control packets arrive on port 3784 and go out from a source port
 * in 49152-65535, one port per session for its whole life, with TTL (IPv6 hop limit) 255.
 *
 * One receive socket per address family serves every session of the process; a packet finds its session by
 * Your Discriminator, or while that is still 0 (the peer has not heard from us yet) by its source address.
 *
 * GTSM on receive (RFC 5881 section 5: single-hop packets whose TTL is not 255 are discarded) is a classic
 * BPF filter on each receive socket, attached through the native addon: node:dgram cannot report a
 * datagram's TTL, and Linux applies IP_MINTTL to TCP only (a UDP socket with IP_MINTTL 255 still receives
 * TTL-64 datagrams). The filter's threshold is the lowest `minTtl` of the family's sessions, 255 unless a
 * profile asks for less. Without the addon the check is off, and the transport says so once.
 */
import { createSocket, type Socket } from 'node:dgram';
import { isIPv4, isIPv6 } from 'node:net';
import type { Logger } from 'pino';
import { requireMinTtl } from '../native/udp.ts';
import { type ControlPacket, decodeControlPacket } from './packet.ts';

export const BFD_CONTROL_PORT = 3784;
export const SOURCE_PORT_MIN = 49152;
export const SOURCE_PORT_MAX = 65535;
/** Single hop: packets are sent with this TTL and, where it can be read, accepted only with it. */
export const SINGLE_HOP_TTL = 255;

export interface BfdEndpoint {
  /** Source address of our packets; the kernel picks one when absent. */
  localAddress?: string;
  /** The peer; an IPv6 link-local address carries its zone (`fe80::1%eth0`). */
  peerAddress: string;
  /** Lowest TTL accepted on received packets when the TTL can be read (255 for single hop). */
  minTtl?: number;
}

/** What a session holds while it runs: its send socket and its place in the receive dispatch. */
export interface BfdLink {
  send(bytes: Uint8Array): void;
  close(): Promise<void>;
}

export interface BfdTransport {
  /** A discriminator that no other session of this transport uses. */
  allocateDiscriminator(): number;
  /** Registers the session under `discriminator`; `receive` gets every valid packet meant for it. */
  open(endpoint: BfdEndpoint, discriminator: number, receive: (p: ControlPacket) => void): Promise<BfdLink>;
}

/** `::ffff:192.0.2.1` and `192.0.2.1` are one peer; the zone and letter case do not matter for lookup. */
export function addressKey(address: string): string {
  const bare = address.split('%')[0]!.toLowerCase();
  return bare.startsWith('::ffff:') && bare.includes('.') ? bare.slice(7) : bare;
}

interface Registration {
  key: string;
  minTtl: number;
  receive: (p: ControlPacket) => void;
}

export interface UdpTransportOptions {
  log: Logger;
  /** Port to receive on and send to; 3784 except in tests. */
  port?: number;
  /** Address to receive on per family; default every address. */
  listenAddress?: { ipv4?: string; ipv6?: string };
  random?: () => number;
}

type FamilyName = 'udp4' | 'udp6';

export class UdpBfdTransport implements BfdTransport {
  readonly port: number;
  private readonly log: Logger;
  private readonly random: () => number;
  private readonly listen: { ipv4?: string; ipv6?: string };
  private readonly byDiscriminator = new Map<number, Registration>();
  private readonly receivers = new Map<FamilyName, Promise<Socket>>();
  /** The TTL threshold each receive socket filters on; 0 when the filter could not be attached. */
  private readonly ttlFilters = new Map<FamilyName, number>();

  constructor(options: UdpTransportOptions) {
    this.log = options.log;
    this.port = options.port ?? BFD_CONTROL_PORT;
    this.random = options.random ?? Math.random;
    this.listen = options.listenAddress ?? {};
  }

  allocateDiscriminator(): number {
    for (;;) {
      const d = 1 + Math.floor(this.random() * 0xfffffffe);
      if (!this.byDiscriminator.has(d)) return d;
    }
  }

  async open(
    endpoint: BfdEndpoint,
    discriminator: number,
    receive: (p: ControlPacket) => void,
  ): Promise<BfdLink> {
    const peer = endpoint.peerAddress;
    const bare = peer.split('%')[0]!;
    const type: FamilyName | undefined = isIPv4(bare) ? 'udp4' : isIPv6(bare) ? 'udp6' : undefined;
    if (!type) throw new TypeError(`BFD peer is not an IP address: ${peer}`);
    if (this.byDiscriminator.has(discriminator)) throw new Error(`discriminator ${discriminator} in use`);
    const reg: Registration = { key: addressKey(peer), minTtl: endpoint.minTtl ?? SINGLE_HOP_TTL, receive };
    this.byDiscriminator.set(discriminator, reg);
    let sender: Socket;
    try {
      this.filterTtl(type, await this.receiver(type));
      sender = await this.bindSender(type, endpoint.localAddress);
    } catch (err) {
      this.byDiscriminator.delete(discriminator);
      await this.releaseReceiverIfUnused(type);
      throw err;
    }
    const port = this.port;
    let closed = false;
    return {
      send: (bytes) => {
        if (closed) return;
        sender.send(bytes, port, peer, (err) => {
          if (err) this.log.debug({ err: err.message, to: peer }, 'BFD send failed');
        });
      },
      close: async () => {
        if (closed) return;
        closed = true;
        this.byDiscriminator.delete(discriminator);
        await new Promise<void>((resolve) => sender.close(() => resolve()));
        await this.releaseReceiverIfUnused(type);
        // The session that asked for the lowest TTL may be this one: the threshold follows those left.
        const receiver = this.receivers.get(type);
        if (receiver) this.filterTtl(type, await receiver);
      },
    };
  }

  /**
   * One received datagram: decoded, checked and handed to its session. `ttl` is the received TTL or hop
   * limit when the socket can report it (see the module comment).
   */
  deliver(bytes: Uint8Array, from: string, ttl?: number): void {
    const d = decodeControlPacket(bytes);
    if (!d.ok) {
      this.log.debug({ from, reason: d.reason }, 'BFD packet dropped');
      return;
    }
    const p = d.packet;
    let reg: Registration | undefined;
    if (p.yourDiscriminator !== 0) reg = this.byDiscriminator.get(p.yourDiscriminator);
    else {
      const key = addressKey(from);
      for (const r of this.byDiscriminator.values())
        if (r.key === key) {
          reg = r;
          break;
        }
    }
    if (!reg || (p.yourDiscriminator !== 0 && reg.key !== addressKey(from))) {
      this.log.debug({ from, yourDiscriminator: p.yourDiscriminator }, 'BFD packet for no session dropped');
      return;
    }
    if (ttl !== undefined && ttl < reg.minTtl) {
      this.log.debug({ from, ttl, minTtl: reg.minTtl }, 'BFD packet dropped: TTL below the minimum (GTSM)');
      return;
    }
    reg.receive(p);
  }

  /** Points the receive socket's TTL filter at the lowest minimum its family's sessions accept. */
  private filterTtl(type: FamilyName, socket: Socket): void {
    const family = type === 'udp4' ? isIPv4 : isIPv6;
    let minTtl = SINGLE_HOP_TTL;
    for (const r of this.byDiscriminator.values()) if (family(r.key)) minTtl = Math.min(minTtl, r.minTtl);
    const applied = this.ttlFilters.get(type);
    if (applied === minTtl || applied === 0) return;
    try {
      requireMinTtl(socket, minTtl);
      this.ttlFilters.set(type, minTtl);
    } catch (err) {
      this.ttlFilters.set(type, 0);
      this.log.warn(
        { err: (err as Error).message, family: type },
        'BFD cannot check the TTL of received packets (GTSM is off): an off-link sender that guesses the discriminators could hold a session up',
      );
    }
  }

  private receiver(type: FamilyName): Promise<Socket> {
    let pending = this.receivers.get(type);
    if (pending) return pending;
    pending = new Promise<Socket>((resolve, reject) => {
      const s = createSocket({ type, ...(type === 'udp6' ? { ipv6Only: true } : {}) });
      s.once('error', reject);
      s.on('message', (msg, rinfo) => this.deliver(msg, rinfo.address));
      const address = type === 'udp4' ? (this.listen.ipv4 ?? '0.0.0.0') : (this.listen.ipv6 ?? '::');
      s.bind({ port: this.port, address, exclusive: true }, () => {
        s.off('error', reject);
        s.on('error', (err) => this.log.warn({ err: err.message }, 'BFD receive socket error'));
        // BFD alone must not keep a process alive; the BGP session or the caller does.
        s.unref();
        resolve(s);
      });
    });
    this.receivers.set(type, pending);
    pending.catch(() => this.receivers.delete(type));
    return pending;
  }

  private async releaseReceiverIfUnused(type: FamilyName): Promise<void> {
    const family = type === 'udp4' ? isIPv4 : isIPv6;
    for (const r of this.byDiscriminator.values()) if (family(r.key)) return;
    const pending = this.receivers.get(type);
    if (!pending) return;
    this.receivers.delete(type);
    this.ttlFilters.delete(type);
    const s = await pending.catch(() => undefined);
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** A socket bound to a random port of 49152-65535 (RFC 5881 section 4), sending with TTL 255. */
  private async bindSender(type: FamilyName, localAddress: string | undefined): Promise<Socket> {
    const span = SOURCE_PORT_MAX - SOURCE_PORT_MIN + 1;
    let lastError: Error | undefined;
    for (let attempt = 0; attempt < 64; attempt++) {
      const port = SOURCE_PORT_MIN + Math.floor(this.random() * span);
      const s = createSocket({ type, ...(type === 'udp6' ? { ipv6Only: true } : {}) });
      try {
        await new Promise<void>((resolve, reject) => {
          s.once('error', reject);
          s.bind(
            { port, address: localAddress ?? (type === 'udp4' ? '0.0.0.0' : '::'), exclusive: true },
            () => {
              s.off('error', reject);
              resolve();
            },
          );
        });
      } catch (err) {
        lastError = err as Error;
        s.close();
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') continue;
        throw err;
      }
      s.setTTL(SINGLE_HOP_TTL);
      s.on('error', (err) => this.log.debug({ err: err.message }, 'BFD send socket error'));
      // Packets that arrive on the sending port are not BFD's to read (they come to 3784); drop them.
      s.on('message', () => {});
      s.unref();
      return s;
    }
    throw new Error(
      `no free BFD source port in ${SOURCE_PORT_MIN}-${SOURCE_PORT_MAX}: ${lastError?.message}`,
    );
  }
}
