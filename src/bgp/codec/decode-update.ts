/**
 * UPDATE decoding (RFC 4271 4.3, RFC 4760, RFC 6793, RFC 1997, RFC 8092) and what to do with a malformed
 * one: RFC 4271 6.3 as revised by RFC 7606, attribute by attribute (docs/bgp-update-errors.md has the table).
 *   session reset      a WireFault: the FSM sends the NOTIFICATION RFC 4271 names and closes
 *   treat-as-withdraw  the UPDATE comes back as the withdrawal of every prefix it carried (RFC 7606 2), with
 *                      `treatAsWithdraw` saying why; the session stays up
 *   attribute discard  the attribute is dropped and listed in `attributes.discarded`; the UPDATE stands
 * When several errors meet in one UPDATE, the strongest treatment wins (RFC 7606 3(h)).
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
import { attributeName } from './describe.ts';
import type {
  AsPathSegment,
  CodecContext,
  LargeCommunity,
  MpReach,
  MpUnreach,
  PathAttributes,
  RawAttribute,
  UpdateMessage,
  UpdateProblem,
} from './messages.ts';
import { type Family, formatIpv4, formatIpv6, type Prefix, readNlri } from './prefix.ts';
import { EMPTY, fault } from './wire-error.ts';

function updateFault(subcode: number, reason: string, data?: Uint8Array) {
  return fault(ErrorCode.UPDATE_MESSAGE, subcode, reason, data);
}

const O = AttrFlag.OPTIONAL;
const T = AttrFlag.TRANSITIVE;

type Treatment = 'session-reset' | 'treat-as-withdraw' | 'attribute-discard';

interface AttributeRule {
  /** Optional and Transitive bits the attribute must carry (RFC 4271 5, and each attribute's RFC). */
  flags: number;
  /** What a malformed one gets, and the clause that says so. */
  treatment: Treatment;
  rule: string;
}

/** Every attribute Beacon recognizes. A flags conflict makes the attribute malformed (RFC 7606 3(c)). */
const RULES: ReadonlyMap<number, AttributeRule> = new Map([
  [AttrType.ORIGIN, { flags: T, treatment: 'treat-as-withdraw', rule: 'RFC 7606 7.1' }],
  [AttrType.AS_PATH, { flags: T, treatment: 'treat-as-withdraw', rule: 'RFC 7606 7.2' }],
  [AttrType.NEXT_HOP, { flags: T, treatment: 'treat-as-withdraw', rule: 'RFC 7606 7.3' }],
  [AttrType.MULTI_EXIT_DISC, { flags: O, treatment: 'treat-as-withdraw', rule: 'RFC 7606 7.4' }],
  [AttrType.LOCAL_PREF, { flags: T, treatment: 'treat-as-withdraw', rule: 'RFC 7606 7.5' }],
  [AttrType.ATOMIC_AGGREGATE, { flags: T, treatment: 'attribute-discard', rule: 'RFC 7606 7.6' }],
  [AttrType.AGGREGATOR, { flags: O | T, treatment: 'attribute-discard', rule: 'RFC 7606 7.7' }],
  [AttrType.COMMUNITIES, { flags: O | T, treatment: 'treat-as-withdraw', rule: 'RFC 7606 7.8' }],
  [AttrType.ORIGINATOR_ID, { flags: O, treatment: 'treat-as-withdraw', rule: 'RFC 7606 7.9' }],
  [AttrType.CLUSTER_LIST, { flags: O, treatment: 'treat-as-withdraw', rule: 'RFC 7606 7.10' }],
  [AttrType.MP_REACH_NLRI, { flags: O, treatment: 'session-reset', rule: 'RFC 7606 7.11, 5.3' }],
  [AttrType.MP_UNREACH_NLRI, { flags: O, treatment: 'session-reset', rule: 'RFC 7606 7.12, 5.3' }],
  [AttrType.EXTENDED_COMMUNITIES, { flags: O | T, treatment: 'treat-as-withdraw', rule: 'RFC 7606 7.14' }],
  [AttrType.AS4_PATH, { flags: O | T, treatment: 'attribute-discard', rule: 'RFC 6793 6' }],
  [AttrType.AS4_AGGREGATOR, { flags: O | T, treatment: 'attribute-discard', rule: 'RFC 6793 6' }],
  [AttrType.LARGE_COMMUNITY, { flags: O | T, treatment: 'treat-as-withdraw', rule: 'RFC 8092 6' }],
]);

/** Attributes RFC 7606 says to discard, whatever they hold, when they come from an external peer. */
const IBGP_ONLY: ReadonlyMap<number, string> = new Map([
  [AttrType.LOCAL_PREF, 'RFC 7606 7.5'],
  [AttrType.ORIGINATOR_ID, 'RFC 7606 7.9'],
  [AttrType.CLUSTER_LIST, 'RFC 7606 7.10'],
]);

function flagsProblem(flags: number, expected: number): string | undefined {
  if ((flags & (O | T)) !== expected)
    return `flags 0x${flags.toString(16)}: Optional ${(expected & O) !== 0}, Transitive ${(expected & T) !== 0} expected`;
  // RFC 4271 4.3: the Partial bit is 0 for well-known attributes and for optional non-transitive ones.
  const partialAllowed = (expected & O) !== 0 && (expected & T) !== 0;
  if (!partialAllowed && (flags & AttrFlag.PARTIAL) !== 0)
    return `flags 0x${flags.toString(16)}: the Partial bit must be 0`;
  return undefined;
}

function u32(b: Uint8Array, i: number): number {
  return ((b[i]! << 24) | (b[i + 1]! << 16) | (b[i + 2]! << 8) | b[i + 3]!) >>> 0;
}

/** Parses AS_PATH/AS4_PATH segments; returns a reason text when malformed (RFC 7606 7.2). */
function readAsPath(v: Uint8Array, asnSize: 2 | 4): AsPathSegment[] | string {
  const out: AsPathSegment[] = [];
  let i = 0;
  while (i < v.length) {
    if (i + 2 > v.length) return 'one octet left after the last segment';
    const type = v[i]!;
    const count = v[i + 1]!;
    if (type < AsPathSegmentType.AS_SET || type > AsPathSegmentType.AS_CONFED_SET)
      return `segment type ${type}`;
    if (count === 0) return 'segment of length 0';
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

const CONFED_SEGMENT = (s: AsPathSegment) =>
  s.type === AsPathSegmentType.AS_CONFED_SEQUENCE || s.type === AsPathSegmentType.AS_CONFED_SET;

/** RFC 7607 2: AS 0 may appear in no AS_PATH, AS4_PATH, AGGREGATOR or AS4_AGGREGATOR. */
function hasAsZero(path: readonly AsPathSegment[]): boolean {
  return path.some((s) => s.asns.includes(0));
}

function familyOf(afi: number, safi: number): Family | undefined {
  if (safi !== Safi.UNICAST) return undefined;
  return afi === Afi.IPV4 ? 'ipv4' : afi === Afi.IPV6 ? 'ipv6' : undefined;
}

/** MP_REACH_NLRI; anything wrong with it resets the session (RFC 7606 5.3 and 7.11, RFC 4760 7: 3/9). */
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

/** A NEXT_HOP that is not a host address (RFC 4271 6.3): this network, class D multicast, broadcast. */
function notAHostAddress(v: Uint8Array): boolean {
  const a = v[0]!;
  return (
    (a === 0 && v[1] === 0 && v[2] === 0 && v[3] === 0) ||
    (a >= 224 && a <= 239) ||
    (a === 255 && v[1] === 255 && v[2] === 255 && v[3] === 255)
  );
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
  discarded?: { type: number; reason: string; rule: string }[];
}

/** A malformation handled by treat-as-withdraw, with what a session reset would have sent for it. */
interface Withdrawal extends UpdateProblem {
  data: Uint8Array;
}

interface Decoding {
  attrs: MutableAttributes;
  /** Attribute types met, malformed or not. */
  seen: Set<number>;
  withdrawals: Withdrawal[];
}

function keepOpaque(attrs: MutableAttributes, raw: RawAttribute): void {
  if (attrs.other) attrs.other.push(raw);
  else attrs.other = [raw];
}

function discard(attrs: MutableAttributes, what: { type: number; reason: string; rule: string }): void {
  if (attrs.discarded) attrs.discarded.push(what);
  else attrs.discarded = [what];
}

/** Decodes one recognized attribute, or applies its rule when it is malformed. */
function decodeKnown(
  d: Decoding,
  rule: AttributeRule,
  type: number,
  flags: number,
  v: Uint8Array,
  whole: Uint8Array,
  ctx: CodecContext,
): void {
  const attrs = d.attrs;
  const name = attributeName(type);
  const malformed = (
    subcode: number,
    why: string,
    data: Uint8Array = whole.slice(),
    clause: string = rule.rule,
  ) => {
    const reason = `${name}: ${why}`;
    if (rule.treatment === 'session-reset') throw updateFault(subcode, reason, data);
    if (rule.treatment === 'attribute-discard') discard(attrs, { type, reason: why, rule: clause });
    else d.withdrawals.push({ type, subcode, reason, rule: clause, data });
  };
  const ibgpOnly = IBGP_ONLY.get(type);
  if (ibgpOnly && ctx.ibgp === false) {
    discard(attrs, { type, reason: 'from an external peer', rule: ibgpOnly });
    return;
  }
  // RFC 6793 6: AS4_PATH and AS4_AGGREGATOR "MUST NOT be carried" between two 4-octet speakers, and one
  // that comes anyway is discarded, whatever it holds.
  if ((type === AttrType.AS4_PATH || type === AttrType.AS4_AGGREGATOR) && ctx.fourOctetAs) {
    discard(attrs, { type, reason: 'from a 4-octet AS speaker', rule: 'RFC 6793 6' });
    return;
  }
  const flagsWrong = flagsProblem(flags, rule.flags);
  if (flagsWrong) {
    malformed(UpdateSubcode.ATTRIBUTE_FLAGS_ERROR, flagsWrong);
    return;
  }
  const len = v.length;
  const wrongLength = () => malformed(UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `length ${len}`);
  switch (type) {
    case AttrType.ORIGIN:
      if (len !== 1) wrongLength();
      else if (v[0]! > 2) malformed(UpdateSubcode.INVALID_ORIGIN, `undefined value ${v[0]}`);
      else attrs.origin = v[0] as OriginValue;
      return;
    case AttrType.AS_PATH: {
      const path = readAsPath(v, ctx.fourOctetAs ? 4 : 2);
      // RFC 4271 6.3 gives Malformed AS_PATH no Data.
      if (typeof path === 'string') malformed(UpdateSubcode.MALFORMED_AS_PATH, path, EMPTY);
      // RFC 5065 5: confederation segments from outside the confederation make the AS_PATH malformed.
      // Beacon belongs to no confederation, so no external peer may send them.
      else if (ctx.ibgp === false && path.some(CONFED_SEGMENT))
        malformed(
          UpdateSubcode.MALFORMED_AS_PATH,
          'confederation segment from an external peer',
          EMPTY,
          'RFC 7606 7.2, RFC 5065 5',
        );
      else if (hasAsZero(path))
        malformed(UpdateSubcode.MALFORMED_AS_PATH, 'AS 0', EMPTY, 'RFC 7606 7.2, RFC 7607 2');
      else attrs.asPath = path;
      return;
    }
    case AttrType.NEXT_HOP:
      if (len !== 4) wrongLength();
      // Not a host address: RFC 4271 6.3 names 3/8, and RFC 7606 3(e) turns that into treat-as-withdraw.
      else if (notAHostAddress(v))
        malformed(UpdateSubcode.INVALID_NEXT_HOP, `${formatIpv4(v)} is not a host address`);
      else attrs.nextHop = formatIpv4(v);
      return;
    case AttrType.MULTI_EXIT_DISC:
      if (len !== 4) wrongLength();
      else attrs.med = u32(v, 0);
      return;
    case AttrType.LOCAL_PREF:
      if (len !== 4) wrongLength();
      else attrs.localPref = u32(v, 0);
      return;
    case AttrType.ATOMIC_AGGREGATE:
      if (len !== 0) wrongLength();
      else attrs.atomicAggregate = true;
      return;
    case AttrType.AGGREGATOR: {
      const asnSize = ctx.fourOctetAs ? 4 : 2;
      const asn = asnSize === 4 ? u32(v, 0) : (v[0]! << 8) | v[1]!;
      if (len !== asnSize + 4) wrongLength();
      else if (asn === 0)
        malformed(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, 'AS 0', whole.slice(), 'RFC 7606 7.7, RFC 7607 2');
      else attrs.aggregator = { asn, address: formatIpv4(v, asnSize) };
      return;
    }
    case AttrType.COMMUNITIES: {
      if (len === 0 || len % 4 !== 0) {
        malformed(UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `length ${len} is not a non-zero multiple of 4`);
        return;
      }
      const list: number[] = [];
      for (let k = 0; k < len; k += 4) list.push(u32(v, k));
      attrs.communities = list;
      return;
    }
    case AttrType.LARGE_COMMUNITY: {
      if (len === 0 || len % 12 !== 0) {
        malformed(UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `length ${len} is not a non-zero multiple of 12`);
        return;
      }
      const list: LargeCommunity[] = [];
      for (let k = 0; k < len; k += 12) list.push([u32(v, k), u32(v, k + 4), u32(v, k + 8)]);
      attrs.largeCommunities = list;
      return;
    }
    case AttrType.ORIGINATOR_ID:
      if (len !== 4) wrongLength();
      else keepOpaque(attrs, { flags, type, value: v.slice() });
      return;
    case AttrType.CLUSTER_LIST:
      if (len === 0 || len % 4 !== 0)
        malformed(UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `length ${len} is not a non-zero multiple of 4`);
      else keepOpaque(attrs, { flags, type, value: v.slice() });
      return;
    case AttrType.EXTENDED_COMMUNITIES:
      // Unknown types and sub-types inside are not errors (RFC 7606 7.14); only the length is.
      if (len === 0 || len % 8 !== 0)
        malformed(UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, `length ${len} is not a non-zero multiple of 8`);
      else keepOpaque(attrs, { flags, type, value: v.slice() });
      return;
    case AttrType.AS4_PATH: {
      // RFC 6793 6: malformed when too short to carry one AS number (6 octets) or when a segment does not
      // parse; RFC 7607 2: or when it holds AS 0.
      const path = len < 6 ? `length ${len}, too short for one AS number` : readAsPath(v, 4);
      if (typeof path === 'string') malformed(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, path);
      else if (hasAsZero(path))
        malformed(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, 'AS 0', whole.slice(), 'RFC 6793 6, RFC 7607 2');
      else {
        // RFC 6793 6: confederation segments "MUST NOT be carried" in AS4_PATH; the receiver drops those
        // segments and keeps the rest.
        const kept = path.filter((s) => !CONFED_SEGMENT(s));
        if (kept.length) attrs.as4Path = kept;
        else discard(attrs, { type, reason: 'only confederation segments', rule: 'RFC 6793 6' });
      }
      return;
    }
    case AttrType.AS4_AGGREGATOR:
      if (len !== 8) wrongLength();
      else if (u32(v, 0) === 0)
        malformed(UpdateSubcode.OPTIONAL_ATTRIBUTE_ERROR, 'AS 0', whole.slice(), 'RFC 6793 6, RFC 7607 2');
      else keepOpaque(attrs, { flags, type, value: v.slice() });
      return;
    case AttrType.MP_REACH_NLRI:
      attrs.mpReach = readMpReach(v, whole.slice());
      return;
    case AttrType.MP_UNREACH_NLRI:
      attrs.mpUnreach = readMpUnreach(v, whole.slice());
      return;
  }
}

function decodeAttributes(buf: Uint8Array, start: number, end: number, ctx: CodecContext): Decoding {
  const d: Decoding = { attrs: {}, seen: new Set(), withdrawals: [] };
  let i = start;
  while (i < end) {
    // RFC 7606 4: fewer octets left than an attribute header needs, or an attribute longer than what is
    // left, is treat-as-withdraw; the Total Path Attribute Length still says where the NLRI start.
    const extended = (buf[i]! & AttrFlag.EXTENDED_LENGTH) !== 0;
    if (i + (extended ? 4 : 3) > end) {
      d.withdrawals.push({
        type: 0,
        subcode: UpdateSubcode.MALFORMED_ATTRIBUTE_LIST,
        reason: `${end - i} octet(s) left after the last attribute, too few for another`,
        rule: 'RFC 7606 4',
        data: EMPTY,
      });
      break;
    }
    const flags = buf[i]!;
    const type = buf[i + 1]!;
    const len = extended ? (buf[i + 2]! << 8) | buf[i + 3]! : buf[i + 2]!;
    const vStart = i + (extended ? 4 : 3);
    const vEnd = vStart + len;
    if (vEnd > end) {
      // RFC 4271 says 3/5 with the attribute; it is cut off, so send what there is of it.
      const reason = `${attributeName(type)} of length ${len} runs past the path attributes`;
      const data = buf.slice(i, end);
      // RFC 7606 3(j): without the whole MP attribute its NLRI cannot be known, so nothing can be withdrawn.
      if (type === AttrType.MP_REACH_NLRI || type === AttrType.MP_UNREACH_NLRI)
        throw updateFault(UpdateSubcode.ATTRIBUTE_LENGTH_ERROR, reason, data);
      d.seen.add(type);
      d.withdrawals.push({
        type,
        subcode: UpdateSubcode.ATTRIBUTE_LENGTH_ERROR,
        reason,
        rule: 'RFC 7606 4',
        data,
      });
      break;
    }
    const whole = buf.subarray(i, vEnd);
    const v = buf.subarray(vStart, vEnd);
    i = vEnd;
    if (d.seen.has(type)) {
      // RFC 7606 3(g): a second MP_REACH_NLRI or MP_UNREACH_NLRI resets the session; any other repeated
      // attribute, recognized or not, is discarded and the first one stands.
      if (type === AttrType.MP_REACH_NLRI || type === AttrType.MP_UNREACH_NLRI)
        throw updateFault(UpdateSubcode.MALFORMED_ATTRIBUTE_LIST, `${attributeName(type)} appears twice`);
      discard(d.attrs, { type, reason: 'repeated', rule: 'RFC 7606 3(g)' });
      continue;
    }
    d.seen.add(type);
    const rule = RULES.get(type);
    if (rule) {
      decodeKnown(d, rule, type, flags, v, whole, ctx);
      continue;
    }
    // RFC 4271 6.3, which RFC 7606 leaves as it is: an unrecognized well-known attribute is 3/2.
    if ((flags & AttrFlag.OPTIONAL) === 0)
      throw updateFault(
        UpdateSubcode.UNRECOGNIZED_WELL_KNOWN_ATTRIBUTE,
        `unrecognized well-known attribute ${type}`,
        whole.slice(),
      );
    // An unrecognized optional attribute is no error (RFC 4271 5); Beacon keeps it as it came.
    keepOpaque(d.attrs, { flags, type, value: v.slice() });
  }
  return d;
}

/**
 * RFC 7606 2: the UPDATE "as though all contained routes had been withdrawn". Beacon parses IPv4 and IPv6
 * unicast only; NLRI of other families stay opaque and are not withdrawn (they were never taken in).
 */
function asWithdrawal(
  withdrawn: readonly Prefix[],
  nlri: readonly Prefix[],
  attrs: MutableAttributes,
  problems: readonly UpdateProblem[],
): UpdateMessage {
  const byFamily: Record<Family, Prefix[]> = { ipv4: [...withdrawn, ...nlri], ipv6: [] };
  for (const mp of [attrs.mpUnreach?.withdrawn, attrs.mpReach?.nlri])
    for (const p of mp ?? []) byFamily[p.family].push(p);
  const attributes: PathAttributes = byFamily.ipv6.length
    ? { mpUnreach: { afi: Afi.IPV6, safi: Safi.UNICAST, withdrawn: byFamily.ipv6 } }
    : {};
  return { type: 'update', withdrawn: byFamily.ipv4, attributes, nlri: [], treatAsWithdraw: problems };
}

/** `body` is the UPDATE without its header; its length is at least 4 (checked by the caller). */
export function decodeUpdateBody(body: Uint8Array, ctx: CodecContext): UpdateMessage {
  const withdrawnLen = (body[0]! << 8) | body[1]!;
  // RFC 7606 3(b): lengths that do not add up are Malformed Attribute List, and a session reset.
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
  // RFC 7606 3(i), 3(j) and 5.3: NLRI that cannot be parsed leave nothing to withdraw: session reset.
  const withdrawn = readNlri(body, 2, attrsAt, 'ipv4');
  if (typeof withdrawn === 'string')
    throw updateFault(UpdateSubcode.INVALID_NETWORK_FIELD, `withdrawn routes: ${withdrawn}`);
  const nlri = readNlri(body, attrsEnd, body.length, 'ipv4');
  if (typeof nlri === 'string') throw updateFault(UpdateSubcode.INVALID_NETWORK_FIELD, `NLRI: ${nlri}`);
  const d = decodeAttributes(body, attrsStart, attrsEnd, ctx);
  const attributes = d.attrs;
  const announces = nlri.length > 0 || attributes.mpReach !== undefined;
  if (announces) {
    // RFC 7606 3(d): a well-known mandatory attribute missing is treat-as-withdraw. NEXT_HOP is needed only
    // by NLRI in the NLRI field (RFC 4760 3).
    const mandatory = [AttrType.ORIGIN, AttrType.AS_PATH, ...(nlri.length ? [AttrType.NEXT_HOP] : [])];
    for (const type of mandatory)
      if (!d.seen.has(type))
        d.withdrawals.push({
          type,
          subcode: UpdateSubcode.MISSING_WELL_KNOWN_ATTRIBUTE,
          reason: `missing well-known attribute ${attributeName(type)}`,
          rule: 'RFC 7606 3(d)',
          data: Uint8Array.of(type),
        });
  }
  if (d.withdrawals.length === 0) return { type: 'update', withdrawn, attributes, nlri };
  const first = d.withdrawals[0]!;
  // RFC 7606 5.2: path attributes but no reachable NLRI means the NLRI cannot be known to have been parsed,
  // so anything stronger than attribute discard is a session reset.
  if (!announces) throw updateFault(first.subcode, `${first.reason} (no NLRI to withdraw)`, first.data);
  const problems = d.withdrawals.map(({ type, subcode, reason, rule }) => ({ type, subcode, reason, rule }));
  return asWithdrawal(withdrawn, nlri, attributes, problems);
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
