/**
 * How a session reports what the peer sent wrong and survived (RFC 7606 6: the error, the NLRI involved and
 * the whole message, for whoever must fix the sender), and a malformed NOTIFICATION it did not answer
 * (RFC 4271 6.4). Each kind of error is logged at warn the first time in an Established session and at debug
 * after that, so a peer that keeps sending it cannot flood the log; when the session ends, one line counts
 * the kinds that came more than once.
 */
import type { Logger } from 'pino';
import { ErrorCode } from '../codec/constants.ts';
import { attributeName, describeNotification } from '../codec/describe.ts';
import type { UpdateMessage } from '../codec/messages.ts';
import { formatPrefix } from '../codec/prefix.ts';
import type { WireError } from '../codec/wire-error.ts';

/** Bytes as hex, for log lines. */
export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

export class MalformedLog {
  private readonly log: Logger;
  /** How often each kind of error came during this Established session. */
  private readonly seen = new Map<string, number>();

  constructor(log: Logger) {
    this.log = log;
  }

  /** A received UPDATE that RFC 7606 made a withdrawal of, or that lost attributes. */
  update(message: UpdateMessage, raw: Uint8Array): void {
    const problems = message.treatAsWithdraw;
    if (problems) {
      const withdrawn = [...message.withdrawn, ...(message.attributes.mpUnreach?.withdrawn ?? [])];
      this.report(
        `withdraw ${problems.map((p) => `${p.type}/${p.subcode}`).join(',')}`,
        {
          treatment: 'treat-as-withdraw',
          problems: problems.map((p) => ({
            attribute: p.type === 0 ? 'path attributes' : attributeName(p.type),
            error: describeNotification(ErrorCode.UPDATE_MESSAGE, p.subcode),
            reason: p.reason,
            rule: p.rule,
          })),
          withdrawnCount: withdrawn.length,
          withdrawn: withdrawn.slice(0, 16).map(formatPrefix),
          update: hex(raw),
        },
        'malformed UPDATE: its routes are treated as withdrawn and the session stays up (RFC 7606)',
      );
    }
    for (const d of message.attributes.discarded ?? [])
      this.report(
        `discard ${d.type} ${d.rule}`,
        {
          treatment: 'attribute-discard',
          attribute: attributeName(d.type),
          reason: d.reason,
          rule: d.rule,
          update: hex(raw),
        },
        'attribute discarded from a received UPDATE; the UPDATE stands (RFC 7606)',
      );
  }

  /** A NOTIFICATION that does not decode: logged, never answered. */
  notification(error: WireError, raw: Uint8Array, connection: string): void {
    this.log.warn(
      {
        connection,
        error: describeNotification(error.code, error.subcode),
        reason: error.reason,
        message: hex(raw),
      },
      'malformed NOTIFICATION received; closing without answering it (RFC 4271 6.4)',
    );
  }

  /** The session left Established: the summary, and a fresh count for the next one. */
  sessionEnded(): void {
    const repeated = [...this.seen].filter(([, n]) => n > 1);
    if (repeated.length)
      this.log.info(
        { errors: Object.fromEntries(repeated) },
        'malformed UPDATEs seen more than once during the session',
      );
    this.seen.clear();
  }

  private report(kind: string, fields: Record<string, unknown>, message: string): void {
    const seen = (this.seen.get(kind) ?? 0) + 1;
    this.seen.set(kind, seen);
    if (seen === 1) this.log.warn(fields, message);
    else this.log.debug({ ...fields, occurrence: seen }, message);
  }
}
