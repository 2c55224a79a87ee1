/**
 * `beacon speaker`: one per node. It watches the cluster, keeps its own Lease and the heartbeat mesh
 * going, and turns the shared plan (plan.ts) into what this node does: answer ARP/NDP for the addresses it
 * owns, and announce its routes to the BGP peers that select it. It never writes Services.
 */
import { randomBytes } from 'node:crypto';
import { isIPv4 } from 'node:net';
import type { V1EndpointSlice, V1Node, V1Secret, V1Service } from '@kubernetes/client-node';
import type {
  BFDProfile,
  BGPAdvertisement,
  BGPPeer,
  Community,
  IPAddressPool,
  L2Advertisement,
} from '../api/types.ts';
import { EventRecorder } from '../k8s/events.ts';
import { Informer, type KubeObject } from '../k8s/informer.ts';
import { ApiError, type KubeRest } from '../k8s/rest.ts';
import { selectInterfaces } from '../l2/interfaces.ts';
import { type Announcement, L2Speaker } from '../l2/speaker.ts';
import { selectorsAllow } from '../labels/selector.ts';
import type { Logger } from '../log.ts';
import { listLinks } from '../native/links.ts';
import { BgpAnnouncer, type DesiredRoute, type PeerConfig } from './bgp-announcer.ts';
import { HEARTBEAT_LEAVING, HeartbeatMesh } from './heartbeat.ts';
import { Membership, type MembershipView } from './membership.ts';
import type { SpeakerMetrics } from './metrics.ts';
import {
  NodeLeaseWriter,
  PeerLeases,
  SPEAKER_LEASE_LABEL,
  SPEAKER_LEASE_LABEL_VALUE,
  type SpeakerLease,
} from './node-lease.ts';
import { computePlan, type Plan } from './plan.ts';
import { slimEndpointSlice, slimNode, slimService } from './slim.ts';
import { type ServiceAnnouncement, StatusWriter } from './status-writer.ts';

export const SPEAKER_SECRET = 'beacon-speaker-secrets';
export const HEARTBEAT_KEY = 'heartbeat-key';

export interface SpeakerOptions {
  node: string;
  namespace: string;
  loadBalancerClass: string;
  /** Announce only Services of loadBalancerClass, none without a class. */
  classOnly?: boolean;
  meshPort: number;
  meshIntervalMs: number;
  deadAfterMs: number;
  leaseDurationSec: number;
  leaseRenewMs: number;
  /** Interface name patterns never announced on when an L2Advertisement names none. */
  excludeInterfaces?: readonly string[];
  /** How long a leaving speaker keeps answering after telling its peers, so they take over first. */
  handoverMs: number;
}

const BEACON = { group: 'beacon.dev', version: 'v1alpha1' };
/** A speaker that hears no peer after starting keeps out of L2 this long (it may be inside a partition). */
const STARTUP_QUIET_MS = 3000;
/** How long cluster changes are gathered before the plan is recomputed. */
const PLAN_COALESCE_MS = 25;

function sameView(a: MembershipView | undefined, b: MembershipView): boolean {
  return (
    !!a &&
    a.mayAnnounce === b.mayAnnounce &&
    a.mayAnnounceL2 === b.mayAnnounceL2 &&
    a.alive.size === b.alive.size &&
    [...a.alive].every((n) => b.alive.has(n))
  );
}

function nodeAddress(node: V1Node | undefined): string | undefined {
  const addrs = node?.status?.addresses ?? [];
  return (
    addrs.find((a) => a.type === 'InternalIP')?.address ?? addrs.find((a) => a.type === 'ExternalIP')?.address
  );
}

export class Speaker {
  private readonly rest: KubeRest;
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
  readonly secret: Informer<V1Secret>;
  private readonly membership: Membership;
  private readonly peerLeases = new PeerLeases();
  private readonly leaseWriter: NodeLeaseWriter;
  private readonly status: StatusWriter;
  private readonly l2: L2Speaker;
  private readonly bgp: BgpAnnouncer;
  private mesh: HeartbeatMesh | undefined;
  private meshKey = '';
  private lastView: MembershipView | undefined;
  private planTimer: NodeJS.Timeout | undefined;
  private applying = false;
  private applyAgain = false;
  private synced = false;
  private stopping = false;
  private owned = new Set<string>();
  private readonly passwords = new Map<string, string>();
  private readonly warnedProfiles = new Set<string>();

  constructor(rest: KubeRest, opts: SpeakerOptions, log: Logger, metrics: SpeakerMetrics) {
    this.rest = rest;
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
      {
        ...inNs,
        labelSelector: `${SPEAKER_LEASE_LABEL}=${SPEAKER_LEASE_LABEL_VALUE}`,
      },
    );
    // Only the one Secret the speaker needs, so RBAC can restrict it by name.
    this.secret = new Informer(rest, core('secrets'), this.log, {
      ...inNs,
      fieldSelector: `metadata.name=${SPEAKER_SECRET}`,
    });
    this.membership = new Membership({
      self: opts.node,
      deadAfterMs: opts.deadAfterMs,
      leaseValidMs: opts.leaseDurationSec * 1000,
      startupQuietMs: STARTUP_QUIET_MS,
    });
    this.leaseWriter = new NodeLeaseWriter(rest, opts.namespace, opts.node, opts.leaseDurationSec, this.log);
    const events = new EventRecorder(rest, 'beacon-speaker', opts.node, this.log);
    this.status = new StatusWriter(
      rest,
      opts.namespace,
      opts.node,
      events,
      this.log,
      (namespace, name) => this.services.get(`${namespace}/${name}`)?.metadata?.uid,
    );
    this.l2 = new L2Speaker({
      log: this.log,
      node: opts.node,
      onEvent: (e) => {
        if (e.type === 'answered') this.metrics.l2RequestsAnswered.inc({ interface: e.interface });
        else if (e.type === 'announced') this.metrics.gratuitousSent.inc({ interface: e.interface });
      },
    });
    this.bgp = new BgpAnnouncer({
      node: opts.node,
      routerId: '0.0.0.0',
      restarted: true,
      log: this.log,
      metrics: this.metrics,
      onStateChange: () => {
        this.metrics.bgpSessionsUp.set(this.bgp.established());
        this.status.setSessions(this.bgp.states());
      },
    });
  }

  notReadyReason(): string | undefined {
    if (!this.synced) return 'caches not synced yet';
    if (this.lastView && !this.lastView.mayAnnounce) return this.lastView.reason;
    return undefined;
  }

  async run(signal: AbortSignal): Promise<void> {
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
      this.secret,
    ];
    for (const inf of informers) {
      inf.on('add', () => this.schedulePlan());
      inf.on('update', () => this.schedulePlan());
      inf.on('delete', () => this.schedulePlan());
    }
    this.leases.on('add', (l) => this.peerLeases.observe(l));
    this.leases.on('update', (l) => this.peerLeases.observe(l));
    this.leases.on('delete', (l) => this.peerLeases.forget(l));
    this.peers.on('update', () => this.passwords.clear());
    const started = Date.now();
    if (await this.leaseWriter.renew()) this.membership.ownLeaseRenewed();
    await Promise.all(informers.map((i) => i.start(signal)));
    await this.ensureHeartbeatKey();
    await this.status.adoptExisting();
    this.synced = true;
    this.log.info({ ms: Date.now() - started, services: this.services.list().length }, 'caches synced');

    const renew = setInterval(async () => {
      if (await this.leaseWriter.renew()) this.membership.ownLeaseRenewed();
    }, this.opts.leaseRenewMs);
    // Membership changes come from the clock as much as from events (a silent peer dies by timing out).
    // Judged from setImmediate, after the event loop's poll phase: when the loop was busy (a large plan),
    // heartbeats that arrived meanwhile are read first, instead of their senders being declared dead by a
    // timer that happened to run before the socket was read.
    const tick = setInterval(
      () => setImmediate(() => this.checkMembership()),
      Math.max(20, Math.floor(this.opts.meshIntervalMs / 2)),
    );
    this.schedulePlan();
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    clearInterval(renew);
    clearInterval(tick);
    await this.shutdown();
  }

  /**
   * The first speaker of a fresh install makes the mesh key: a random 32-byte key in an Opaque Secret that
   * RBAC and an admission policy let the speaker create under this one name only. Another speaker racing it
   * gets "already exists" and uses the winner's key through its watch.
   */
  private async ensureHeartbeatKey(): Promise<void> {
    if (this.secret.list().length > 0) return;
    try {
      await this.rest.create(`/api/v1/namespaces/${this.opts.namespace}/secrets`, {
        apiVersion: 'v1',
        kind: 'Secret',
        type: 'Opaque',
        metadata: { name: SPEAKER_SECRET, labels: { 'app.kubernetes.io/name': 'beacon' } },
        data: { [HEARTBEAT_KEY]: randomBytes(32).toString('base64') },
      });
      this.log.info({ secret: `${this.opts.namespace}/${SPEAKER_SECRET}` }, 'created the heartbeat key');
    } catch (err) {
      if (err instanceof ApiError && err.status === 409) return;
      this.log.warn(
        { err: (err as Error).message },
        'cannot create the heartbeat key Secret; heartbeats stay off until it exists',
      );
    }
  }

  /** Graceful exit: tell peers, let them take over, then withdraw and go. */
  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.log.info({ addresses: this.owned.size }, 'leaving: handing addresses over');
    await this.mesh?.stop();
    await this.leaseWriter.remove();
    // Peers heard "leaving" and are sending their gratuitous bursts now; keep answering meanwhile so that
    // no client is left without an answer.
    await new Promise((r) => setTimeout(r, this.opts.handoverMs));
    this.l2.reconcile([]);
    this.l2.close();
    await this.bgp.stop();
    await this.status.clear();
    this.log.info('left');
  }

  private checkMembership(): void {
    this.membership.setLeased(this.peerLeases.valid());
    const view = this.membership.view();
    if (!sameView(this.lastView, view)) this.schedulePlan(true);
    this.updateMesh();
  }

  private updateMesh(): void {
    const key = this.secret.list()[0]?.data?.[HEARTBEAT_KEY] ?? '';
    const self = nodeAddress(this.nodes.get(this.opts.node));
    if (key !== this.meshKey) {
      this.meshKey = key;
      void this.mesh?.stop();
      this.mesh = undefined;
      if (!key) {
        this.log.warn(
          { secret: `${this.opts.namespace}/${SPEAKER_SECRET}`, key: HEARTBEAT_KEY },
          'no heartbeat key: failover waits for Lease expiry instead of taking a fraction of a second',
        );
      } else if (!self) {
        this.log.warn('this node has no InternalIP in its status; heartbeats are off');
        this.meshKey = '';
      } else {
        const mesh = new HeartbeatMesh({
          self: this.opts.node,
          key: Buffer.from(key, 'base64'),
          port: this.opts.meshPort,
          bindAddress: self,
          intervalMs: this.opts.meshIntervalMs,
          log: this.log,
          hears: () => this.membership.hearing(),
          onHeartbeat: (h) => {
            if (h.type === HEARTBEAT_LEAVING) this.membership.leaving(h.node);
            else this.membership.heard(h.node, h.hears);
            this.checkMembership();
          },
        });
        this.mesh = mesh;
        mesh.start().catch((err: Error) => {
          this.log.error({ err: err.message, port: this.opts.meshPort }, 'cannot start the heartbeat mesh');
          if (this.mesh === mesh) this.mesh = undefined;
        });
      }
    }
    if (!this.mesh || !self) return;
    const family = isIPv4(self) ? 4 : 6;
    const peers: string[] = [];
    for (const node of this.membership.known()) {
      const a = nodeAddress(this.nodes.get(node));
      if (a && (isIPv4(a) ? 4 : 6) === family) peers.push(a);
    }
    this.mesh.setPeers(peers);
  }

  /**
   * Recomputes the plan soon. Cluster changes wait a few milliseconds so that a burst (thousands of
   * Services created at once) costs one computation, not thousands; a membership change (a peer died) is
   * urgent and runs on the next turn of the event loop.
   */
  private schedulePlan(urgent = false): void {
    if (!this.synced || this.stopping) return;
    if (this.planTimer && !urgent) return;
    if (this.planTimer) clearTimeout(this.planTimer);
    this.planTimer = setTimeout(
      () => {
        this.planTimer = undefined;
        void this.applySerially();
      },
      urgent ? 0 : PLAN_COALESCE_MS,
    );
  }

  /** One apply at a time, so an older plan can never land after a newer one; a request meanwhile runs once after. */
  private async applySerially(): Promise<void> {
    if (this.applying) {
      this.applyAgain = true;
      return;
    }
    this.applying = true;
    try {
      do {
        this.applyAgain = false;
        await this.apply().catch((err: Error) => this.log.error({ err }, 'applying the plan failed'));
      } while (this.applyAgain && !this.stopping);
    } finally {
      this.applying = false;
    }
  }

  private async apply(): Promise<void> {
    if (this.stopping) return;
    this.membership.setLeased(this.peerLeases.valid());
    const view = this.membership.view();
    if (!sameView(this.lastView, view)) {
      this.log.info(
        {
          alive: [...view.alive].sort(),
          mayAnnounce: view.mayAnnounce,
          mayAnnounceL2: view.mayAnnounceL2,
          reason: view.reason || undefined,
        },
        'membership changed',
      );
    }
    this.lastView = view;
    this.metrics.liveSpeakers.set(view.alive.size);
    this.metrics.mayAnnounce.set({ protocol: 'l2' }, view.mayAnnounce && view.mayAnnounceL2 ? 1 : 0);
    this.metrics.mayAnnounce.set({ protocol: 'bgp' }, view.mayAnnounce ? 1 : 0);
    const plan = computePlan({
      services: this.services.list(),
      endpointSlices: this.slices.list(),
      nodes: this.nodes.list(),
      pools: this.pools.list(),
      l2Advertisements: this.l2Ads.list(),
      bgpAdvertisements: this.bgpAds.list(),
      bgpPeers: this.peers.list(),
      communities: this.communities.list(),
      liveSpeakers: view.alive,
      loadBalancerClass: this.opts.loadBalancerClass,
      classOnly: this.opts.classOnly ?? false,
    });
    this.applyL2(plan, view);
    await this.applyBGP(plan, view);
  }

  private applyL2(plan: Plan, view: MembershipView): void {
    const mine =
      view.mayAnnounce && view.mayAnnounceL2 ? plan.l2.filter((x) => x.owner === this.opts.node) : [];
    const links = mine.length ? listLinks() : [];
    const desired: Announcement[] = [];
    const statuses: ServiceAnnouncement[] = [];
    const byService = new Map<string, ServiceAnnouncement>();
    for (const entry of mine) {
      const { selected, skipped } = selectInterfaces(links, {
        names: entry.interfaces,
        ...(this.opts.excludeInterfaces ? { exclude: this.opts.excludeInterfaces } : {}),
      });
      if (selected.length === 0) {
        this.log.warn(
          { address: entry.address, skipped },
          'owner of the address, but no interface to answer on',
        );
        continue;
      }
      for (const link of selected) desired.push({ address: entry.address, interface: link.name });
      for (const svc of entry.services) {
        let s = byService.get(svc);
        if (!s) {
          s = { service: svc, addresses: [], via: [] };
          byService.set(svc, s);
          statuses.push(s);
        }
        s.addresses.push(entry.address);
        for (const l of selected) if (!s.via.includes(l.name)) s.via.push(l.name);
      }
    }
    const next = new Set(desired.map((d) => d.address));
    const acquired = [...next].filter((a) => !this.owned.has(a));
    const released = [...this.owned].filter((a) => !next.has(a));
    if (acquired.length) this.metrics.ownershipChanges.inc({ direction: 'acquired' }, acquired.length);
    if (released.length) this.metrics.ownershipChanges.inc({ direction: 'released' }, released.length);
    // One line per change, not per address: a node taking over thousands of addresses must not stall on
    // its own logging (the L2 module logs each address and interface at debug level and on errors).
    const sample = (list: string[]) =>
      list.length > 20 ? [...list.slice(0, 20), `... ${list.length - 20} more`] : list;
    if (acquired.length) {
      const interfaces = [...new Set(desired.map((d) => d.interface))];
      this.log.info(
        { count: acquired.length, address: sample(acquired), interfaces },
        'answering for addresses',
      );
    }
    if (released.length)
      this.log.info(
        { count: released.length, address: sample(released) },
        'no longer answering for addresses',
      );
    this.owned = next;
    this.l2.reconcile(desired, links);
    this.metrics.announcedAddresses.set({ protocol: 'l2' }, next.size);
    this.metrics.setL2Owned(next);
    this.status.setL2(statuses);
  }

  private async passwordOf(peer: BGPPeer): Promise<string | undefined> {
    if (peer.spec.password) return peer.spec.password;
    const ref = peer.spec.passwordSecret;
    if (!ref) return undefined;
    const key = `${ref.namespace ?? this.opts.namespace}/${ref.name}`;
    if (!this.passwords.has(key)) {
      try {
        const s = await this.rest.get<V1Secret>(
          `/api/v1/namespaces/${ref.namespace ?? this.opts.namespace}/secrets/${ref.name}`,
        );
        const p = s.data?.password;
        if (!p) throw new Error('it has no "password" key');
        this.passwords.set(key, Buffer.from(p, 'base64').toString('utf8'));
      } catch (err) {
        this.log.error(
          { peer: peer.metadata.name, secret: key, err: (err as Error).message },
          'cannot read the BGP password',
        );
        return undefined;
      }
    }
    return this.passwords.get(key);
  }

  private async applyBGP(plan: Plan, view: MembershipView): Promise<void> {
    const me = this.nodes.get(this.opts.node);
    const labels = me?.metadata?.labels ?? {};
    const address = nodeAddress(me);
    const mine = this.peers.list().filter((p) => selectorsAllow(p.spec?.nodeSelectors, labels));
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
      const bfd = spec.bfdProfile
        ? this.bfdProfiles.get(`${this.opts.namespace}/${spec.bfdProfile}`)?.spec
        : undefined;
      if (spec.bfdProfile && !bfd && !this.warnedProfiles.has(spec.bfdProfile)) {
        this.warnedProfiles.add(spec.bfdProfile);
        this.log.warn(
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
    this.bgp.setPeers(view.mayAnnounce ? configs : []);
    const byPeer = new Map<string, DesiredRoute[]>();
    const statuses = new Map<string, ServiceAnnouncement>();
    let count = 0;
    if (view.mayAnnounce) {
      for (const route of plan.bgp) {
        const peers = route.peersByNode.get(this.opts.node);
        if (!peers) continue;
        count++;
        for (const peer of peers) {
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
        for (const svc of route.services) {
          const s = statuses.get(svc) ?? { service: svc, addresses: [], via: [], prefixes: [] };
          statuses.set(svc, s);
          if (!s.prefixes!.includes(route.prefix)) s.prefixes!.push(route.prefix);
          for (const p of peers) if (!s.via.includes(p)) s.via.push(p);
        }
      }
    }
    this.bgp.setRoutes(byPeer);
    this.metrics.announcedAddresses.set({ protocol: 'bgp' }, count);
    this.status.setBGP([...statuses.values()]);
  }
}
