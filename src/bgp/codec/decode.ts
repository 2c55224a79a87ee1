/** Decoding of one whole BGP message (header included). Total: every byte string gives a message or a WireError. */
import {
  CeaseSubcode,
  ErrorCode,
  HEADER_LENGTH,
  HeaderSubcode,
  MAX_MESSAGE_LENGTH,
  MessageType,
  RouteRefreshSubcode,
} from './constants.ts';
import { decodeOpenBody } from './decode-open.ts';
import { decodeUpdateBody } from './decode-update.ts';
import type { BgpMessage, CodecContext, NotificationMessage } from './messages.ts';
import { type Decoded, fault, u16, type WireError, WireFault } from './wire-error.ts';

/** Smallest legal length of each message type, header included (RFC 4271 4.1-4.5, RFC 2918). */
const MIN_LENGTH: Readonly<Record<number, number>> = {
  [MessageType.OPEN]: 29,
  [MessageType.UPDATE]: 23,
  [MessageType.NOTIFICATION]: 21,
  [MessageType.KEEPALIVE]: 19,
  [MessageType.ROUTE_REFRESH]: 23,
};

/** Checks marker and length of a header; the framer uses this before it has the whole message. */
export function checkHeader(buf: Uint8Array, offset = 0): WireError | undefined {
  for (let i = 0; i < 16; i++) {
    if (buf[offset + i] !== 0xff)
      return fault(
        ErrorCode.MESSAGE_HEADER,
        HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED,
        'marker is not all ones',
      ).error;
  }
  const length = (buf[offset + 16]! << 8) | buf[offset + 17]!;
  if (length < HEADER_LENGTH || length > MAX_MESSAGE_LENGTH)
    return fault(ErrorCode.MESSAGE_HEADER, HeaderSubcode.BAD_MESSAGE_LENGTH, `length ${length}`, u16(length))
      .error;
  return undefined;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeNotification(body: Uint8Array): NotificationMessage {
  const code = body[0]!;
  const subcode = body[1]!;
  const data = body.slice(2);
  let shutdownMessage: string | undefined;
  if (
    code === ErrorCode.CEASE &&
    (subcode === CeaseSubcode.ADMINISTRATIVE_SHUTDOWN || subcode === CeaseSubcode.ADMINISTRATIVE_RESET) &&
    data.length >= 1 &&
    data[0]! + 1 <= data.length
  ) {
    try {
      shutdownMessage = utf8.decode(data.subarray(1, 1 + data[0]!));
    } catch {
      // Not UTF-8: RFC 8203 says to ignore the text, the NOTIFICATION itself still stands.
    }
  }
  return shutdownMessage === undefined
    ? { type: 'notification', code, subcode, data }
    : { type: 'notification', code, subcode, data, shutdownMessage };
}

function decodeUnchecked(buf: Uint8Array, ctx: CodecContext): BgpMessage {
  if (buf.length < HEADER_LENGTH)
    throw fault(
      ErrorCode.MESSAGE_HEADER,
      HeaderSubcode.BAD_MESSAGE_LENGTH,
      `only ${buf.length} octets`,
      u16(buf.length),
    );
  const headerError = checkHeader(buf);
  if (headerError)
    throw new WireFault(headerError.code, headerError.subcode, headerError.data, headerError.reason);
  const length = (buf[16]! << 8) | buf[17]!;
  if (length !== buf.length)
    throw fault(
      ErrorCode.MESSAGE_HEADER,
      HeaderSubcode.BAD_MESSAGE_LENGTH,
      `length field ${length} but ${buf.length} octets`,
      u16(length),
    );
  const type = buf[18]!;
  const min = MIN_LENGTH[type];
  if (min === undefined)
    throw fault(
      ErrorCode.MESSAGE_HEADER,
      HeaderSubcode.BAD_MESSAGE_TYPE,
      `type ${type}`,
      Uint8Array.of(type),
    );
  if (type === MessageType.ROUTE_REFRESH && length !== min && length > HEADER_LENGTH + 2) {
    const subtype = buf[HEADER_LENGTH + 2]!;
    // RFC 7313 5: a BoRR or EoRR whose body is not 4 octets is 7/1, with the whole message as Data.
    if (subtype === 1 || subtype === 2)
      throw fault(
        ErrorCode.ROUTE_REFRESH,
        RouteRefreshSubcode.INVALID_MESSAGE_LENGTH,
        `ROUTE-REFRESH subtype ${subtype} of length ${length}`,
        buf.slice(),
      );
    // RFC 7313 5: any subtype but 0, 1 and 2 is ignored, whatever its length; the session drops it.
    if (subtype !== 0)
      return { type: 'route-refresh', afi: (buf[19]! << 8) | buf[20]!, subtype, safi: buf[22] ?? 0 };
  }
  const exact = type === MessageType.KEEPALIVE || type === MessageType.ROUTE_REFRESH;
  if (length < min || (exact && length !== min))
    throw fault(
      ErrorCode.MESSAGE_HEADER,
      HeaderSubcode.BAD_MESSAGE_LENGTH,
      `length ${length} for message type ${type}`,
      u16(length),
    );
  const body = buf.subarray(HEADER_LENGTH);
  switch (type) {
    case MessageType.OPEN:
      return decodeOpenBody(body);
    case MessageType.UPDATE:
      return decodeUpdateBody(body, ctx);
    case MessageType.NOTIFICATION:
      return decodeNotification(body);
    case MessageType.KEEPALIVE:
      return { type: 'keepalive' };
    default:
      return { type: 'route-refresh', afi: (body[0]! << 8) | body[1]!, subtype: body[2]!, safi: body[3]! };
  }
}

/** Decodes one complete message, header included. Never throws. */
export function decodeMessage(buf: Uint8Array, ctx: CodecContext): Decoded<BgpMessage> {
  try {
    return { ok: true, value: decodeUnchecked(buf, ctx) };
  } catch (err) {
    if (err instanceof WireFault) return { ok: false, error: err.error };
    throw err;
  }
}
