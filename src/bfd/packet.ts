/**
 * RFC 5880 section 4.1 control packets: encoding, and a total decoder that applies the reception checks of
 * section 6.8.6 which need no session (version, lengths, multiplier, discriminators, multipoint, auth).
 * Anything malformed comes back as a reason to log and drop, never as an exception.
 *
 *    0                   1                   2                   3
 *   |Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
 *   |                       My Discriminator                        |
 *   |                      Your Discriminator                       |
 *   |                    Desired Min TX Interval                    |
 *   |                   Required Min RX Interval                    |
 *   |                 Required Min Echo RX Interval                 |
 *
 * Intervals are microseconds on the wire and here; the session converts from the profile's milliseconds.
 */

export const BFD_VERSION = 1;
/** Length of a packet without an authentication section. */
export const CONTROL_PACKET_LENGTH = 24;

/** Session states as they are coded in the Sta field. */
export const BfdStateCode = { AdminDown: 0, Down: 1, Init: 2, Up: 3 } as const;
export type BfdState = keyof typeof BfdStateCode;
const STATE_NAMES: readonly BfdState[] = ['AdminDown', 'Down', 'Init', 'Up'];

/** RFC 5880 4.1 diagnostic codes. */
export const Diag = {
  NONE: 0,
  CONTROL_DETECTION_TIME_EXPIRED: 1,
  ECHO_FUNCTION_FAILED: 2,
  NEIGHBOR_SIGNALED_SESSION_DOWN: 3,
  FORWARDING_PLANE_RESET: 4,
  PATH_DOWN: 5,
  CONCATENATED_PATH_DOWN: 6,
  ADMINISTRATIVELY_DOWN: 7,
  REVERSE_CONCATENATED_PATH_DOWN: 8,
} as const;

const DIAG_NAMES = [
  'none',
  'control-detection-time-expired',
  'echo-function-failed',
  'neighbor-signaled-session-down',
  'forwarding-plane-reset',
  'path-down',
  'concatenated-path-down',
  'administratively-down',
  'reverse-concatenated-path-down',
] as const;

/** `control-detection-time-expired`, or `diag-N` for codes RFC 5880 reserves. */
export function diagName(code: number): string {
  return DIAG_NAMES[code] ?? `diag-${code}`;
}

export function stateName(code: number): BfdState {
  return STATE_NAMES[code & 3]!;
}

export interface ControlPacket {
  version: number;
  diag: number;
  state: BfdState;
  poll: boolean;
  final: boolean;
  /** Control Plane Independent. */
  controlPlaneIndependent: boolean;
  /** Authentication Present: Beacon configures no authentication, so such packets are dropped. */
  authPresent: boolean;
  demand: boolean;
  multipoint: boolean;
  detectMult: number;
  myDiscriminator: number;
  yourDiscriminator: number;
  /** Microseconds. */
  desiredMinTxUs: number;
  requiredMinRxUs: number;
  requiredMinEchoRxUs: number;
}

export type DecodeResult = { ok: true; packet: ControlPacket } | { ok: false; reason: string };

/** The fields a sender chooses; the flags default to clear, the version to 1. */
export type ControlPacketFields = Pick<
  ControlPacket,
  | 'diag'
  | 'state'
  | 'detectMult'
  | 'myDiscriminator'
  | 'yourDiscriminator'
  | 'desiredMinTxUs'
  | 'requiredMinRxUs'
> &
  Partial<ControlPacket>;

function u32(n: number, what: string): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`${what} out of range: ${n}`);
  return n;
}

/** Encodes one control packet without an authentication section. Throws only on out-of-range fields. */
export function encodeControlPacket(f: ControlPacketFields): Uint8Array {
  if (!Number.isInteger(f.diag) || f.diag < 0 || f.diag > 31) throw new RangeError(`diag ${f.diag}`);
  if (!Number.isInteger(f.detectMult) || f.detectMult < 0 || f.detectMult > 255)
    throw new RangeError(`detect multiplier ${f.detectMult}`);
  const b = new Uint8Array(CONTROL_PACKET_LENGTH);
  const v = new DataView(b.buffer);
  b[0] = (((f.version ?? BFD_VERSION) & 7) << 5) | f.diag;
  b[1] =
    (BfdStateCode[f.state] << 6) |
    (f.poll ? 0x20 : 0) |
    (f.final ? 0x10 : 0) |
    (f.controlPlaneIndependent ? 0x08 : 0) |
    (f.authPresent ? 0x04 : 0) |
    (f.demand ? 0x02 : 0) |
    (f.multipoint ? 0x01 : 0);
  b[2] = f.detectMult;
  b[3] = CONTROL_PACKET_LENGTH;
  v.setUint32(4, u32(f.myDiscriminator, 'my discriminator'));
  v.setUint32(8, u32(f.yourDiscriminator, 'your discriminator'));
  v.setUint32(12, u32(f.desiredMinTxUs, 'desired min tx'));
  v.setUint32(16, u32(f.requiredMinRxUs, 'required min rx'));
  v.setUint32(20, u32(f.requiredMinEchoRxUs ?? 0, 'required min echo rx'));
  return b;
}

/**
 * Decodes a UDP payload. Returns a reason for every packet RFC 5880 6.8.6 says to discard before session
 * lookup; the lookup itself (and the check that a zero Your Discriminator only comes with Down or
 * AdminDown) belongs here too because it needs nothing but the packet.
 */
export function decodeControlPacket(bytes: Uint8Array): DecodeResult {
  if (bytes.length < CONTROL_PACKET_LENGTH)
    return { ok: false, reason: `too short: ${bytes.length} bytes, at least ${CONTROL_PACKET_LENGTH}` };
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = bytes[0]! >> 5;
  if (version !== BFD_VERSION) return { ok: false, reason: `version ${version}, expected ${BFD_VERSION}` };
  const flags = bytes[1]!;
  const authPresent = (flags & 0x04) !== 0;
  const length = bytes[3]!;
  const minLength = authPresent ? CONTROL_PACKET_LENGTH + 2 : CONTROL_PACKET_LENGTH;
  if (length < minLength) return { ok: false, reason: `length field ${length} below ${minLength}` };
  if (length > bytes.length)
    return { ok: false, reason: `length field ${length} beyond the ${bytes.length}-byte datagram` };
  const packet: ControlPacket = {
    version,
    diag: bytes[0]! & 0x1f,
    state: stateName(flags >> 6),
    poll: (flags & 0x20) !== 0,
    final: (flags & 0x10) !== 0,
    controlPlaneIndependent: (flags & 0x08) !== 0,
    authPresent,
    demand: (flags & 0x02) !== 0,
    multipoint: (flags & 0x01) !== 0,
    detectMult: bytes[2]!,
    myDiscriminator: v.getUint32(4),
    yourDiscriminator: v.getUint32(8),
    desiredMinTxUs: v.getUint32(12),
    requiredMinRxUs: v.getUint32(16),
    requiredMinEchoRxUs: v.getUint32(20),
  };
  if (packet.detectMult === 0) return { ok: false, reason: 'detect multiplier 0' };
  if (packet.multipoint) return { ok: false, reason: 'multipoint bit set' };
  if (packet.myDiscriminator === 0) return { ok: false, reason: 'my discriminator 0' };
  if (packet.yourDiscriminator === 0 && packet.state !== 'Down' && packet.state !== 'AdminDown')
    return { ok: false, reason: `your discriminator 0 in state ${packet.state}` };
  // No authentication is ever configured, and 6.8.6 discards authenticated packets in that case.
  if (authPresent) return { ok: false, reason: 'authentication present but not configured' };
  return { ok: true, packet };
}
