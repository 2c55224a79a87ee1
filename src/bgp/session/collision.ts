/**
 * Connection collision resolution (RFC 4271 6.8, with RFC 6286 2.1 for equal identifiers), as a pure
 * function: given the connection whose OPEN just arrived and the session's other connection, which one
 * closes. Both speakers apply the same rule, so both keep the same TCP connection: the one initiated by
 * the speaker with the higher BGP identifier.
 */
import type { BgpState } from '../fsm/fsm.ts';
import { compareRouterIds } from '../fsm/negotiate.ts';

/** Who opened a connection: Beacon (outgoing) or the peer (incoming). */
export type Direction = 'outgoing' | 'incoming';

export interface CollisionInput {
  localId: string;
  /** The BGP Identifier in the OPEN just received. */
  peerId: string;
  localAs: number;
  peerAs: number;
  /** Direction of the connection the OPEN arrived on. */
  received: Direction;
  /** The session's other connection, if any. */
  other?: { direction: Direction; state: BgpState };
}

/**
 * `none`: no collision, go on. `close-received`: close the connection the OPEN arrived on (Cease 6/7).
 * `close-other`: close the other connection (Cease 6/7) and go on with this one.
 */
export type CollisionVerdict = 'none' | 'close-received' | 'close-other';

export function resolveCollision(i: CollisionInput): CollisionVerdict {
  const other = i.other;
  // 6.8: only connections in OpenConfirm are examined (OpenSent only when the peer's identifier is known
  // by means outside the protocol, which Beacon has none of); Idle, Connect and Active cannot collide.
  if (!other || (other.state !== 'OpenConfirm' && other.state !== 'Established')) return 'none';
  // 6.8: "a connection collision with an existing BGP connection that is in the Established state causes
  // closing of the newly created connection".
  if (other.state === 'Established') return 'close-received';
  // Two connections of one direction are not a collision between the two speakers; keep the older one.
  if (other.direction === i.received) return 'close-received';
  const byId = compareRouterIds(i.localId, i.peerId);
  // 6.8 steps 2 and 3: the connection initiated by the higher identifier survives. RFC 6286 2.1: with equal
  // identifiers, the one initiated by the speaker with the larger AS number.
  const localWins = byId !== 0 ? byId > 0 : i.localAs > i.peerAs;
  const keep: Direction = localWins ? 'outgoing' : 'incoming';
  return i.received === keep ? 'close-other' : 'close-received';
}
