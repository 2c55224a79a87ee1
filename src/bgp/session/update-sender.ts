/**
 * The Adj-RIB-Out to the wire, for the one Established connection of a session: every change made in one
 * turn of the event loop goes out as one round of UPDATEs; announcements wait for the
 * MinRouteAdvertisementInterval (RFC 4271 9.2.1.1) while withdrawals never wait; a ROUTE-REFRESH (RFC 2918)
 * gets the family's table again. While the socket is congested, refresh requests are not answered but
 * remembered, one per family, and answered once it drains: a peer asking in a loop gets one table at a
 * time, not one queued per request.
 */
import type { Clock, Timer } from '../../time/clock.ts';
import type { Family } from '../codec/prefix.ts';
import { type AdjRibOut, type ExportPolicy, endOfRibFor } from '../rib/adj-rib-out.ts';

/** Where UPDATEs go: the Established connection. */
export interface UpdateSink {
  write(messages: readonly Uint8Array[]): void;
  /** The socket asked to wait for 'drain'. */
  readonly congested: boolean;
}

/** What became of a ROUTE-REFRESH. */
export type RefreshOutcome =
  | { sent: number }
  /** Answered when the socket drains; `coalesced` when a refresh of the family was already waiting. */
  | { deferred: true; coalesced: boolean };

export interface SentEvent {
  /** UPDATEs carrying routes or withdrawals. */
  updates: number;
  /** Families whose End-of-RIB marker followed. */
  endOfRib: Family[];
}

export interface UpdateSenderOptions {
  rib: AdjRibOut;
  clock: Clock;
  /** Least time between two rounds of announcements; 0 batches per turn of the event loop. */
  mraiMs: number;
  /** Runs a timer callback so that what it throws ends the connection, not the process. */
  guard(fn: () => void): void;
  onSent(event: SentEvent): void;
}

export class UpdateSender {
  private readonly o: UpdateSenderOptions;
  private sink: UpdateSink | undefined;
  private _policy: ExportPolicy | undefined;
  private timer: Timer | undefined;
  private due = Number.POSITIVE_INFINITY;
  private lastAnnounceAt = Number.NEGATIVE_INFINITY;
  private readonly _refreshPending = new Set<Family>();

  constructor(options: UpdateSenderOptions) {
    this.o = options;
  }

  /** The policy of the Established connection, while there is one. */
  get policy(): ExportPolicy | undefined {
    return this._policy;
  }

  /** Established: what the session exports, and how. Nothing is sent until `sendTable`. */
  attach(sink: UpdateSink, policy: ExportPolicy): void {
    this.sink = sink;
    this._policy = policy;
  }

  /** The initial table, then End-of-RIB for every family (RFC 4724 says to send it even without GR). */
  sendTable(endOfRib: readonly Family[]): void {
    this.o.rib.reset();
    this.flush(endOfRib);
  }

  /** The connection left Established: the peer knows nothing any more; everything goes again next time. */
  detach(): void {
    this.cancel();
    this.sink = undefined;
    this._policy = undefined;
    this._refreshPending.clear();
    this.o.rib.reset();
  }

  /** Families whose ROUTE-REFRESH waits for the socket to drain. */
  get refreshPending(): Family[] {
    return [...this._refreshPending];
  }

  /** The socket took what was queued: answer the refresh requests that waited. */
  drained(): void {
    const families = [...this._refreshPending];
    this._refreshPending.clear();
    for (const f of families) this.answerRefresh(f);
  }

  /** Something changed in the Adj-RIB-Out: send it when due. */
  schedule(): void {
    if (!this.sink || !this.o.rib.hasChanges) return;
    const now = this.o.clock.now();
    const due = this.o.rib.hasWithdrawals ? now : Math.max(now, this.lastAnnounceAt + this.o.mraiMs);
    if (this.timer && this.due <= due) return;
    this.cancel();
    this.due = due;
    const run = () =>
      this.o.guard(() => {
        this.timer = undefined;
        this.due = Number.POSITIVE_INFINITY;
        this.flush();
        this.schedule();
      });
    if (due > now) {
      this.timer = this.o.clock.setTimer(due - now, run);
      return;
    }
    // Due now: batch every change made in this turn of the event loop into one round of UPDATEs.
    const immediate = setImmediate(run);
    this.timer = { cancel: () => clearImmediate(immediate) };
  }

  /**
   * Sends pending changes now instead of on the next turn of the event loop (the caller has made all of
   * this turn's changes); announcements the MRAI holds back stay scheduled.
   */
  sendNow(): void {
    this.cancel();
    this.flush();
    this.schedule();
  }

  /** Sends pending changes now (announcements only once the MRAI has passed), and End-of-RIB when asked. */
  flush(endOfRib: readonly Family[] = []): void {
    const sink = this.sink;
    const policy = this._policy;
    if (!sink || !policy) return;
    const now = this.o.clock.now();
    const announce = endOfRib.length > 0 || now >= this.lastAnnounceAt + this.o.mraiMs;
    const msgs = this.o.rib.takeChanges(policy, { announcements: announce });
    if (announce && msgs.length) this.lastAnnounceAt = now;
    const eor = endOfRib.map(endOfRibFor);
    if (msgs.length === 0 && eor.length === 0) return;
    sink.write([...msgs, ...eor]);
    this.o.onSent({ updates: msgs.length, endOfRib: [...endOfRib] });
  }

  /** Everything the peer was told for `family`, again; undefined when the family is not up. */
  refresh(family: Family): RefreshOutcome | undefined {
    if (!this.sink || !this._policy?.families.has(family)) return undefined;
    if (this.sink.congested) {
      const coalesced = this._refreshPending.has(family);
      this._refreshPending.add(family);
      return { deferred: true, coalesced };
    }
    return { sent: this.answerRefresh(family) };
  }

  private answerRefresh(family: Family): number {
    this.flush();
    const sink = this.sink;
    const policy = this._policy;
    if (!sink || !policy) return 0;
    const msgs = this.o.rib.fullTable(family, policy);
    if (msgs.length) sink.write(msgs);
    return msgs.length;
  }

  private cancel(): void {
    this.timer?.cancel();
    this.timer = undefined;
    this.due = Number.POSITIVE_INFINITY;
  }
}
