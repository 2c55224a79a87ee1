/**
 * The speaker's BGP side: one session per BGPPeer that selects this node, and on each session exactly the
 * routes the plan gives this node for that peer. A session is recreated only when its peer's settings
 * change; Service churn only adds and withdraws routes on established sessions, never flaps them.
 *
 * Routes arrive one (peer, prefix) at a time, as they change: what each peer should carry is kept here
 * whether or not its session exists yet, and a new session starts with it. `flush` sends what changed at
 * once, withdrawals first, rather than on a later turn of the event loop behind unrelated work.
 *
 * Every peer has a state row, also one whose session could not be opened: its configuration was refused
 * upstream, or the session refused it. The row's lastError follows what the session reports
 * (bgp-errors.ts) and is cleared when it is Established; its prefix count is what the router was sent.
 */
import { durationSeconds } from '../api/duration.ts';
import type { BGPPeer } from '../api/types.ts';
import type { BfdProfileOptions } from '../bfd/session.ts';
import { BgpSession, parseCommunity, parseLargeCommunity } from '../bgp/index.ts';
import type { RouteAttributes } from '../bgp/rib/adj-rib-out.ts';
import { childLogger, type Logger } from '../log.ts';
import { type Clock, systemClock, type Timer } from '../time/clock.ts';
import { endpoint, notificationError, transitionError } from './bgp-errors.ts';
import type { BgpMetrics } from './metrics.ts';

export interface PeerConfig {
  name: string;
  spec: BGPPeer['spec'];
  /** The MD5 password, read from the peer's Secret. */
  password?: string;
  /** The timers of the peer's BFDProfile, when it names one that exists. */
  bfd?: BfdProfileOptions;
  /** Why no session may be opened for this peer (a configuration error); its row says so. */
  refused?: string;
  /** A problem that leaves the session as it is (its password Secret went away: the last password read is kept). */
  warning?: string;
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
  /** Why the session is not up (connect error, NOTIFICATION, configuration); empty once it is up. */
  lastError?: string;
  /** Prefixes the router was sent and not since withdrawn: 0 while the session is down. */
  prefixes: number;
}

/** A route as the session is given it, with its attributes serialized to tell a change. */
interface HeldRoute {
  attrs: RouteAttributes;
  key: string;
}

interface ManagedSession {
  /** Undefined when the peer's configuration was refused. */
  session: BgpSession | undefined;
  configKey: string;
  state: SessionState;
  /** The configuration error, or the last failure of the session. */
  error: string | undefined;
  warning: string | undefined;
  /** A NOTIFICATION just explained the end of the connection: the state change that follows must not overwrite it. */
  notified: boolean;
  log: Logger;
}

/** Everything that, when it changes, needs a new session. */
function configKey(p: PeerConfig): string {
  return JSON.stringify([p.spec, p.password, p.bfd, p.refused]);
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
  /** Times the publication of prefix counts; the system clock by default. */
  clock?: Clock;
}

/** Least time between two publications of a session's prefix count alone. */
const COUNT_PUBLISH_MS = 1000;

/** Distinct attribute sets kept for sharing between routes; past this, sharing starts over. */
const HELD_CACHE_LIMIT = 10_000;

export class BgpAnnouncer {
  private readonly sessions = new Map<string, ManagedSession>();
  private readonly opts: BgpAnnouncerOptions;
  /** Peer -> prefix -> route: what each peer should carry, session or not. */
  private readonly wanted = new Map<string, Map<string, HeldRoute>>();
  /** One HeldRoute per distinct attribute set, shared by the routes that have it. */
  private readonly held = new Map<string, HeldRoute>();
  /** Sessions given changes since the last flush. */
  private readonly touched = new Set<ManagedSession>();
  /** Sessions whose prefix count changed since it was last published. */
  private readonly countsDue = new Set<ManagedSession>();
  private countTimer: Timer | undefined;

  constructor(opts: BgpAnnouncerOptions) {
    this.opts = opts;
  }

  /**
   * Starts sessions for new peers, restarts those whose settings changed, stops the others. A peer whose
   * session cannot be created gets a row with the reason, and the others go on.
   */
  setPeers(peers: readonly PeerConfig[]): void {
    const wanted = new Map(peers.map((p) => [p.name, p]));
    for (const [name, m] of this.sessions) {
      const p = wanted.get(name);
      if (p && configKey(p) === m.configKey) {
        this.setWarning(m, p.warning);
        continue;
      }
      void m.session?.stop({ withdraw: true, message: p ? 'peer settings changed' : 'peer removed' });
      this.sessions.delete(name);
      if (!p) this.forgetMetrics(name);
      if (m.error && m.session === undefined && !p?.refused)
        m.log.info(p ? 'peer configuration accepted again' : 'peer removed');
    }
    for (const p of peers) if (!this.sessions.has(p.name)) this.start(p);
  }

  private start(p: PeerConfig): void {
    const spec = p.spec;
    // The session's own logger adds `peer` (the router's address); `bgpPeer` names the BGPPeer object.
    const log = childLogger(this.opts.log, { node: this.opts.node, bgpPeer: p.name });
    const state: SessionState = {
      peer: p.name,
      peerAddress: spec.peerAddress,
      state: 'Idle',
      since: new Date(),
      prefixes: 0,
    };
    const m: ManagedSession = {
      session: undefined,
      configKey: configKey(p),
      state,
      error: p.refused,
      warning: p.warning,
      notified: false,
      log,
    };
    this.sessions.set(p.name, m);
    const metrics = this.opts.metrics;
    const peer = { peer: p.name };
    metrics?.bgpSessionUp.set(peer, 0);
    metrics?.bgpAnnouncedPrefixes.set(peer, 0);
    metrics?.bgpUpdatesSent.inc(peer, 0);
    if (p.bfd) metrics?.bfdSessionUp.set(peer, 0);
    if (!p.refused) {
      try {
        m.session = this.createSession(p, log);
        this.watch(m, m.session, endpoint(spec.peerAddress, spec.peerPort ?? 179));
        for (const [prefix, r] of this.wanted.get(p.name) ?? []) m.session.announce(prefix, r.attrs);
        m.session.start();
      } catch (err) {
        // Whatever the session refuses (an option this host cannot honour, a value the CRD let through)
        // stops this peer only.
        void m.session?.stop();
        m.session = undefined;
        m.error = `cannot start the session: ${(err as Error).message}`;
      }
    }
    if (m.error) log.warn({ reason: m.error }, 'BGP session not opened');
    if (m.warning) log.warn({ reason: m.warning }, 'BGP peer configuration problem');
    this.publish(m);
  }

  private createSession(p: PeerConfig, log: Logger): BgpSession {
    const spec = p.spec;
    const hold = durationSeconds(spec.holdTime);
    const keepalive = durationSeconds(spec.keepaliveTime);
    const connect = durationSeconds(spec.connectTime);
    return new BgpSession({
      localAs: spec.myASN,
      // dynamicASN: internal is iBGP (the router's AS is ours); external accepts any AS but ours.
      peerAs: spec.peerASN ?? (spec.dynamicASN === 'external' ? 'external' : spec.myASN),
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
      // ttlSecurity counts hops to the router (1: on the link, TTL 255 only), as FRR's ttl-security hops
      // does; the session's GTSM option counts the routers in between.
      ...(spec.ttlSecurity ? { gtsm: { hops: spec.ttlSecurity - 1 } } : {}),
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
  }

  /** Keeps the row of `m` current from what its session reports. */
  private watch(m: ManagedSession, session: BgpSession, where: string): void {
    const state = m.state;
    const metrics = this.opts.metrics;
    const peer = { peer: state.peer };
    session.on('state', (change) => {
      // A replaced session's last transitions (its Cease) must not overwrite its successor's row.
      if (this.sessions.get(state.peer) !== m) return;
      state.state = change.to;
      state.since = new Date();
      metrics?.bgpSessionUp.set(peer, change.to === 'Established' ? 1 : 0);
      const before = m.error;
      if (change.to === 'Established') m.error = undefined;
      else if (!m.notified) m.error = transitionError(change.reason, where) ?? m.error;
      m.notified = false;
      // Logged when a failure starts, changes or ends; retries failing the same way stay quiet.
      if (change.to === 'Established' || change.from === 'Established')
        m.log.info({ from: change.from, to: change.to, reason: change.reason }, 'bgp session state');
      else m.log.debug({ from: change.from, to: change.to, reason: change.reason }, 'bgp session state');
      if (m.error && m.error !== before) m.log.warn({ reason: m.error }, 'BGP session not up');
      this.countSent(m);
      this.publish(m);
    });
    session.on('bfd', (c) => {
      if (this.sessions.get(state.peer) === m) metrics?.bfdSessionUp.set(peer, c.to === 'Up' ? 1 : 0);
      m.log.info({ from: c.from, to: c.to, diag: c.diag }, 'bfd session state');
    });
    session.on('notification', (n) => {
      if (this.sessions.get(state.peer) !== m) return;
      m.error = notificationError(n);
      m.notified = true;
      this.publish(m);
    });
    session.on('sent', (sent) => {
      metrics?.bgpUpdatesSent.inc(peer, sent.updates + sent.endOfRib.length);
      if (this.sessions.get(state.peer) === m && this.countSent(m)) this.publishCountSoon(m);
    });
  }

  /** Counts the prefixes the router holds from this session; true when the count changed. */
  private countSent(m: ManagedSession): boolean {
    const n = m.session?.state === 'Established' ? m.session.advertisedCount : 0;
    if (n === m.state.prefixes) return false;
    m.state.prefixes = n;
    this.opts.metrics?.bgpAnnouncedPrefixes.set({ peer: m.state.peer }, n);
    return true;
  }

  private forgetMetrics(peer: string): void {
    const m = this.opts.metrics;
    if (!m) return;
    for (const metric of [m.bgpSessionUp, m.bgpAnnouncedPrefixes, m.bfdSessionUp, m.bgpUpdatesSent])
      metric.remove({ peer });
  }

  private setWarning(m: ManagedSession, warning: string | undefined): void {
    if (warning === m.warning) return;
    if (warning) m.log.warn({ reason: warning }, 'BGP peer configuration problem');
    else m.log.info('BGP peer configuration problem resolved');
    m.warning = warning;
    this.publish(m);
  }

  /**
   * A changed prefix count alone is published at most once a second: during a burst of Service changes
   * it changes with every round of UPDATEs, and each publication is a BGPSessionState write. The count in
   * `states()` and the metric are current at once; a state change publishes everything immediately.
   */
  private publishCountSoon(m: ManagedSession): void {
    this.countsDue.add(m);
    if (this.countTimer) return;
    this.countTimer = (this.opts.clock ?? systemClock).setTimer(COUNT_PUBLISH_MS, () => {
      this.countTimer = undefined;
      const due = [...this.countsDue];
      this.countsDue.clear();
      for (const x of due) if (this.sessions.get(x.state.peer) === x) this.publish(x);
    });
  }

  private publish(m: ManagedSession): void {
    this.countsDue.delete(m);
    const lastError = [m.error, m.warning].filter(Boolean).join('; ');
    if (lastError) m.state.lastError = lastError;
    else delete m.state.lastError;
    this.opts.onStateChange({ ...m.state });
  }

  /** Puts `route` on `peer`'s session, or changes its attributes; nothing when it is there already. */
  announce(peer: string, route: DesiredRoute): void {
    const attrs = routeAttributes(route);
    const key = JSON.stringify(attrs);
    let routes = this.wanted.get(peer);
    if (routes?.get(route.prefix)?.key === key) return;
    if (!routes) {
      routes = new Map();
      this.wanted.set(peer, routes);
    }
    let held = this.held.get(key);
    if (!held) {
      if (this.held.size >= HELD_CACHE_LIMIT) this.held.clear();
      held = { attrs, key };
      this.held.set(key, held);
    }
    routes.set(route.prefix, held);
    const m = this.sessions.get(peer);
    if (m?.session) {
      m.session.announce(route.prefix, held.attrs);
      this.touched.add(m);
    }
  }

  /** Takes `prefix` off `peer`'s session. */
  withdraw(peer: string, prefix: string): void {
    const routes = this.wanted.get(peer);
    if (!routes?.delete(prefix)) return;
    if (routes.size === 0) this.wanted.delete(peer);
    const m = this.sessions.get(peer);
    if (m?.session) {
      m.session.withdraw(prefix);
      this.touched.add(m);
    }
  }

  /**
   * Sends what the calls since the last flush changed, now, in one round of UPDATEs per session
   * (withdrawals first); what is not sent yet (a session not up) is counted when it is.
   */
  flush(): void {
    for (const m of this.touched) {
      m.session?.flush();
      if (this.sessions.get(m.state.peer) === m && this.countSent(m)) this.publishCountSoon(m);
    }
    this.touched.clear();
  }

  /** The routes `peer` should carry, prefix -> attributes. */
  routes(peer: string): Map<string, RouteAttributes> {
    return new Map([...(this.wanted.get(peer) ?? [])].map(([prefix, r]) => [prefix, r.attrs]));
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
        m.session?.stop({ withdraw: true, message: 'speaker shutting down' }),
      ),
    );
    this.sessions.clear();
    this.touched.clear();
    this.countsDue.clear();
    this.countTimer?.cancel();
    this.countTimer = undefined;
  }
}
