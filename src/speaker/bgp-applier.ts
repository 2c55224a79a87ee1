/**
 * BGP mode for this node: one session per BGPPeer that selects it (settings, MD5 password from its Secret,
 * followed as it rotates, BFD from its profile) and on each session exactly the routes the catalog gives
 * this node. A peer that cannot have a session (no router ID on an IPv6-only node, an unreadable password
 * Secret, settings the session refuses) gets a BGPSessionState row saying why; the other peers go on. A
 * route whose advertisement names a community without a value is not announced at all. Membership
 * does not enter here: in BGP mode every eligible node announces, and a dead node's routes leave the
 * router with its session. Only a node cut off from both its peers and the API server withdraws.
 */
import { isIPv4 } from 'node:net';
import type { V1Node } from '@kubernetes/client-node';
import type { BFDProfile, BGPPeer } from '../api/types.ts';
import type { KubeRest } from '../k8s/rest.ts';
import { selectorsAllow } from '../labels/selector.ts';
import type { Logger } from '../log.ts';
import { BgpAnnouncer, type DesiredRoute, type PeerConfig } from './bgp-announcer.ts';
import type { AddressCatalog } from './catalog.ts';
import type { SpeakerMetrics } from './metrics.ts';
import { PeerSecrets } from './peer-secrets.ts';
import type { ServiceAnnouncement, StatusWriter } from './status-writer.ts';

export interface BgpApplierOptions {
  rest: KubeRest;
  node: string;
  namespace: string;
  log: Logger;
  metrics: SpeakerMetrics;
  status: StatusWriter;
  /** Something the sessions depend on outside the informers changed (a password Secret): apply again. */
  onChange(): void;
}

export function nodeAddress(node: V1Node | undefined): string | undefined {
  const addrs = node?.status?.addresses ?? [];
  return (
    addrs.find((a) => a.type === 'InternalIP')?.address ?? addrs.find((a) => a.type === 'ExternalIP')?.address
  );
}

/** The BGP identifier of a peer's sessions: its routerID, else the node's IPv4 address. */
function routerIdOf(spec: BGPPeer['spec'], node: string, me: V1Node | undefined): string | { error: string } {
  if (spec.routerID) return spec.routerID;
  const addrs = me?.status?.addresses ?? [];
  const v4 =
    addrs.find((a) => a.type === 'InternalIP' && isIPv4(a.address))?.address ??
    addrs.find((a) => a.type === 'ExternalIP' && isIPv4(a.address))?.address ??
    addrs.find((a) => isIPv4(a.address))?.address;
  if (v4) return v4;
  return {
    error: me
      ? `no router ID: node ${node} has no IPv4 address to take it from (IPv6-only); set spec.routerID to an IPv4 address unique among the router's peers`
      : `no router ID: node ${node} is not known yet; set spec.routerID or wait for the Node object`,
  };
}

interface Contribution {
  route: DesiredRoute;
  withheld: string | undefined;
  services: Set<string>;
}

export class BgpApplier {
  private readonly opts: BgpApplierOptions;
  private readonly announcer: BgpAnnouncer;
  private readonly secrets: PeerSecrets;
  private readonly warnedProfiles = new Set<string>();
  /** BGPAdvertisements whose routes are withheld, as last logged. */
  private withheldAds = new Map<string, string>();

  constructor(opts: BgpApplierOptions) {
    this.opts = opts;
    this.announcer = new BgpAnnouncer({
      node: opts.node,
      routerId: '0.0.0.0',
      restarted: true,
      log: opts.log,
      metrics: opts.metrics,
      onStateChange: () => {
        opts.metrics.bgpSessionsUp.set(this.announcer.established());
        opts.status.setSessions(this.announcer.states());
      },
    });
    this.secrets = new PeerSecrets({ rest: opts.rest, log: opts.log, onChange: () => opts.onChange() });
  }

  /**
   * The session settings of one peer, or why it may not have a session; undefined while its password
   * Secret is read for the first time.
   */
  private peerConfig(
    p: BGPPeer,
    me: V1Node | undefined,
    bfdProfiles: (name: string) => BFDProfile | undefined,
  ): PeerConfig | undefined {
    const name = p.metadata.name ?? '';
    const spec = { ...p.spec };
    const config: PeerConfig = { name, spec };
    const id = routerIdOf(spec, this.opts.node, me);
    if (typeof id === 'object') return { ...config, refused: id.error };
    spec.routerID = id;
    if (spec.password) config.password = spec.password;
    const ref = spec.passwordSecret;
    if (ref) {
      const found = this.secrets.lookup(ref.namespace ?? this.opts.namespace, ref.name);
      if ('pending' in found) return undefined;
      if ('error' in found) return { ...config, refused: found.error };
      config.password = found.password;
      if (found.warning) config.warning = found.warning;
    }
    const bfd = spec.bfdProfile ? bfdProfiles(spec.bfdProfile)?.spec : undefined;
    if (spec.bfdProfile && !bfd && !this.warnedProfiles.has(spec.bfdProfile)) {
      this.warnedProfiles.add(spec.bfdProfile);
      this.opts.log.warn(
        { peer: name, bfdProfile: spec.bfdProfile },
        'BFD profile not found; the session runs without BFD',
      );
    }
    if (bfd) config.bfd = bfd;
    return config;
  }

  /** Sessions for the peers that select this node, carrying exactly this node's routes. */
  async apply(
    catalog: AddressCatalog,
    peers: readonly BGPPeer[],
    bfdProfiles: (name: string) => BFDProfile | undefined,
    me: V1Node | undefined,
    connected: boolean,
  ): Promise<void> {
    const labels = me?.metadata?.labels ?? {};
    const mine = peers.filter((p) => selectorsAllow(p.spec?.nodeSelectors, labels));
    const configs: PeerConfig[] = [];
    for (const p of mine) {
      // One peer's trouble is that peer's: it gets a row saying why, the others go on.
      try {
        const c = this.peerConfig(p, me, bfdProfiles);
        if (c) configs.push(c);
      } catch (err) {
        configs.push({ name: p.metadata.name ?? '', spec: p.spec, refused: (err as Error).message });
      }
    }
    this.secrets.retain(
      new Set(
        mine.flatMap((p) =>
          p.spec.passwordSecret
            ? [`${p.spec.passwordSecret.namespace ?? this.opts.namespace}/${p.spec.passwordSecret.name}`]
            : [],
        ),
      ),
    );
    this.announcer.setPeers(connected ? configs : []);
    this.logWithheld(catalog.unresolvedCommunities());

    // Every advertisement that puts a prefix on a session adds its communities to it; when one of them
    // cannot say which communities it wants, the prefix does not go out on that session at all.
    const byPeer = new Map<string, Map<string, Contribution>>();
    let count = 0;
    if (connected) {
      for (const entry of catalog.all()) {
        if (entry.bgp.length === 0) continue;
        count++;
        for (const route of entry.bgp) {
          for (const peer of route.peers) {
            let routes = byPeer.get(peer);
            if (!routes) {
              routes = new Map();
              byPeer.set(peer, routes);
            }
            const c = routes.get(route.prefix);
            if (!c) {
              routes.set(route.prefix, {
                route: {
                  prefix: route.prefix,
                  communities: [...route.communities],
                  ...(route.localPref !== undefined ? { localPref: route.localPref } : {}),
                },
                withheld: route.withheld,
                services: new Set(entry.services),
              });
              continue;
            }
            for (const v of route.communities)
              if (!c.route.communities.includes(v)) c.route.communities.push(v);
            if (route.localPref !== undefined && route.localPref > (c.route.localPref ?? -1))
              c.route.localPref = route.localPref;
            c.withheld ??= route.withheld;
            for (const svc of entry.services) c.services.add(svc);
          }
        }
      }
    }
    const desired = new Map<string, DesiredRoute[]>();
    const statuses = new Map<string, ServiceAnnouncement>();
    for (const [peer, routes] of byPeer) {
      const list: DesiredRoute[] = [];
      for (const c of routes.values()) {
        if (c.withheld) continue;
        list.push(c.route);
        for (const svc of c.services) {
          const s = statuses.get(svc) ?? { service: svc, addresses: [], via: [], prefixes: [] };
          statuses.set(svc, s);
          if (!s.prefixes!.includes(c.route.prefix)) s.prefixes!.push(c.route.prefix);
          if (!s.via.includes(peer)) s.via.push(peer);
        }
      }
      desired.set(peer, list);
    }
    this.announcer.setRoutes(desired);
    this.opts.metrics.announcedAddresses.set({ protocol: 'bgp' }, count);
    this.opts.status.setBGP([...statuses.values()]);
  }

  /** Says when an advertisement's routes start being withheld, and when they no longer are. */
  private logWithheld(now: ReadonlyMap<string, string>): void {
    for (const [ad, reason] of now)
      if (this.withheldAds.get(ad) !== reason)
        this.opts.log.warn(
          { bgpAdvertisement: ad, reason },
          'BGPAdvertisement routes not announced: a community has no value',
        );
    for (const ad of this.withheldAds.keys())
      if (!now.has(ad))
        this.opts.log.info(
          { bgpAdvertisement: ad },
          'BGPAdvertisement communities resolved: routes announced',
        );
    this.withheldAds = new Map(now);
  }

  async stop(): Promise<void> {
    this.secrets.stop();
    await this.announcer.stop();
  }
}
