/**
 * BFD (RFC 5880 asynchronous mode, RFC 5881 single hop), usable on its own (no Kubernetes here). Layers:
 *   packet.ts     control packet codec, total decoder
 *   fsm.ts        the session state machine over an injected clock
 *   transport.ts  UDP 3784 receive, 49152-65535 send with TTL 255
 *   session.ts    the public BfdSession
 */
export { type BfdStateChange, type BfdTimers, SLOW_TX_US } from './fsm.ts';
export {
  type BfdState,
  type ControlPacket,
  Diag,
  decodeControlPacket,
  diagName,
  encodeControlPacket,
} from './packet.ts';
export {
  BFD_DEFAULTS,
  type BfdProfileOptions,
  BfdSession,
  type BfdSessionEvents,
  type BfdSessionOptions,
  defaultBfdTransport,
  timersFromProfile,
} from './session.ts';
export {
  BFD_CONTROL_PORT,
  type BfdLink,
  type BfdTransport,
  UdpBfdTransport,
  type UdpTransportOptions,
} from './transport.ts';
