/**
 * Which route each BGP peer gets for each prefix, and what each Service's ServiceBGPStatus says, kept up to
 * date one address at a time. A changed address re-decides only its own prefixes (and the prefixes' other
 * addresses, when an aggregationLength puts several on one prefix) and only the Services using them; what
 * `take` returns is only what changed. Pure: no sessions, no API.
 *
 * Several advertisements (and, aggregated, several addresses) can put one prefix on one peer: the route
 * then carries the union of their communities and the highest localPref. When one of them cannot say
 * which communities it wants (a community name without a value), the prefix is withheld from that peer
 * altogether: it never goes out without communities the user configured.
 */
import type { DesiredRoute } from './bgp-announcer.ts';
import type { AddressEntry, BgpRoute } from './catalog.ts';

export interface ServiceBgp {
  prefixes: string[];
  peers: string[];
}

export interface PlanChanges {
  /** (peer, prefix) pairs to take off the wire: send these first. */
  withdrawals: { peer: string; prefix: string }[];
  /** Routes new on a peer, or with changed attributes. */
  announcements: { peer: string; route: DesiredRoute }[];
  /** Services whose status changed: what it says now (undefined: nothing announced for it). */
  services: Map<string, ServiceBgp | undefined>;
}

interface Decided {
  route: DesiredRoute;
  key: string;
}

function addTo<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set) set.add(value);
  else map.set(key, new Set([value]));
}

function removeFrom<K, V>(map: Map<K, Set<V>>, key: K, value: V): void {
  const set = map.get(key);
  if (set?.delete(value) && set.size === 0) map.delete(key);
}

export class BgpPlan {
  /** Address -> its routes and Services, for addresses with at least one route. */
  private readonly addresses = new Map<
    string,
    { routes: readonly BgpRoute[]; services: readonly string[] }
  >();
  /** Prefix -> addresses with a route for it. */
  private readonly users = new Map<string, Set<string>>();
  /** Service -> its addresses that have routes. */
  private readonly serviceAddresses = new Map<string, Set<string>>();
  /** Prefix -> peer -> the route that peer has been given. */
  private readonly decided = new Map<string, Map<string, Decided>>();
  /** Service -> its status as last returned, serialized. */
  private readonly statusKeys = new Map<string, string>();
  private readonly dirtyPrefixes = new Set<string>();
  private readonly dirtyServices = new Set<string>();
  private connected = true;

  /** Whether `take` has anything to decide. */
  get pending(): boolean {
    return this.dirtyPrefixes.size > 0 || this.dirtyServices.size > 0;
  }

  /** Addresses this node announces (has at least one route for), while it may announce. */
  get announcedAddresses(): number {
    return this.connected ? this.addresses.size : 0;
  }

  /** The catalog's entry for `address` changed (undefined: the address is gone). */
  setAddress(address: string, entry: AddressEntry | undefined): void {
    const before = this.addresses.get(address);
    const routes = entry?.bgp ?? [];
    if (!before && routes.length === 0) return;
    if (
      before &&
      routes.length > 0 &&
      before.services.join() === entry!.services.join() &&
      JSON.stringify(before.routes) === JSON.stringify(routes)
    )
      return;
    if (before) {
      for (const r of before.routes) {
        removeFrom(this.users, r.prefix, address);
        this.dirtyPrefixes.add(r.prefix);
      }
      for (const s of before.services) {
        removeFrom(this.serviceAddresses, s, address);
        this.dirtyServices.add(s);
      }
      this.addresses.delete(address);
    }
    if (routes.length === 0) return;
    this.addresses.set(address, { routes, services: entry!.services });
    for (const r of routes) {
      addTo(this.users, r.prefix, address);
      this.dirtyPrefixes.add(r.prefix);
    }
    for (const s of entry!.services) {
      addTo(this.serviceAddresses, s, address);
      this.dirtyServices.add(s);
    }
  }

  /**
   * Whether this node may announce at all (it is not cut off from both its peers and the API server).
   * Flipping it re-decides everything: every route goes, or comes back.
   */
  setConnected(connected: boolean): void {
    if (connected === this.connected) return;
    this.connected = connected;
    for (const p of this.users.keys()) this.dirtyPrefixes.add(p);
    for (const p of this.decided.keys()) this.dirtyPrefixes.add(p);
    for (const s of this.serviceAddresses.keys()) this.dirtyServices.add(s);
    for (const s of this.statusKeys.keys()) this.dirtyServices.add(s);
  }

  /** Decides what changed since the last call. */
  take(): PlanChanges {
    const out: PlanChanges = { withdrawals: [], announcements: [], services: new Map() };
    for (const prefix of this.dirtyPrefixes) {
      const next = this.decide(prefix);
      const before = this.decided.get(prefix);
      for (const peer of before?.keys() ?? []) if (!next.has(peer)) out.withdrawals.push({ peer, prefix });
      for (const [peer, d] of next)
        if (before?.get(peer)?.key !== d.key) out.announcements.push({ peer, route: d.route });
      if (next.size) this.decided.set(prefix, next);
      else this.decided.delete(prefix);
      // The prefix's other users: a route withheld or released because of one address is theirs too.
      for (const a of this.users.get(prefix) ?? [])
        for (const s of this.addresses.get(a)!.services) this.dirtyServices.add(s);
    }
    this.dirtyPrefixes.clear();
    for (const service of this.dirtyServices) {
      const status = this.status(service);
      const key = status ? JSON.stringify(status) : undefined;
      if (key === this.statusKeys.get(service)) continue;
      if (key) this.statusKeys.set(service, key);
      else this.statusKeys.delete(service);
      out.services.set(service, status);
    }
    this.dirtyServices.clear();
    return out;
  }

  /** The route each peer gets for `prefix` now (none for a peer it is withheld from). */
  private decide(prefix: string): Map<string, Decided> {
    const merged = new Map<string, { communities: Set<string>; localPref?: number; withheld: boolean }>();
    if (this.connected)
      for (const a of this.users.get(prefix) ?? [])
        for (const r of this.addresses.get(a)!.routes) {
          if (r.prefix !== prefix) continue;
          for (const peer of r.peers) {
            let m = merged.get(peer);
            if (!m) {
              m = { communities: new Set(), withheld: false };
              merged.set(peer, m);
            }
            for (const c of r.communities) m.communities.add(c);
            if (r.localPref !== undefined && r.localPref > (m.localPref ?? -1)) m.localPref = r.localPref;
            if (r.withheld) m.withheld = true;
          }
        }
    const out = new Map<string, Decided>();
    for (const [peer, m] of merged) {
      if (m.withheld) continue;
      const route: DesiredRoute = {
        prefix,
        communities: [...m.communities].sort(),
        ...(m.localPref !== undefined ? { localPref: m.localPref } : {}),
      };
      out.set(peer, { route, key: JSON.stringify([route.communities, route.localPref]) });
    }
    return out;
  }

  private status(service: string): ServiceBgp | undefined {
    const prefixes = new Set<string>();
    const peers = new Set<string>();
    for (const a of this.serviceAddresses.get(service) ?? [])
      for (const r of this.addresses.get(a)!.routes) {
        const d = this.decided.get(r.prefix);
        for (const peer of r.peers)
          if (d?.has(peer)) {
            prefixes.add(r.prefix);
            peers.add(peer);
          }
      }
    if (prefixes.size === 0) return undefined;
    return { prefixes: [...prefixes].sort(), peers: [...peers].sort() };
  }
}
