/**
 * The assignment invariants, judged from what the API server shows (every watch event of every Service,
 * and consistent LIST snapshots):
 *
 * - an assigned address moves (to another address, or away) only when its Service asked: some change of
 *   its request happened after it got the address;
 * - an address held by two served Services is held under a valid sharing key: the same key, disjoint
 *   ports (port and protocol), the same traffic policy, and for Local the same pods.
 *
 * The controller computes an address from the request it read and writes it a moment later; if the request
 * changed in between, the address lands on an object that already shows the newer request. So the request
 * behind an address is any request in effect during the `lagMs` before the address appeared, and a move
 * is justified by any request change after that window opened.
 *
 * A request that changes while its Service holds a shared address (another key, a port a co-holder uses)
 * breaks the terms at once; the controller must then move that Service or take the address from it. It is
 * given `reactMs` for that (a leader failover included); past it, only the requests in effect during the
 * last `reactMs` justify the sharing, so an old request cannot vouch for a holding forever.
 */
import type { V1Service } from '@kubernetes/client-node';
import { addressesOf, fingerprint, type Request, requestOf, someValidSharing } from './requests.ts';

export interface Violation {
  invariant: 'moved' | 'shared' | 'settle' | 'two-answerers' | 'unowned-answer' | 'l2-settle';
  at: number;
  message: string;
  evidence: string;
}

interface RequestChange {
  at: number;
  request: Request;
  fp: string;
}

interface Tracked {
  key: string;
  history: RequestChange[];
  addresses: string;
  /** When the current addresses were first seen. */
  since: number;
}

export interface Counts {
  passed: number;
  failed: number;
}

/** Held intervals per address, to tell whether an ARP answer was for an address some Service held. */
class HeldTimeline {
  private readonly holders = new Map<string, Set<string>>();
  private readonly intervals = new Map<string, { from: number; to: number }[]>();

  set(uid: string, before: readonly string[], after: readonly string[], at: number): void {
    for (const a of before) {
      if (after.includes(a)) continue;
      const h = this.holders.get(a);
      h?.delete(uid);
      if (h && h.size === 0) {
        this.holders.delete(a);
        const open = this.intervals.get(a)?.at(-1);
        if (open) open.to = at;
      }
    }
    for (const a of after) {
      if (before.includes(a)) continue;
      let h = this.holders.get(a);
      if (!h) {
        h = new Set();
        this.holders.set(a, h);
        const list = this.intervals.get(a) ?? [];
        list.push({ from: at, to: Number.POSITIVE_INFINITY });
        this.intervals.set(a, list);
      }
      h.add(uid);
    }
  }

  heldDuring(address: string, from: number, to: number): boolean {
    return (this.intervals.get(address) ?? []).some((i) => i.from <= to && i.to >= from);
  }
}

export class AssignmentTracker {
  readonly counts: Counts = { passed: 0, failed: 0 };
  readonly violations: Violation[] = [];
  readonly timeline = new HeldTimeline();
  private readonly services = new Map<string, Tracked>();
  private readonly lagMs: number;
  private readonly reactMs: number;
  private readonly report: (v: Violation) => void;

  constructor(opts: { lagMs: number; reactMs: number; report?: (v: Violation) => void }) {
    if (!(opts.reactMs >= opts.lagMs)) throw new Error('reactMs must be at least lagMs');
    this.lagMs = opts.lagMs;
    this.reactMs = opts.reactMs;
    this.report = opts.report ?? (() => {});
  }

  fail(v: Violation): void {
    this.counts.failed++;
    this.violations.push(v);
    this.report(v);
  }

  /** One watch event's view of a Service (add or update). */
  observe(svc: V1Service, at: number): void {
    const uid = svc.metadata?.uid ?? '';
    const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    const request = requestOf(svc);
    const fp = fingerprint(request);
    // Only a served Service holds an address in Beacon's sense; a ClusterIP one with a stale status does not.
    const held = request.served ? addressesOf(svc) : [];
    const addresses = held.join(',');
    let t = this.services.get(uid);
    if (!t) {
      t = { key, history: [{ at, request, fp }], addresses, since: at };
      this.services.set(uid, t);
      this.timeline.set(uid, [], held, at);
      return;
    }
    if (t.history.at(-1)!.fp !== fp) t.history.push({ at, request, fp });
    if (addresses === t.addresses) return;
    this.timeline.set(uid, t.addresses ? t.addresses.split(',') : [], held, at);
    if (t.addresses !== '') {
      // A change of the request (not the creation) after the address's window opened justifies a move.
      const asked = t.history.slice(1).some((h) => h.at > t.since - this.lagMs);
      if (asked) this.counts.passed++;
      else
        this.fail({
          invariant: 'moved',
          at,
          message: `${key} moved from ${t.addresses} to ${addresses || '(none)'} without a change of its request`,
          evidence: `held ${t.addresses} since ${iso(t.since)}; request unchanged since ${iso(t.history.at(-1)!.at)}: ${t.history.at(-1)!.fp}; ${this.coHolders(uid, t.addresses)}`,
        });
    }
    t.addresses = addresses;
    t.since = at;
  }

  /** The other Services on these addresses and their recent requests, as evidence for a move. */
  private coHolders(uid: string, addresses: string): string {
    const mine = addresses.split(',');
    const others = [...this.services.entries()].filter(
      ([u, o]) => u !== uid && o.addresses.split(',').some((a) => mine.includes(a)),
    );
    if (others.length === 0) return `no other Service held ${addresses}`;
    return `also on ${addresses}: ${others
      .map(
        ([, o]) =>
          `${o.key} since ${iso(o.since)}, requests ${o.history
            .slice(-3)
            .map((h) => `${iso(h.at)} ${h.fp}`)
            .join(' then ')}`,
      )
      .join('; ')}`;
  }

  forget(svc: V1Service, at: number): void {
    const uid = svc.metadata?.uid ?? '';
    const t = this.services.get(uid);
    if (t?.addresses) this.timeline.set(uid, t.addresses.split(','), [], at);
    this.services.delete(uid);
  }

  /**
   * The requests that may justify the Service's current addresses at `now`, as `snapshot` shows them: those
   * in effect since the window before the addresses appeared, but none that ended more than reactMs ago.
   */
  private candidates(svc: V1Service, now: number): Request[] {
    const current = requestOf(svc);
    const t = this.services.get(svc.metadata?.uid ?? '');
    if (!t) return [current];
    // The snapshot may be newer than the last watch event: then the address appeared just now.
    const since = t.addresses === addressesOf(svc).join(',') ? t.since : now;
    const from = Math.max(since - this.lagMs, now - this.reactMs);
    let i = t.history.length - 1;
    while (i > 0 && t.history[i]!.at > from) i--;
    return [current, ...t.history.slice(i).map((h) => h.request)];
  }

  /** Checks one consistent LIST of Services: every address held twice is shared under a valid key. */
  checkSnapshot(services: readonly V1Service[], now: number): void {
    const holders = new Map<string, V1Service[]>();
    for (const s of services) {
      if (!requestOf(s).served) continue;
      for (const a of addressesOf(s)) holders.set(a, [...(holders.get(a) ?? []), s]);
    }
    for (const [address, list] of holders) {
      if (list.length === 1 || someValidSharing(list.map((s) => this.candidates(s, now)))) {
        this.counts.passed++;
        continue;
      }
      this.fail({
        invariant: 'shared',
        at: now,
        message: `${address} is held by ${list.length} Services without a valid sharing key and disjoint ports`,
        evidence: list
          .map((s) => {
            const r = requestOf(s);
            return `${s.metadata?.namespace}/${s.metadata?.name} key=${JSON.stringify(r.shareKey)} ports=${r.ports.join('+')} policy=${r.policy} requested=${r.requested.join('+') || '-'}`;
          })
          .join('; '),
      });
    }
  }
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
