/**
 * Why a byte string is not a valid BGP message, in the terms of the NOTIFICATION that must answer it
 * (RFC 4271 section 6, RFC 7606). The decoder returns these; it never throws.
 */
export interface WireError {
  readonly code: number;
  readonly subcode: number;
  /** The NOTIFICATION's Data field, as the RFC prescribes for this error (often the offending attribute). */
  readonly data: Uint8Array;
  /** For logs: what exactly was wrong. */
  readonly reason: string;
}

export type Decoded<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: WireError };

/**
 * Thrown only inside the codec and caught at its entry points, so that deep parsing code stays linear.
 * Not an Error subclass: no stack trace is captured, which keeps malformed input as cheap as valid input.
 */
export class WireFault {
  readonly error: WireError;
  constructor(code: number, subcode: number, data: Uint8Array, reason: string) {
    this.error = { code, subcode, data, reason };
  }
}

export function fault(code: number, subcode: number, reason: string, data: Uint8Array = EMPTY): WireFault {
  return new WireFault(code, subcode, data, reason);
}

export const EMPTY: Uint8Array = new Uint8Array(0);

export function u16(value: number): Uint8Array {
  return Uint8Array.of((value >>> 8) & 0xff, value & 0xff);
}
