/**
 * ARP for IPv4 over Ethernet (RFC 826): the 28-byte packet, inside an Ethernet frame. Frames are built
 * without padding to 60 bytes; the NIC (or the kernel for veths) pads on the wire.
 */
import { BROADCAST_MAC, ZERO_MAC } from './addresses.ts';
import { decodeEthernet, ETHERTYPE_ARP, encodeEthernet } from './ethernet.ts';

export const ARP_REQUEST = 1;
export const ARP_REPLY = 2;
const HARDWARE_ETHERNET = 1;
const PROTOCOL_IPV4 = 0x0800;
export const ARP_PACKET_LENGTH = 28;

export interface ArpPacket {
  operation: number;
  senderMac: Buffer;
  senderIp: Buffer;
  targetMac: Buffer;
  targetIp: Buffer;
}

export interface ArpFrame {
  destination: Buffer;
  source: Buffer;
  arp: ArpPacket;
}

export function encodeArp(packet: ArpPacket): Buffer {
  const b = Buffer.alloc(ARP_PACKET_LENGTH);
  b.writeUInt16BE(HARDWARE_ETHERNET, 0);
  b.writeUInt16BE(PROTOCOL_IPV4, 2);
  b[4] = 6;
  b[5] = 4;
  b.writeUInt16BE(packet.operation, 6);
  packet.senderMac.copy(b, 8, 0, 6);
  packet.senderIp.copy(b, 14, 0, 4);
  packet.targetMac.copy(b, 18, 0, 6);
  packet.targetIp.copy(b, 24, 0, 4);
  return b;
}

export function encodeArpFrame(frame: ArpFrame): Buffer {
  return encodeEthernet(
    { destination: frame.destination, source: frame.source, etherType: ETHERTYPE_ARP },
    encodeArp(frame.arp),
  );
}

/** An Ethernet/IPv4 ARP packet from a frame; undefined for anything else (other hardware, short, not ARP). */
export function decodeArpFrame(frame: Buffer): ArpFrame | undefined {
  const eth = decodeEthernet(frame);
  if (!eth || eth.header.etherType !== ETHERTYPE_ARP) return undefined;
  const p = eth.payload;
  if (p.length < ARP_PACKET_LENGTH) return undefined;
  if (
    p.readUInt16BE(0) !== HARDWARE_ETHERNET ||
    p.readUInt16BE(2) !== PROTOCOL_IPV4 ||
    p[4] !== 6 ||
    p[5] !== 4
  ) {
    return undefined;
  }
  return {
    destination: Buffer.from(eth.header.destination),
    source: Buffer.from(eth.header.source),
    arp: {
      operation: p.readUInt16BE(6),
      senderMac: Buffer.from(p.subarray(8, 14)),
      senderIp: Buffer.from(p.subarray(14, 18)),
      targetMac: Buffer.from(p.subarray(18, 24)),
      targetIp: Buffer.from(p.subarray(24, 28)),
    },
  };
}

/**
 * The two gratuitous ARP frames announcing that `address` is at `mac`, both broadcast with sender IP =
 * target IP = the address: a request (RFC 5227 announcement, target MAC zero) and a reply whose target MAC
 * is the sender's own, the form Linux treats as gratuitous and applies at once, without waiting for its
 * ARP locktime. Clients differ in which form they honour, so both go out.
 */
export function gratuitousArpFrames(address: Buffer, mac: Buffer): [request: Buffer, reply: Buffer] {
  const common = { senderMac: mac, senderIp: address, targetIp: address };
  return [
    encodeArpFrame({
      destination: BROADCAST_MAC,
      source: mac,
      arp: { ...common, operation: ARP_REQUEST, targetMac: ZERO_MAC },
    }),
    encodeArpFrame({
      destination: BROADCAST_MAC,
      source: mac,
      arp: { ...common, operation: ARP_REPLY, targetMac: mac },
    }),
  ];
}

/** The reply to `request` saying that its target IP is at `mac`, sent to the requester alone. */
export function arpReplyFrame(request: ArpPacket, mac: Buffer): Buffer {
  return encodeArpFrame({
    destination: request.senderMac,
    source: mac,
    arp: {
      operation: ARP_REPLY,
      senderMac: mac,
      senderIp: request.targetIp,
      targetMac: request.senderMac,
      targetIp: request.senderIp,
    },
  });
}
