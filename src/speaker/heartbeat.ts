/**
 * The heartbeat mesh between speakers: every speaker sends a small UDP datagram to every other speaker's
 * node address every interval, authenticated with HMAC-SHA256 under a key shared through a Secret.
 * Replays are refused by (epoch, sequence): epoch is the sender's start time, sequence counts up.
 *
 * Each heartbeat also lists the peers its sender currently hears, so a speaker knows when its peers have
 * heard it (see Membership: a returning speaker claims addresses only once acknowledged).
 *
 * Wire format: "BCN1" | type (1: alive, 2: leaving) | epoch (u64 ms) | seq (u64) | name length (u8) |
 * name (UTF-8) | heard count (u16) | per heard peer: name length (u8), name | HMAC-SHA256 over everything
 * before it (32 bytes).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import type { Logger } from '../log.ts';

const MAGIC = Buffer.from('BCN1');
const MAC_LENGTH = 32;
export const HEARTBEAT_ALIVE = 1;
export const HEARTBEAT_LEAVING = 2;

export interface Heartbeat {
  type: typeof HEARTBEAT_ALIVE | typeof HEARTBEAT_LEAVING;
  epoch: bigint;
  seq: bigint;
  node: string;
  /** The peers the sender hears right now. */
  hears: string[];
}

/** Keeps a heartbeat inside one UDP datagram (64 KiB) however many peers there are. */
const MAX_LISTED_BYTES = 60_000;

function nameBytes(name: string): Buffer {
  const b = Buffer.from(name, 'utf8');
  if (b.length > 255) throw new Error(`node name longer than 255 bytes: ${name}`);
  return b;
}

export function encodeHeartbeat(h: Heartbeat, key: Buffer): Buffer {
  const name = nameBytes(h.node);
  const heard: Buffer[] = [];
  let size = 0;
  for (const n of h.hears) {
    const b = nameBytes(n);
    size += b.length + 1;
    if (size > MAX_LISTED_BYTES || heard.length === 0xffff) break;
    heard.push(b);
  }
  const head = Buffer.alloc(22);
  MAGIC.copy(head, 0);
  head.writeUInt8(h.type, 4);
  head.writeBigUInt64BE(h.epoch, 5);
  head.writeBigUInt64BE(h.seq, 13);
  head.writeUInt8(name.length, 21);
  const count = Buffer.alloc(2);
  count.writeUInt16BE(Math.min(heard.length, 0xffff));
  const parts = [head, name, count];
  for (const n of heard) parts.push(Buffer.from([n.length]), n);
  const body = Buffer.concat(parts);
  return Buffer.concat([body, createHmac('sha256', key).update(body).digest()]);
}

/** The heartbeat, or why the datagram is refused (never throws). */
export function decodeHeartbeat(buf: Buffer, key: Buffer): Heartbeat | { error: string } {
  if (buf.length < 24 + MAC_LENGTH || !buf.subarray(0, 4).equals(MAGIC)) return { error: 'not a heartbeat' };
  const body = buf.subarray(0, buf.length - MAC_LENGTH);
  const mac = buf.subarray(buf.length - MAC_LENGTH);
  if (!timingSafeEqual(mac, createHmac('sha256', key).update(body).digest()))
    return { error: 'bad authentication' };
  const type = body.readUInt8(4);
  if (type !== HEARTBEAT_ALIVE && type !== HEARTBEAT_LEAVING) return { error: `unknown type ${type}` };
  let at = 22 + body.readUInt8(21);
  if (at + 2 > body.length) return { error: 'bad length' };
  const node = body.subarray(22, at).toString('utf8');
  const count = body.readUInt16BE(at);
  at += 2;
  const hears: string[] = [];
  for (let i = 0; i < count; i++) {
    if (at + 1 > body.length) return { error: 'bad length' };
    const len = body.readUInt8(at++);
    if (at + len > body.length) return { error: 'bad length' };
    hears.push(body.subarray(at, at + len).toString('utf8'));
    at += len;
  }
  if (at !== body.length) return { error: 'bad length' };
  return { type, epoch: body.readBigUInt64BE(5), seq: body.readBigUInt64BE(13), node, hears };
}

/** Accepts each sender's heartbeats only in increasing (epoch, seq) order. */
export class ReplayGuard {
  private readonly last = new Map<string, { epoch: bigint; seq: bigint }>();

  accept(h: Heartbeat): boolean {
    const prev = this.last.get(h.node);
    if (prev && (h.epoch < prev.epoch || (h.epoch === prev.epoch && h.seq <= prev.seq))) return false;
    this.last.set(h.node, { epoch: h.epoch, seq: h.seq });
    return true;
  }
}

export interface HeartbeatMeshOptions {
  self: string;
  key: Buffer;
  port: number;
  /** The local address to send from and listen on; its family decides the socket's. */
  bindAddress: string;
  intervalMs: number;
  /** The peers this speaker hears, listed in every heartbeat it sends. */
  hears(): string[];
  onHeartbeat(h: Heartbeat, from: string): void;
  log: Logger;
}

export class HeartbeatMesh {
  private readonly opts: HeartbeatMeshOptions;
  private readonly socket: Socket;
  private readonly guard = new ReplayGuard();
  private readonly epoch = BigInt(Date.now());
  private seq = 0n;
  private peers: string[] = [];
  private timer: NodeJS.Timeout | undefined;
  private refused = 0;

  constructor(opts: HeartbeatMeshOptions) {
    this.opts = opts;
    this.socket = createSocket({ type: isIPv6(opts.bindAddress) ? 'udp6' : 'udp4', reuseAddr: true });
    this.socket.on('message', (msg, rinfo) => this.receive(msg, rinfo.address));
    this.socket.on('error', (err) => opts.log.warn({ err: err.message }, 'heartbeat socket error'));
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.socket.once('error', reject);
      this.socket.bind(this.opts.port, this.opts.bindAddress, () => {
        this.socket.off('error', reject);
        resolve();
      });
    });
    this.timer = setInterval(() => this.send(HEARTBEAT_ALIVE), this.opts.intervalMs);
    this.send(HEARTBEAT_ALIVE);
  }

  /** Addresses of the other speakers' nodes. */
  setPeers(addresses: string[]): void {
    this.peers = addresses;
  }

  /** Tells every peer this speaker is leaving, so they take over without waiting for silence. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (let i = 0; i < 3; i++) this.send(HEARTBEAT_LEAVING);
    await new Promise<void>((resolve) => setTimeout(resolve, 20));
    this.socket.close();
  }

  private send(type: Heartbeat['type']): void {
    const msg = encodeHeartbeat(
      { type, epoch: this.epoch, seq: ++this.seq, node: this.opts.self, hears: this.opts.hears() },
      this.opts.key,
    );
    for (const addr of this.peers) {
      this.socket.send(msg, this.opts.port, addr, (err) => {
        if (err) this.opts.log.debug({ peer: addr, err: err.message }, 'heartbeat send failed');
      });
    }
  }

  private receive(msg: Buffer, from: string): void {
    const h = decodeHeartbeat(msg, this.opts.key);
    if ('error' in h) {
      // Log the first and then every hundredth: a misconfigured key must be visible, a flood must not flood logs.
      if (this.refused++ % 100 === 0)
        this.opts.log.warn({ from, reason: h.error, refused: this.refused }, 'heartbeat refused');
      return;
    }
    if (h.node === this.opts.self || !this.guard.accept(h)) return;
    this.opts.onHeartbeat(h, from);
  }
}
