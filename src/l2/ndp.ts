/**
 * IPv6 Neighbor Discovery (RFC 4861) Neighbor Solicitations and Advertisements in Ethernet frames: the
 * IPv6 header, the ICMPv6 message with its checksum over the pseudo-header, and the source/target
 * link-layer address options.
 */
import {
  ALL_NODES,
  ipv6MulticastMac,
  isMulticastIPv6,
  isUnspecified,
  solicitedNodeGroup,
} from './addresses.ts';
import { decodeEthernet, ETHERTYPE_IPV6, encodeEthernet } from './ethernet.ts';

export const ICMPV6 = 58;
export const NEIGHBOR_SOLICITATION = 135;
export const NEIGHBOR_ADVERTISEMENT = 136;
export const OPTION_SOURCE_LINK_LAYER_ADDRESS = 1;
export const OPTION_TARGET_LINK_LAYER_ADDRESS = 2;
const IPV6_HEADER_LENGTH = 40;
/** Every ND message is sent with hop limit 255 and receivers drop any other (RFC 4861 7.1). */
const ND_HOP_LIMIT = 255;
const NA_FLAG_ROUTER = 0x80;
const NA_FLAG_SOLICITED = 0x40;
const NA_FLAG_OVERRIDE = 0x20;

export interface NdpOption {
  type: number;
  /** The option's bytes after type and length (for link-layer address options: the MAC, then padding). */
  data: Buffer;
}

export interface NeighborSolicitation {
  target: Buffer;
  options: NdpOption[];
}

export interface NeighborAdvertisement {
  router: boolean;
  solicited: boolean;
  override: boolean;
  target: Buffer;
  options: NdpOption[];
}

export interface Ipv6Envelope {
  destinationMac: Buffer;
  sourceMac: Buffer;
  source: Buffer;
  destination: Buffer;
  hopLimit: number;
}

export interface NdpFrame<M> extends Ipv6Envelope {
  message: M;
}

/** The Internet checksum of the IPv6 pseudo-header (RFC 8200 8.1) and the upper-layer message. */
export function icmpv6Checksum(source: Buffer, destination: Buffer, message: Buffer): number {
  let sum = 0;
  const add = (b: Buffer) => {
    for (let i = 0; i + 1 < b.length; i += 2) sum += (b[i]! << 8) | b[i + 1]!;
    if (b.length % 2) sum += b[b.length - 1]! << 8;
  };
  add(source);
  add(destination);
  sum += message.length >>> 16;
  sum += message.length & 0xffff;
  sum += ICMPV6;
  add(message);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function encodeOptions(options: NdpOption[]): Buffer {
  const parts = options.map((o) => {
    const length = Math.ceil((o.data.length + 2) / 8);
    const b = Buffer.alloc(length * 8);
    b[0] = o.type;
    b[1] = length;
    o.data.copy(b, 2);
    return b;
  });
  return Buffer.concat(parts);
}

/** Options of an ND message; undefined when one has length 0 or runs past the end (RFC 4861 4.6). */
function decodeOptions(b: Buffer): NdpOption[] | undefined {
  const options: NdpOption[] = [];
  for (let i = 0; i < b.length; ) {
    if (i + 2 > b.length) return undefined;
    const length = b[i + 1]! * 8;
    if (length === 0 || i + length > b.length) return undefined;
    options.push({ type: b[i]!, data: Buffer.from(b.subarray(i + 2, i + length)) });
    i += length;
  }
  return options;
}

export function linkLayerOption(type: number, mac: Buffer): NdpOption {
  return { type, data: Buffer.from(mac.subarray(0, 6)) };
}

/** The MAC in the first option of `type`, if any. */
export function linkLayerAddress(options: NdpOption[], type: number): Buffer | undefined {
  const o = options.find((x) => x.type === type);
  return o && o.data.length >= 6 ? o.data.subarray(0, 6) : undefined;
}

function frame(envelope: Ipv6Envelope, icmp: Buffer): Buffer {
  icmp.writeUInt16BE(0, 2);
  icmp.writeUInt16BE(icmpv6Checksum(envelope.source, envelope.destination, icmp), 2);
  const ip = Buffer.alloc(IPV6_HEADER_LENGTH + icmp.length);
  ip.writeUInt32BE(0x60000000, 0);
  ip.writeUInt16BE(icmp.length, 4);
  ip[6] = ICMPV6;
  ip[7] = envelope.hopLimit;
  envelope.source.copy(ip, 8, 0, 16);
  envelope.destination.copy(ip, 24, 0, 16);
  icmp.copy(ip, IPV6_HEADER_LENGTH);
  return encodeEthernet(
    { destination: envelope.destinationMac, source: envelope.sourceMac, etherType: ETHERTYPE_IPV6 },
    ip,
  );
}

export function encodeNeighborSolicitation(f: NdpFrame<NeighborSolicitation>): Buffer {
  const options = encodeOptions(f.message.options);
  const icmp = Buffer.alloc(24 + options.length);
  icmp[0] = NEIGHBOR_SOLICITATION;
  f.message.target.copy(icmp, 8, 0, 16);
  options.copy(icmp, 24);
  return frame(f, icmp);
}

export function encodeNeighborAdvertisement(f: NdpFrame<NeighborAdvertisement>): Buffer {
  const options = encodeOptions(f.message.options);
  const icmp = Buffer.alloc(24 + options.length);
  icmp[0] = NEIGHBOR_ADVERTISEMENT;
  icmp[4] =
    (f.message.router ? NA_FLAG_ROUTER : 0) |
    (f.message.solicited ? NA_FLAG_SOLICITED : 0) |
    (f.message.override ? NA_FLAG_OVERRIDE : 0);
  f.message.target.copy(icmp, 8, 0, 16);
  options.copy(icmp, 24);
  return frame(f, icmp);
}

interface DecodedIcmpv6 extends Ipv6Envelope {
  type: number;
  code: number;
  icmp: Buffer;
}

/** The IPv6 envelope and ICMPv6 message of a frame, if the checksum holds; no extension headers. */
function decodeIcmpv6(frameBytes: Buffer): DecodedIcmpv6 | undefined {
  const eth = decodeEthernet(frameBytes);
  if (!eth || eth.header.etherType !== ETHERTYPE_IPV6) return undefined;
  const ip = eth.payload;
  if (ip.length < IPV6_HEADER_LENGTH || ip[0]! >> 4 !== 6 || ip[6] !== ICMPV6) return undefined;
  const payloadLength = ip.readUInt16BE(4);
  if (IPV6_HEADER_LENGTH + payloadLength > ip.length) return undefined;
  const icmp = ip.subarray(IPV6_HEADER_LENGTH, IPV6_HEADER_LENGTH + payloadLength);
  const source = Buffer.from(ip.subarray(8, 24));
  const destination = Buffer.from(ip.subarray(24, 40));
  if (icmp.length < 4 || icmpv6Checksum(source, destination, icmp) !== 0) return undefined;
  return {
    destinationMac: Buffer.from(eth.header.destination),
    sourceMac: Buffer.from(eth.header.source),
    source,
    destination,
    hopLimit: ip[7]!,
    type: icmp[0]!,
    code: icmp[1]!,
    icmp,
  };
}

/**
 * A Neighbor Solicitation that passes RFC 4861 7.1.1 validation (hop limit 255, code 0, checksum, target
 * not multicast, options well-formed, no source link-layer option when the source is unspecified, and then
 * a solicited-node destination); undefined for anything else.
 */
export function decodeNeighborSolicitation(frameBytes: Buffer): NdpFrame<NeighborSolicitation> | undefined {
  const d = decodeIcmpv6(frameBytes);
  if (!d || d.type !== NEIGHBOR_SOLICITATION || d.code !== 0 || d.hopLimit !== ND_HOP_LIMIT) return undefined;
  if (d.icmp.length < 24) return undefined;
  const target = Buffer.from(d.icmp.subarray(8, 24));
  if (isMulticastIPv6(target)) return undefined;
  const options = decodeOptions(d.icmp.subarray(24));
  if (!options) return undefined;
  if (isUnspecified(d.source)) {
    if (linkLayerAddress(options, OPTION_SOURCE_LINK_LAYER_ADDRESS)) return undefined;
    if (!solicitedNodeGroup(target).equals(d.destination)) return undefined;
  }
  return { ...envelopeOf(d), message: { target, options } };
}

/** A Neighbor Advertisement that passes RFC 4861 7.1.2 validation; undefined for anything else. */
export function decodeNeighborAdvertisement(frameBytes: Buffer): NdpFrame<NeighborAdvertisement> | undefined {
  const d = decodeIcmpv6(frameBytes);
  if (!d || d.type !== NEIGHBOR_ADVERTISEMENT || d.code !== 0 || d.hopLimit !== ND_HOP_LIMIT)
    return undefined;
  if (d.icmp.length < 24) return undefined;
  const flags = d.icmp[4]!;
  const target = Buffer.from(d.icmp.subarray(8, 24));
  if (isMulticastIPv6(target)) return undefined;
  const solicited = (flags & NA_FLAG_SOLICITED) !== 0;
  if (solicited && isMulticastIPv6(d.destination)) return undefined;
  const options = decodeOptions(d.icmp.subarray(24));
  if (!options) return undefined;
  return {
    ...envelopeOf(d),
    message: {
      router: (flags & NA_FLAG_ROUTER) !== 0,
      solicited,
      override: (flags & NA_FLAG_OVERRIDE) !== 0,
      target,
      options,
    },
  };
}

function envelopeOf(d: DecodedIcmpv6): Ipv6Envelope {
  return {
    destinationMac: d.destinationMac,
    sourceMac: d.sourceMac,
    source: d.source,
    destination: d.destination,
    hopLimit: d.hopLimit,
  };
}

/**
 * The unsolicited Neighbor Advertisement announcing that `address` is at `mac`: to all nodes, from the
 * interface's link-local address, Override set so that neighbours replace a cached link-layer address.
 */
export function unsolicitedAdvertisementFrame(address: Buffer, mac: Buffer, linkLocal: Buffer): Buffer {
  return encodeNeighborAdvertisement({
    destinationMac: ipv6MulticastMac(ALL_NODES),
    sourceMac: mac,
    source: linkLocal,
    destination: ALL_NODES,
    hopLimit: ND_HOP_LIMIT,
    message: {
      router: false,
      solicited: false,
      override: true,
      target: address,
      options: [linkLayerOption(OPTION_TARGET_LINK_LAYER_ADDRESS, mac)],
    },
  });
}

/**
 * The answer to a solicitation for an address we own. A normal (multicast or unicast NUD) solicitation
 * gets a solicited NA with Override clear, to the solicitor, from the target address: Override clear lets
 * a neighbour keep an entry it already has, so a brief overlap of two answering nodes cannot make it flap.
 * A duplicate address detection probe (unspecified source) gets an NA to all nodes with Solicited clear
 * (RFC 4861 7.2.4) and Override set, defending the address.
 */
export function advertisementFor(ns: NdpFrame<NeighborSolicitation>, mac: Buffer): Buffer {
  const target = ns.message.target;
  const option = linkLayerOption(OPTION_TARGET_LINK_LAYER_ADDRESS, mac);
  if (isUnspecified(ns.source)) {
    return encodeNeighborAdvertisement({
      destinationMac: ipv6MulticastMac(ALL_NODES),
      sourceMac: mac,
      source: target,
      destination: ALL_NODES,
      hopLimit: ND_HOP_LIMIT,
      message: { router: false, solicited: false, override: true, target, options: [option] },
    });
  }
  const solicitorMac = linkLayerAddress(ns.message.options, OPTION_SOURCE_LINK_LAYER_ADDRESS) ?? ns.sourceMac;
  return encodeNeighborAdvertisement({
    destinationMac: Buffer.from(solicitorMac),
    sourceMac: mac,
    source: target,
    destination: ns.source,
    hopLimit: ND_HOP_LIMIT,
    message: { router: false, solicited: true, override: false, target, options: [option] },
  });
}
