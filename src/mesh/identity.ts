/**
 * Who a speaker is on the wire. Each speaker process makes its own key pairs at start: an X25519 pair,
 * whose Diffie-Hellman secret with a peer's public key gives the two of them a MAC key nobody else has
 * (so node B cannot make a datagram that node C accepts as node A's), and an Ed25519 pair that signs the
 * statements relayed through others (alive, leaving, suspended, suspicions), so a relay cannot forge them.
 * Public keys travel in the speaker's own Lease, which the admission policy lets only that node write.
 */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hash,
  type KeyObject,
  sign,
  verify,
} from 'node:crypto';

/** A node's 8-byte wire identity: the first 8 bytes of SHA-256 over its name, as 16 hex digits. */
export function nodeId(name: string): string {
  return createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 16);
}

export interface PublicKeys {
  /** Key version, so that a rotation keeps the previous keys usable for a while. */
  version: number;
  /** X25519 public key, 32 raw bytes. */
  dh: Buffer;
  /** Ed25519 public key, 32 raw bytes. */
  sign: Buffer;
}

export interface KeyPairs {
  public: PublicKeys;
  dhPrivate: KeyObject;
  signPrivate: KeyObject;
}

// DER prefixes of SubjectPublicKeyInfo for the two curves (RFC 8410): raw keys are what the Lease carries.
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
const ED25519_SPKI = Buffer.from('302a300506032b6570032100', 'hex');

function rawPublic(key: KeyObject, prefix: Buffer): Buffer {
  const der = key.export({ format: 'der', type: 'spki' });
  return Buffer.from(der.subarray(prefix.length));
}

export function generateKeyPairs(version: number): KeyPairs {
  const dh = generateKeyPairSync('x25519');
  const sg = generateKeyPairSync('ed25519');
  return {
    public: {
      version,
      dh: rawPublic(dh.publicKey, X25519_SPKI),
      sign: rawPublic(sg.publicKey, ED25519_SPKI),
    },
    dhPrivate: dh.privateKey,
    signPrivate: sg.privateKey,
  };
}

/** Keys from their PKCS#8 DER export, for tests that need fixed identities. */
export function keyPairsFromDer(version: number, dhPkcs8: Buffer, signPkcs8: Buffer): KeyPairs {
  const dhPrivate = createPrivateKey({ key: dhPkcs8, format: 'der', type: 'pkcs8' });
  const signPrivate = createPrivateKey({ key: signPkcs8, format: 'der', type: 'pkcs8' });
  return {
    public: {
      version,
      dh: rawPublic(createPublicKey(dhPrivate), X25519_SPKI),
      sign: rawPublic(createPublicKey(signPrivate), ED25519_SPKI),
    },
    dhPrivate,
    signPrivate,
  };
}

const publicKeyCache = new Map<string, KeyObject>();

function publicKeyObject(raw: Buffer, prefix: Buffer): KeyObject {
  const cacheKey = `${prefix[9]}:${raw.toString('base64')}`;
  let k = publicKeyCache.get(cacheKey);
  if (!k) {
    k = createPublicKey({ key: Buffer.concat([prefix, raw]), format: 'der', type: 'spki' });
    // Bounded: a speaker meets at most a few keys per peer over its life, but a roster can churn.
    if (publicKeyCache.size > 20_000) publicKeyCache.clear();
    publicKeyCache.set(cacheKey, k);
  }
  return k;
}

/** True when `raw` is a usable X25519 / Ed25519 public key (32 bytes the DER parser accepts). */
export function validPublicKeys(k: PublicKeys): boolean {
  if (k.dh.length !== 32 || k.sign.length !== 32) return false;
  try {
    publicKeyObject(k.dh, X25519_SPKI);
    publicKeyObject(k.sign, ED25519_SPKI);
    return true;
  } catch {
    return false;
  }
}

/**
 * The MAC key two nodes share: SHA-256 over a label, the X25519 secret and both public keys in a fixed
 * order, so either side derives the same key and a key is bound to the exact pair of key versions used.
 */
export function pairKey(mine: KeyPairs, theirs: PublicKeys): Buffer {
  const secret = diffieHellman({
    privateKey: mine.dhPrivate,
    publicKey: publicKeyObject(theirs.dh, X25519_SPKI),
  });
  const [a, b] =
    Buffer.compare(mine.public.dh, theirs.dh) <= 0
      ? [mine.public.dh, theirs.dh]
      : [theirs.dh, mine.public.dh];
  return createHash('sha256').update('beacon mesh pair key v1').update(secret).update(a).update(b).digest();
}

/**
 * HMAC-SHA256 (RFC 2104) truncated to 16 bytes (RFC 2104 section 5 allows truncation to at least half the
 * output). Computed from the one-shot hash with precomputed pads: the same function as createHmac, at a
 * fifth of the cost, which matters at tens of datagrams per second per node and in the 5,000-node simulation.
 */
export class Mac {
  private readonly inner: Buffer;
  private readonly outer: Buffer;

  constructor(key: Buffer) {
    if (key.length > 64) throw new Error('MAC keys longer than the SHA-256 block are not used here');
    this.inner = Buffer.alloc(64, 0x36);
    this.outer = Buffer.alloc(64, 0x5c);
    for (let i = 0; i < key.length; i++) {
      this.inner[i]! ^= key[i]!;
      this.outer[i]! ^= key[i]!;
    }
  }

  tag(data: Buffer): Buffer {
    const innerHash = hash('sha256', Buffer.concat([this.inner, data]), 'buffer');
    return hash('sha256', Buffer.concat([this.outer, innerHash]), 'buffer').subarray(0, MAC_BYTES);
  }
}

export const MAC_BYTES = 16;
export const SIGNATURE_BYTES = 64;

export function signStatement(keys: KeyPairs, data: Buffer): Buffer {
  return sign(null, data, keys.signPrivate);
}

export function verifyStatement(key: PublicKeys, data: Buffer, signature: Buffer): boolean {
  if (signature.length !== SIGNATURE_BYTES) return false;
  try {
    return verify(null, data, publicKeyObject(key.sign, ED25519_SPKI), signature);
  } catch {
    return false;
  }
}
