/**
 * IP addresses as (family, bigint) pairs: a strict parser for the text forms Kubernetes accepts and a
 * formatter that prints the canonical form (RFC 5952 for IPv6), so equal addresses always print alike.
 */

export type Family = 4 | 6;

export interface IPAddress {
  family: Family;
  /** The address as an unsigned integer: 32 bits for IPv4, 128 bits for IPv6. */
  value: bigint;
}

export const FAMILY_BITS: Readonly<Record<Family, number>> = { 4: 32, 6: 128 };

export function familyName(family: Family): string {
  return family === 4 ? 'IPv4' : 'IPv6';
}

const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * Parses dotted-quad IPv4 or IPv6 text. Rejects what Go's netip (and so Kubernetes validation) rejects:
 * leading zeros in IPv4 octets, zones (`%eth0`), surrounding whitespace, more than one `::`.
 */
export function parseAddress(text: string): IPAddress | undefined {
  if (text.includes(':')) {
    const value = parseIPv6(text);
    return value === undefined ? undefined : { family: 6, value };
  }
  const value = parseIPv4(text);
  return value === undefined ? undefined : { family: 4, value };
}

function parseIPv4(text: string): bigint | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0n;
  for (const part of parts) {
    if (!DECIMAL_OCTET.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    value = (value << 8n) | BigInt(octet);
  }
  return value;
}

function parseIPv6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = halves[0] ? halves[0].split(':') : [];
  const tail = halves.length === 2 && halves[1] ? halves[1].split(':') : [];
  const groups: bigint[] = [];
  // An embedded IPv4 address may only end the text (::ffff:192.0.2.1) and stands for two groups.
  const parseGroups = (list: string[], last: boolean): boolean => {
    for (let i = 0; i < list.length; i++) {
      const g = list[i]!;
      if (last && i === list.length - 1 && g.includes('.')) {
        const v4 = parseIPv4(g);
        if (v4 === undefined) return false;
        groups.push(v4 >> 16n, v4 & 0xffffn);
      } else if (HEX_GROUP.test(g)) {
        groups.push(BigInt(`0x${g}`));
      } else {
        return false;
      }
    }
    return true;
  };
  const compressed = halves.length === 2;
  if (!parseGroups(head, !compressed)) return undefined;
  const headCount = groups.length;
  if (!parseGroups(tail, true)) return undefined;
  const missing = 8 - groups.length;
  if (compressed ? missing < 1 : missing !== 0) return undefined;
  const all = [
    ...groups.slice(0, headCount),
    ...new Array<bigint>(missing).fill(0n),
    ...groups.slice(headCount),
  ];
  return all.reduce((acc, g) => (acc << 16n) | g, 0n);
}

/**
 * The IPv4 address an IPv4-mapped IPv6 address (::ffff:a.b.c.d, RFC 4291 §2.5.5.2) stands for, else
 * undefined. Kubernetes refuses that spelling for Service addresses (KEP-4858), and Go's net.IP reads it as
 * the IPv4 address itself, so Beacon must never hand one out as an IPv6 address of its own.
 */
export function mappedIPv4(address: IPAddress): string | undefined {
  return address.family === 6 && address.value >> 32n === 0xffffn
    ? formatIPv4(address.value & 0xffffffffn)
    : undefined;
}

/**
 * For text parseAddress refuses that older parsers (and so older Kubernetes validation) accepted, what to
 * write instead: IPv4 with leading zeros, which Kubernetes' legacy parser reads as decimal and libc as
 * octal (KEP-4858), and an address with a zone (`%eth0`), which names an interface, not an address.
 */
export function addressHint(text: string): string | undefined {
  const zone = text.indexOf('%');
  if (zone > 0) {
    const bare = parseAddress(text.slice(0, zone));
    if (bare) return `a zone does not belong in a Service's address; write ${formatAddress(bare)}`;
  }
  const octets = text.split('.');
  if (octets.length === 4 && octets.every((o) => /^[0-9]{1,3}$/.test(o) && Number(o) <= 255)) {
    return `leading zeros are ambiguous (some software reads them as octal); write ${octets.map(Number).join('.')} if that is meant`;
  }
  return undefined;
}

export function formatAddress(address: IPAddress): string {
  return address.family === 4 ? formatIPv4(address.value) : formatIPv6(address.value);
}

function formatIPv4(value: bigint): string {
  return [24n, 16n, 8n, 0n].map((shift) => String((value >> shift) & 0xffn)).join('.');
}

function formatIPv6(value: bigint): string {
  const groups: number[] = [];
  for (let shift = 112n; shift >= 0n; shift -= 16n) groups.push(Number((value >> shift) & 0xffffn));
  // IPv4-mapped addresses print with their IPv4 tail, as RFC 5952 section 5 recommends.
  if (value >> 32n === 0xffffn) return `::ffff:${formatIPv4(value & 0xffffffffn)}`;
  // RFC 5952: compress the longest run of two or more zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

/** The canonical text of an address string, or undefined when it is not an address. */
export function canonicalAddress(text: string): string | undefined {
  const address = parseAddress(text);
  return address && formatAddress(address);
}
