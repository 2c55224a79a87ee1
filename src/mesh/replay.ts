/**
 * Refuses a datagram seen before, without refusing one that merely arrived out of order: the highest
 * sequence number so far, and a bitmap of which of the 64 below it have been seen (the anti-replay window
 * of RFC 4303 section 3.4.3). A strictly increasing rule alone would drop a heartbeat overtaken by a
 * gossip datagram sent just after it, and with it the acknowledgement it carried.
 */
const WINDOW = 64n;

export class ReplayWindow {
  private highest = 0n;
  private seen = 0n;

  /** True the first time `seq` (> 0) is offered within the window; false for repeats and the too old. */
  accept(seq: bigint): boolean {
    if (seq <= 0n) return false;
    if (seq > this.highest) {
      const shift = seq - this.highest;
      this.seen = shift >= WINDOW ? 1n : ((this.seen << shift) | 1n) & ((1n << WINDOW) - 1n);
      this.highest = seq;
      return true;
    }
    const back = this.highest - seq;
    if (back >= WINDOW) return false;
    const bit = 1n << back;
    if (this.seen & bit) return false;
    this.seen |= bit;
    return true;
  }

  /** The highest sequence number accepted. */
  get latest(): bigint {
    return this.highest;
  }

  reset(): void {
    this.highest = 0n;
    this.seen = 0n;
  }
}
