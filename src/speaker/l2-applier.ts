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
import { Handover } from './handover.ts';
import type { SpeakerMetrics } from './metrics.ts';
import { Ownership } from './ownership.ts';
import type { ServiceAnnouncement, StatusWriter } from './status-writer.ts';

export interface L2Membership {
  candidates(): ReadonlySet<string>;
  /** When this node became alive in its current incarnation; undefined while it is not. */
  aliveAt(): number | undefined;
  releases(): ReadonlySet<string>;
  /** See HandoverMembership.fallbackHolders. */
  fallbackHolders?(): ReadonlySet<string>;
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
  private readonly handover: Handover;
  /** Interfaces that could not be selected, by address, so each problem is logged once. */
  private readonly noInterface = new Map<string, string>();

  constructor(opts: L2ApplierOptions) {
    this.opts = opts;
    this.now = opts.now ?? (() => performance.now());
    this.handover = new Handover(this.ownership, opts.node);
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
    const d = this.handover.decide(m);
    for (const h of d.waitingOn) m.requestRelease(h);
    if (d.waitingOn.size > 0) this.opts.recheckAt(this.now() + RELEASE_RECHECK_MS);
    this.reconcile(catalog, d.mine, d.waiting);
    // Tell the nodes that took addresses from us that we stopped: they may answer now.
    for (const n of d.releasedTo) m.sendReleased(n);
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
    const held = this.handover.heldAddresses();
    const acquired = [...next].filter((a) => !held.has(a));
    const released = [...held].filter((a) => !next.has(a));
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
    this.handover.setHeld(next);
    this.opts.l2.reconcile(desired, links);
    metrics.announcedAddresses.set({ protocol: 'l2' }, next.size);
    metrics.setL2Owned(next);
    this.opts.status.setL2([...byService.values()]);
  }

  /**
   * A node asks whether this one still holds addresses it owns now: confirm at once if none is held (the
   * release already happened, or this node never held them); otherwise the apply that lets them go
   * confirms.
   */
  answerReleaseRequest(node: string): void {
    if (this.handover.mayConfirm(node)) this.opts.membership.sendReleased(node);
  }

  /** Stops answering everything at once (leaving). */
  clear(): void {
    this.handover.setHeld(new Set());
    this.opts.l2.reconcile([]);
  }
}
