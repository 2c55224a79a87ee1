/** IP prefixes as BGP carries them: a family, a length and the address bytes with host bits zero. */

export type Family = 'ipv4' | 'ipv6';

export interface Prefix {
  readonly family: Family;
  readonly length: number;
  /** 4 or 16 bytes, host bits zero. */
  readonly bytes: Uint8Array;
}

export function familyBytes(family: Family): number {
  return family === 'ipv4' ? 4 : 16;
}

/** Parses dotted-quad IPv4, returning its 4 bytes, or undefined. */
export function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p[0] === '0')) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

/** Parses IPv6 text (with `::` and an optional trailing dotted quad, no zone), returning 16 bytes. */
export function parseIpv6(text: string): Uint8Array | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const groups = (s: string): number[] | undefined => {
    if (s === '') return [];
    const out: number[] = [];
    const parts = s.split(':');
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (i === parts.length - 1 && p.includes('.')) {
        const v4 = parseIpv4(p);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(p)) return undefined;
        out.push(Number.parseInt(p, 16));
      }
    }
    return out;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...head, ...new Array<number>(missing).fill(0), ...tail];
  const out = new Uint8Array(16);
  all.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

export function parseIp(text: string): { family: Family; bytes: Uint8Array } | undefined {
  const v4 = parseIpv4(text);
  if (v4) return { family: 'ipv4', bytes: v4 };
  const v6 = parseIpv6(text);
  return v6 ? { family: 'ipv6', bytes: v6 } : undefined;
}

export function formatIpv4(bytes: Uint8Array, offset = 0): string {
  return `${bytes[offset]}.${bytes[offset + 1]}.${bytes[offset + 2]}.${bytes[offset + 3]}`;
}

/** RFC 5952 text: lower case, longest run (of at least two) of zero groups as `::`. */
export function formatIpv6(bytes: Uint8Array, offset = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((bytes[offset + 2 * i]! << 8) | bytes[offset + 2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (list: number[]) => list.map((n) => n.toString(16)).join(':');
  if (bestStart < 0) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

export function formatIp(family: Family, bytes: Uint8Array, offset = 0): string {
  return family === 'ipv4' ? formatIpv4(bytes, offset) : formatIpv6(bytes, offset);
}

export function formatPrefix(p: Prefix): string {
  return `${formatIp(p.family, p.bytes)}/${p.length}`;
}

/**
 * Parses `addr/len` (or a bare address, meaning a host route). Returns an error text for anything else,
 * including host bits set, so that a typo never announces a different prefix than the one written.
 */
export function parsePrefix(text: string): Prefix | string {
  const slash = text.indexOf('/');
  const addrText = slash < 0 ? text : text.slice(0, slash);
  const ip = parseIp(addrText);
  if (!ip) return `not an IP address: ${addrText}`;
  const max = ip.family === 'ipv4' ? 32 : 128;
  let length = max;
  if (slash >= 0) {
    const lenText = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(lenText) || Number(lenText) > max) return `bad prefix length in ${text}`;
    length = Number(lenText);
  }
  for (let bit = length; bit < max; bit++) {
    if (ip.bytes[bit >> 3]! & (0x80 >> (bit & 7))) return `host bits set in ${text}`;
  }
  return { family: ip.family, length, bytes: ip.bytes };
}

/** Bytes a prefix takes in an NLRI field: one length octet and the significant address octets. */
export function nlriSize(p: Prefix): number {
  return 1 + ((p.length + 7) >> 3);
}

export function writeNlri(p: Prefix, out: Uint8Array, offset: number): number {
  const n = (p.length + 7) >> 3;
  out[offset] = p.length;
  for (let i = 0; i < n; i++) out[offset + 1 + i] = p.bytes[i]!;
  return offset + 1 + n;
}

/**
 * Reads a packed NLRI list. Returns the prefixes, or a text saying why the field is invalid (a length
 * beyond the family's maximum, or a prefix running past the field's end).
 */
export function readNlri(buf: Uint8Array, start: number, end: number, family: Family): Prefix[] | string {
  const max = family === 'ipv4' ? 32 : 128;
  const size = familyBytes(family);
  const out: Prefix[] = [];
  let i = start;
  while (i < end) {
    const length = buf[i]!;
    if (length > max) return `prefix length ${length} above ${max}`;
    const n = (length + 7) >> 3;
    if (i + 1 + n > end) return 'prefix runs past the end of its field';
    const bytes = new Uint8Array(size);
    for (let k = 0; k < n; k++) bytes[k] = buf[i + 1 + k]!;
    // Trailing bits beyond the length are "irrelevant" (RFC 4271 4.3): clear them rather than refuse.
    if (length & 7) bytes[n - 1]! &= (0xff << (8 - (length & 7))) & 0xff;
    out.push({ family, length, bytes });
    i += 1 + n;
  }
  return out;
}
