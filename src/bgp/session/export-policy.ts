/**
 * How a session exports its routes once Established: from what the OPENs agreed on, the configured ASN and
 * ORIGIN, and the next hops (configured, or chosen from the connection's local address).
 */
import type { OriginValue } from '../codec/constants.ts';
import type { Family } from '../codec/prefix.ts';
import type { Negotiated } from '../fsm/negotiate.ts';
import type { ExportPolicy } from '../rib/adj-rib-out.ts';
import { chooseNextHops, type InterfaceTable, type NextHops } from './next-hop.ts';

export interface ExportConfig {
  localAs: number;
  origin?: OriginValue;
  /** Next hops to announce instead of the ones derived from the connection's local address. */
  nextHop?: NextHops;
}

export interface Export {
  policy: ExportPolicy;
  /** Negotiated families with no next hop of ours: their routes wait. */
  withoutNextHop: Family[];
}

export function exportFor(
  config: ExportConfig,
  negotiated: Negotiated,
  connection: { localAddress: string; peerAddress: string; interfaces: () => InterfaceTable },
): Export {
  const hops =
    config.nextHop ??
    chooseNextHops(connection.localAddress, connection.peerAddress, connection.interfaces());
  const policy: ExportPolicy = {
    localAs: config.localAs,
    ibgp: negotiated.ibgp,
    fourOctetAs: negotiated.fourOctetAs,
    families: new Set(negotiated.families),
    ...(hops.ipv4 ? { nextHopIpv4: hops.ipv4 } : {}),
    ...(hops.ipv6 ? { nextHopIpv6: hops.ipv6 } : {}),
    ...(config.origin !== undefined ? { origin: config.origin } : {}),
  };
  const withoutNextHop = negotiated.families.filter((f) => (f === 'ipv4' ? !hops.ipv4 : !hops.ipv6));
  return { policy, withoutNextHop };
}
