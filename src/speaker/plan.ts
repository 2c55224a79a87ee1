/**
 * What every speaker should announce, computed from the cluster's state alone (DESIGN.md section 4). Each
 * speaker runs the same computation on the same inputs and so agrees, without talking, on one L2 owner per
 * address and on the set of BGP announcers. Pure: the caller gathers the inputs from its caches.
 */
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import { servedByBeacon } from '../api/load-balancer-class.ts';
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
import { electOwner } from './election.ts';

export const EXCLUDE_LABEL = 'node.kubernetes.io/exclude-from-external-load-balancers';

export interface PlanInputs {
  services: readonly V1Service[];
  endpointSlices: readonly V1EndpointSlice[];
  nodes: readonly V1Node[];
  pools: readonly IPAddressPool[];
  l2Advertisements: readonly L2Advertisement[];
  bgpAdvertisements: readonly BGPAdvertisement[];
  bgpPeers: readonly BGPPeer[];
  communities: readonly Community[];
  /** Nodes whose speaker is alive (membership view). */
  liveSpeakers: ReadonlySet<string>;
  /** Only Services of this class (or none, unless classOnly) are Beacon's. */
  loadBalancerClass: string;
  classOnly?: boolean;
}

export interface L2Assignment {
  address: string;
  /** The node that answers ARP/NDP for the address, undefined when no node may. */
  owner: string | undefined;
  /** Interfaces the owner answers on (empty: every suitable interface). */
  interfaces: string[];
  /** Services using the address, "namespace/name". */
  services: string[];
  /** Why no node owns it, when none does. */
  reason?: string;
}

export interface BGPRoute {
  /** The Service address. */
  address: string;
  /** The announced prefix (address masked to the aggregation length). */
  prefix: string;
  services: string[];
  /** Nodes announcing it. */
  nodes: string[];
  /** BGPPeer names to announce it to, per node. */
  peersByNode: Map<string, string[]>;
  communities: string[];
  localPref?: number;
}

export interface Plan {
  l2: L2Assignment[];
  bgp: BGPRoute[];
}

function nodeLabels(n: V1Node): Labels {
  return n.metadata?.labels ?? {};
}

/** A node that can take external traffic at all. */
function nodeUsable(n: V1Node): boolean {
  if (EXCLUDE_LABEL in nodeLabels(n)) return false;
  return !(n.status?.conditions ?? []).some((c) => c.type === 'NetworkUnavailable' && c.status === 'True');
}

/** Nodes with a serving endpoint of each Service ("namespace/name"). */
function servingNodes(slices: readonly V1EndpointSlice[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.['kubernetes.io/service-name'];
    if (!svc) continue;
    const key = `${s.metadata?.namespace}/${svc}`;
    let nodes = out.get(key);
    if (!nodes) {
      nodes = new Set();
      out.set(key, nodes);
    }
    for (const ep of s.endpoints ?? []) {
      const c = ep.conditions ?? {};
      // ready unset means ready; serving covers endpoints that are terminating but still serve.
      const serving = c.ready !== false || c.serving === true;
      if (serving && ep.nodeName) nodes.add(ep.nodeName);
    }
  }
  return out;
}

function poolSelected(
  ad: { spec?: { ipAddressPools?: string[]; ipAddressPoolSelectors?: LabelSelector[] } },
  pool: IPAddressPool,
): boolean {
  const names = ad.spec?.ipAddressPools ?? [];
  const selectors = ad.spec?.ipAddressPoolSelectors ?? [];
  if (names.length === 0 && selectors.length === 0) return true;
  if (names.includes(pool.metadata.name ?? '')) return true;
  return selectors.some((s) => matchesSelector(s, pool.metadata.labels ?? {}));
}

interface AddressUse {
  address: string;
  services: V1Service[];
}

/** Every address in Beacon's Services' status, with the Services that use it. */
function addressesInUse(inputs: PlanInputs): AddressUse[] {
  const byAddress = new Map<string, AddressUse>();
  for (const svc of inputs.services) {
    if (!servedByBeacon(svc, inputs)) continue;
    for (const ing of svc.status?.loadBalancer?.ingress ?? []) {
      if (!ing.ip) continue;
      let use = byAddress.get(ing.ip);
      if (!use) {
        use = { address: ing.ip, services: [] };
        byAddress.set(ing.ip, use);
      }
      use.services.push(svc);
    }
  }
  return [...byAddress.values()].sort((a, b) => (a.address < b.address ? -1 : 1));
}

function key(svc: V1Service): string {
  return `${svc.metadata?.namespace}/${svc.metadata?.name}`;
}

function maskedPrefix(address: string, length: number): string {
  const a = parseAddress(address)!;
  const host = BigInt((a.family === 4 ? 32 : 128) - length);
  return `${formatAddress({ ...a, value: (a.value >> host) << host })}/${length}`;
}

export function computePlan(inputs: PlanInputs): Plan {
  const pools: { spec: IPAddressPool; compiled: Pool }[] = [];
  for (const p of inputs.pools) {
    const c = compilePool({
      name: p.metadata.name ?? '',
      addresses: p.spec?.addresses ?? [],
      autoAssign: true,
      avoidBuggyIPs: false,
    });
    if (c.ok) pools.push({ spec: p, compiled: c.pool });
  }
  const nodes = inputs.nodes.filter((n) => nodeUsable(n) && inputs.liveSpeakers.has(n.metadata?.name ?? ''));
  const serving = servingNodes(inputs.endpointSlices);
  const communityAliases = new Map<string, string>();
  for (const c of inputs.communities)
    for (const e of c.spec?.communities ?? []) communityAliases.set(e.name, e.value);

  const plan: Plan = { l2: [], bgp: [] };
  for (const use of addressesInUse(inputs)) {
    const parsed = parseAddress(use.address);
    if (!parsed) continue;
    const pool = pools.find((p) => poolContains(p.compiled, parsed.family, parsed.value))?.spec;
    const services = use.services.map(key);
    // Nodes that may carry the traffic: any node for Cluster; for Local, nodes with a serving endpoint of
    // one of the Services (Services sharing an address under Local have equal selectors).
    const local = use.services.some((s) => s.spec?.externalTrafficPolicy === 'Local');
    const withEndpoints = new Set<string>();
    for (const s of use.services) for (const n of serving.get(key(s)) ?? []) withEndpoints.add(n);
    const trafficNodes = nodes.filter((n) => !local || withEndpoints.has(n.metadata?.name ?? ''));
    const noEndpoints = withEndpoints.size === 0;

    const l2Ads = pool ? inputs.l2Advertisements.filter((a) => poolSelected(a, pool)) : [];
    if (l2Ads.length > 0) {
      const candidates = new Map<string, number>();
      const interfaces = new Set<string>();
      for (const n of trafficNodes) {
        const ads = l2Ads.filter((a) => selectorsAllow(a.spec?.nodeSelectors, nodeLabels(n)));
        if (ads.length === 0) continue;
        candidates.set(n.metadata!.name!, 1);
      }
      for (const a of l2Ads) for (const i of a.spec?.interfaces ?? []) interfaces.add(i);
      const owner = noEndpoints ? undefined : electOwner(use.address, candidates);
      const entry: L2Assignment = {
        address: use.address,
        owner,
        interfaces: [...interfaces].sort(),
        services,
      };
      if (!owner) {
        entry.reason = noEndpoints
          ? 'no Service using it has a serving endpoint'
          : local
            ? 'no live, selected node has a serving endpoint (externalTrafficPolicy: Local)'
            : 'no live speaker on a node that an L2Advertisement selects';
      }
      plan.l2.push(entry);
    }

    const bgpAds = pool ? inputs.bgpAdvertisements.filter((a) => poolSelected(a, pool)) : [];
    if (noEndpoints) continue;
    for (const ad of bgpAds) {
      const length =
        parsed.family === 4 ? (ad.spec?.aggregationLength ?? 32) : (ad.spec?.aggregationLengthV6 ?? 128);
      const route: BGPRoute = {
        address: use.address,
        prefix: maskedPrefix(use.address, length),
        services,
        nodes: [],
        peersByNode: new Map(),
        communities: (ad.spec?.communities ?? []).map((c) => communityAliases.get(c) ?? c),
      };
      if (ad.spec?.localPref !== undefined) route.localPref = ad.spec.localPref;
      for (const n of trafficNodes) {
        if (!selectorsAllow(ad.spec?.nodeSelectors, nodeLabels(n))) continue;
        const peers = inputs.bgpPeers.filter(
          (p) =>
            selectorsAllow(p.spec?.nodeSelectors, nodeLabels(n)) &&
            (!ad.spec?.peers?.length || ad.spec.peers.includes(p.metadata.name ?? '')),
        );
        if (peers.length === 0) continue;
        route.nodes.push(n.metadata!.name!);
        route.peersByNode.set(n.metadata!.name!, peers.map((p) => p.metadata.name ?? '').sort());
      }
      if (route.nodes.length > 0) plan.bgp.push(route);
    }
  }
  return plan;
}
