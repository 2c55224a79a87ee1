/**
 * The question a host asks to find who holds an address: an ARP request (broadcast) for an IPv4 address, a
 * Neighbor Solicitation to the address's solicited-node group for an IPv6 one, as the kernel would send
 * them. For load generators and probers that send from an AF_PACKET socket, so that the sending host's own
 * neighbour cache plays no part.
 */
import {
  BROADCAST_MAC,
  ipFamily,
  ipv4Bytes,
  ipv6Bytes,
  ipv6MulticastMac,
  solicitedNodeGroup,
  ZERO_MAC,
} from '../../src/l2/addresses.ts';
import { ARP_REQUEST, encodeArpFrame } from '../../src/l2/arp.ts';
import {
  encodeNeighborSolicitation,
  linkLayerOption,
  OPTION_SOURCE_LINK_LAYER_ADDRESS,
} from '../../src/l2/ndp.ts';

export interface Asker {
  mac: Buffer;
  /** The sender address of ARP requests. */
  ipv4: string;
  /** The source address of Neighbor Solicitations. */
  ipv6: string;
}

export function questionFrame(target: string, from: Asker): Buffer {
  if (ipFamily(target) === 4) {
    return encodeArpFrame({
      destination: BROADCAST_MAC,
      source: from.mac,
      arp: {
        operation: ARP_REQUEST,
        senderMac: from.mac,
        senderIp: ipv4Bytes(from.ipv4),
        targetMac: ZERO_MAC,
        targetIp: ipv4Bytes(target),
      },
    });
  }
  const group = solicitedNodeGroup(ipv6Bytes(target));
  return encodeNeighborSolicitation({
    destinationMac: ipv6MulticastMac(group),
    sourceMac: from.mac,
    source: ipv6Bytes(from.ipv6),
    destination: group,
    hopLimit: 255,
    message: {
      target: ipv6Bytes(target),
      options: [linkLayerOption(OPTION_SOURCE_LINK_LAYER_ADDRESS, from.mac)],
    },
  });
}
