/**
 * BGP mode for this node: one session per BGPPeer that selects it (settings, MD5 password from its Secret,
 * followed as it rotates, BFD from its profile) and on each session exactly the routes the catalog gives
 * this node. A peer that cannot have a session (no router ID on an IPv6-only node, an unreadable password
 * Secret, settings the session refuses) gets a BGPSessionState row saying why; the other peers go on. A
 * route whose advertisement names a community without a value is not announced at all. Membership
 * does not enter here: in BGP mode every eligible node announces, and a dead node's routes leave the
 * router with its session. Only a node cut off from both its peers and the API server withdraws.
 *
 * Work follows changes: the sessions are looked at again only when their configuration may have changed,
 * and a changed address re-decides only its own prefixes (bgp-plan.ts). What changed goes to the wire at
 * once, withdrawals first; the ServiceBGPStatus writes it causes follow (status-writer.ts).
 */
import { isIPv4 } from 'node:net';
import type { V1Node } from '@kubernetes/client-node';
import type { BFDProfile, BGPPeer } from '../api/types.ts';
import type { KubeRest } from '../k8s/rest.ts';
import { selectorsAllow } from '../labels/selector.ts';
import type { Logger } from '../log.ts';
import { BgpAnnouncer, type PeerConfig } from './bgp-announcer.ts';
import { BgpPlan } from './bgp-plan.ts';
import type { AddressCatalog } from './catalog.ts';
import type { SpeakerMetrics } from './metrics.ts';
import { PeerSecrets } from './peer-secrets.ts';
import type { StatusWriter } from './status-writer.ts';

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

export class BgpApplier {
  private readonly opts: BgpApplierOptions;
  private readonly announcer: BgpAnnouncer;
  private readonly secrets: PeerSecrets;
  private readonly plan = new BgpPlan();
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

  /** Takes in catalog changes for these addresses: only their prefixes are decided again. */
  addressesChanged(catalog: AddressCatalog, addresses: Iterable<string>): void {
    for (const a of addresses) this.plan.setAddress(a, catalog.get(a));
  }

  /** Whether route changes wait for `apply`. */
  get pending(): boolean {
    return this.plan.pending;
  }

  /**
   * With `sessions`, the sessions for the peers that select this node are looked at again (their
   * configuration may have changed); then the routes that changed go to the wire, withdrawals first, and
   * the statuses of the Services they belong to are updated.
   */
  async apply(
    catalog: AddressCatalog,
    peers: readonly BGPPeer[],
    bfdProfiles: (name: string) => BFDProfile | undefined,
    me: V1Node | undefined,
    connected: boolean,
    sessions: boolean,
  ): Promise<void> {
    if (sessions) {
      this.applySessions(peers, bfdProfiles, me, connected);
      this.logWithheld(catalog.unresolvedCommunities());
    }
    this.plan.setConnected(connected);
    if (!this.plan.pending) return;
    const changes = this.plan.take();
    for (const w of changes.withdrawals) this.announcer.withdraw(w.peer, w.prefix);
    for (const a of changes.announcements) this.announcer.announce(a.peer, a.route);
    this.announcer.flush();
    this.opts.metrics.announcedAddresses.set({ protocol: 'bgp' }, this.plan.announcedAddresses);
    for (const [service, status] of changes.services) this.opts.status.setBGP(service, status);
  }

  /** One session per peer that selects this node, with its current settings; none when cut off. */
  private applySessions(
    peers: readonly BGPPeer[],
    bfdProfiles: (name: string) => BFDProfile | undefined,
    me: V1Node | undefined,
    connected: boolean,
  ): void {
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
