/**
 * The wire side of L2 mode for one node: answers ARP/NDP for the addresses it is given, on the interfaces
 * it is given. The speaker (src/speaker/l2-applier.ts) decides ownership and drives this with
 * acquire(address, interface) and release(address, interface): gratuitous burst on acquire, answers while
 * owned, silence from release on.
 *
 *   const l2 = new L2Answerer({ log, node: 'node-a' });
 *   l2.acquire('192.0.2.10', 'eth0');   // burst now and over the next 4.4 s; answers ARP for it
 *   l2.release('192.0.2.10', 'eth0');   // stops answering at once
 *
 * Needs CAP_NET_RAW; acquire() throws a SystemError (EPERM, ENODEV) when the interface's socket cannot be
 * opened, and then owns nothing new.
 */
import type { Logger } from '../log.ts';
import { getLink, type Link, listLinks } from '../native/links.ts';
import { canonicalAddress } from './addresses.ts';
import { Announcer, GRATUITOUS_SCHEDULE_MS } from './announcer.ts';
import { DEFAULT_LIMITS, type L2Event, LinkPort, type ResponderLimits } from './port.ts';

export type { L2Event } from './port.ts';

export interface L2AnswererOptions {
  log: Logger;
  /** This node's name, in every log line. */
  node: string;
  /** Offsets of the gratuitous rounds after acquire (ms); default GRATUITOUS_SCHEDULE_MS. */
  schedule?: readonly number[];
  limits?: Partial<ResponderLimits>;
  onEvent?(event: L2Event): void;
  /**
   * Asked before every answer and every gratuitous round: false keeps this node silent for all its
   * addresses (the membership's fence: too few peers hear it for it to be sure nobody took over).
   */
  mayAnswer?(): boolean;
}

export interface Announcement {
  address: string;
  interface: string;
}

export class L2Answerer {
  private readonly ports = new Map<string, LinkPort>();
  private readonly announcer: Announcer;
  private readonly log: Logger;
  private readonly limits: ResponderLimits;
  private readonly onEvent: (event: L2Event) => void;
  private readonly mayAnswer: () => boolean;
  private ownMacs: ReadonlySet<string> = new Set();

  constructor(opts: L2AnswererOptions) {
    this.log = opts.log.child({ node: opts.node });
    this.announcer = new Announcer(opts.schedule ?? GRATUITOUS_SCHEDULE_MS);
    this.limits = { ...DEFAULT_LIMITS, ...opts.limits };
    this.onEvent = opts.onEvent ?? (() => {});
    this.mayAnswer = opts.mayAnswer ?? (() => true);
  }

  /**
   * Announces `address` on `ifname` (burst, then answers). Idempotent. `links` is a listLinks() result the
   * caller already has; without it, the links are listed here when a new interface is first used.
   */
  acquire(address: string, ifname: string, links?: Link[]): void {
    let port = this.ports.get(ifname);
    const created = !port;
    if (!port) {
      const all = links ?? listLinks();
      this.learnOwnMacs(all);
      port = new LinkPort({
        link: all.find((l) => l.name === ifname) ?? getLink(ifname),
        log: this.log,
        announcer: this.announcer,
        limits: this.limits,
        ownMacs: () => this.ownMacs,
        onEvent: this.onEvent,
        mayAnswer: this.mayAnswer,
      });
      this.ports.set(ifname, port);
    }
    try {
      port.acquire(address);
    } catch (err) {
      if (created && port.size === 0) {
        port.close();
        this.ports.delete(ifname);
      }
      throw err;
    }
  }

  /** Stops answering for `address` on `ifname` at once. */
  release(address: string, ifname: string): void {
    const port = this.ports.get(ifname);
    if (!port) return;
    port.release(address);
    if (port.size === 0) {
      port.close();
      this.ports.delete(ifname);
    }
  }

  /** Stops answering for `address` on every interface. */
  releaseEverywhere(address: string): void {
    const key = canonicalAddress(address);
    for (const port of [...this.ports.values()]) if (port.owns(key)) this.release(key, port.ifname);
  }

  /**
   * Makes the announcements exactly `desired`: acquires what is missing, releases what is no longer
   * wanted. A pair that cannot be acquired (no such interface, no capability) is logged and returned; the
   * others still go ahead.
   */
  reconcile(
    desired: readonly Announcement[],
    links?: Link[],
  ): { failed: { announcement: Announcement; error: Error }[] } {
    const key = (a: Announcement) => `${a.interface}/${canonicalAddress(a.address)}`;
    const want = new Map(desired.map((a) => [key(a), a]));
    for (const a of this.announcements()) if (!want.has(key(a))) this.release(a.address, a.interface);
    const have = new Set(this.announcements().map(key));
    const failed: { announcement: Announcement; error: Error }[] = [];
    for (const [k, a] of want) {
      if (have.has(k)) continue;
      try {
        this.acquire(a.address, a.interface, links);
      } catch (err) {
        this.log.error(
          { err, address: a.address, interface: a.interface },
          'cannot announce address on interface',
        );
        failed.push({ announcement: a, error: err as Error });
      }
    }
    return { failed };
  }

  announcements(): Announcement[] {
    return [...this.ports.values()].flatMap((p) =>
      p.addresses().map((address) => ({ address, interface: p.ifname })),
    );
  }

  /**
   * Takes in the interfaces' current state (from a rescan after a link change): ports whose link was
   * recreated or changed MAC reopen their sockets, and every port whose link came back up repeats its
   * bursts. Links that vanished keep their addresses until released; they are announced again when the
   * link returns.
   */
  updateLinks(links: Link[] = listLinks()): void {
    this.learnOwnMacs(links);
    const byName = new Map(links.map((l) => [l.name, l]));
    for (const port of this.ports.values()) {
      const link = byName.get(port.ifname);
      if (!link) continue;
      try {
        port.update(link);
      } catch (err) {
        this.log.error({ err, interface: port.ifname }, 'could not take in interface change');
      }
    }
  }

  private learnOwnMacs(links: Link[]): void {
    this.ownMacs = new Set(links.flatMap((l) => (l.mac && l.mac !== '00:00:00:00:00:00' ? [l.mac] : [])));
  }

  close(): void {
    for (const port of this.ports.values()) port.close();
    this.ports.clear();
    this.announcer.stopAll();
  }
}
