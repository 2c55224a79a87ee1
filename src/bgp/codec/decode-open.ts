/** OPEN message and capability decoding (RFC 4271 4.2, RFC 5492, RFC 9072 extended parameters). */
import { BGP_VERSION, CapabilityCode, ErrorCode, OpenSubcode } from './constants.ts';
import type { Capability, OpenMessage } from './messages.ts';
import { formatIpv4 } from './prefix.ts';
import { fault, u16 } from './wire-error.ts';

const OPEN_PARAM_CAPABILITIES = 2;

function openFault(subcode: number, reason: string, data?: Uint8Array) {
  return fault(ErrorCode.OPEN_MESSAGE, subcode, reason, data);
}

/** Decodes one capability value. Known capabilities with a malformed value are an OPEN error 2/0. */
function decodeCapability(code: number, v: Uint8Array): Capability {
  switch (code) {
    case CapabilityCode.MULTIPROTOCOL:
      if (v.length !== 4)
        throw openFault(OpenSubcode.UNSPECIFIC, `multiprotocol capability of length ${v.length}`);
      return { kind: 'multiprotocol', afi: (v[0]! << 8) | v[1]!, safi: v[3]! };
    case CapabilityCode.ROUTE_REFRESH:
      return { kind: 'route-refresh' };
    case CapabilityCode.FOUR_OCTET_AS:
      if (v.length !== 4)
        throw openFault(OpenSubcode.UNSPECIFIC, `4-octet AS capability of length ${v.length}`);
      return { kind: 'four-octet-as', asn: ((v[0]! << 24) | (v[1]! << 16) | (v[2]! << 8) | v[3]!) >>> 0 };
    case CapabilityCode.GRACEFUL_RESTART: {
      if (v.length < 2 || (v.length - 2) % 4 !== 0)
        throw openFault(OpenSubcode.UNSPECIFIC, `graceful restart capability of length ${v.length}`);
      const families: { afi: number; safi: number; forwardingPreserved: boolean }[] = [];
      for (let i = 2; i < v.length; i += 4) {
        families.push({
          afi: (v[i]! << 8) | v[i + 1]!,
          safi: v[i + 2]!,
          forwardingPreserved: (v[i + 3]! & 0x80) !== 0,
        });
      }
      return {
        kind: 'graceful-restart',
        restarting: (v[0]! & 0x80) !== 0,
        notification: (v[0]! & 0x40) !== 0,
        restartTime: ((v[0]! & 0x0f) << 8) | v[1]!,
        families,
      };
    }
    default:
      return { kind: 'unknown', code, value: v.slice() };
  }
}

function decodeCapabilities(buf: Uint8Array, start: number, end: number, out: Capability[]): void {
  let i = start;
  while (i < end) {
    if (i + 2 > end) throw openFault(OpenSubcode.UNSPECIFIC, 'capability header truncated');
    const code = buf[i]!;
    const len = buf[i + 1]!;
    if (i + 2 + len > end)
      throw openFault(OpenSubcode.UNSPECIFIC, `capability ${code} runs past its parameter`);
    out.push(decodeCapability(code, buf.subarray(i + 2, i + 2 + len)));
    i += 2 + len;
  }
}

/** `body` is the OPEN without the 19-octet header; its length is at least 10 (checked by the caller). */
export function decodeOpenBody(body: Uint8Array): OpenMessage {
  const version = body[0]!;
  if (version !== BGP_VERSION)
    throw openFault(OpenSubcode.UNSUPPORTED_VERSION, `version ${version}`, u16(BGP_VERSION));
  const myAs = (body[1]! << 8) | body[2]!;
  const holdTime = (body[3]! << 8) | body[4]!;
  const bgpId = formatIpv4(body, 5);
  let paramsLen = body[9]!;
  let i = 10;
  let extended = false;
  // RFC 9072: a non-extended length of 255 followed by parameter type 255 announces 2-octet lengths.
  if (paramsLen === 255 && body.length >= 13 && body[10] === 255) {
    extended = true;
    paramsLen = (body[11]! << 8) | body[12]!;
    i = 13;
  }
  const end = i + paramsLen;
  if (end !== body.length)
    throw openFault(
      OpenSubcode.UNSPECIFIC,
      `optional parameters length ${paramsLen} disagrees with message length ${body.length + 19}`,
    );
  const capabilities: Capability[] = [];
  while (i < end) {
    const head = extended ? 3 : 2;
    if (i + head > end) throw openFault(OpenSubcode.UNSPECIFIC, 'optional parameter header truncated');
    const type = body[i]!;
    const len = extended ? (body[i + 1]! << 8) | body[i + 2]! : body[i + 1]!;
    const vStart = i + head;
    if (vStart + len > end)
      throw openFault(OpenSubcode.UNSPECIFIC, `optional parameter ${type} runs past the end`);
    if (type !== OPEN_PARAM_CAPABILITIES)
      throw openFault(OpenSubcode.UNSUPPORTED_OPTIONAL_PARAMETER, `optional parameter type ${type}`);
    decodeCapabilities(body, vStart, vStart + len, capabilities);
    i = vStart + len;
  }
  return { type: 'open', version, myAs, holdTime, bgpId, capabilities };
}
