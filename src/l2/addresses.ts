/**
 * Address bytes for frame building: MAC, IPv4 and IPv6 parsing and formatting, and the IPv6 multicast
 * groups NDP uses. Pure functions; invalid input throws a TypeError that names the value.
 */
import { isIPv4, isIPv6 } from 'node:net';

export const BROADCAST_MAC = Buffer.from('ffffffffffff', 'hex');
export const ZERO_MAC = Buffer.alloc(6);
/** ff02::1, every node on the link. */
export const ALL_NODES = ipv6Bytes('ff02::1');
export const UNSPECIFIED_IPV6 = Buffer.alloc(16);

export function parseMac(text: string): Buffer {
  const parts = text.split(/[:-]/);
  if (parts.length !== 6 || !parts.every((p) => /^[0-9a-f]{1,2}$/i.test(p))) {
    throw new TypeError(`not a MAC address: '${text}'`);
  }
  return Buffer.from(parts.map((p) => Number.parseInt(p, 16)));
}

export function formatMac(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

export function ipv4Bytes(text: string): Buffer {
  if (!isIPv4(text)) throw new TypeError(`not an IPv4 address: '${text}'`);
  return Buffer.from(text.split('.').map(Number));
}

export function formatIPv4(bytes: Uint8Array): string {
  return [...bytes.subarray(0, 4)].join('.');
}

export function ipv6Bytes(text: string): Buffer {
  if (!isIPv6(text)) throw new TypeError(`not an IPv6 address: '${text}'`);
  const out = Buffer.alloc(16);
  let words = text;
  // An embedded IPv4 tail (::ffff:192.0.2.1) stands for the last two words.
  const v4 = /^(.*:)(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) words = `${v4[1]}0:0`;
  const parse = (part: string) => (part === '' ? [] : part.split(':').map((w) => Number.parseInt(w, 16)));
  const [head, tail] = words.split('::') as [string, string | undefined];
  const headWords = parse(head);
  const tailWords = tail === undefined ? [] : parse(tail);
  const all =
    tail === undefined
      ? headWords
      : [...headWords, ...new Array<number>(8 - headWords.length - tailWords.length).fill(0), ...tailWords];
  all.forEach((w, i) => {
    out.writeUInt16BE(w, i * 2);
  });
  if (v4) ipv4Bytes(v4[2]!).copy(out, 12);
  return out;
}

/** RFC 5952 text: lower case, longest run of two or more zero words as ::. */
export function formatIPv6(bytes: Uint8Array): string {
  const words: number[] = [];
  for (let i = 0; i < 16; i += 2) words.push((bytes[i]! << 8) | bytes[i + 1]!);
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  const hex = words.map((w) => w.toString(16));
  if (bestStart < 0) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLength).join(':')}`;
}

export type IpFamily = 4 | 6;

export function ipFamily(text: string): IpFamily {
  if (isIPv4(text)) return 4;
  if (isIPv6(text)) return 6;
  throw new TypeError(`not an IP address: '${text}'`);
}

/** One spelling per address (2001:DB8:0::1 and 2001:db8::1 are the same key). */
export function canonicalAddress(text: string): string {
  return ipFamily(text) === 4 ? formatIPv4(ipv4Bytes(text)) : formatIPv6(ipv6Bytes(text));
}

/** ff02::1:ffXX:XXXX, the group a Neighbor Solicitation for `address` is sent to (RFC 4291 2.7.1). */
export function solicitedNodeGroup(address: Uint8Array): Buffer {
  const group = ipv6Bytes('ff02::1:ff00:0');
  group[13] = address[13]!;
  group[14] = address[14]!;
  group[15] = address[15]!;
  return group;
}

/** 33:33 and the low 32 bits of an IPv6 multicast group (RFC 2464 7). */
export function ipv6MulticastMac(group: Uint8Array): Buffer {
  return Buffer.from([0x33, 0x33, group[12]!, group[13]!, group[14]!, group[15]!]);
}

export function isUnspecified(address: Uint8Array): boolean {
  return address.every((b) => b === 0);
}

export function isMulticastIPv6(address: Uint8Array): boolean {
  return address[0] === 0xff;
}
