/**
 * L2 mode for this node: from the catalog's eligible nodes and the membership's live ones, the ownership
 * table says which addresses are this node's; this turns that into answers on the wire. An address whose
 * previous holder is still alive (this node just joined or came back, or an endpoint moved) is answered
 * only once that holder confirmed it let go, however long that takes: a hand-back never has two answerers,
 * and until the confirmation the holder still answers. A holder that dies meanwhile stops being live and
 * the wait ends. The membership's fence is applied per answer, inside the L2 side (L2Answerer's mayAnswer).
 */

import type { Announcement, L2Answerer } from '../l2/answerer.ts';
import { selectInterfaces } from '../l2/interfaces.ts';
import type { Logger } from '../log.ts';
import { listLinks } from '../native/links.ts';
import type { AddressCatalog } from './catalog.ts';
import type { SpeakerMetrics } from './metrics.ts';
import { Ownership } from './ownership.ts';
import type { ServiceAnnouncement, StatusWriter } from './status-writer.ts';

export interface L2Membership {
  candidates(): Set<string>;
  /** When this node became alive in its current incarnation; undefined while it is not. */
  aliveAt(): number | undefined;
  releases(): ReadonlySet<string>;
  requestRelease(node: string): void;
  sendReleased(node: string): void;
}

export interface L2ApplierOptions {
  node: string;
  log: Logger;
  metrics: SpeakerMetrics;
  l2: L2Answerer;
  status: StatusWriter;
  membership: L2Membership;
  excludeInterfaces?: readonly string[];
  /** Asks for another apply later (to ask holders again that have not confirmed a release). */
  recheckAt(time: number): void;
  now?: () => number;
}

/** How soon to ask again a holder that has not confirmed a release. */
const RELEASE_RECHECK_MS = 300;

export class L2Applier {
  private readonly opts: L2ApplierOptions;
  private readonly ownership = new Ownership();
  private readonly now: () => number;
  /** Addresses answered at the last apply: taking one back after a pause needs the handover again. */
  private held = new Set<string>();
  private heldSince: number | undefined;
  /** Interfaces that could not be selected, by address, so each problem is logged once. */
  private readonly noInterface = new Map<string, string>();
  private live: Set<string> = new Set();

  constructor(opts: L2ApplierOptions) {
    this.opts = opts;
    this.now = opts.now ?? (() => performance.now());
  }

  /** Takes in catalog changes for these addresses (only they are re-scored). */
  addressesChanged(catalog: AddressCatalog, addresses: Iterable<string>): void {
    for (const a of addresses) {
      const e = catalog.get(a);
      if (e?.l2) this.ownership.setAddress(a, e.l2.eligible);
      else this.ownership.removeAddress(a);
    }
  }

  owner(address: string): string | undefined {
    return this.ownership.owner(address);
  }

  apply(catalog: AddressCatalog): void {
    const m = this.opts.membership;
    const self = this.opts.node;
    this.live = m.candidates();
    const changes = this.ownership.setLive(this.live);
    const releasedTo = new Set<string>();
    for (const c of changes) if (c.from === self && c.to !== undefined) releasedTo.add(c.to);
    // Held addresses count only within one alive period: a node that stepped back and came again (even
    // between two applies) takes nothing back without its holders' confirmation.
    const aliveAt = m.aliveAt();
    if (aliveAt !== this.heldSince) this.held = new Set();
    this.heldSince = aliveAt;
    const releases = m.releases();
    const mine: string[] = [];
    const waitingOn = new Set<string>();
    let waiting = 0;
    for (const a of this.ownership.ownedBy(self)) {
      if (!this.held.has(a)) {
        const holder = this.ownership.ownerWithout(a, self);
        if (holder !== undefined && this.live.has(holder) && !releases.has(holder)) {
          waitingOn.add(holder);
          waiting++;
          continue;
        }
      }
      mine.push(a);
    }
    for (const h of waitingOn) m.requestRelease(h);
    if (waitingOn.size > 0) this.opts.recheckAt(this.now() + RELEASE_RECHECK_MS);
    this.reconcile(catalog, mine, waiting);
    // Tell the nodes that took addresses from us that we stopped: they may answer now.
    for (const n of releasedTo) m.sendReleased(n);
  }

  private reconcile(catalog: AddressCatalog, mine: string[], waiting: number): void {
    const links = mine.length ? listLinks() : [];
    const desired: Announcement[] = [];
    const byService = new Map<string, ServiceAnnouncement>();
    for (const address of mine) {
      const entry = catalog.get(address);
      if (!entry?.l2) continue;
      const { selected, skipped } = selectInterfaces(links, {
        names: entry.l2.interfaces,
        ...(this.opts.excludeInterfaces ? { exclude: this.opts.excludeInterfaces } : {}),
      });
      if (selected.length === 0) {
        const why = JSON.stringify(skipped);
        if (this.noInterface.get(address) !== why) {
          this.noInterface.set(address, why);
          this.opts.log.warn({ address, skipped }, 'owner of the address, but no interface to answer on');
        }
        continue;
      }
      if (this.noInterface.delete(address))
        this.opts.log.info({ address }, 'an interface to answer on again');
      for (const link of selected) desired.push({ address, interface: link.name });
      for (const svc of entry.services) {
        let s = byService.get(svc);
        if (!s) {
          s = { service: svc, addresses: [], via: [] };
          byService.set(svc, s);
        }
        s.addresses.push(address);
        for (const l of selected) if (!s.via.includes(l.name)) s.via.push(l.name);
      }
    }
    const mineSet = new Set(mine);
    for (const a of this.noInterface.keys()) if (!mineSet.has(a)) this.noInterface.delete(a);
    const next = new Set(desired.map((d) => d.address));
    const acquired = [...next].filter((a) => !this.held.has(a));
    const released = [...this.held].filter((a) => !next.has(a));
    const { metrics, log } = this.opts;
    if (acquired.length) metrics.ownershipChanges.inc({ direction: 'acquired' }, acquired.length);
    if (released.length) metrics.ownershipChanges.inc({ direction: 'released' }, released.length);
    // One line per change, not per address: a node taking over thousands of addresses must not stall on
    // its own logging.
    const sample = (list: string[]) =>
      list.length > 20 ? [...list.slice(0, 20), `... ${list.length - 20} more`] : list;
    if (acquired.length)
      log.info(
        {
          count: acquired.length,
          address: sample(acquired),
          interfaces: [...new Set(desired.map((d) => d.interface))],
        },
        'answering for addresses',
      );
    if (released.length)
      log.info({ count: released.length, address: sample(released) }, 'no longer answering for addresses');
    if (waiting > 0 && acquired.length + released.length > 0)
      log.info({ waiting }, 'waiting for the current holders to release addresses');
    this.held = next;
    this.opts.l2.reconcile(desired, links);
    metrics.announcedAddresses.set({ protocol: 'l2' }, next.size);
    this.opts.status.setL2([...byService.values()]);
  }

  /**
   * A node asks whether this one still holds addresses it owns now: confirm at once if none is held (the
   * release already happened, or this node never held them); otherwise the apply that lets them go
   * confirms.
   */
  answerReleaseRequest(node: string): void {
    for (const a of this.held) if (this.ownership.owner(a) === node) return;
    this.opts.membership.sendReleased(node);
  }

  /** Stops answering everything at once (leaving). */
  clear(): void {
    this.held = new Set();
    this.opts.l2.reconcile([]);
  }
}
