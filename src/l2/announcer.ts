/**
 * The gratuitous burst that moves an address's neighbour entries to this node: on acquire, one round at
 * once and more in the first seconds. The rounds are 1.1 s apart, MetalLB's schedule, to step past the
 * Linux ARP locktime (1 s), within which a neighbour ignores a second update for the same address.
 */
import { ipFamily, ipv4Bytes, ipv6Bytes } from './addresses.ts';
import { gratuitousArpFrames } from './arp.ts';
import { unsolicitedAdvertisementFrame } from './ndp.ts';

/** Offsets of the rounds from acquire, in milliseconds. */
export const GRATUITOUS_SCHEDULE_MS: readonly number[] = [0, 1100, 2200, 3300, 4400];

/**
 * One round for `address`: IPv4, a gratuitous ARP request and reply; IPv6, an unsolicited Neighbor
 * Advertisement with Override set, from the interface's link-local address (the address itself when the
 * interface has none).
 */
export function announcementFrames(address: string, mac: Buffer, linkLocal: Buffer | undefined): Buffer[] {
  if (ipFamily(address) === 4) return gratuitousArpFrames(ipv4Bytes(address), mac);
  const target = ipv6Bytes(address);
  return [unsolicitedAdvertisementFrame(target, mac, linkLocal ?? target)];
}

export interface AnnouncementRound {
  /** 1-based. */
  round: number;
  rounds: number;
}

/** Runs bursts by key: each key's rounds follow the schedule from its start; stop() cancels what is left. */
export class Announcer {
  private readonly timers = new Map<string, NodeJS.Timeout[]>();
  private readonly schedule: readonly number[];

  constructor(schedule: readonly number[] = GRATUITOUS_SCHEDULE_MS) {
    this.schedule = schedule;
  }

  /** Starts (or restarts) a burst; the first round at offset 0 runs before start() returns. */
  start(key: string, round: (r: AnnouncementRound) => void): void {
    this.stop(key);
    const rounds = this.schedule.length;
    const run = (i: number) => {
      if (i === rounds - 1) this.timers.delete(key);
      round({ round: i + 1, rounds });
    };
    // Timers first, so that a round which stops the burst (e.g. on release) also cancels the later ones.
    const later: NodeJS.Timeout[] = [];
    this.schedule.forEach((offset, i) => {
      if (offset > 0) later.push(setTimeout(() => run(i), offset));
    });
    if (later.length > 0) this.timers.set(key, later);
    this.schedule.forEach((offset, i) => {
      if (offset <= 0) run(i);
    });
  }

  stop(key: string): void {
    for (const t of this.timers.get(key) ?? []) clearTimeout(t);
    this.timers.delete(key);
  }

  stopAll(): void {
    for (const key of [...this.timers.keys()]) this.stop(key);
  }

  /** Keys whose burst is still running. */
  active(): string[] {
    return [...this.timers.keys()];
  }
}
