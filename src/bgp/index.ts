/**
 * Beacon's BGP-4 speaker, usable on its own (no Kubernetes here). Layers, bottom up:
 *   codec/   wire format, total decoder with RFC 7606 error handling (no sockets, no timers)
 *   fsm/     RFC 4271 state machine over an injected clock (src/time)
 *   rib/     Adj-RIB-Out: packing, withdrawals, flap coalescing
 *   session/ TCP (node:net or the native addon for MD5/TTL), collisions, update sending, BFD beside the
 *            session (through src/bfd's public entry), the public BgpSession
 */

export { type Clock, FakeClock, systemClock } from '../time/clock.ts';
export {
  formatCommunity,
  formatLargeCommunity,
  parseCommunity,
  parseLargeCommunity,
} from './codec/communities.ts';
export { decodeMessage } from './codec/decode.ts';
export { endOfRib } from './codec/decode-update.ts';
export { describeCapability, describeNotification, familyName } from './codec/describe.ts';
export type * from './codec/messages.ts';
export { type Family, formatPrefix, type Prefix, parsePrefix } from './codec/prefix.ts';
export type { WireError } from './codec/wire-error.ts';
export type { BgpState } from './fsm/fsm.ts';
export type { GracefulRestartConfig, Negotiated } from './fsm/negotiate.ts';
export type { RouteAttributes } from './rib/adj-rib-out.ts';
export { BgpListener, type ListenerOptions } from './session/listener.ts';
export type { NextHops } from './session/next-hop.ts';
export {
  BgpSession,
  DEFAULT_MAX_QUEUED_BYTES,
  type NotificationEvent,
  type SentEvent,
  type SessionEvents,
  type SessionOptions,
  type SessionStats,
  type StateChange,
} from './session/session.ts';
export {
  defaultSocketFactory,
  nativeSocketFactory,
  nodeSocketFactory,
  type SocketFactory,
} from './session/socket-factory.ts';
