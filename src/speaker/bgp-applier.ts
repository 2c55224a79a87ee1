/**
 * BGP mode for this node: one session per BGPPeer that selects it (settings, MD5 password from its Secret,
 * BFD from its profile) and on each session exactly the routes the catalog gives this node. Membership
 * does not enter here: in BGP mode every eligible node announces, and a dead node's routes leave the
 * router with its session. Only a node cut off from both its peers and the API server withdraws.
 */
import { isIPv4 } from 'node:net';
import type { V1Node, V1Secret } from '@kubernetes/client-node';
import type { BFDProfile, BGPPeer } from '../api/types.ts';
import type { KubeRest } from '../k8s/rest.ts';
import { selectorsAllow } from '../labels/selector.ts';
import type { Logger } from '../log.ts';
import { BgpAnnouncer, type DesiredRoute, type PeerConfig } from './bgp-announcer.ts';
import type { AddressCatalog } from './catalog.ts';
import type { SpeakerMetrics } from './metrics.ts';
import type { ServiceAnnouncement, StatusWriter } from './status-writer.ts';

export interface BgpApplierOptions {
  rest: KubeRest;
  node: string;
  namespace: string;
  log: Logger;
  metrics: SpeakerMetrics;
  status: StatusWriter;
}

export function nodeAddress(node: V1Node | undefined): string | undefined {
  const addrs = node?.status?.addresses ?? [];
  return (
    addrs.find((a) => a.type === 'InternalIP')?.address ?? addrs.find((a) => a.type === 'ExternalIP')?.address
  );
}

export class BgpApplier {
  private readonly opts: BgpApplierOptions;
  private readonly announcer: BgpAnnouncer;
  private readonly passwords = new Map<string, string>();
  private readonly warnedProfiles = new Set<string>();

  constructor(opts: BgpApplierOptions) {
    this.opts = opts;
    this.announcer = new BgpAnnouncer({
      node: opts.node,
      routerId: '0.0.0.0',
      restarted: true,
      log: opts.log,
      onStateChange: () => {
        opts.metrics.bgpSessionsUp.set(this.announcer.established());
        opts.status.setSessions(this.announcer.states());
      },
    });
  }

  /** A BGPPeer changed: its password Secret is read again. */
  peerChanged(): void {
    this.passwords.clear();
  }

  private async passwordOf(peer: BGPPeer): Promise<string | undefined> {
    if (peer.spec.password) return peer.spec.password;
    const ref = peer.spec.passwordSecret;
    if (!ref) return undefined;
    const ns = ref.namespace ?? this.opts.namespace;
    const key = `${ns}/${ref.name}`;
    if (!this.passwords.has(key)) {
      try {
        const s = await this.opts.rest.get<V1Secret>(`/api/v1/namespaces/${ns}/secrets/${ref.name}`);
        const p = s.data?.password;
        if (!p) throw new Error('it has no "password" key');
        this.passwords.set(key, Buffer.from(p, 'base64').toString('utf8'));
      } catch (err) {
        this.opts.log.error(
          { peer: peer.metadata.name, secret: key, err: (err as Error).message },
          'cannot read the BGP password',
        );
        return undefined;
      }
    }
    return this.passwords.get(key);
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
    const address = nodeAddress(me);
    const mine = peers.filter((p) => selectorsAllow(p.spec?.nodeSelectors, labels));
    const configs: PeerConfig[] = [];
    for (const p of mine) {
      const password = await this.passwordOf(p);
      if ((p.spec.password || p.spec.passwordSecret) && !password) continue;
      const spec = { ...p.spec };
      if (!spec.routerID) {
        const v4 =
          (me?.status?.addresses ?? []).find((a) => a.address && isIPv4(a.address))?.address ??
          (address && isIPv4(address) ? address : undefined);
        if (v4) spec.routerID = v4;
      }
      const bfd = spec.bfdProfile ? bfdProfiles(spec.bfdProfile)?.spec : undefined;
      if (spec.bfdProfile && !bfd && !this.warnedProfiles.has(spec.bfdProfile)) {
        this.warnedProfiles.add(spec.bfdProfile);
        this.opts.log.warn(
          { peer: p.metadata.name, bfdProfile: spec.bfdProfile },
          'BFD profile not found; the session runs without BFD',
        );
      }
      configs.push({
        name: p.metadata.name ?? '',
        spec,
        ...(password ? { password } : {}),
        ...(bfd ? { bfd } : {}),
      });
    }
    this.announcer.setPeers(connected ? configs : []);
    const byPeer = new Map<string, DesiredRoute[]>();
    const statuses = new Map<string, ServiceAnnouncement>();
    let count = 0;
    if (connected) {
      for (const entry of catalog.all()) {
        if (entry.bgp.length === 0) continue;
        count++;
        for (const route of entry.bgp) {
          for (const peer of route.peers) {
            let list = byPeer.get(peer);
            if (!list) {
              list = [];
              byPeer.set(peer, list);
            }
            list.push({
              prefix: route.prefix,
              communities: route.communities,
              ...(route.localPref !== undefined ? { localPref: route.localPref } : {}),
            });
          }
          for (const svc of entry.services) {
            const s = statuses.get(svc) ?? { service: svc, addresses: [], via: [], prefixes: [] };
            statuses.set(svc, s);
            if (!s.prefixes!.includes(route.prefix)) s.prefixes!.push(route.prefix);
            for (const p of route.peers) if (!s.via.includes(p)) s.via.push(p);
          }
        }
      }
    }
    this.announcer.setRoutes(byPeer);
    this.opts.metrics.announcedAddresses.set({ protocol: 'bgp' }, count);
    this.opts.metrics.bgpUpdatesSent.set(this.announcer.updatesSent());
    this.opts.status.setBGP([...statuses.values()]);
  }

  async stop(): Promise<void> {
    await this.announcer.stop();
  }
}
