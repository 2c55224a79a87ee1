/**
 * The score that decides who answers for an address in L2 mode: rendezvous hashing, the candidate with
 * the highest score for (address, node) owns it. Every speaker computes the same owner from the same
 * candidates, a node joining or leaving moves only the addresses it wins or held, and the addresses spread
 * evenly. Each name is hashed once (SHA-256, cached for the process); a score is then two 32-bit mixes (MurmurHash3's
 * finaliser) of the XORed name hashes: a few nanoseconds, where a SHA-256 per pair made a plan over 1,000
 * addresses and 100 nodes cost most of a second.
 */
import { createHash } from 'node:crypto';

export interface Hashed {
  /** Two independent 32-bit lanes of the name's SHA-256. */
  h1: number;
  h2: number;
}

/**
 * Names hashed so far, shared by every table in the process (a name's hash never changes): one entry per
 * node name and address. Emptied when it outgrows any real cluster's names, so churn cannot grow it.
 */
const hashed = new Map<string, Hashed>();
const HASHED_MAX = 1 << 20;

export function hashName(name: string): Hashed {
  let h = hashed.get(name);
  if (h) return h;
  const d = createHash('sha256').update(name, 'utf8').digest();
  h = { h1: d.readUInt32BE(0), h2: d.readUInt32BE(4) };
  if (hashed.size >= HASHED_MAX) hashed.clear();
  hashed.set(name, h);
  return h;
}

function fmix32(x: number): number {
  let h = x;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A 53-bit score, exact in a double; higher wins. */
export function score(address: Hashed, node: Hashed): number {
  return fmix32(address.h1 ^ node.h1) * 0x200000 + (fmix32((address.h2 ^ node.h2 ^ 0x9e3779b9) >>> 0) >>> 11);
}

/** Whether `a` (score, name) beats `b`: ties, practically impossible, go to the smaller name. */
export function beats(aScore: number, aName: string, bScore: number, bName: string): boolean {
  return aScore > bScore || (aScore === bScore && aName < bName);
}
