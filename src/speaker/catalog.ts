/**
 * What each Service address asks of the speakers, kept up to date one change at a time: which nodes may
 * answer for it in L2 mode (and on which interfaces), and which routes this node announces for it over
 * BGP. Who among the eligible nodes actually answers is the ownership table's job (ownership.ts), fed
 * with live nodes by the membership.
 *
 * A Service or EndpointSlice change recomputes only the addresses of that Service; a change to the
 * configuration (pools, advertisements, peers, communities, nodes) recomputes every address, but without
 * any hashing, and eligibility sets are shared and reused, so the ownership table re-scores only addresses
 * whose eligible nodes really changed. The pool of an address is the one the controller recorded on the
 * Service (beacon.dev/ip-allocated-from-pool): the controller is the source of truth for assignments.
 */
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import { CommunityResolver } from '../api/communities.ts';
import type {
  BGPAdvertisement,
  BGPPeer,
  Community,
  IPAddressPool,
  L2Advertisement,
  LabelSelector,
} from '../api/types.ts';
import { formatAddress, parseAddress } from '../ipam/address.ts';
import { compilePool, type Pool, poolContains } from '../ipam/pool.ts';
import { type Labels, matchesSelector, selectorsAllow } from '../labels/selector.ts';

export const EXCLUDE_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';
export const POOL_ANNOTATION = 'beacon.dev/ip-allocated-from-pool';

export interface CatalogConfig {
  nodes: readonly V1Node[];
  pools: readonly IPAddressPool[];
  l2Advertisements: readonly L2Advertisement[];
  bgpAdvertisements: readonly BGPAdvertisement[];
  bgpPeers: readonly BGPPeer[];
  communities: readonly Community[];
}

export interface L2Entry {
  /** Nodes that may answer (before liveness): shared between addresses with the same answer. */
  eligible: ReadonlySet<string>;
  /** Interfaces to answer on (empty: every suitable interface). */
  interfaces: string[];
  /** Why no node may answer, when none may. */
  reason?: string;
}

export interface BgpRoute {
  prefix: string;
  /** BGPPeer names this node announces the prefix to. */
  peers: string[];
  /** Literal communities ("AS:value", "large:g:l1:l2"), names resolved. */
  communities: string[];
  localPref?: number;
  /**
   * Why the route must not be announced although it is wanted: a community of its advertisement has no
   * value. It is kept (not dropped) so that the same prefix from another advertisement does not go out
   * without this one's communities either.
   */
  withheld?: string;
}

export interface AddressEntry {
  address: string;
  /** Services using it, "namespace/name", sorted. */
  services: string[];
  pool: string | undefined;
  l2: L2Entry | undefined;
  /** Routes this node announces for the address (none when it may not). */
  bgp: BgpRoute[];
}

interface CompiledPool {
  name: string;
  labels: Labels;
  pool: Pool;
}

function key(o: { metadata?: { namespace?: string; name?: string } }): string {
  return `${o.metadata?.namespace}/${o.metadata?.name}`;
}

function poolSelected(
  ad: { spec?: { ipAddressPools?: string[]; ipAddressPoolSelectors?: LabelSelector[] } },
  pool: CompiledPool,
): boolean {
  const names = ad.spec?.ipAddressPools ?? [];
  const selectors = ad.spec?.ipAddressPoolSelectors ?? [];
  if (names.length === 0 && selectors.length === 0) return true;
  if (names.includes(pool.name)) return true;
  return selectors.some((s) => matchesSelector(s, pool.labels));
}

function maskedPrefix(address: string, length: number): string {
  const a = parseAddress(address)!;
  const host = BigInt((a.family === 4 ? 32 : 128) - length);
  return `${formatAddress({ ...a, value: (a.value >> host) << host })}/${length}`;
}

function nodeUsable(n: V1Node): boolean {
  if (EXCLUDE_LABEL in (n.metadata?.labels ?? {})) return false;
  return !(n.status?.conditions ?? []).some((c) => c.type === 'NetworkUnavailable' && c.status === 'True');
}

export class AddressCatalog {
  private readonly self: string;
  private readonly serves: (svc: V1Service) => boolean;
  private readonly services = new Map<string, V1Service>();
  private readonly serviceAddresses = new Map<string, string[]>();
  private readonly users = new Map<string, Set<string>>();
  private readonly slices = new Map<string, { service: string; nodes: Set<string> }>();
  /** Service -> keys of its EndpointSlices, so a slice event reads only its own Service's slices. */
  private readonly slicesOf = new Map<string, Set<string>>();
  private readonly serving = new Map<string, Set<string>>();
  private readonly entries = new Map<string, AddressEntry>();
  private config: CatalogConfig = {
    nodes: [],
    pools: [],
    l2Advertisements: [],
    bgpAdvertisements: [],
    bgpPeers: [],
    communities: [],
  };
  private pools: CompiledPool[] = [];
  private usable = new Map<string, Labels>();
  /** Each BGPAdvertisement's communities, names resolved to values. */
  private adCommunities = new Map<string, string[]>();
  /** BGPAdvertisements with a community that has no value, and why. */
  private unresolved = new Map<string, string>();
  /** Eligible sets by their sorted members, so that equal sets are the same object. */
  private readonly sets = new Map<string, ReadonlySet<string>>();
  /** Nodes an advertisement combination selects, by the combination's names. */
  private selectedByAds = new Map<string, string[]>();

  constructor(self: string, serves: (svc: V1Service) => boolean) {
    this.self = self;
    this.serves = serves;
  }

  get(address: string): AddressEntry | undefined {
    return this.entries.get(address);
  }

  all(): IterableIterator<AddressEntry> {
    return this.entries.values();
  }

  get size(): number {
    return this.entries.size;
  }

  /** BGPAdvertisements whose routes are withheld because a community name has no value, with the reason. */
  unresolvedCommunities(): ReadonlyMap<string, string> {
    return this.unresolved;
  }

  /** New configuration: every address is described again. Returns the addresses whose entry changed. */
  setConfig(config: CatalogConfig): string[] {
    this.config = config;
    this.pools = [];
    for (const p of config.pools) {
      const c = compilePool({
        name: p.metadata.name ?? '',
        addresses: p.spec?.addresses ?? [],
        autoAssign: true,
        avoidBuggyIPs: false,
      });
      if (c.ok)
        this.pools.push({ name: p.metadata.name ?? '', labels: p.metadata.labels ?? {}, pool: c.pool });
    }
    this.usable = new Map();
    for (const n of config.nodes)
      if (nodeUsable(n)) this.usable.set(n.metadata?.name ?? '', n.metadata?.labels ?? {});
    const resolver = new CommunityResolver(config.communities);
    this.adCommunities = new Map();
    this.unresolved = new Map();
    for (const ad of config.bgpAdvertisements) {
      const { values, problems } = resolver.resolveAll(ad.spec?.communities ?? []);
      this.adCommunities.set(ad.metadata.name ?? '', values);
      if (problems.length) this.unresolved.set(ad.metadata.name ?? '', problems.join('; '));
    }
    this.selectedByAds = new Map();
    return this.describeAll([...this.users.keys(), ...this.entries.keys()]);
  }

  /** A Service added, changed (`svc`) or deleted (undefined). Returns the addresses whose entry changed. */
  setService(serviceKey: string, svc: V1Service | undefined): string[] {
    const before = this.serviceAddresses.get(serviceKey) ?? [];
    const after =
      svc && this.serves(svc)
        ? [
            ...new Set(
              (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((ip): ip is string => !!ip),
            ),
          ]
        : [];
    if (svc && after.length) this.services.set(serviceKey, svc);
    else this.services.delete(serviceKey);
    for (const a of before) this.users.get(a)?.delete(serviceKey);
    for (const a of after) {
      let u = this.users.get(a);
      if (!u) {
        u = new Set();
        this.users.set(a, u);
      }
      u.add(serviceKey);
    }
    if (after.length) this.serviceAddresses.set(serviceKey, after);
    else this.serviceAddresses.delete(serviceKey);
    return this.describeAll([...before, ...after]);
  }

  /** An EndpointSlice added, changed or deleted: the nodes with a serving endpoint of its Service. */
  setSlice(sliceKey: string, slice: V1EndpointSlice | undefined): string[] {
    const old = this.slices.get(sliceKey);
    const name = slice?.metadata?.labels?.['kubernetes.io/service-name'];
    const service = slice && name ? `${slice.metadata?.namespace}/${name}` : undefined;
    if (old) {
      const keys = this.slicesOf.get(old.service);
      if (keys?.delete(sliceKey) && keys.size === 0) this.slicesOf.delete(old.service);
    }
    if (service) {
      const nodes = new Set<string>();
      for (const ep of slice!.endpoints ?? []) {
        const c = ep.conditions ?? {};
        // ready unset means ready; serving covers endpoints that are terminating but still serve.
        if ((c.ready !== false || c.serving === true) && ep.nodeName) nodes.add(ep.nodeName);
      }
      this.slices.set(sliceKey, { service, nodes });
      let keys = this.slicesOf.get(service);
      if (!keys) {
        keys = new Set();
        this.slicesOf.set(service, keys);
      }
      keys.add(sliceKey);
    } else this.slices.delete(sliceKey);
    const touched = new Set<string>();
    for (const s of [old?.service, service]) {
      if (!s) continue;
      const nodes = new Set<string>();
      for (const k of this.slicesOf.get(s) ?? []) for (const n of this.slices.get(k)!.nodes) nodes.add(n);
      const prev = this.serving.get(s);
      if (prev && prev.size === nodes.size && [...nodes].every((n) => prev.has(n))) continue;
      if (nodes.size) this.serving.set(s, nodes);
      else this.serving.delete(s);
      for (const a of this.serviceAddresses.get(s) ?? []) touched.add(a);
    }
    return this.describeAll([...touched]);
  }

  private describeAll(addresses: Iterable<string>): string[] {
    const changed: string[] = [];
    for (const a of new Set(addresses)) {
      const next = this.describe(a);
      const prev = this.entries.get(a);
      if (!next) {
        if (prev) {
          this.entries.delete(a);
          changed.push(a);
        }
        continue;
      }
      if (prev && sameEntry(prev, next)) continue;
      this.entries.set(a, next);
      changed.push(a);
    }
    return changed;
  }

  private sharedSet(nodes: string[]): ReadonlySet<string> {
    const k = nodes.sort().join('\n');
    let s = this.sets.get(k);
    if (!s) {
      s = new Set(nodes);
      if (this.sets.size > 10_000) this.sets.clear();
      this.sets.set(k, s);
    }
    return s;
  }

  /** Usable nodes that one of the advertisements selects, cached per combination of advertisements. */
  private nodesSelectedBy(ads: readonly L2Advertisement[]): string[] {
    const k = ads.map((a) => a.metadata.name ?? '').join('\n');
    let out = this.selectedByAds.get(k);
    if (!out) {
      out = [];
      for (const [n, labels] of this.usable)
        if (ads.some((a) => selectorsAllow(a.spec?.nodeSelectors, labels))) out.push(n);
      this.selectedByAds.set(k, out);
    }
    return out;
  }

  private poolOf(family: 4 | 6, value: bigint, services: V1Service[]): CompiledPool | undefined {
    const recorded = new Set<string>();
    for (const s of services)
      for (const p of (s.metadata?.annotations?.[POOL_ANNOTATION] ?? '').split(',')) if (p) recorded.add(p);
    const byRecord = this.pools.filter((p) => recorded.has(p.name));
    if (byRecord.length === 1) return byRecord[0];
    const among = byRecord.length > 1 ? byRecord : this.pools;
    return among.find((p) => poolContains(p.pool, family, value));
  }

  private describe(address: string): AddressEntry | undefined {
    const keys = [...(this.users.get(address) ?? [])].sort();
    if (keys.length === 0) return undefined;
    const parsed = parseAddress(address);
    if (!parsed) return undefined;
    const services = keys.map((k) => this.services.get(k)!).filter(Boolean);
    const pool = this.poolOf(parsed.family, parsed.value, services);
    // Nodes that may carry the traffic: any node for Cluster; for Local, nodes with a serving endpoint of
    // one of the Services (Services sharing an address under Local have equal selectors).
    const local = services.some((s) => s.spec?.externalTrafficPolicy === 'Local');
    const withEndpoints = new Set<string>();
    for (const k of keys) for (const n of this.serving.get(k) ?? []) withEndpoints.add(n);
    const noEndpoints = withEndpoints.size === 0;
    const carries = (n: string) => this.usable.has(n) && (!local || withEndpoints.has(n));

    let l2: L2Entry | undefined;
    const l2Ads = pool ? this.config.l2Advertisements.filter((a) => poolSelected(a, pool)) : [];
    if (l2Ads.length > 0) {
      const selected = this.nodesSelectedBy(l2Ads);
      const eligible = noEndpoints
        ? []
        : local
          ? selected.filter((n) => withEndpoints.has(n))
          : [...selected];
      const interfaces = [...new Set(l2Ads.flatMap((a) => a.spec?.interfaces ?? []))].sort();
      l2 = { eligible: this.sharedSet(eligible), interfaces };
      if (eligible.length === 0) {
        l2.reason = noEndpoints
          ? 'no Service using it has a serving endpoint'
          : local
            ? 'no selected node has a serving endpoint (externalTrafficPolicy: Local)'
            : 'no usable node that an L2Advertisement selects';
      }
    }

    const bgp: BgpRoute[] = [];
    const selfLabels = this.usable.get(this.self);
    if (pool && !noEndpoints && selfLabels && carries(this.self)) {
      for (const ad of this.config.bgpAdvertisements) {
        if (!poolSelected(ad, pool) || !selectorsAllow(ad.spec?.nodeSelectors, selfLabels)) continue;
        const peers = this.config.bgpPeers
          .filter(
            (p) =>
              selectorsAllow(p.spec?.nodeSelectors, selfLabels) &&
              (!ad.spec?.peers?.length || ad.spec.peers.includes(p.metadata.name ?? '')),
          )
          .map((p) => p.metadata.name ?? '')
          .sort();
        if (peers.length === 0) continue;
        const length =
          parsed.family === 4 ? (ad.spec?.aggregationLength ?? 32) : (ad.spec?.aggregationLengthV6 ?? 128);
        const route: BgpRoute = {
          prefix: maskedPrefix(address, length),
          peers,
          communities: this.adCommunities.get(ad.metadata.name ?? '') ?? [],
        };
        if (ad.spec?.localPref !== undefined) route.localPref = ad.spec.localPref;
        const unresolved = this.unresolved.get(ad.metadata.name ?? '');
        if (unresolved) route.withheld = `BGPAdvertisement ${ad.metadata.name}: ${unresolved}`;
        bgp.push(route);
      }
    }
    return { address, services: keys, pool: pool?.name, l2, bgp };
  }
}

function sameEntry(a: AddressEntry, b: AddressEntry): boolean {
  return (
    a.pool === b.pool &&
    a.services.join() === b.services.join() &&
    a.l2?.eligible === b.l2?.eligible &&
    a.l2?.interfaces.join() === b.l2?.interfaces.join() &&
    a.l2?.reason === b.l2?.reason &&
    JSON.stringify(a.bgp) === JSON.stringify(b.bgp)
  );
}

export function serviceKey(o: { metadata?: { namespace?: string; name?: string } }): string {
  return key(o);
}
