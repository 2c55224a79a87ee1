/**
 * Link-layer sockets for the L2 responder: an AF_PACKET socket bound to one interface whose kernel-side BPF
 * filter passes only ARP requests ('arp') or ICMPv6 Neighbor Solicitations ('ndp'), delivered on the event
 * loop; and IPv6 multicast membership for solicited-node groups.
 *
 * Capabilities: openPacketSocket needs CAP_NET_RAW (without it: a SystemError with code EPERM). Membership
 * through the packet socket (addMembership) comes with the socket; joinGroup on a MulticastMembership needs
 * no capability.
 */
import { native, type RawMulticastMembership, type RawPacketSocket, type SystemError } from './addon.ts';

export type PacketProtocol = 'arp' | 'ndp';

/** sll_pkttype of a received frame (linux/if_packet.h). */
export const PacketType = {
  host: 0,
  broadcast: 1,
  multicast: 2,
  otherHost: 3,
} as const;

export interface PacketSocketHandlers {
  /** One received frame (at most 512 bytes; ARP and NS frames are far shorter) and its sll_pkttype. */
  onFrame(frame: Buffer, packetType: number): void;
  /** Receive errors, e.g. ENETDOWN once when the link goes down; the socket stays open. */
  onError(err: SystemError): void;
}

export interface PacketSocket {
  readonly ifname: string;
  readonly ifindex: number;
  readonly protocol: PacketProtocol;
  /** Sends one complete Ethernet frame; throws a SystemError (e.g. ENETDOWN, ENOBUFS) when the kernel refuses. */
  send(frame: Buffer): void;
  /** Accept frames sent to this multicast MAC on the interface while the socket is open (refcounted by the kernel). */
  addMembership(mac: Buffer): void;
  dropMembership(mac: Buffer): void;
  /** Frames the filter passed and frames dropped for lack of buffer space since the previous call. */
  stats(): { packets: number; drops: number };
  /** Lets the process exit while the socket is open (like net.Socket#unref). */
  unref(): void;
  close(): void;
}

/** Opens a filtered link-layer socket on `ifname`; needs CAP_NET_RAW. Throws ENODEV for an unknown interface. */
export function openPacketSocket(
  ifname: string,
  protocol: PacketProtocol,
  handlers: PacketSocketHandlers,
): PacketSocket {
  const raw: RawPacketSocket = new (native().PacketSocket)(
    ifname,
    protocol,
    (frame, type) => handlers.onFrame(frame, type),
    (err) => handlers.onError(err),
  );
  return {
    ifname,
    ifindex: raw.ifindex,
    protocol,
    send: (frame) => raw.send(frame),
    addMembership: (mac) => raw.addMembership(mac),
    dropMembership: (mac) => raw.dropMembership(mac),
    stats: () => raw.stats(),
    unref: () => raw.unref(),
    close: () => raw.close(),
  };
}

export interface MulticastMembership {
  /** Joins an IPv6 group (16 bytes) on the interface: the kernel programs the NIC filter and sends MLD reports. */
  join(group: Buffer): void;
  leave(group: Buffer): void;
  /** Leaves every group joined through this membership. */
  close(): void;
}

/** IPv6 multicast membership on `ifname` through a UDP socket; needs no capability. */
export function openMulticastMembership(ifname: string): MulticastMembership {
  const raw: RawMulticastMembership = new (native().MulticastMembership)(ifname);
  return {
    join: (group) => raw.join(group),
    leave: (group) => raw.leave(group),
    close: () => raw.close(),
  };
}
