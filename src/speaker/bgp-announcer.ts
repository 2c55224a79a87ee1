/**
 * The speaker's BGP side: one session per BGPPeer that selects this node, and on each session exactly the
 * routes the plan gives this node for that peer. A session is recreated only when its peer's settings
 * change; Service churn only adds and withdraws routes on established sessions, never flaps them.
 */
import { durationSeconds } from '../api/duration.ts';
import type { BGPPeer } from '../api/types.ts';
import type { BfdProfileOptions } from '../bfd/session.ts';
import { BgpSession, parseCommunity, parseLargeCommunity } from '../bgp/index.ts';
import type { RouteAttributes } from '../bgp/rib/adj-rib-out.ts';
import { childLogger, type Logger } from '../log.ts';
import type { BgpMetrics } from './metrics.ts';

export interface PeerConfig {
  name: string;
  spec: BGPPeer['spec'];
  /** The MD5 password, read from the peer's Secret. */
  password?: string;
  /** The timers of the peer's BFDProfile, when it names one that exists. */
  bfd?: BfdProfileOptions;
}

export interface DesiredRoute {
  prefix: string;
  communities: string[];
  localPref?: number;
}

export interface SessionState {
  peer: string;
  peerAddress: string;
  state: string;
  since: Date;
  lastError?: string;
  prefixes: number;
}

interface ManagedSession {
  session: BgpSession;
  configKey: string;
  routes: Map<string, string>;
  state: SessionState;
}

/** Everything that, when it changes, needs a new session. */
function configKey(p: PeerConfig): string {
  return JSON.stringify([p.spec, p.password, p.bfd]);
}

export function routeAttributes(r: DesiredRoute): RouteAttributes {
  const communities: number[] = [];
  const largeCommunities: NonNullable<RouteAttributes['largeCommunities']>[number][] = [];
  for (const c of r.communities) {
    if (c.startsWith('large:')) {
      const l = parseLargeCommunity(c.slice(6));
      if (l) largeCommunities.push(l);
    } else {
      const s = parseCommunity(c);
      if (s !== undefined) communities.push(s);
    }
  }
  const attrs: RouteAttributes = {};
  if (communities.length) attrs.communities = communities;
  if (largeCommunities.length) attrs.largeCommunities = largeCommunities;
  if (r.localPref !== undefined) attrs.localPref = r.localPref;
  return attrs;
}

export interface BgpAnnouncerOptions {
  node: string;
  routerId: string;
  log: Logger;
  /** Advertise graceful restart with the R bit: this speaker process has just started. */
  restarted: boolean;
  onStateChange(state: SessionState): void;
  /** Per-peer session, BFD, prefix and UPDATE metrics, labelled with the BGPPeer's name. */
  metrics?: BgpMetrics;
}

export class BgpAnnouncer {
  private readonly sessions = new Map<string, ManagedSession>();
  private readonly opts: BgpAnnouncerOptions;

  constructor(opts: BgpAnnouncerOptions) {
    this.opts = opts;
  }

  /** Starts sessions for new peers, restarts those whose settings changed, stops the others. */
  setPeers(peers: readonly PeerConfig[]): void {
    const wanted = new Map(peers.map((p) => [p.name, p]));
    for (const [name, m] of this.sessions) {
      const p = wanted.get(name);
      if (!p || configKey(p) !== m.configKey) {
        void m.session.stop({ withdraw: true, message: p ? 'peer settings changed' : 'peer removed' });
        this.sessions.delete(name);
        if (!p) this.forgetMetrics(name);
      }
    }
    for (const p of peers) if (!this.sessions.has(p.name)) this.start(p);
  }

  private start(p: PeerConfig): void {
    const spec = p.spec;
    // The session's own logger adds `peer` (the router's address); `bgpPeer` names the BGPPeer object.
    const log = childLogger(this.opts.log, { node: this.opts.node, bgpPeer: p.name });
    const hold = durationSeconds(spec.holdTime);
    const keepalive = durationSeconds(spec.keepaliveTime);
    const connect = durationSeconds(spec.connectTime);
    const session = new BgpSession({
      localAs: spec.myASN,
      peerAs: spec.peerASN ?? spec.myASN,
      peerAddress: spec.peerAddress,
      routerId: spec.routerID ?? this.opts.routerId,
      log,
      ...(spec.peerPort ? { peerPort: spec.peerPort } : {}),
      ...(spec.sourceAddress ? { localAddress: spec.sourceAddress } : {}),
      ...(hold !== undefined ? { holdTimeSec: hold } : {}),
      ...(keepalive !== undefined ? { keepaliveTimeSec: keepalive } : {}),
      ...(connect !== undefined ? { backoffMaxMs: connect * 1000 } : {}),
      ...(p.password ? { password: p.password } : {}),
      ...(p.bfd ? { bfd: p.bfd } : {}),
      ...(spec.ebgpMultiHop ? { ebgpMultihop: 255 } : {}),
      ...(spec.enableGracefulRestart
        ? {
            gracefulRestart: {
              restartTimeSec: 120,
              forwardingPreserved: true,
              restarting: this.opts.restarted,
            },
          }
        : {}),
    });
    const state: SessionState = {
      peer: p.name,
      peerAddress: spec.peerAddress,
      state: 'Idle',
      since: new Date(),
      prefixes: 0,
    };
    const managed: ManagedSession = {
      session,
      configKey: configKey(p),
      routes: new Map(),
      state,
    };
    const metrics = this.opts.metrics;
    const peer = { peer: p.name };
    metrics?.bgpSessionUp.set(peer, 0);
    metrics?.bgpAnnouncedPrefixes.set(peer, 0);
    metrics?.bgpUpdatesSent.inc(peer, 0);
    if (p.bfd) metrics?.bfdSessionUp.set(peer, 0);
    session.on('sent', (s) => metrics?.bgpUpdatesSent.inc(peer, s.updates + s.endOfRib.length));
    session.on('state', (change) => {
      state.state = change.to;
      state.since = new Date();
      // A replaced session's last transitions (its Cease) must not overwrite its successor's figures.
      if (this.sessions.get(p.name) === managed) {
        metrics?.bgpSessionUp.set(peer, change.to === 'Established' ? 1 : 0);
        this.recordPrefixes(managed);
      }
      log.info(
        { peer: spec.peerAddress, from: change.from, to: change.to, reason: change.reason },
        'bgp session state',
      );
      this.opts.onStateChange({ ...state });
    });
    session.on('bfd', (c) => {
      if (this.sessions.get(p.name) === managed) metrics?.bfdSessionUp.set(peer, c.to === 'Up' ? 1 : 0);
      log.info({ peer: spec.peerAddress, from: c.from, to: c.to, diag: c.diag }, 'bfd session state');
    });
    session.on('notification', (n) => {
      state.lastError = `${n.direction} NOTIFICATION ${n.text}${n.reason ? `: ${n.reason}` : ''}`;
    });
    this.sessions.set(p.name, managed);
    session.start();
  }

  /** Makes each session carry exactly its routes: announces new or changed ones, withdraws the rest. */
  setRoutes(byPeer: ReadonlyMap<string, readonly DesiredRoute[]>): void {
    for (const [name, m] of this.sessions) {
      const desired = new Map((byPeer.get(name) ?? []).map((r) => [r.prefix, r]));
      for (const prefix of [...m.routes.keys()]) {
        if (!desired.has(prefix)) {
          m.session.withdraw(prefix);
          m.routes.delete(prefix);
        }
      }
      for (const [prefix, r] of desired) {
        const attrs = routeAttributes(r);
        const key = JSON.stringify(attrs);
        if (m.routes.get(prefix) === key) continue;
        m.session.announce(prefix, attrs);
        m.routes.set(prefix, key);
      }
      if (m.state.prefixes !== m.routes.size) {
        m.state.prefixes = m.routes.size;
        this.opts.onStateChange({ ...m.state });
      }
      this.recordPrefixes(m);
    }
  }

  private recordPrefixes(m: ManagedSession): void {
    const n = m.state.state === 'Established' ? m.routes.size : 0;
    this.opts.metrics?.bgpAnnouncedPrefixes.set({ peer: m.state.peer }, n);
  }

  private forgetMetrics(peer: string): void {
    const m = this.opts.metrics;
    if (!m) return;
    for (const metric of [m.bgpSessionUp, m.bgpAnnouncedPrefixes, m.bfdSessionUp, m.bgpUpdatesSent])
      metric.remove({ peer });
  }

  states(): SessionState[] {
    return [...this.sessions.values()].map((m) => ({ ...m.state }));
  }

  established(): number {
    return [...this.sessions.values()].filter((m) => m.state.state === 'Established').length;
  }

  /** Withdraws every route and closes every session with a CEASE. */
  async stop(): Promise<void> {
    await Promise.all(
      [...this.sessions.values()].map((m) =>
        m.session.stop({ withdraw: true, message: 'speaker shutting down' }),
      ),
    );
    this.sessions.clear();
  }
}
