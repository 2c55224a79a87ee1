/**
 * `beacon speaker`: one per node. It wires the cluster's objects into the address catalog, runs the
 * membership (mesh and Leases), and hands both to the L2 and BGP sides, which decide what this node
 * answers and announces. It never writes Services.
 *
 * Work follows changes: a Service or EndpointSlice event recomputes that Service's addresses only, and
 * the BGP side re-decides only their prefixes; a configuration change (pools, advertisements, peers,
 * nodes) recomputes the catalog and looks at the BGP sessions again; a membership change touches only the
 * L2 ownership of the nodes that came or went. Changes arriving together are applied together on the next
 * turn of the event loop; nothing changing costs nothing. BGP goes first: its UPDATEs leave before the L2
 * side and any status write of the same change.
 */
import type { V1EndpointSlice, V1Node, V1Service } from '@kubernetes/client-node';
import { servedByBeacon } from '../api/load-balancer-class.ts';
import type {
  BFDProfile,
  BGPAdvertisement,
  BGPPeer,
  Community,
  IPAddressPool,
  L2Advertisement,
} from '../api/types.ts';
import { EventRecorder } from '../k8s/events.ts';
import { Informer, type KubeObject, objectKey } from '../k8s/informer.ts';
import type { KubeRest } from '../k8s/rest.ts';
import { L2Answerer } from '../l2/answerer.ts';
import type { Logger } from '../log.ts';
import { BgpApplier, nodeAddress } from './bgp-applier.ts';
import { AddressCatalog } from './catalog.ts';
import { customResourceUpdateMatters, nodeUpdateMatters } from './config-change.ts';
import { L2Applier } from './l2-applier.ts';
import { SpeakerMembership } from './membership.ts';
import type { SpeakerMetrics } from './metrics.ts';
import { SPEAKER_LEASE_LABEL, SPEAKER_LEASE_LABEL_VALUE, type SpeakerLease } from './node-lease.ts';
import { slimEndpointSlice, slimNode, slimService } from './slim.ts';
import { StatusWriter } from './status-writer.ts';

export interface SpeakerOptions {
  node: string;
  namespace: string;
  loadBalancerClass: string;
  /** Announce only Services of loadBalancerClass, none without a class. */
  classOnly?: boolean;
  meshPort: number;
  meshIntervalMs: number;
  deadAfterMs: number;
  /** Interface name patterns never announced on when an L2Advertisement names none. */
  excludeInterfaces?: readonly string[];
}

const BEACON = { group: 'beacon.dev', version: 'v1alpha1' };

export class Speaker {
  private readonly opts: SpeakerOptions;
  private readonly log: Logger;
  private readonly metrics: SpeakerMetrics;
  readonly services: Informer<V1Service>;
  readonly slices: Informer<V1EndpointSlice>;
  readonly nodes: Informer<V1Node>;
  readonly pools: Informer<IPAddressPool>;
  readonly l2Ads: Informer<L2Advertisement>;
  readonly bgpAds: Informer<BGPAdvertisement>;
  readonly peers: Informer<BGPPeer>;
  readonly bfdProfiles: Informer<BFDProfile>;
  readonly communities: Informer<Community>;
  readonly leases: Informer<SpeakerLease & KubeObject>;
  private readonly catalog: AddressCatalog;
  private readonly membership: SpeakerMembership;
  private readonly status: StatusWriter;
  private readonly l2: L2Answerer;
  private readonly l2Applier: L2Applier;
  private readonly bgp: BgpApplier;
  private synced = false;
  private stopping = false;
  private scheduled = false;
  private applying = false;
  private applyAgain = false;
  private configDirty = true;
  /** The BGP sessions' configuration may have changed (peers, Secrets, the node, being cut off). */
  private bgpSessionsDirty = true;
  private readonly changedAddresses = new Set<string>();
  private lastConnected = true;
  private recheckTimer: NodeJS.Timeout | undefined;

  constructor(rest: KubeRest, opts: SpeakerOptions, log: Logger, metrics: SpeakerMetrics) {
    this.opts = opts;
    this.log = log.child({ node: opts.node });
    this.metrics = metrics;
    const core = (plural: string) => ({ group: '', version: 'v1', plural });
    const beacon = (plural: string) => ({ ...BEACON, plural });
    const inNs = { namespace: opts.namespace };
    this.services = new Informer(rest, core('services'), this.log, { slim: slimService });
    this.slices = new Informer(
      rest,
      { group: 'discovery.k8s.io', version: 'v1', plural: 'endpointslices' },
      this.log,
      { slim: slimEndpointSlice },
    );
    this.nodes = new Informer(rest, core('nodes'), this.log, { slim: slimNode });
    this.pools = new Informer(rest, beacon('ipaddresspools'), this.log, inNs);
    this.l2Ads = new Informer(rest, beacon('l2advertisements'), this.log, inNs);
    this.bgpAds = new Informer(rest, beacon('bgpadvertisements'), this.log, inNs);
    this.peers = new Informer(rest, beacon('bgppeers'), this.log, inNs);
    this.bfdProfiles = new Informer(rest, beacon('bfdprofiles'), this.log, inNs);
    this.communities = new Informer(rest, beacon('communities'), this.log, inNs);
    this.leases = new Informer(
      rest,
      { group: 'coordination.k8s.io', version: 'v1', plural: 'leases' },
      this.log,
      { ...inNs, labelSelector: `${SPEAKER_LEASE_LABEL}=${SPEAKER_LEASE_LABEL_VALUE}` },
    );
    this.catalog = new AddressCatalog(opts.node, (svc) => servedByBeacon(svc, opts));
    this.membership = new SpeakerMembership(
      rest,
      {
        node: opts.node,
        namespace: opts.namespace,
        meshPort: opts.meshPort,
        intervalMs: opts.meshIntervalMs,
        deadAfterMs: opts.deadAfterMs,
        onChange: () => this.schedule(),
        onReleaseRequest: (node) => this.l2Applier.answerReleaseRequest(node),
      },
      this.log,
    );
    const events = new EventRecorder(rest, 'beacon-speaker', opts.node, this.log);
    this.status = new StatusWriter(
      rest,
      opts.namespace,
      opts.node,
      events,
      this.log,
      (namespace, name) => this.services.get(`${namespace}/${name}`)?.metadata?.uid,
    );
    this.l2 = new L2Answerer({
      log: this.log,
      node: opts.node,
      mayAnswer: () => this.membership.mayAnswer(),
      onEvent: (e) => {
        if (e.type === 'answered') this.metrics.l2RequestsAnswered.inc({ interface: e.interface });
        else if (e.type === 'announced') this.metrics.gratuitousSent.inc({ interface: e.interface });
        else if (e.type === 'overrun')
          this.metrics.l2FramesDropped.inc({ interface: e.interface, protocol: e.protocol }, e.dropped);
      },
    });
    this.l2Applier = new L2Applier({
      node: opts.node,
      log: this.log,
      metrics,
      l2: this.l2,
      status: this.status,
      membership: this.membership,
      ...(opts.excludeInterfaces ? { excludeInterfaces: opts.excludeInterfaces } : {}),
      recheckAt: (t) => {
        if (this.recheckTimer) clearTimeout(this.recheckTimer);
        this.recheckTimer = setTimeout(() => this.schedule(), Math.max(0, t - performance.now()) + 1);
      },
    });
    this.bgp = new BgpApplier({
      rest,
      node: opts.node,
      namespace: opts.namespace,
      log: this.log,
      metrics,
      status: this.status,
      onChange: () => {
        this.bgpSessionsDirty = true;
        this.schedule();
      },
    });
  }

  notReadyReason(): string | undefined {
    if (!this.synced) return 'caches not synced yet';
    const d = this.membership.describe();
    if (d.status !== 'alive' && d.status !== 'lease-only')
      return `membership ${d.status}${d.reason ? `: ${d.reason}` : ''}`;
    return undefined;
  }

  async run(signal: AbortSignal): Promise<void> {
    const started = Date.now();
    this.services.on('add', (s) => this.serviceChanged(objectKey(s), s));
    this.services.on('update', (s) => this.serviceChanged(objectKey(s), s));
    this.services.on('delete', (s) => this.serviceChanged(objectKey(s), undefined));
    this.slices.on('add', (e) => this.sliceChanged(objectKey(e), e));
    this.slices.on('update', (e) => this.sliceChanged(objectKey(e), e));
    this.slices.on('delete', (e) => this.sliceChanged(objectKey(e), undefined));
    this.nodes.on('add', () => this.configChanged());
    this.nodes.on('update', (n, old) => {
      if (nodeUpdateMatters(n, old)) this.configChanged();
    });
    this.nodes.on('delete', () => this.configChanged());
    const followConfig = <T extends KubeObject>(inf: Informer<T>) => {
      inf.on('add', () => this.configChanged());
      inf.on('update', (o, old) => {
        if (customResourceUpdateMatters(o, old)) this.configChanged();
      });
      inf.on('delete', () => this.configChanged());
    };
    followConfig(this.pools);
    followConfig(this.l2Ads);
    followConfig(this.bgpAds);
    followConfig(this.peers);
    followConfig(this.bfdProfiles);
    followConfig(this.communities);
    this.leases.on('add', (l) => this.membership.observeLease(l));
    this.leases.on('update', (l) => this.membership.observeLease(l));
    this.leases.on('delete', (l) => this.membership.forgetLease(l));

    await this.membership.prepare(signal);
    const informers = [
      this.services,
      this.slices,
      this.nodes,
      this.pools,
      this.l2Ads,
      this.bgpAds,
      this.peers,
      this.bfdProfiles,
      this.communities,
      this.leases,
    ] as Informer<KubeObject>[];
    await Promise.all(informers.map((i) => i.start(signal)));
    if (signal.aborted) return;
    await this.status.adoptExisting();
    await this.membership.start(nodeAddress(this.nodes.get(this.opts.node)));
    this.synced = true;
    this.log.info({ ms: Date.now() - started, services: this.services.list().length }, 'caches synced');
    this.schedule();
    // Being cut off is a matter of time passing, not of an event: look once a second.
    const watch = setInterval(() => {
      if (this.membership.connected() !== this.lastConnected) this.schedule();
    }, 1000);
    const rotate = () =>
      void this.membership.rotateKeys().catch((err: Error) => this.log.error({ err }, 'key rotation failed'));
    process.on('SIGUSR2', rotate);
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    clearInterval(watch);
    process.off('SIGUSR2', rotate);
    await this.shutdown();
  }

  private serviceChanged(key: string, svc: V1Service | undefined): void {
    for (const a of this.catalog.setService(key, svc)) this.changedAddresses.add(a);
    this.schedule();
  }

  private sliceChanged(key: string, slice: V1EndpointSlice | undefined): void {
    for (const a of this.catalog.setSlice(key, slice)) this.changedAddresses.add(a);
    this.schedule();
  }

  private configChanged(): void {
    this.configDirty = true;
    this.schedule();
  }

  /** Applies on the next turn of the event loop: everything that arrived together costs one apply. */
  private schedule(): void {
    if (!this.synced || this.stopping || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.applySerially();
    });
  }

  /** One apply at a time, so an older state can never land after a newer one. */
  private async applySerially(): Promise<void> {
    if (this.applying) {
      this.applyAgain = true;
      return;
    }
    this.applying = true;
    try {
      do {
        this.applyAgain = false;
        await this.apply().catch((err: Error) => this.log.error({ err }, 'applying changes failed'));
      } while (this.applyAgain && !this.stopping);
    } finally {
      this.applying = false;
    }
  }

  private async apply(): Promise<void> {
    if (this.stopping) return;
    if (this.configDirty) {
      this.configDirty = false;
      this.bgpSessionsDirty = true;
      const changed = this.catalog.setConfig({
        nodes: this.nodes.list(),
        pools: this.pools.list(),
        l2Advertisements: this.l2Ads.list(),
        bgpAdvertisements: this.bgpAds.list(),
        bgpPeers: this.peers.list(),
        communities: this.communities.list(),
      });
      for (const a of changed) this.changedAddresses.add(a);
    }
    if (this.changedAddresses.size) {
      this.bgp.addressesChanged(this.catalog, this.changedAddresses);
      this.l2Applier.addressesChanged(this.catalog, this.changedAddresses);
      this.changedAddresses.clear();
    }
    const connected = this.membership.connected();
    this.metrics.mayAnnounce.set({ protocol: 'bgp' }, connected ? 1 : 0);
    if (connected !== this.lastConnected) {
      this.lastConnected = connected;
      this.bgpSessionsDirty = true;
      if (connected) this.log.info('in touch with peers or the API server again: announcing BGP routes');
      else this.log.warn('cut off from the API server and every peer: withdrawing BGP routes');
    }
    if (this.bgpSessionsDirty || this.bgp.pending) {
      const sessions = this.bgpSessionsDirty;
      this.bgpSessionsDirty = false;
      await this.bgp.apply(
        this.catalog,
        this.peers.list(),
        (name) => this.bfdProfiles.get(`${this.opts.namespace}/${name}`),
        this.nodes.get(this.opts.node),
        connected,
        sessions,
      );
    }
    const live = this.membership.candidates();
    this.metrics.liveSpeakers.set(live.size);
    const may = this.membership.mayAnswer();
    this.metrics.mayAnnounce.set({ protocol: 'l2' }, may ? 1 : 0);
    this.l2Applier.apply(this.catalog);
  }

  /** Graceful exit: tell peers (they take over at once), stop answering, withdraw, clean up. */
  private async shutdown(): Promise<void> {
    this.stopping = true;
    if (this.recheckTimer) clearTimeout(this.recheckTimer);
    this.log.info('leaving: handing addresses over');
    this.membership.announceLeaving();
    this.l2Applier.clear();
    await this.membership.finishLeaving();
    this.l2.close();
    await this.bgp.stop();
    await this.status.clear();
    this.log.info('left');
  }
}
