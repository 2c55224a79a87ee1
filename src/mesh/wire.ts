/**
 * The membership protocol's datagrams. Every datagram has a fixed header naming sender and receiver by
 * their 8-byte ids and the key versions used, then a kind-specific body, then a 16-byte MAC under the key
 * only the two of them share (identity.ts). Statements inside (alive, suspended, leaving, suspect, dead)
 * carry their own Ed25519 signatures, so they stay authentic however many nodes relay them.
 *
 * Header (38 bytes): "BCN2" | kind u8 | sender key version u8 | receiver key version u8 | 0 u8 |
 * sender id (8) | receiver id (8) | sender generation u32 | sender round u16 | sequence u64.
 * Every datagram fits in MAX_DATAGRAM bytes: below the IPv6 minimum MTU with headers, so never fragmented.
 *
 * Decoding is total: any byte string gives a datagram or a reason, never an exception.
 */
import { MAC_BYTES, SIGNATURE_BYTES } from './identity.ts';

export const MAGIC = Buffer.from('BCN2');
export const MAX_DATAGRAM = 1200;
export const HEADER_BYTES = 38;

export const KIND = {
  heartbeat: 1,
  gossip: 2,
  syncRequest: 3,
  syncReply: 4,
  released: 5,
  releaseRequest: 6,
} as const;
export type Kind = (typeof KIND)[keyof typeof KIND];

export const STATEMENT = {
  alive: 1,
  suspended: 2,
  leaving: 3,
  dead: 4,
  suspect: 5,
} as const;
export type StatementType = (typeof STATEMENT)[keyof typeof STATEMENT];

/** (generation, round): generation from the node's Lease (one per process start), round within it. */
export interface Incarnation {
  gen: number;
  round: number;
}

export function compareIncarnation(a: Incarnation, b: Incarnation): number {
  return a.gen !== b.gen ? a.gen - b.gen : a.round - b.round;
}

export interface Signature {
  /** Id of the node that signed. */
  by: string;
  keyVersion: number;
  signature: Buffer;
}

/** A node's own word about itself: alive, suspended (cut off, stepping back) or leaving. */
export interface SelfStatement {
  type: typeof STATEMENT.alive | typeof STATEMENT.suspended | typeof STATEMENT.leaving;
  subject: string;
  inc: Incarnation;
  signature: Signature;
}

/** One neighbour's word that it no longer hears `subject` at `inc`. */
export interface SuspectStatement {
  type: typeof STATEMENT.suspect;
  subject: string;
  inc: Incarnation;
  signature: Signature;
}

/** Enough suspicions of `subject` at `inc`, from its neighbours, to declare it dead. */
export interface DeadStatement {
  type: typeof STATEMENT.dead;
  subject: string;
  inc: Incarnation;
  signatures: Signature[];
}

export type Statement = SelfStatement | SuspectStatement | DeadStatement;

export interface Header {
  kind: Kind;
  senderKeyVersion: number;
  receiverKeyVersion: number;
  sender: string;
  receiver: string;
  inc: Incarnation;
  seq: bigint;
}

export interface HeartbeatBody {
  /** Highest sequence number received from the receiver in its current incarnation; 0n for none. */
  ack: bigint;
  /** Set when the sender holds the receiver dead, suspended or gone at the incarnation it uses. */
  refuted: boolean;
  /** The sender's membership digest: neighbours that disagree ask each other for a sync. */
  digest: bigint;
  statements: Statement[];
}

export type Datagram =
  | { kind: typeof KIND.heartbeat; header: Header; body: HeartbeatBody }
  | { kind: typeof KIND.gossip | typeof KIND.syncReply; header: Header; body: { statements: Statement[] } }
  | { kind: typeof KIND.syncRequest; header: Header; body: { digest: bigint } }
  | { kind: typeof KIND.released | typeof KIND.releaseRequest; header: Header; body: { inc: Incarnation } };

/** The bytes a statement's signature covers. */
export function signedBytes(type: StatementType, subject: string, inc: Incarnation, by?: string): Buffer {
  const b = Buffer.alloc(16 + 1 + 8 + 6 + (by ? 8 : 0));
  b.write('beacon mesh stmt', 0, 'latin1');
  // A dead statement is a bundle of suspicions: each signature in it signed the suspect form.
  b.writeUInt8(type === STATEMENT.dead ? STATEMENT.suspect : type, 16);
  b.write(subject, 17, 'hex');
  b.writeUInt32BE(inc.gen, 25);
  b.writeUInt16BE(inc.round, 29);
  if (by) b.write(by, 31, 'hex');
  return b;
}

const SIG_BYTES = 8 + 1 + SIGNATURE_BYTES;

export function statementSize(s: Statement): number {
  const head = 1 + 8 + 6;
  if (s.type === STATEMENT.dead) return head + 1 + s.signatures.length * SIG_BYTES;
  return head + SIG_BYTES;
}

function writeSig(buf: Buffer, at: number, s: Signature): number {
  buf.write(s.by, at, 'hex');
  buf.writeUInt8(s.keyVersion, at + 8);
  s.signature.copy(buf, at + 9);
  return at + SIG_BYTES;
}

function writeStatement(buf: Buffer, at: number, s: Statement): number {
  buf.writeUInt8(s.type, at);
  buf.write(s.subject, at + 1, 'hex');
  buf.writeUInt32BE(s.inc.gen, at + 9);
  buf.writeUInt16BE(s.inc.round, at + 13);
  let p = at + 15;
  if (s.type === STATEMENT.dead) {
    buf.writeUInt8(s.signatures.length, p++);
    for (const sig of s.signatures) p = writeSig(buf, p, sig);
    return p;
  }
  return writeSig(buf, p, s.signature);
}

/** Room left for statements in a datagram whose fixed body takes `fixed` bytes. */
export function statementRoom(fixed: number): number {
  return MAX_DATAGRAM - HEADER_BYTES - MAC_BYTES - fixed - 1;
}

/** The datagram without its MAC; the caller appends mac(bytes). */
export function encodeDatagram(d: Datagram): Buffer {
  let bodySize: number;
  switch (d.kind) {
    case KIND.heartbeat:
      bodySize = 8 + 1 + 8 + 1 + d.body.statements.reduce((n, s) => n + statementSize(s), 0);
      break;
    case KIND.gossip:
    case KIND.syncReply:
      bodySize = 1 + d.body.statements.reduce((n, s) => n + statementSize(s), 0);
      break;
    case KIND.syncRequest:
      bodySize = 8;
      break;
    case KIND.released:
    case KIND.releaseRequest:
      bodySize = 6;
      break;
  }
  const buf = Buffer.alloc(HEADER_BYTES + bodySize);
  const h = d.header;
  MAGIC.copy(buf, 0);
  buf.writeUInt8(d.kind, 4);
  buf.writeUInt8(h.senderKeyVersion, 5);
  buf.writeUInt8(h.receiverKeyVersion, 6);
  buf.write(h.sender, 8, 'hex');
  buf.write(h.receiver, 16, 'hex');
  buf.writeUInt32BE(h.inc.gen, 24);
  buf.writeUInt16BE(h.inc.round, 28);
  buf.writeBigUInt64BE(h.seq, 30);
  let p = HEADER_BYTES;
  switch (d.kind) {
    case KIND.heartbeat: {
      const b = d.body;
      buf.writeBigUInt64BE(b.ack, p);
      buf.writeUInt8(b.refuted ? 1 : 0, p + 8);
      buf.writeBigUInt64BE(b.digest, p + 9);
      buf.writeUInt8(b.statements.length, p + 17);
      p += 18;
      for (const s of b.statements) p = writeStatement(buf, p, s);
      break;
    }
    case KIND.gossip:
    case KIND.syncReply: {
      const b = d.body;
      buf.writeUInt8(b.statements.length, p++);
      for (const s of b.statements) p = writeStatement(buf, p, s);
      break;
    }
    case KIND.syncRequest:
      buf.writeBigUInt64BE(d.body.digest, p);
      break;
    case KIND.released:
    case KIND.releaseRequest: {
      const inc = d.body.inc;
      buf.writeUInt32BE(inc.gen, p);
      buf.writeUInt16BE(inc.round, p + 4);
      break;
    }
  }
  if (buf.length + MAC_BYTES > MAX_DATAGRAM) throw new Error(`datagram of ${buf.length + MAC_BYTES} bytes`);
  return buf;
}

/**
 * What can be judged before any cryptography: size, magic, kind, and who the datagram says it is from.
 * Junk (floods, strays, other versions) is refused here at the cost of a few comparisons.
 */
export function peekHeader(buf: Buffer): Header | { error: string } {
  if (buf.length > MAX_DATAGRAM) return { error: 'too large' };
  if (buf.length < HEADER_BYTES + MAC_BYTES) return { error: 'too short' };
  if (buf[0] !== MAGIC[0] || buf[1] !== MAGIC[1] || buf[2] !== MAGIC[2] || buf[3] !== MAGIC[3])
    return { error: 'not a Beacon mesh datagram' };
  const kind = buf.readUInt8(4);
  if (kind < KIND.heartbeat || kind > KIND.releaseRequest) return { error: `unknown kind ${kind}` };
  return {
    kind: kind as Kind,
    senderKeyVersion: buf.readUInt8(5),
    receiverKeyVersion: buf.readUInt8(6),
    sender: buf.toString('hex', 8, 16),
    receiver: buf.toString('hex', 16, 24),
    inc: { gen: buf.readUInt32BE(24), round: buf.readUInt16BE(28) },
    seq: buf.readBigUInt64BE(30),
  };
}

class Reader {
  at: number;
  readonly buf: Buffer;
  readonly end: number;
  constructor(buf: Buffer, at: number, end: number) {
    this.buf = buf;
    this.at = at;
    this.end = end;
  }
  has(n: number): boolean {
    return this.at + n <= this.end;
  }
}

function readSig(r: Reader): Signature | undefined {
  if (!r.has(SIG_BYTES)) return undefined;
  const sig = {
    by: r.buf.toString('hex', r.at, r.at + 8),
    keyVersion: r.buf.readUInt8(r.at + 8),
    signature: Buffer.from(r.buf.subarray(r.at + 9, r.at + SIG_BYTES)),
  };
  r.at += SIG_BYTES;
  return sig;
}

function readStatements(r: Reader): Statement[] | undefined {
  if (!r.has(1)) return undefined;
  const count = r.buf.readUInt8(r.at++);
  const out: Statement[] = [];
  for (let i = 0; i < count; i++) {
    if (!r.has(15)) return undefined;
    const type = r.buf.readUInt8(r.at);
    const subject = r.buf.toString('hex', r.at + 1, r.at + 9);
    const inc = { gen: r.buf.readUInt32BE(r.at + 9), round: r.buf.readUInt16BE(r.at + 13) };
    r.at += 15;
    if (type === STATEMENT.dead) {
      if (!r.has(1)) return undefined;
      const n = r.buf.readUInt8(r.at++);
      if (n === 0 || n > 8) return undefined;
      const signatures: Signature[] = [];
      for (let j = 0; j < n; j++) {
        const sig = readSig(r);
        if (!sig) return undefined;
        signatures.push(sig);
      }
      out.push({ type, subject, inc, signatures });
    } else if (type >= STATEMENT.alive && type <= STATEMENT.suspect) {
      const signature = readSig(r);
      if (!signature) return undefined;
      out.push({ type, subject, inc, signature } as SelfStatement | SuspectStatement);
    } else return undefined;
  }
  return out;
}

/** The body of a datagram whose header and MAC were already checked. */
export function decodeBody(buf: Buffer, header: Header): Datagram | { error: string } {
  const r = new Reader(buf, HEADER_BYTES, buf.length - MAC_BYTES);
  const bad = { error: 'malformed body' };
  switch (header.kind) {
    case KIND.heartbeat: {
      if (!r.has(17)) return bad;
      const ack = buf.readBigUInt64BE(r.at);
      const refuted = buf.readUInt8(r.at + 8) === 1;
      const digest = buf.readBigUInt64BE(r.at + 9);
      r.at += 17;
      const statements = readStatements(r);
      if (!statements || r.at !== r.end) return bad;
      return { kind: KIND.heartbeat, header, body: { ack, refuted, digest, statements } };
    }
    case KIND.gossip:
    case KIND.syncReply: {
      const statements = readStatements(r);
      if (!statements || r.at !== r.end) return bad;
      return { kind: header.kind, header, body: { statements } };
    }
    case KIND.syncRequest:
      if (r.end - r.at !== 8) return bad;
      return { kind: KIND.syncRequest, header, body: { digest: buf.readBigUInt64BE(r.at) } };
    case KIND.released:
    case KIND.releaseRequest:
      if (r.end - r.at !== 6) return bad;
      return {
        kind: header.kind,
        header,
        body: { inc: { gen: buf.readUInt32BE(r.at), round: buf.readUInt16BE(r.at + 4) } },
      };
  }
}
