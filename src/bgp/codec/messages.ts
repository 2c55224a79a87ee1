/** The five BGP messages Beacon speaks, as plain data. Encoders and decoders live beside this file. */
import type { OriginValue } from './constants.ts';
import type { Prefix } from './prefix.ts';

export type Capability =
  | { readonly kind: 'multiprotocol'; readonly afi: number; readonly safi: number }
  | { readonly kind: 'route-refresh' }
  | { readonly kind: 'four-octet-as'; readonly asn: number }
  | {
      readonly kind: 'graceful-restart';
      /** R bit: the sender has restarted; its peer must not wait for its End-of-RIB. */
      readonly restarting: boolean;
      /** N bit (RFC 8538): graceful restart also covers sessions ended by a NOTIFICATION. */
      readonly notification: boolean;
      /** Seconds (12 bits) the peer should keep the sender's routes while it comes back. */
      readonly restartTime: number;
      readonly families: readonly { afi: number; safi: number; forwardingPreserved: boolean }[];
    }
  /** Anything else, kept as bytes: Beacon must peer with routers whose capabilities it does not know. */
  | { readonly kind: 'unknown'; readonly code: number; readonly value: Uint8Array };

export interface OpenMessage {
  readonly type: 'open';
  readonly version: number;
  /** The 2-octet My AS field: AS_TRANS (23456) when the real ASN needs 4 octets. */
  readonly myAs: number;
  readonly holdTime: number;
  /** Dotted quad. */
  readonly bgpId: string;
  readonly capabilities: readonly Capability[];
}

export interface AsPathSegment {
  /** AS_SET 1, AS_SEQUENCE 2, confederation types 3 and 4. */
  readonly type: number;
  readonly asns: readonly number[];
}

/** RFC 8092: global administrator, local data 1, local data 2. */
export type LargeCommunity = readonly [number, number, number];

export interface MpReach {
  readonly afi: number;
  readonly safi: number;
  /** Textual next hops: for IPv6 the global address, then the link-local one when present. */
  readonly nextHops: readonly string[];
  readonly nlri: readonly Prefix[];
  /** NLRI of an address family Beacon does not parse (EVPN, VPN, ...), kept opaque so it can be skipped. */
  readonly opaqueNlri?: Uint8Array;
}

export interface MpUnreach {
  readonly afi: number;
  readonly safi: number;
  readonly withdrawn: readonly Prefix[];
  readonly opaqueNlri?: Uint8Array;
}

/** An attribute as it came off the wire: flags, type and value. */
export interface RawAttribute {
  readonly flags: number;
  readonly type: number;
  readonly value: Uint8Array;
}

export interface PathAttributes {
  readonly origin?: OriginValue;
  readonly asPath?: readonly AsPathSegment[];
  readonly nextHop?: string;
  readonly med?: number;
  readonly localPref?: number;
  readonly atomicAggregate?: boolean;
  readonly aggregator?: { readonly asn: number; readonly address: string };
  readonly communities?: readonly number[];
  readonly largeCommunities?: readonly LargeCommunity[];
  readonly as4Path?: readonly AsPathSegment[];
  readonly mpReach?: MpReach;
  readonly mpUnreach?: MpUnreach;
  /** Attributes Beacon does not interpret (extended communities, cluster lists, unknown types), opaque. */
  readonly other?: readonly RawAttribute[];
  /** Attributes dropped under RFC 6793/7606 "attribute discard": which, why, and the clause that says so. */
  readonly discarded?: readonly { readonly type: number; readonly reason: string; readonly rule: string }[];
}

/** One malformation in a received UPDATE that the session survives. */
export interface UpdateProblem {
  /** Attribute type code; 0 when the attribute list itself is broken (RFC 7606 4). */
  readonly type: number;
  /** The UPDATE Message Error subcode RFC 4271 6.3 names for it (no NOTIFICATION is sent). */
  readonly subcode: number;
  readonly reason: string;
  /** The clause that decides its treatment, e.g. `RFC 7606 7.1`. */
  readonly rule: string;
}

export interface UpdateMessage {
  readonly type: 'update';
  readonly withdrawn: readonly Prefix[];
  readonly attributes: PathAttributes;
  readonly nlri: readonly Prefix[];
  /**
   * Set when the UPDATE was malformed in a way RFC 7606 handles by "treat-as-withdraw": the message then
   * withdraws every prefix the peer sent in it (announced ones included) and carries no other attribute.
   */
  readonly treatAsWithdraw?: readonly UpdateProblem[];
}

export interface NotificationMessage {
  readonly type: 'notification';
  readonly code: number;
  readonly subcode: number;
  readonly data: Uint8Array;
  /** RFC 8203/9003 shutdown communication carried by Cease 2 and 4, when present and valid UTF-8. */
  readonly shutdownMessage?: string;
}

export interface KeepaliveMessage {
  readonly type: 'keepalive';
}

export interface RouteRefreshMessage {
  readonly type: 'route-refresh';
  readonly afi: number;
  readonly safi: number;
  /** RFC 7313 message subtype (0 = normal request). */
  readonly subtype: number;
}

export type BgpMessage =
  | OpenMessage
  | UpdateMessage
  | NotificationMessage
  | KeepaliveMessage
  | RouteRefreshMessage;

/** What the decoder must know about the session. */
export interface CodecContext {
  /** RFC 6793 changes AS_PATH and AGGREGATOR encodings. */
  readonly fourOctetAs: boolean;
  /**
   * Whether the peer is internal: RFC 7606 7.5, 7.9 and 7.10 discard LOCAL_PREF, ORIGINATOR_ID and
   * CLUSTER_LIST from an external peer. Undefined (decoding outside a session) checks their length only.
   */
  readonly ibgp?: boolean;
}
