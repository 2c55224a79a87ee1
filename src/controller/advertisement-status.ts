/**
 * Says on each BGPAdvertisement whether every community it names has a value: the condition
 * CommunitiesResolved, and a Warning Event CommunityNotFound when a name has none (no Community object
 * defines it and it is not well-known). The speakers withhold that advertisement's routes meanwhile (they
 * resolve names with the same module), so the Event is the operator's only sign of why a route is missing.
 *
 * The condition is compared with what the object already carries, so a new leader writes nothing and
 * records no Event for a state its predecessor already reported. Evaluations are coalesced like the pools'.
 */
import { CommunityResolver } from '../api/communities.ts';
import type { BGPAdvertisement, Community, Condition } from '../api/types.ts';
import type { EventRecorder } from '../k8s/events.ts';
import { ApiError, type KubeRest } from '../k8s/rest.ts';
import type { Logger } from '../log.ts';
import { condition } from './conditions.ts';

const FLUSH_INTERVAL_MS = 200;
export const COMMUNITIES_RESOLVED = 'CommunitiesResolved';

export class AdvertisementStatusWriter {
  private readonly rest: KubeRest;
  private readonly namespace: string;
  private readonly log: Logger;
  private readonly events: EventRecorder;
  private ads: () => BGPAdvertisement[] = () => [];
  private communities: () => Community[] = () => [];
  private term: AbortSignal | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** The problem last recorded as an Event per advertisement this term, so a retried write records none. */
  private readonly reported = new Map<string, string>();
  /** A refused write (403, 422) is tried again after this long, doubling up to a minute. */
  private retryMs = 1000;

  constructor(rest: KubeRest, namespace: string, log: Logger, events: EventRecorder) {
    this.rest = rest;
    this.namespace = namespace;
    this.log = log;
    this.events = events;
  }

  /** Writes for this leadership term, cancelled when it ends. */
  start(ads: () => BGPAdvertisement[], communities: () => Community[], term: AbortSignal): void {
    this.ads = ads;
    this.communities = communities;
    this.term = term;
    this.reported.clear();
    this.retryMs = 1000;
    this.markAll();
  }

  stop(): void {
    this.term = undefined;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** An advertisement or a Community changed: evaluate every advertisement soon. */
  markAll(): void {
    if (this.timer || !this.term) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, FLUSH_INTERVAL_MS);
  }

  private async flush(): Promise<void> {
    const term = this.term;
    if (!term || term.aborted) return;
    const resolver = new CommunityResolver(this.communities());
    const errors = (await Promise.all(this.ads().map((ad) => this.write(ad, resolver, term)))).filter(
      (e): e is string => e !== undefined,
    );
    if (errors.length === 0 || term.aborted) {
      if (this.retryMs > 1000) this.log.info('advertisement status writes succeed again');
      this.retryMs = 1000;
      return;
    }
    if (this.retryMs === 1000)
      this.log.warn({ errors }, 'advertisement status write failed; retrying with backoff');
    // The informer still shows the old condition, so the next evaluation writes again.
    setTimeout(() => this.markAll(), this.retryMs).unref();
    this.retryMs = Math.min(this.retryMs * 2, 60_000);
  }

  /** Why the write failed and should be tried again, or undefined. */
  private async write(
    ad: BGPAdvertisement,
    resolver: CommunityResolver,
    term: AbortSignal,
  ): Promise<string | undefined> {
    const name = ad.metadata.name ?? '';
    const { problems } = resolver.resolveAll(ad.spec?.communities ?? []);
    const prev = ad.status?.conditions;
    const gen = ad.metadata.generation;
    const next = problems.length
      ? condition(
          COMMUNITIES_RESOLVED,
          false,
          'CommunityNotFound',
          `${problems.join('; ')}: the routes of this advertisement are not announced until the name is defined in a Community object or corrected`,
          prev,
          gen,
        )
      : condition(COMMUNITIES_RESOLVED, true, 'Resolved', 'Every community has a value', prev, gen);
    const old = prev?.find((c) => c.type === COMMUNITIES_RESOLVED);
    if (old && sameCondition(old, next)) return undefined;
    if (next.status === 'False' && this.reported.get(name) !== next.message) {
      this.reported.set(name, next.message);
      this.events.record(
        { ...ad, apiVersion: 'beacon.dev/v1alpha1', kind: 'BGPAdvertisement' },
        'Warning',
        'CommunityNotFound',
        next.message,
      );
      this.log.warn(
        { bgpAdvertisement: name, reason: next.message },
        'advertisement names a community without a value',
      );
    } else if (next.status === 'True' && old?.status === 'False') {
      this.reported.delete(name);
      this.log.info({ bgpAdvertisement: name }, 'advertisement communities resolved');
    }
    const conditions = [...(prev ?? []).filter((c) => c.type !== COMMUNITIES_RESOLVED), next];
    try {
      await this.rest.patch(
        `/apis/beacon.dev/v1alpha1/namespaces/${this.namespace}/bgpadvertisements/${name}/status`,
        'merge',
        { status: { conditions } },
        { signal: term },
      );
      return undefined;
    } catch (err) {
      if (term.aborted || (err instanceof ApiError && err.status === 404)) return undefined;
      return `${name}: ${(err as Error).message}`;
    }
  }
}

function sameCondition(a: Condition, b: Condition): boolean {
  return (
    a.status === b.status &&
    a.reason === b.reason &&
    a.message === b.message &&
    a.observedGeneration === b.observedGeneration
  );
}
