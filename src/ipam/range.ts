/**
 * Inclusive address ranges: parsing a pool's `addresses` entries, merging them into sorted disjoint
 * intervals, and counting the addresses `avoidBuggyIPs` skips in a range without enumerating it.
 */
import { FAMILY_BITS, type Family, familyName, formatAddress, parseAddress } from './address.ts';

export interface AddressRange {
  family: Family;
  first: bigint;
  last: bigint;
}

export type ParsedBlock = { ok: true; range: AddressRange } | { ok: false; message: string };

const PREFIX_LENGTH = /^(0|[1-9][0-9]{0,2})$/;

/**
 * One entry of IPAddressPool.spec.addresses: a CIDR (host bits allowed, `192.168.1.5/24` is the /24) or
 * an inclusive range `a-b` of one family, with optional spaces around the dash.
 */
export function parseAddressBlock(entry: string): ParsedBlock {
  const text = entry.trim();
  if (text.includes('-')) return refuseMapped(entry, parseDashRange(entry, text));
  if (text.includes('/')) return refuseMapped(entry, parseCIDR(entry, text));
  return {
    ok: false,
    message: `"${entry}" is neither a CIDR (e.g. 192.168.10.0/24) nor a range of two addresses (e.g. 192.168.10.10-192.168.10.20)`,
  };
}

/** ::ffff:0:0/96, the IPv4-mapped IPv6 addresses (RFC 4291 §2.5.5.2). */
const MAPPED_FIRST = 0xffffn << 32n;
const MAPPED_LAST = MAPPED_FIRST | 0xffffffffn;

/**
 * An IPv4-mapped IPv6 address is an IPv4 address in IPv6 spelling: handing it out as an IPv6 address
 * would give a second Service the IPv4 address another may hold, and Kubernetes refuses it in a
 * Service's status (KEP-4858). A pool may contain none.
 */
function refuseMapped(entry: string, parsed: ParsedBlock): ParsedBlock {
  if (!parsed.ok) return parsed;
  const { family, first, last } = parsed.range;
  if (family !== 6 || last < MAPPED_FIRST || first > MAPPED_LAST) return parsed;
  return {
    ok: false,
    message: `"${entry}" contains IPv4-mapped IPv6 addresses (::ffff:0:0/96), which stand for IPv4 addresses and which Kubernetes does not accept as a Service's address; list IPv4 addresses in IPv4 form`,
  };
}

function parseCIDR(entry: string, text: string): ParsedBlock {
  const [addressText, lengthText, ...extra] = text.split('/');
  const address = parseAddress(addressText!);
  if (!address || extra.length > 0) {
    return { ok: false, message: `"${entry}" is not a valid CIDR: "${addressText}" is not an IP address` };
  }
  const bits = FAMILY_BITS[address.family];
  if (!PREFIX_LENGTH.test(lengthText!) || Number(lengthText) > bits) {
    return {
      ok: false,
      message: `"${entry}" is not a valid CIDR: the prefix length must be a number from 0 to ${bits} for ${familyName(address.family)}`,
    };
  }
  const hostBits = BigInt(bits - Number(lengthText));
  const first = (address.value >> hostBits) << hostBits;
  return { ok: true, range: { family: address.family, first, last: first + (1n << hostBits) - 1n } };
}

function parseDashRange(entry: string, text: string): ParsedBlock {
  const ends = text.split('-').map((s) => s.trim());
  if (ends.length !== 2) {
    return {
      ok: false,
      message: `"${entry}" is not a valid range: write exactly two addresses, e.g. 10.0.0.10-10.0.0.20`,
    };
  }
  const [startText, endText] = ends as [string, string];
  const start = parseAddress(startText);
  const end = parseAddress(endText);
  for (const [text, parsed] of [
    [startText, start],
    [endText, end],
  ] as const) {
    if (!parsed)
      return { ok: false, message: `"${entry}" is not a valid range: "${text}" is not an IP address` };
  }
  if (start!.family !== end!.family) {
    return {
      ok: false,
      message: `range "${entry}" mixes an IPv4 and an IPv6 address; both ends must be of one family`,
    };
  }
  if (start!.value > end!.value) {
    return { ok: false, message: `range "${entry}" starts after it ends; write the lower address first` };
  }
  return { ok: true, range: { family: start!.family, first: start!.value, last: end!.value } };
}

/** Sorts ranges of one family and merges overlapping or adjacent ones into disjoint intervals. */
export function mergeRanges(ranges: readonly AddressRange[]): AddressRange[] {
  const sorted = [...ranges].sort((a, b) => (a.first < b.first ? -1 : a.first > b.first ? 1 : 0));
  const merged: AddressRange[] = [];
  for (const r of sorted) {
    const prev = merged.at(-1);
    if (prev && r.first <= prev.last + 1n) {
      if (r.last > prev.last) prev.last = r.last;
    } else {
      merged.push({ ...r });
    }
  }
  return merged;
}

/** The parts two sorted, disjoint lists of ranges have in common. */
export function intersectRanges(a: readonly AddressRange[], b: readonly AddressRange[]): AddressRange[] {
  const out: AddressRange[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const x = a[i]!;
    const y = b[j]!;
    const first = bigMax(x.first, y.first);
    const last = bigMin(x.last, y.last);
    if (first <= last) out.push({ family: x.family, first, last });
    if (x.last < y.last) i++;
    else j++;
  }
  return out;
}

// Math.max and Math.min do not take bigints.
function bigMax(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

function bigMin(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

export function rangeSize(range: AddressRange): bigint {
  return range.last - range.first + 1n;
}

/** Text for a range: a CIDR when it is exactly one, a single address, or `first-last`. */
export function formatRange(range: AddressRange): string {
  const first = formatAddress({ family: range.family, value: range.first });
  if (range.first === range.last) return first;
  const size = rangeSize(range);
  const isPowerOfTwo = (size & (size - 1n)) === 0n;
  if (isPowerOfTwo && range.first % size === 0n) {
    const hostBits = size.toString(2).length - 1;
    return `${first}/${FAMILY_BITS[range.family] - hostBits}`;
  }
  return `${first}-${formatAddress({ family: range.family, value: range.last })}`;
}

/** The low 64 bits of an IPv6 address: its interface identifier on a /64 link (RFC 4291 §2.5.1). */
const INTERFACE_ID = (1n << 64n) - 1n;

/**
 * The addresses `avoidBuggyIPs` skips whatever the pool: IPv4 addresses ending in .0 or .255, which confuse
 * some old network equipment (smurf-attack protection on consumer routers drops them); IPv6 addresses whose
 * interface identifier is all zeros, which on a /64 link (RFC 7421: nearly every link) is the Subnet-Router
 * anycast address (RFC 4291 §2.6.1) that every router on the link answers.
 */
export function isBuggyAddress(family: Family, value: bigint): boolean {
  if (family === 6) return (value & INTERFACE_ID) === 0n;
  const lastOctet = value & 0xffn;
  return lastOctet === 0n || lastOctet === 255n;
}

/** How many addresses of `range` are buggy in the sense of isBuggyAddress, by arithmetic. */
export function countBuggyAddresses(range: AddressRange): bigint {
  // Numbers x <= n with x % m === r.
  const upTo = (n: bigint, m: bigint, r: bigint) => (n < r ? 0n : (n - r) / m + 1n);
  const between = (m: bigint, r: bigint) =>
    upTo(range.last, m, r) - (range.first === 0n ? 0n : upTo(range.first - 1n, m, r));
  if (range.family === 6) return between(1n << 64n, 0n);
  return between(256n, 0n) + between(256n, 255n);
}

/**
 * The Subnet-Router anycast address of an IPv6 CIDR entry longer than /64 (its all-zeros address), which
 * is anycast on a link numbered with that prefix; undefined when isBuggyAddress already covers it, or for
 * /127 and /128, where RFC 6164 and a single address leave no anycast to avoid.
 */
export function cidrAnycast(entry: string): bigint | undefined {
  const text = entry.trim();
  if (text.includes('-') || !text.includes('/')) return undefined;
  const parsed = parseAddressBlock(text);
  if (!parsed.ok || parsed.range.family !== 6) return undefined;
  const size = rangeSize(parsed.range);
  if (size < 4n || size >= 1n << 64n) return undefined;
  return isBuggyAddress(6, parsed.range.first) ? undefined : parsed.range.first;
}
