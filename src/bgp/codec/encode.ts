/** Encoders for every message. They trust their input (Beacon builds it); sizes are the caller's concern. */
import {
  Afi,
  AS_TRANS,
  AttrFlag,
  AttrType,
  CapabilityCode,
  HEADER_LENGTH,
  MessageType,
  Safi,
} from './constants.ts';
import type {
  AsPathSegment,
  BgpMessage,
  Capability,
  CodecContext,
  MpReach,
  MpUnreach,
  NotificationMessage,
  OpenMessage,
  PathAttributes,
  UpdateMessage,
} from './messages.ts';
import { nlriSize, type Prefix, parseIp, writeNlri } from './prefix.ts';

export function writeHeader(out: Uint8Array, type: number, length: number): void {
  out.fill(0xff, 0, 16);
  out[16] = length >> 8;
  out[17] = length & 0xff;
  out[18] = type;
}

function message(type: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(HEADER_LENGTH + body.length);
  writeHeader(out, type, out.length);
  out.set(body, HEADER_LENGTH);
  return out;
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

function be32(n: number): Uint8Array {
  return Uint8Array.of((n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

function ipBytes(text: string): Uint8Array {
  const ip = parseIp(text);
  if (!ip) throw new TypeError(`not an IP address: ${text}`);
  return ip.bytes;
}

export function encodeCapability(c: Capability): Uint8Array {
  const cap = (code: number, value: Uint8Array) => concat([Uint8Array.of(code, value.length), value]);
  switch (c.kind) {
    case 'multiprotocol':
      return cap(CapabilityCode.MULTIPROTOCOL, Uint8Array.of(c.afi >> 8, c.afi & 0xff, 0, c.safi));
    case 'route-refresh':
      return cap(CapabilityCode.ROUTE_REFRESH, new Uint8Array(0));
    case 'four-octet-as':
      return cap(CapabilityCode.FOUR_OCTET_AS, be32(c.asn));
    case 'graceful-restart': {
      const v = new Uint8Array(2 + 4 * c.families.length);
      v[0] = (c.restarting ? 0x80 : 0) | (c.notification ? 0x40 : 0) | ((c.restartTime >> 8) & 0x0f);
      v[1] = c.restartTime & 0xff;
      c.families.forEach((f, i) => {
        v.set([f.afi >> 8, f.afi & 0xff, f.safi, f.forwardingPreserved ? 0x80 : 0], 2 + 4 * i);
      });
      return cap(CapabilityCode.GRACEFUL_RESTART, v);
    }
    case 'unknown':
      return cap(c.code, c.value);
  }
}

/** Each capability in its own optional parameter, as most implementations send them. */
export function encodeOpen(o: Omit<OpenMessage, 'type' | 'version'> & { version?: number }): Uint8Array {
  const params = o.capabilities.map((c) => {
    const cap = encodeCapability(c);
    return concat([Uint8Array.of(2, cap.length), cap]);
  });
  const paramBytes = concat(params);
  const id = ipBytes(o.bgpId);
  const fixed = Uint8Array.of(
    o.version ?? 4,
    o.myAs >> 8,
    o.myAs & 0xff,
    o.holdTime >> 8,
    o.holdTime & 0xff,
    id[0]!,
    id[1]!,
    id[2]!,
    id[3]!,
    paramBytes.length,
  );
  return message(MessageType.OPEN, concat([fixed, paramBytes]));
}

const KEEPALIVE = message(MessageType.KEEPALIVE, new Uint8Array(0));
export function encodeKeepalive(): Uint8Array {
  return KEEPALIVE;
}

export function encodeNotification(n: Pick<NotificationMessage, 'code' | 'subcode' | 'data'>): Uint8Array {
  return message(MessageType.NOTIFICATION, concat([Uint8Array.of(n.code, n.subcode), n.data]));
}

/** RFC 8203 shutdown communication: a length octet and at most 255 octets of UTF-8. */
export function shutdownCommunication(text: string): Uint8Array {
  let bytes = new TextEncoder().encode(text);
  if (bytes.length > 255) bytes = bytes.slice(0, 255);
  return concat([Uint8Array.of(bytes.length), bytes]);
}

export function encodeRouteRefresh(afi: number, safi: number, subtype = 0): Uint8Array {
  return message(MessageType.ROUTE_REFRESH, Uint8Array.of(afi >> 8, afi & 0xff, subtype, safi));
}

/** One path attribute, choosing the extended length form only when the value needs it. */
export function encodeAttribute(flags: number, type: number, value: Uint8Array): Uint8Array {
  const extended = value.length > 255;
  const f = extended ? flags | AttrFlag.EXTENDED_LENGTH : flags & ~AttrFlag.EXTENDED_LENGTH;
  const head = extended
    ? Uint8Array.of(f, type, value.length >> 8, value.length & 0xff)
    : Uint8Array.of(f, type, value.length);
  return concat([head, value]);
}

export function encodeAsPathValue(segments: readonly AsPathSegment[], asnSize: 2 | 4): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const s of segments) {
    // A segment holds at most 255 ASNs; longer runs split into consecutive segments of the same type.
    for (let k = 0; k < s.asns.length || k === 0; k += 255) {
      const chunk = s.asns.slice(k, k + 255);
      const v = new Uint8Array(2 + chunk.length * asnSize);
      v[0] = s.type;
      v[1] = chunk.length;
      chunk.forEach((asn, i) => {
        if (asnSize === 4) v.set(be32(asn), 2 + 4 * i);
        else {
          const a = asn > 0xffff ? AS_TRANS : asn;
          v[2 + 2 * i] = a >> 8;
          v[3 + 2 * i] = a & 0xff;
        }
      });
      parts.push(v);
      if (chunk.length === 0) break;
    }
  }
  return concat(parts);
}

export function encodeMpReachValue(afi: number, safi: number, nextHops: readonly string[], nlri: Uint8Array) {
  const hops = concat(nextHops.map(ipBytes));
  return concat([Uint8Array.of(afi >> 8, afi & 0xff, safi, hops.length), hops, Uint8Array.of(0), nlri]);
}

export function encodeMpUnreachValue(afi: number, safi: number, nlri: Uint8Array): Uint8Array {
  return concat([Uint8Array.of(afi >> 8, afi & 0xff, safi), nlri]);
}

export function encodeNlriList(prefixes: readonly Prefix[]): Uint8Array {
  let n = 0;
  for (const p of prefixes) n += nlriSize(p);
  const out = new Uint8Array(n);
  let i = 0;
  for (const p of prefixes) i = writeNlri(p, out, i);
  return out;
}

const WELL_KNOWN = AttrFlag.TRANSITIVE;
const OPT_NON_TRANSITIVE = AttrFlag.OPTIONAL;
const OPT_TRANSITIVE = AttrFlag.OPTIONAL | AttrFlag.TRANSITIVE;

function mpReachAttr(r: MpReach): Uint8Array {
  const nlri = r.opaqueNlri ?? encodeNlriList(r.nlri);
  return encodeAttribute(
    OPT_NON_TRANSITIVE,
    AttrType.MP_REACH_NLRI,
    encodeMpReachValue(r.afi, r.safi, r.nextHops, nlri),
  );
}

function mpUnreachAttr(u: MpUnreach): Uint8Array {
  const nlri = u.opaqueNlri ?? encodeNlriList(u.withdrawn);
  return encodeAttribute(
    OPT_NON_TRANSITIVE,
    AttrType.MP_UNREACH_NLRI,
    encodeMpUnreachValue(u.afi, u.safi, nlri),
  );
}

/**
 * Path attributes in type-code order. Without a negotiated 4-octet AS, ASNs above 65535 become AS_TRANS in
 * AS_PATH and the real path goes into AS4_PATH (RFC 6793 4.2.2).
 */
export function encodePathAttributes(a: PathAttributes, ctx: CodecContext): Uint8Array {
  const parts: Uint8Array[] = [];
  const push = (type: number, flags: number, value: Uint8Array) =>
    parts.push(encodeAttribute(flags, type, value));
  const entries: [number, () => void][] = [];
  if (a.origin !== undefined)
    entries.push([AttrType.ORIGIN, () => push(1, WELL_KNOWN, Uint8Array.of(a.origin!))]);
  if (a.asPath) {
    entries.push([
      AttrType.AS_PATH,
      () => push(AttrType.AS_PATH, WELL_KNOWN, encodeAsPathValue(a.asPath!, ctx.fourOctetAs ? 4 : 2)),
    ]);
    const needsAs4 = !ctx.fourOctetAs && !a.as4Path && a.asPath.some((s) => s.asns.some((n) => n > 0xffff));
    if (needsAs4)
      entries.push([
        AttrType.AS4_PATH,
        () => push(AttrType.AS4_PATH, OPT_TRANSITIVE, encodeAsPathValue(a.asPath!, 4)),
      ]);
  }
  if (a.nextHop)
    entries.push([AttrType.NEXT_HOP, () => push(AttrType.NEXT_HOP, WELL_KNOWN, ipBytes(a.nextHop!))]);
  if (a.med !== undefined)
    entries.push([
      AttrType.MULTI_EXIT_DISC,
      () => push(AttrType.MULTI_EXIT_DISC, OPT_NON_TRANSITIVE, be32(a.med!)),
    ]);
  if (a.localPref !== undefined)
    entries.push([AttrType.LOCAL_PREF, () => push(AttrType.LOCAL_PREF, WELL_KNOWN, be32(a.localPref!))]);
  if (a.atomicAggregate)
    entries.push([
      AttrType.ATOMIC_AGGREGATE,
      () => push(AttrType.ATOMIC_AGGREGATE, WELL_KNOWN, new Uint8Array(0)),
    ]);
  if (a.aggregator) {
    const g = a.aggregator;
    entries.push([
      AttrType.AGGREGATOR,
      () => {
        const asn = ctx.fourOctetAs ? be32(g.asn) : Uint8Array.of(g.asn >> 8, g.asn & 0xff);
        push(AttrType.AGGREGATOR, OPT_TRANSITIVE, concat([asn, ipBytes(g.address)]));
      },
    ]);
  }
  if (a.communities?.length)
    entries.push([
      AttrType.COMMUNITIES,
      () => push(AttrType.COMMUNITIES, OPT_TRANSITIVE, concat(a.communities!.map(be32))),
    ]);
  if (a.mpReach) entries.push([AttrType.MP_REACH_NLRI, () => parts.push(mpReachAttr(a.mpReach!))]);
  if (a.mpUnreach) entries.push([AttrType.MP_UNREACH_NLRI, () => parts.push(mpUnreachAttr(a.mpUnreach!))]);
  if (a.as4Path)
    entries.push([
      AttrType.AS4_PATH,
      () => push(AttrType.AS4_PATH, OPT_TRANSITIVE, encodeAsPathValue(a.as4Path!, 4)),
    ]);
  if (a.largeCommunities?.length)
    entries.push([
      AttrType.LARGE_COMMUNITY,
      () =>
        push(
          AttrType.LARGE_COMMUNITY,
          OPT_TRANSITIVE,
          concat(a.largeCommunities!.map(([g, l1, l2]) => concat([be32(g), be32(l1), be32(l2)]))),
        ),
    ]);
  for (const raw of a.other ?? []) entries.push([raw.type, () => push(raw.type, raw.flags, raw.value)]);
  entries.sort((x, y) => x[0] - y[0]);
  for (const [, write] of entries) write();
  return concat(parts);
}

/** An UPDATE from already-encoded parts; the Adj-RIB-Out uses this to reuse one attribute block. */
export function encodeUpdateParts(
  withdrawn: Uint8Array,
  attributes: Uint8Array,
  nlri: Uint8Array,
): Uint8Array {
  const length = HEADER_LENGTH + 4 + withdrawn.length + attributes.length + nlri.length;
  const out = new Uint8Array(length);
  writeHeader(out, MessageType.UPDATE, length);
  let i = HEADER_LENGTH;
  out[i++] = withdrawn.length >> 8;
  out[i++] = withdrawn.length & 0xff;
  out.set(withdrawn, i);
  i += withdrawn.length;
  out[i++] = attributes.length >> 8;
  out[i++] = attributes.length & 0xff;
  out.set(attributes, i);
  i += attributes.length;
  out.set(nlri, i);
  return out;
}

export function encodeUpdate(u: Omit<UpdateMessage, 'type'>, ctx: CodecContext): Uint8Array {
  return encodeUpdateParts(
    encodeNlriList(u.withdrawn),
    encodePathAttributes(u.attributes, ctx),
    encodeNlriList(u.nlri),
  );
}

/** RFC 4724 End-of-RIB: an empty UPDATE for IPv4 unicast, an empty MP_UNREACH_NLRI for anything else. */
export function encodeEndOfRib(afi: number, safi: number): Uint8Array {
  if (afi === Afi.IPV4 && safi === Safi.UNICAST)
    return encodeUpdateParts(new Uint8Array(0), new Uint8Array(0), new Uint8Array(0));
  return encodeUpdateParts(new Uint8Array(0), mpUnreachAttr({ afi, safi, withdrawn: [] }), new Uint8Array(0));
}

export function encodeMessage(m: BgpMessage, ctx: CodecContext): Uint8Array {
  switch (m.type) {
    case 'open':
      return encodeOpen(m);
    case 'update':
      return encodeUpdate(m, ctx);
    case 'notification':
      return encodeNotification(m);
    case 'keepalive':
      return encodeKeepalive();
    case 'route-refresh':
      return encodeRouteRefresh(m.afi, m.safi, m.subtype);
  }
}
