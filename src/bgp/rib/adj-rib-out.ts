/**
 * What one session tells its peer: the routes Beacon wants announced (desired) and what the peer was last
 * told (advertised). Changes turn into as few UPDATEs as fit in 4,096 octets: prefixes sharing attributes
 * share messages, withdrawals go first, and a change undone before it was sent (announce then withdraw,
 * or withdraw then re-announce) is never sent at all. Pure: no sockets, no timers.
 */
import {
  Afi,
  AsPathSegmentType,
  AttrFlag,
  AttrType,
  MAX_MESSAGE_LENGTH,
  Origin,
  type OriginValue,
  Safi,
} from '../codec/constants.ts';
import {
  encodeAttribute,
  encodeEndOfRib,
  encodeMpReachValue,
  encodeMpUnreachValue,
  encodePathAttributes,
  encodeUpdateParts,
} from '../codec/encode.ts';
import type { LargeCommunity, PathAttributes } from '../codec/messages.ts';
import { type Family, formatPrefix, nlriSize, type Prefix, parsePrefix, writeNlri } from '../codec/prefix.ts';

/** Attributes a caller chooses per route. */
export interface RouteAttributes {
  communities?: readonly number[];
  largeCommunities?: readonly LargeCommunity[];
  /** Sent to iBGP peers only (default 100 there); never to eBGP peers (RFC 4271 5.1.5). */
  localPref?: number;
  med?: number;
}

/** Everything about the session that shapes the UPDATEs. */
export interface ExportPolicy {
  localAs: number;
  ibgp: boolean;
  fourOctetAs: boolean;
  /** Families negotiated on the session: routes of other families wait. */
  families: ReadonlySet<Family>;
  nextHopIpv4?: string;
  /** Global, then link-local when on-link. */
  nextHopIpv6?: readonly string[];
  origin?: OriginValue;
}

/**
 * A route's identity. An IPv4 host route, nearly every route Beacon announces, is its address as a signed
 * 32-bit integer: V8 keeps such a number inside the Map entry itself, so a /32 costs the Adj-RIB-Out no
 * object at all. Every other prefix is its canonical text. The two kinds can never be equal.
 */
type RouteKey = number | string;

function keyOf(p: Prefix): RouteKey {
  if (p.family === 'ipv4' && p.length === 32) {
    const b = p.bytes;
    return (b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!;
  }
  return formatPrefix(p);
}

function toPrefix(prefix: Prefix | string): Prefix {
  const p = typeof prefix === 'string' ? parsePrefix(prefix) : prefix;
  if (typeof p === 'string') throw new TypeError(p);
  return p;
}

function familyOfKey(k: RouteKey): Family {
  return typeof k === 'number' || !k.includes(':') ? 'ipv4' : 'ipv6';
}

function prefixOfKey(k: RouteKey): Prefix {
  if (typeof k === 'string') return parsePrefix(k) as Prefix;
  return {
    family: 'ipv4',
    length: 32,
    bytes: Uint8Array.of(k >>> 24, (k >>> 16) & 255, (k >>> 8) & 255, k & 255),
  };
}

function formatKey(k: RouteKey): string {
  return typeof k === 'string' ? k : `${k >>> 24}.${(k >>> 16) & 255}.${(k >>> 8) & 255}.${k & 255}/32`;
}

function nlriSizeOfKey(k: RouteKey): number {
  return typeof k === 'number' ? 5 : nlriSize(prefixOfKey(k));
}

function writeKeyNlri(k: RouteKey, out: Uint8Array, offset: number): number {
  if (typeof k === 'string') return writeNlri(prefixOfKey(k), out, offset);
  out[offset] = 32;
  out[offset + 1] = k >>> 24;
  out[offset + 2] = (k >>> 16) & 255;
  out[offset + 3] = (k >>> 8) & 255;
  out[offset + 4] = k & 255;
  return offset + 5;
}

const UPDATE_FIXED = 19 + 2 + 2;
const NO_ATTRIBUTES: RouteAttributes = Object.freeze({});
const EMPTY = new Uint8Array(0);

const canonicalCache = new WeakMap<RouteAttributes, { key: string; attrs: RouteAttributes }>();

/** Callers usually pass one attributes object for many prefixes: canonicalise it once. */
function canonicalAttributes(a: RouteAttributes): { key: string; attrs: RouteAttributes } {
  const cached = canonicalCache.get(a);
  if (cached) return cached;
  const c = canonicalize(a);
  canonicalCache.set(a, c);
  return c;
}

function canonicalize(a: RouteAttributes): { key: string; attrs: RouteAttributes } {
  const communities = a.communities ? [...new Set(a.communities)].sort((x, y) => x - y) : undefined;
  const large = a.largeCommunities
    ? [...new Map(a.largeCommunities.map((c) => [c.join(':'), c])).values()].sort(
        (x, y) => x[0] - y[0] || x[1] - y[1] || x[2] - y[2],
      )
    : undefined;
  const attrs: RouteAttributes = {
    ...(communities?.length ? { communities } : {}),
    ...(large?.length ? { largeCommunities: large } : {}),
    ...(a.localPref !== undefined ? { localPref: a.localPref } : {}),
    ...(a.med !== undefined ? { med: a.med } : {}),
  };
  return {
    key: JSON.stringify([attrs.communities, attrs.largeCommunities, attrs.localPref, attrs.med]),
    attrs,
  };
}

export interface PendingCounts {
  announcements: number;
  withdrawals: number;
}

/**
 * Per route, two small integers: the attribute set wanted and the one the peer was sent (ids into one table
 * of distinct attribute sets, which routes share). Nothing else is kept per route: the prefix is the key.
 */
export class AdjRibOut {
  /** Route -> id of the attributes wanted. */
  private readonly desired = new Map<RouteKey, number>();
  /** Route -> id of the attributes the peer was sent. */
  private readonly advertised = new Map<RouteKey, number>();
  private readonly dirty = new Set<RouteKey>();
  private readonly attrs = new Map<number, RouteAttributes>();
  private readonly attrIds = new Map<string, number>();
  private nextAttrId = 0;
  private dirtyWithdrawals = 0;

  private attrId(attributes: RouteAttributes): number {
    const { key, attrs } = canonicalAttributes(attributes);
    let id = this.attrIds.get(key);
    if (id === undefined) {
      id = this.nextAttrId++;
      this.attrIds.set(key, id);
      this.attrs.set(id, attrs);
    }
    return id;
  }

  /** Adds or changes a route. Accepts a Prefix or its text (`192.0.2.1/32`, a bare address means a host route). */
  announce(prefix: Prefix | string, attributes: RouteAttributes = NO_ATTRIBUTES): void {
    const key = keyOf(toPrefix(prefix));
    this.desired.set(key, this.attrId(attributes));
    this.dirty.add(key);
  }

  withdraw(prefix: Prefix | string): void {
    const key = keyOf(toPrefix(prefix));
    if (!this.desired.delete(key)) return;
    this.forget(key);
  }

  withdrawAll(): void {
    for (const key of this.desired.keys()) this.forget(key);
    this.desired.clear();
  }

  private forget(key: RouteKey): void {
    this.dirty.add(key);
    if (this.advertised.has(key)) this.dirtyWithdrawals++;
  }

  get size(): number {
    return this.desired.size;
  }

  /** How many prefixes the peer was told about (and not since told to forget). */
  get advertisedCount(): number {
    return this.advertised.size;
  }

  /** The routes wanted, as `prefix -> attributes`. */
  routes(): Map<string, RouteAttributes> {
    const out = new Map<string, RouteAttributes>();
    for (const [key, id] of this.desired) out.set(formatKey(key), this.attrs.get(id)!);
    return out;
  }

  /** Whether the peer was told about this prefix (and not since told to forget it). */
  isAdvertised(prefix: string): boolean {
    const p = parsePrefix(prefix);
    return typeof p !== 'string' && this.advertised.has(keyOf(p));
  }

  /** Prefixes whose change the peer has not been sent yet. */
  get pendingChanges(): number {
    return this.dirty.size;
  }

  get hasChanges(): boolean {
    return this.dirty.size > 0;
  }

  /** Whether pending changes include withdrawing something the peer has; these must not wait. */
  get hasWithdrawals(): boolean {
    return this.dirtyWithdrawals > 0;
  }

  /** The session went down: the peer knows nothing; everything wanted is to be sent again. */
  reset(): void {
    this.advertised.clear();
    this.dirty.clear();
    this.dirtyWithdrawals = 0;
    for (const key of this.desired.keys()) this.dirty.add(key);
    this.gcAttributes();
  }

  /**
   * UPDATEs for everything changed since the last call: withdrawals first, then announcements packed by
   * attributes. With `announcements: false` only withdrawals go out and announcements stay pending (MRAI).
   */
  takeChanges(policy: ExportPolicy, options: { announcements?: boolean } = {}): Uint8Array[] {
    const withAnnouncements = options.announcements ?? true;
    const withdrawals: Record<Family, RouteKey[]> = { ipv4: [], ipv6: [] };
    /** Announcements by attribute id, IPv4 and IPv6 apart. */
    const groups: Record<Family, Map<number, RouteKey[]>> = { ipv4: new Map(), ipv6: new Map() };
    const keep: RouteKey[] = [];
    for (const key of this.dirty) {
      const want = this.desired.get(key);
      const family = familyOfKey(key);
      if (!policy.families.has(family) || !this.canAnnounce(family, policy)) {
        // Withdrawals of a family that is not up cannot be sent, and need not be: the peer has nothing.
        if (want !== undefined) keep.push(key);
        else this.advertised.delete(key);
        continue;
      }
      const had = this.advertised.get(key);
      if (want === undefined) {
        if (had !== undefined) {
          withdrawals[family].push(key);
          this.advertised.delete(key);
        }
        continue;
      }
      if (had === want) continue;
      if (!withAnnouncements) {
        keep.push(key);
        continue;
      }
      pushTo(groups[family], want, key);
      this.advertised.set(key, want);
    }
    this.dirty.clear();
    this.dirtyWithdrawals = 0;
    for (const key of keep) this.dirty.add(key);
    const out: Uint8Array[] = [];
    packWithdrawals(withdrawals.ipv4, 'ipv4', out);
    packWithdrawals(withdrawals.ipv6, 'ipv6', out);
    for (const family of ['ipv4', 'ipv6'] as const)
      for (const [id, keys] of groups[family])
        packAnnouncements(keys, family, this.attrs.get(id)!, policy, out);
    if (withAnnouncements) this.gcAttributes();
    return out;
  }

  /** Everything the peer was told for one family, again (RFC 2918 route refresh), without End-of-RIB. */
  fullTable(family: Family, policy: ExportPolicy): Uint8Array[] {
    const groups = new Map<number, RouteKey[]>();
    for (const [key, id] of this.advertised) {
      if (familyOfKey(key) !== family || !this.desired.has(key)) continue;
      pushTo(groups, id, key);
    }
    const out: Uint8Array[] = [];
    for (const [id, keys] of groups) packAnnouncements(keys, family, this.attrs.get(id)!, policy, out);
    return out;
  }

  private canAnnounce(family: Family, policy: ExportPolicy): boolean {
    return family === 'ipv4' ? policy.nextHopIpv4 !== undefined : (policy.nextHopIpv6?.length ?? 0) > 0;
  }

  private gcAttributes(): void {
    if (this.attrs.size < 64) return;
    const used = new Set<number>();
    for (const id of this.desired.values()) used.add(id);
    for (const id of this.advertised.values()) used.add(id);
    for (const [key, id] of this.attrIds)
      if (!used.has(id)) {
        this.attrIds.delete(key);
        this.attrs.delete(id);
      }
  }
}

function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

export function endOfRibFor(family: Family): Uint8Array {
  return encodeEndOfRib(family === 'ipv4' ? Afi.IPV4 : Afi.IPV6, Safi.UNICAST);
}

/** The attributes of an announcement, except the IPv6 NLRI (which lives in MP_REACH_NLRI). */
export function pathAttributesFor(family: Family, a: RouteAttributes, policy: ExportPolicy): PathAttributes {
  return {
    origin: policy.origin ?? Origin.IGP,
    asPath: policy.ibgp ? [] : [{ type: AsPathSegmentType.AS_SEQUENCE, asns: [policy.localAs] }],
    ...(family === 'ipv4' ? { nextHop: policy.nextHopIpv4! } : {}),
    ...(a.med !== undefined ? { med: a.med } : {}),
    ...(policy.ibgp ? { localPref: a.localPref ?? 100 } : {}),
    ...(a.communities?.length ? { communities: a.communities } : {}),
    ...(a.largeCommunities?.length ? { largeCommunities: a.largeCommunities } : {}),
  };
}

function packNlri(keys: readonly RouteKey[], budget: number, each: (nlri: Uint8Array) => void): void {
  let buf = new Uint8Array(budget);
  let used = 0;
  for (const k of keys) {
    const size = nlriSizeOfKey(k);
    if (used + size > budget) {
      each(buf.subarray(0, used));
      buf = new Uint8Array(budget);
      used = 0;
    }
    used = writeKeyNlri(k, buf, used);
  }
  if (used > 0) each(buf.subarray(0, used));
}

function packWithdrawals(prefixes: readonly RouteKey[], family: Family, out: Uint8Array[]): void {
  if (prefixes.length === 0) return;
  if (family === 'ipv4') {
    packNlri(prefixes, MAX_MESSAGE_LENGTH - UPDATE_FIXED, (nlri) =>
      out.push(encodeUpdateParts(nlri, EMPTY, EMPTY)),
    );
    return;
  }
  const overhead = 4 + 3; // attribute header with extended length, AFI and SAFI
  packNlri(prefixes, MAX_MESSAGE_LENGTH - UPDATE_FIXED - overhead, (nlri) => {
    const attr = encodeAttribute(
      AttrFlag.OPTIONAL,
      AttrType.MP_UNREACH_NLRI,
      encodeMpUnreachValue(Afi.IPV6, Safi.UNICAST, nlri),
    );
    out.push(encodeUpdateParts(EMPTY, attr, EMPTY));
  });
}

function packAnnouncements(
  prefixes: readonly RouteKey[],
  family: Family,
  a: RouteAttributes,
  policy: ExportPolicy,
  out: Uint8Array[],
): void {
  const base = encodePathAttributes(pathAttributesFor(family, a, policy), policy);
  if (family === 'ipv4') {
    packNlri(prefixes, MAX_MESSAGE_LENGTH - UPDATE_FIXED - base.length, (nlri) =>
      out.push(encodeUpdateParts(EMPTY, base, nlri)),
    );
    return;
  }
  const hops = policy.nextHopIpv6!;
  // MP_REACH_NLRI: attribute header (extended length), AFI, SAFI, next hop length, next hops, reserved octet.
  const overhead = 4 + 4 + 16 * hops.length + 1;
  const attrs = new Uint8Array(MAX_MESSAGE_LENGTH);
  packNlri(prefixes, MAX_MESSAGE_LENGTH - UPDATE_FIXED - base.length - overhead, (nlri) => {
    const mp = encodeAttribute(
      AttrFlag.OPTIONAL,
      AttrType.MP_REACH_NLRI,
      encodeMpReachValue(Afi.IPV6, Safi.UNICAST, hops, nlri),
    );
    // MP_REACH_NLRI (14) sorts between COMMUNITIES (8) and LARGE_COMMUNITY (32); order is not required by
    // RFC 4271, but routers print attributes in the order received, so keep type order for readability.
    const split = largeCommunityOffset(base);
    attrs.set(base.subarray(0, split), 0);
    attrs.set(mp, split);
    attrs.set(base.subarray(split), split + mp.length);
    out.push(encodeUpdateParts(EMPTY, attrs.subarray(0, base.length + mp.length), EMPTY));
  });
}

/** Where the first attribute with a type code above MP_REACH_NLRI starts in an encoded attribute block. */
function largeCommunityOffset(block: Uint8Array): number {
  let i = 0;
  while (i < block.length) {
    const flags = block[i]!;
    const type = block[i + 1]!;
    if (type > AttrType.MP_REACH_NLRI) return i;
    const ext = (flags & AttrFlag.EXTENDED_LENGTH) !== 0;
    const len = ext ? (block[i + 2]! << 8) | block[i + 3]! : block[i + 2]!;
    i += (ext ? 4 : 3) + len;
  }
  return block.length;
}
