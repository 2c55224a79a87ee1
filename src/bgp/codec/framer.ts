/**
 * Splits a TCP byte stream into whole BGP messages. Lazy: callers pull one message at a time, so that what
 * a message changes (4-octet AS after OPEN) applies to the next one decoded from the same chunk.
 */
import { HEADER_LENGTH, HeaderSubcode } from './constants.ts';
import { checkHeader } from './decode.ts';
import type { WireError } from './wire-error.ts';

export type Frame =
  | { readonly ok: true; readonly bytes: Uint8Array }
  | {
      readonly ok: false;
      readonly error: WireError;
      /** The header's type field, when the marker was right and the type can be believed. */
      readonly messageType?: number;
    };

export class MessageFramer {
  private buf: Uint8Array = new Uint8Array(0);
  private start = 0;
  private failed = false;

  push(chunk: Uint8Array): void {
    if (this.failed) return;
    const rest = this.buf.length - this.start;
    if (rest === 0) {
      this.buf = chunk;
    } else {
      const merged = new Uint8Array(rest + chunk.length);
      merged.set(this.buf.subarray(this.start), 0);
      merged.set(chunk, rest);
      this.buf = merged;
    }
    this.start = 0;
  }

  /** Octets received but not yet returned as messages. */
  get buffered(): number {
    return this.buf.length - this.start;
  }

  /**
   * The next whole message, undefined while it is incomplete, or a header error; after an error the stream
   * is out of step for good and every later call returns undefined.
   */
  next(): Frame | undefined {
    if (this.failed) return undefined;
    const avail = this.buf.length - this.start;
    if (avail < HEADER_LENGTH) return undefined;
    const error = checkHeader(this.buf, this.start);
    if (error) {
      this.failed = true;
      return error.subcode === HeaderSubcode.CONNECTION_NOT_SYNCHRONIZED
        ? { ok: false, error }
        : { ok: false, error, messageType: this.buf[this.start + 18]! };
    }
    const length = (this.buf[this.start + 16]! << 8) | this.buf[this.start + 17]!;
    if (avail < length) return undefined;
    const bytes = this.buf.subarray(this.start, this.start + length);
    this.start += length;
    return { ok: true, bytes };
  }
}
