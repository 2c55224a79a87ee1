/**
 * What the L2 responder does with one received frame: the reply for an ARP request or Neighbor
 * Solicitation asking for an address this node owns on the interface, or nothing. Pure: no sockets, no
 * clock, so every rule is unit-tested.
 */
import { formatIPv4, formatIPv6, formatMac, isUnspecified, solicitedNodeGroup } from './addresses.ts';
import { ARP_REQUEST, arpReplyFrame, decodeArpFrame } from './arp.ts';
import { advertisementFor, decodeNeighborSolicitation } from './ndp.ts';

/** sll_pkttype PACKET_OTHERHOST: a unicast frame for another MAC, seen only in promiscuous mode. */
const PACKET_OTHERHOST = 3;

export type QuestionKind =
  /** ARP request (broadcast, or unicast when a neighbour re-checks its cache). */
  | 'arp'
  /** ARP probe (RFC 5227, sender IP 0.0.0.0): another host checks whether the address is in use. */
  | 'arp-probe'
  /** Neighbor Solicitation to the solicited-node group: address resolution. */
  | 'ns'
  /** Neighbor Solicitation sent to the address itself: neighbour unreachability detection. */
  | 'ns-unicast'
  /** Neighbor Solicitation from the unspecified address: another host's duplicate address detection. */
  | 'ns-dad';

export interface Answer {
  type: 'answer';
  kind: QuestionKind;
  /** The owned address asked for, canonical text. */
  address: string;
  /** The asking host's IP address ('0.0.0.0' or '::' for probes). */
  requester: string;
  requesterMac: string;
  reply: Buffer;
}

/** A gratuitous ARP from another MAC for an address we own: two nodes claim it. */
export interface Conflict {
  type: 'conflict';
  address: string;
  claimantMac: string;
}

export type Decision = Answer | Conflict | undefined;

export interface ResponderContext {
  /** This node's MAC on the interface the frame came in on. */
  mac: Buffer;
  /** Whether the node owns this address (canonical text) on this interface now. */
  owns(address: string): boolean;
  /**
   * Whether a MAC is one of this node's (aa:bb:cc:dd:ee:ff): frames from its other interfaces on the same
   * segment are neither questions nor conflicts.
   */
  isOwnMac?(mac: string): boolean;
}

export function decideArp(frame: Buffer, packetType: number, ctx: ResponderContext): Decision {
  if (packetType === PACKET_OTHERHOST) return undefined;
  const f = decodeArpFrame(frame);
  if (!f || f.arp.operation !== ARP_REQUEST) return undefined;
  const address = formatIPv4(f.arp.targetIp);
  if (!ctx.owns(address)) return undefined;
  const senderMac = formatMac(f.arp.senderMac);
  if (f.arp.senderMac.equals(ctx.mac) || ctx.isOwnMac?.(senderMac)) return undefined;
  const requester = formatIPv4(f.arp.senderIp);
  if (requester === address) return { type: 'conflict', address, claimantMac: senderMac };
  return {
    type: 'answer',
    kind: requester === '0.0.0.0' ? 'arp-probe' : 'arp',
    address,
    requester,
    requesterMac: senderMac,
    reply: arpReplyFrame(f.arp, ctx.mac),
  };
}

export function decideNdp(frame: Buffer, packetType: number, ctx: ResponderContext): Decision {
  if (packetType === PACKET_OTHERHOST) return undefined;
  const ns = decodeNeighborSolicitation(frame);
  if (!ns) return undefined;
  const target = ns.message.target;
  const address = formatIPv6(target);
  if (!ctx.owns(address) || ns.sourceMac.equals(ctx.mac) || ctx.isOwnMac?.(formatMac(ns.sourceMac)))
    return undefined;
  // Resolution goes to the target's solicited-node group, unreachability detection to the target itself.
  let kind: QuestionKind;
  if (ns.destination.equals(target)) kind = 'ns-unicast';
  else if (ns.destination.equals(solicitedNodeGroup(target)))
    kind = isUnspecified(ns.source) ? 'ns-dad' : 'ns';
  else return undefined;
  return {
    type: 'answer',
    kind,
    address,
    requester: formatIPv6(ns.source),
    requesterMac: formatMac(ns.sourceMac),
    reply: advertisementFor(ns, ctx.mac),
  };
}
