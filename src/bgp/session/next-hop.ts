/**
 * Which next hops Beacon announces on a session: its own address on the session for that family, and for
 * IPv6 also its link-local address when the peer shares a subnet with it (RFC 2545 section 3), so that the
 * router can resolve the next hop on the link.
 */
import type { NetworkInterfaceInfo } from 'node:os';
import { type Family, parseIp } from '../codec/prefix.ts';

export interface NextHops {
  ipv4?: string;
  /** Global address, then link-local when on-link. */
  ipv6?: string[];
}

export type InterfaceTable = NodeJS.Dict<NetworkInterfaceInfo[]>;

function unmap(address: string): string {
  return address.startsWith('::ffff:') && address.includes('.') ? address.slice(7) : address;
}

function isLinkLocal6(address: string): boolean {
  return /^fe[89ab]/i.test(address);
}

function inSubnet(address: string, cidr: string | null): boolean {
  if (!cidr) return false;
  const [net, lenText] = cidr.split('/');
  const a = parseIp(address);
  const n = parseIp(net!);
  if (!a || !n || a.family !== n.family) return false;
  const len = Number(lenText);
  for (let bit = 0; bit < len; bit++) {
    const mask = 0x80 >> (bit & 7);
    if ((a.bytes[bit >> 3]! & mask) !== (n.bytes[bit >> 3]! & mask)) return false;
  }
  return true;
}

/**
 * Next hops from the session's local and peer addresses and the host's interfaces (os.networkInterfaces()).
 * A family with no usable address of ours is left out: its prefixes cannot be announced on this session.
 */
export function chooseNextHops(
  localAddress: string,
  peerAddress: string,
  interfaces: InterfaceTable,
): NextHops {
  const local = unmap(localAddress.split('%')[0]!);
  const peer = unmap(peerAddress.split('%')[0]!);
  const localFamily: Family | undefined = parseIp(local)?.family;
  let iface: NetworkInterfaceInfo[] | undefined;
  for (const list of Object.values(interfaces)) {
    if (list?.some((i) => unmap(i.address.split('%')[0]!) === local)) {
      iface = list;
      break;
    }
  }
  const onLink = iface?.some((i) => inSubnet(peer, i.cidr)) ?? false;
  const out: NextHops = {};
  if (localFamily === 'ipv4') out.ipv4 = local;
  else out.ipv4 = iface?.find((i) => i.family === 'IPv4' && !i.internal)?.address;
  let global: string | undefined;
  if (localFamily === 'ipv6' && !isLinkLocal6(local)) global = local;
  else global = iface?.find((i) => i.family === 'IPv6' && !isLinkLocal6(i.address))?.address;
  const linkLocal = iface?.find((i) => i.family === 'IPv6' && isLinkLocal6(i.address))?.address.split('%')[0];
  if (global) out.ipv6 = onLink && linkLocal ? [global, linkLocal] : [global];
  else if (linkLocal && onLink) out.ipv6 = [linkLocal];
  if (out.ipv4 === undefined) delete out.ipv4;
  return out;
}
