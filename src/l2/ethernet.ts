/** Ethernet II framing (no VLAN tag: the socket is bound to the VLAN interface itself). */

export const ETHERTYPE_ARP = 0x0806;
export const ETHERTYPE_IPV6 = 0x86dd;
export const ETHERNET_HEADER_LENGTH = 14;

export interface EthernetHeader {
  destination: Buffer;
  source: Buffer;
  etherType: number;
}

export function encodeEthernet(header: EthernetHeader, payload: Buffer): Buffer {
  const frame = Buffer.alloc(ETHERNET_HEADER_LENGTH + payload.length);
  header.destination.copy(frame, 0, 0, 6);
  header.source.copy(frame, 6, 0, 6);
  frame.writeUInt16BE(header.etherType, 12);
  payload.copy(frame, ETHERNET_HEADER_LENGTH);
  return frame;
}

/** The header and the payload after it (a view, not a copy); undefined for a runt frame. */
export function decodeEthernet(frame: Buffer): { header: EthernetHeader; payload: Buffer } | undefined {
  if (frame.length < ETHERNET_HEADER_LENGTH) return undefined;
  return {
    header: {
      destination: frame.subarray(0, 6),
      source: frame.subarray(6, 12),
      etherType: frame.readUInt16BE(12),
    },
    payload: frame.subarray(ETHERNET_HEADER_LENGTH),
  };
}
