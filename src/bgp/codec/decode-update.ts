/**
 * UPDATE decoding (RFC 4271 4.3 and 6.3, RFC 4760, RFC 6793, RFC 7606, RFC 1997, RFC 8092).
 * Errors follow RFC 4271's NOTIFICATION subcodes; RFC 7606's "attribute discard" is applied where that RFC
 * and RFC 6793 prescribe it (AS4_PATH, AS4_AGGREGATOR, repeated attributes other than MP_*).
 */
import {
  Afi,
  AsPathSegmentType,
  AttrFlag,
  AttrType,
  ErrorCode,
  type OriginValue,
  Safi,
  UpdateSubcode,
} from './constants.ts';
import type {
  AsPathSegment,
  CodecContext,
  LargeCommunity,
  MpReach,
  MpUnreach,
  PathAttributes,
  RawAttribute,
  UpdateMessage,
} from './messages.ts';
import { type Family, formatIpv4, formatIpv6, type Prefix, readNlri } from './prefix.ts';
import { fault } from './wire-error.ts';

function updateFault(subcode: number, reason: string, data?: Uint8Array) {
  return fault(ErrorCode.UPDATE_MESSAGE, subcode, reason, data);
}

const O = AttrFlag.OPTIONAL;
const T = AttrFlag.TRANSITIVE;
/** Optional and Transitive bits each known attribute must carry. */
const EXPECTED_FLAGS: ReadonlyMap<number, number> = new Map([
  [AttrType.ORIGIN, T],
  [AttrType.AS_PATH, T],
  [AttrType.NEXT_HOP, T],
  [AttrType.MULTI_EXIT_DISC, O],
  [AttrType.LOCAL_PREF, T],
  [AttrType.ATOMIC_AGGREGATE, T],
  [AttrType.AGGREGATOR, O | T],
  [AttrType.COMMUNITIES, O | T],
  [AttrType.ORIGINATOR_ID, O],
  [AttrType.CLUSTER_LIST, O],
  [AttrType.MP_REACH_NLRI, O],
  [AttrType.MP_UNREACH_NLRI, O],
  [AttrType.EXTENDED_COMMUNITIES, O | T],
  [AttrType.AS4_PATH, O | T],
  [AttrType.AS4_AGGREGATOR, O | T],
  [AttrType.LARGE_COMMUNITY, O | T],
]);

function u32(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}

/** Parses AS_PATH/AS4_PATH segments; returns a reason text when malformed. */
function readAsPath(v: Uint8Array, asnSize: 2 | 4): AsPathSegment[] | string {
  const out: AsPathSegment[] = [];
  let i = 0;
  while (i < v.length) {
    if (i + 2 > v.length) return 'segment header truncated';
    const type = v[i]!;
    const count = v[i + 1]!;
    if (type < AsPathSegmentType.AS_SET || type > AsPathSegmentType.AS_CONFED_SET)
      return `segment type ${type}`;
    if (count === 0) return 'empty segment';
    if (i + 2 + count * asnSize > v.length) return 'segment runs past the attribute';
    const asns: number[] = [];
    for (let k = 0; k < count; k++) {
      const p = i + 2 + k * asnSize;
      asns.push(asnSize === 4 ? u32(v, p) : (v[p]! << 8) | v[p + 1]!);
    }
    out.push({ type, asns });
    i += 2 + count * asnSize;
  }
  return out;
}

function familyOf(afi: number, safi: number): Family | undefined {
  if (safi !== Safi.UNICAST) return undefined;
  return afi === Afi.IPV4 ? 'ipv4' : afi === Afi.IPV6 ? 'ipv6' : undefined;
}

function readMpReach(v: Uint8Array, whole: Uint8Array): MpReach {
  const bad = (why: string) =>
    updateFault(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `MP_REACH_NLRI: ${why}`, whole);
  if (v.length < 5) throw bad('shorter than its fixed fields');
  const afi = (v[0]! << 8) | v[1]!;
  const safi = v[2]!;
  const nhLen = v[3]!;
  if (4 + nhLen + 1 > v.length) throw bad(`next hop length ${nhLen} runs past the attribute`);
  const nlriStart = 4 + nhLen + 1; // one reserved octet after the next hop
  const family = familyOf(afi, safi);
  if (!family) {
    return { afi, safi, nextHops: [], nlri: [], opaqueNlri: v.slice(nlriStart) };
  }
  const nextHops: string[] = [];
  if (family === 'ipv6') {
    if (nhLen !== 16 && nhLen !== 32) throw bad(`IPv6 next hop length ${nhLen}`);
    nextHops.push(formatIpv6(v, 4));
    if (nhLen === 32) nextHops.push(formatIpv6(v, 20));
  } else if (nhLen === 4) {
    nextHops.push(formatIpv4(v, 4));
  } else if (nhLen === 16 || nhLen === 32) {
    // RFC 8950: IPv4 routes with an IPv6 next hop.
    nextHops.push(formatIpv6(v, 4));
    if (nhLen === 32) nextHops.push(formatIpv6(v, 20));
  } else {
    throw bad(`IPv4 next hop length ${nhLen}`);
  }
  const nlri = readNlri(v, nlriStart, v.length, family);
  if (typeof nlri === 'string') throw bad(nlri);
  return { afi, safi, nextHops, nlri };
}

function readMpUnreach(v: Uint8Array, whole: Uint8Array): MpUnreach {
  if (v.length < 3)
    throw updateFault(
      UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR,
      'MP_UNREACH_NLRI: shorter than 3 octets',
      whole,
    );
  const afi = (v[0]! << 8) | v[1]!;
  const safi = v[2]!;
  const family = familyOf(afi, safi);
  if (!family) return { afi, safi, withdrawn: [], opaqueNlri: v.slice(3) };
  const withdrawn = readNlri(v, 3, v.length, family);
  if (typeof withdrawn === 'string')
    throw updateFault(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, `MP_UNREACH_NLRI: ${withdrawn}`, whole);
  return { afi, safi, withdrawn };
}

interface MutableAttributes {
  origin?: OriginValue;
  asPath?: AsPathSegment[];
  nextHop?: string;
  med?: number;
  localPref?: number;
  atomicAggregate?: boolean;
  aggregator?: { asn: number; address: string };
  communities?: number[];
  largeCommunities?: LargeCommunity[];
  as4Path?: AsPathSegment[];
  mpReach?: MpReach;
  mpUnreach?: MpUnreach;
  other?: RawAttribute[];
  discarded?: { type: number; reason: string }[];
}

function keepOpaque(attrs: MutableAttributes, raw: RawAttribute): void {
  if (attrs.other) attrs.other.push(raw);
  else attrs.other = [raw];
}

function discard(attrs: MutableAttributes, what: { type: number; reason: string }): void {
  if (attrs.discarded) attrs.discarded.push(what);
  else attrs.discarded = [what];
}

function decodeAttributes(buf: Uint8Array, start: number, end: number, ctx: CodecContext): MutableAttributes {
  const attrs: MutableAttributes = {};
  const seen = new Set<number>();
  let i = start;
  while (i < end) {
    if (i + 3 > end) throw updateFault(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, 'attribute header truncated');
    const flags = buf[i]!;
    const type = buf[i + 1]!;
    const extended = (flags & AttrFlag.EXTENDED_LENGTH) !== 0;
    if (extended && i + 4 > end)
      throw updateFault(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, 'attribute header truncated');
    const len = extended ? (buf[i + 2]! << 8) | buf[i + 3]! : buf[i + 2]!;
    const vStart = i + (extended ? 4 : 3);
    const vEnd = vStart + len;
    if (vEnd > end) {
      // RFC 4271 says 3/5 with the attribute; the attribute is cut off, so send what there is of it.
      throw updateFault(
        UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
        `attribute ${type} of length ${len} runs past the path attributes`,
        buf.slice(i, end),
      );
    }
    const whole = buf.subarray(i, vEnd);
    const v = buf.subarray(vStart, vEnd);
    i = vEnd;

    const expected = EXPECTED_FLAGS.get(type);
    if (expected === undefined) {
      if ((flags & AttrFlag.OPTIONAL) === 0)
        throw updateFault(
          UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
          `unrecognized well-known attribute ${type}`,
          whole.slice(),
        );
      if (seen.has(type)) continue;
      seen.add(type);
      keepOpaque(attrs, { flags, type, value: v.slice() });
      continue;
    }
    const ot = flags & (AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE);
    const partialForbidden = (expected & AttrFlag.TRANSITIVE) === 0 || (expected & AttrFlag.OPTIONAL) === 0;
    if (ot !== expected || (partialForbidden && (flags & AttrFlag.PARTIAL) !== 0))
      throw updateFault(
        UpdateSubcode.ATTRIBUTE_FLAGS_ERROR,
        `attribute ${type} with flags 0x${flags.toString(16)}`,
        whole.slice(),
      );
    if (seen.has(type)) {
      if (type === AttrType.MP_REACH_NLRI || type === AttrType.MP_UNREACH_NLRI)
        throw updateFault(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, `attribute ${type} appears twice`);
      discard(attrs, { type, reason: 'repeated' });
      continue;
    }
    seen.add(type);
    const lengthError = () =>
      updateFault(UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `attribute ${type} of length ${len}`, whole.slice());

    switch (type) {
      case AttrType.ORIGIN:
        if (len !== 1) throw lengthError();
        if (v[0]! > 2) throw updateFault(UpdateSubcode.INVALID_ORIGIN, `ORIGIN ${v[0]}`, whole.slice());
        attrs.origin = v[0] as OriginValue;
        break;
      case AttrType.AS_PATH: {
        const path = readAsPath(v, ctx.fourOctetAs ? 4 : 2);
        if (typeof path === 'string') throw updateFault(UpdateSubcode.MALFORMED_AS_PATH, `AS_PATH: ${path}`);
        attrs.asPath = path;
        break;
      }
      case AttrType.NEXT_HOP: {
        if (len !== 4) throw lengthError();
        const a = v[0]!;
        const invalid =
          (a === 0 && v[1] === 0 && v[2] === 0 && v[3] === 0) ||
          (a >= 224 && a <= 239) ||
          (a === 255 && v[1] === 255 && v[2] === 255 && v[3] === 255);
        if (invalid)
          throw updateFault(UpdateSubcode.INVALID_NEXT_HOP, `NEXT_HOP ${formatIpv4(v)}`, whole.slice());
        attrs.nextHop = formatIpv4(v);
        break;
      }
      case AttrType.MULTI_EXIT_DISC:
        if (len !== 4) throw lengthError();
        attrs.med = u32(v, 0);
        break;
      case AttrType.LOCAL_PREF:
        if (len !== 4) throw lengthError();
        attrs.localPref = u32(v, 0);
        break;
      case AttrType.ATOMIC_AGGREGATE:
        if (len !== 0) throw lengthError();
        attrs.atomicAggregate = true;
        break;
      case AttrType.AGGREGATOR: {
        const asnSize = ctx.fourOctetAs ? 4 : 2;
        if (len !== asnSize + 4) throw lengthError();
        attrs.aggregator = {
          asn: asnSize === 4 ? u32(v, 0) : (v[0]! << 8) | v[1]!,
          address: formatIpv4(v, asnSize),
        };
        break;
      }
      case AttrType.COMMUNITIES: {
        if (len % 4 !== 0) throw lengthError();
        const list: number[] = [];
        for (let k = 0; k < len; k += 4) list.push(u32(v, k));
        attrs.communities = list;
        break;
      }
      case AttrType.LARGE_COMMUNITY: {
        if (len % 12 !== 0 || len === 0) throw lengthError();
        const list: LargeCommunity[] = [];
        for (let k = 0; k < len; k += 12) list.push([u32(v, k), u32(v, k + 4), u32(v, k + 8)]);
        attrs.largeCommunities = list;
        break;
      }
      case AttrType.AS4_PATH: {
        // RFC 6793 section 6: a malformed AS4_PATH is discarded, never fatal.
        const path = readAsPath(v, 4);
        if (typeof path === 'string') discard(attrs, { type, reason: path });
        else attrs.as4Path = path;
        break;
      }
      case AttrType.AS4_AGGREGATOR:
        if (len !== 8) discard(attrs, { type, reason: `length ${len}` });
        else keepOpaque(attrs, { flags, type, value: v.slice() });
        break;
      case AttrType.MP_REACH_NLRI:
        attrs.mpReach = readMpReach(v, whole.slice());
        break;
      case AttrType.MP_UNREACH_NLRI:
        attrs.mpUnreach = readMpUnreach(v, whole.slice());
        break;
      default:
        // Known by type but not interpreted by Beacon (ORIGINATOR_ID, CLUSTER_LIST, extended communities).
        keepOpaque(attrs, { flags, type, value: v.slice() });
    }
  }
  return attrs;
}

const MISSING = (type: number) =>
  updateFault(
    UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE,
    `missing well-known attribute ${type}`,
    Uint8Array.of(type),
  );

/** `body` is the UPDATE without its header; its length is at least 4 (checked by the caller). */
export function decodeUpdateBody(body: Uint8Array, ctx: CodecContext): UpdateMessage {
  const withdrawnLen = (body[0]! << 8) | body[1]!;
  if (2 + withdrawnLen + 2 > body.length)
    throw updateFault(
      UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
      `withdrawn routes length ${withdrawnLen} too long`,
    );
  const attrsAt = 2 + withdrawnLen;
  const attrsLen = (body[attrsAt]! << 8) | body[attrsAt + 1]!;
  const attrsStart = attrsAt + 2;
  const attrsEnd = attrsStart + attrsLen;
  if (attrsEnd > body.length)
    throw updateFault(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, `path attributes length ${attrsLen} too long`);
  const withdrawn = readNlri(body, 2, attrsAt, 'ipv4');
  if (typeof withdrawn === 'string')
    throw updateFault(UpdateSubcode.INVALID_NETWORK_FIELD, `withdrawn routes: ${withdrawn}`);
  const nlri = readNlri(body, attrsEnd, body.length, 'ipv4');
  if (typeof nlri === 'string') throw updateFault(UpdateSubcode.INVALID_NETWORK_FIELD, `NLRI: ${nlri}`);
  const attributes = decodeAttributes(body, attrsStart, attrsEnd, ctx);
  if (nlri.length > 0 || attributes.mpReach) {
    if (attributes.origin === undefined) throw MISSING(AttrType.ORIGIN);
    if (attributes.asPath === undefined) throw MISSING(AttrType.AS_PATH);
    if (nlri.length > 0 && attributes.nextHop === undefined) throw MISSING(AttrType.NEXT_HOP);
  }
  return { type: 'update', withdrawn, attributes, nlri };
}

/** The address family an End-of-RIB marker (RFC 4724 section 2) closes, or undefined for other UPDATEs. */
export function endOfRib(u: UpdateMessage): { afi: number; safi: number } | undefined {
  if (u.withdrawn.length || u.nlri.length) return undefined;
  const a = u.attributes;
  const keys = Object.keys(a).filter((k) => a[k as keyof PathAttributes] !== undefined);
  if (keys.length === 0) return { afi: Afi.IPV4, safi: Safi.UNICAST };
  const un = a.mpUnreach;
  if (keys.length === 1 && un && un.withdrawn.length === 0 && !un.opaqueNlri?.length)
    return { afi: un.afi, safi: un.safi };
  return undefined;
}

export type { Prefix };
