/** What Beacon puts in its OPEN, and what the two OPENs agree on (RFC 4271 4.2 and 6.2, RFC 5492, RFC 6793). */
import { Afi, AS_TRANS, ErrorCode, OpenSubcode, Safi } from '../codec/constants.ts';
import type { Capability, OpenMessage } from '../codec/messages.ts';
import { type Family, parseIpv4 } from '../codec/prefix.ts';
import type { WireError } from '../codec/wire-error.ts';

export interface GracefulRestartConfig {
  /** Seconds the peer should keep Beacon's routes as stale while Beacon comes back (at most 4095). */
  restartTimeSec: number;
  /** F bit per family: forwarding kept working through the restart (true for Beacon: the node forwards). */
  forwardingPreserved: boolean;
  /** R bit: this process has just restarted. */
  restarting: boolean;
}

export interface OpenConfig {
  localAs: number;
  /** The ASN the peer must present (2/2 Bad Peer AS otherwise); 'external': any ASN but localAs. */
  peerAs: number | 'external';
  /** Dotted quad, non-zero. */
  routerId: string;
  /** Proposed hold time in seconds: 0 (no keepalives) or at least 3. */
  holdTimeSec: number;
  /** Largest keepalive interval wanted, in seconds; one third of the negotiated hold time at most. */
  keepaliveTimeSec?: number;
  families: readonly Family[];
  gracefulRestart?: GracefulRestartConfig;
}

export interface Negotiated {
  peerAs: number;
  peerRouterId: string;
  /** Negotiated hold time in milliseconds; 0 means neither side sends keepalives or enforces a hold time. */
  holdTimeMs: number;
  keepaliveMs: number;
  fourOctetAs: boolean;
  /** Families both sides advertised (IPv4 unicast is implied by a peer with no multiprotocol capability). */
  families: Family[];
  routeRefresh: boolean;
  peerGracefulRestart?: Extract<Capability, { kind: 'graceful-restart' }>;
  ibgp: boolean;
}

const FAMILY_AFI: Record<Family, number> = { ipv4: Afi.IPV4, ipv6: Afi.IPV6 };

export function buildOpen(c: OpenConfig): OpenMessage {
  const capabilities: Capability[] = c.families.map((f) => ({
    kind: 'multiprotocol',
    afi: FAMILY_AFI[f],
    safi: Safi.UNICAST,
  }));
  capabilities.push({ kind: 'route-refresh' }, { kind: 'four-octet-as', asn: c.localAs });
  if (c.gracefulRestart) {
    const gr = c.gracefulRestart;
    capabilities.push({
      kind: 'graceful-restart',
      restarting: gr.restarting,
      notification: false,
      restartTime: Math.min(4095, Math.max(0, Math.round(gr.restartTimeSec))),
      families: c.families.map((f) => ({
        afi: FAMILY_AFI[f],
        safi: Safi.UNICAST,
        forwardingPreserved: gr.forwardingPreserved,
      })),
    });
  }
  return {
    type: 'open',
    version: 4,
    myAs: c.localAs > 0xffff ? AS_TRANS : c.localAs,
    holdTime: c.holdTimeSec,
    bgpId: c.routerId,
    capabilities,
  };
}

function openError(subcode: number, reason: string, data: Uint8Array = new Uint8Array(0)): WireError {
  return { code: ErrorCode.OPEN_MESSAGE, subcode, data, reason };
}

function idValue(text: string): number {
  const b = parseIpv4(text)!;
  return ((b[0]! << 24) | (b[1]! << 16) | (b[2]! << 8) | b[3]!) >>> 0;
}

/** Compares BGP identifiers as unsigned 32-bit integers (RFC 6286), for collision resolution. */
export function compareRouterIds(a: string, b: string): number {
  return idValue(a) - idValue(b);
}

/** Checks the peer's OPEN against the configuration; unknown capabilities are ignored, never fatal. */
export function negotiate(open: OpenMessage, c: OpenConfig): Negotiated | WireError {
  let fourOctet: number | undefined;
  let routeRefresh = false;
  let peerGr: Negotiated['peerGracefulRestart'];
  const peerFamilies = new Set<Family>();
  let sawMultiprotocol = false;
  for (const cap of open.capabilities) {
    if (cap.kind === 'four-octet-as') fourOctet = cap.asn;
    else if (cap.kind === 'route-refresh') routeRefresh = true;
    else if (cap.kind === 'graceful-restart') peerGr = cap;
    else if (cap.kind === 'multiprotocol') {
      sawMultiprotocol = true;
      if (cap.safi === Safi.UNICAST && cap.afi === Afi.IPV4) peerFamilies.add('ipv4');
      if (cap.safi === Safi.UNICAST && cap.afi === Afi.IPV6) peerFamilies.add('ipv6');
    }
  }
  if (!sawMultiprotocol) peerFamilies.add('ipv4');
  const peerAs = fourOctet ?? open.myAs;
  // RFC 7607 2: AS 0 as the peer AS is Bad Peer AS, whatever the configuration would accept.
  if (peerAs === 0 || open.myAs === 0)
    return openError(
      OpenSubcode.BAD_PEER_AS,
      `peer AS 0 (My AS ${open.myAs}, 4-octet AS ${fourOctet ?? 'none'})`,
    );
  if (c.peerAs === 'external' ? peerAs === c.localAs : peerAs !== c.peerAs)
    return openError(
      OpenSubcode.BAD_PEER_AS,
      `peer AS ${peerAs}${fourOctet !== undefined && open.myAs !== fourOctet ? ` (My AS ${open.myAs})` : ''}, expected ${c.peerAs === 'external' ? `an AS other than ${c.localAs} (eBGP)` : c.peerAs}`,
    );
  // RFC 6793 4.2: with a 4-octet capability, a 2-octet-sized ASN must appear as itself in My AS.
  if (fourOctet !== undefined && fourOctet <= 0xffff && open.myAs !== fourOctet)
    return openError(OpenSubcode.BAD_PEER_AS, `My AS ${open.myAs} disagrees with 4-octet AS ${fourOctet}`);
  const ibgp = peerAs === c.localAs;
  if (open.bgpId === '0.0.0.0') return openError(OpenSubcode.BAD_BGP_IDENTIFIER, 'BGP identifier 0.0.0.0');
  if (ibgp && open.bgpId === c.routerId)
    return openError(OpenSubcode.BAD_BGP_IDENTIFIER, `iBGP peer uses our own BGP identifier ${open.bgpId}`);
  if (open.holdTime === 1 || open.holdTime === 2)
    return openError(OpenSubcode.UNACCEPTABLE_HOLD_TIME, `hold time ${open.holdTime} s`);
  const holdSec = Math.min(open.holdTime, c.holdTimeSec);
  const holdTimeMs = holdSec * 1000;
  const wantedKeepalive = c.keepaliveTimeSec ? c.keepaliveTimeSec * 1000 : holdTimeMs / 3;
  const keepaliveMs =
    holdTimeMs === 0 ? 0 : Math.max(1, Math.floor(Math.min(wantedKeepalive, holdTimeMs / 3)));
  return {
    peerAs,
    peerRouterId: open.bgpId,
    holdTimeMs,
    keepaliveMs,
    fourOctetAs: fourOctet !== undefined,
    families: c.families.filter((f) => peerFamilies.has(f)),
    routeRefresh,
    ...(peerGr ? { peerGracefulRestart: peerGr } : {}),
    ibgp,
  };
}

export function isWireError(x: Negotiated | WireError): x is WireError {
  return 'code' in x && 'subcode' in x;
}
