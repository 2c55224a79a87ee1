/**
 * The address table: which Service holds which address, from which pool, under which sharing terms.
 *
 * Every method plans first and changes state only once the whole plan stands, so a refused request leaves
 * every other assignment exactly as it was, and the requester's too, with one exception that safety
 * demands: never two holders of an address without a valid sharing key and disjoint ports. A Service
 * whose new request may no longer share an address with its co-holders (another key, a port they use, ...)
 * is the one that broke the terms, so it is the one that moves; when no other address can be found it
 * gives this one up (`lost`), and its co-holders keep it. An address a Service holds otherwise moves only
 * when a person asks: the request names a different address or switches to a pool the address is not in.
 * Pool changes never move it (an address outside every pool is kept and reported), nor does a restart.
 */

import {
  addressHint,
  canonicalAddress,
  type Family,
  familyName,
  formatAddress,
  type IPAddress,
  mappedIPv4,
  parseAddress,
} from './address.ts';
import { AddressSet } from './address-set.ts';
import {
  type CompiledPool,
  comparePools,
  compilePool,
  type Pool,
  poolAvoids,
  poolCanHandOut,
  poolContains,
  poolExclusion,
} from './pool.ts';
import { countBuggyAddresses, formatRange, intersectRanges, isBuggyAddress, rangeSize } from './range.ts';
import { type Holder, sharingRefusal } from './sharing.ts';
import type {
  Assignment,
  AssignResult,
  FamilyStats,
  OutOfPoolAddress,
  PoolError,
  PoolInput,
  PoolOverlap,
  PoolStats,
  Refusal,
  RestoreResult,
  ServiceRequest,
  SetPoolsResult,
} from './types.ts';

/** One held address and the Services on it (several only under a shared sharing key). */
interface Holding {
  family: Family;
  value: bigint;
  text: string;
  /**
   * The pool it is counted in; undefined when it lies in no pool. Derived from the pools and the
   * holders' requests alone (see attribute()), so it does not depend on the order Services arrived in.
   */
  pool: string | undefined;
  /** The Services on it; their requests are in byService. */
  holders: Set<string>;
  /**
   * Services whose status may show it though they do not hold it: they gave it up and the status is not
   * written yet (see written()), or another load-balancer provider assigned it (see shownBy()). While any
   * does, nobody else gets it: two Services' statuses must never show one address without a sharing key.
   */
  shownBy: Set<string>;
  /** The sharing key its holders share, indexed in sharingGroups. */
  groupKey: string | undefined;
}

/** A decided address for one family of a request, not yet applied. */
interface Pick {
  family: Family;
  value: bigint;
  text: string;
  /** The holding it lands on when the address is already held (kept, or joined under a sharing key). */
  existing: Holding | undefined;
}

/** What a Service holds, and the request it holds it under. */
interface ServiceEntry {
  holdings: Holding[];
  /**
   * The request the holdings were last assigned or restored under. Its pool matters on its own: a
   * later request naming another pool is a person asking for a move; the same name is not, even if
   * that pool has since shrunk, gone away or no longer contains the address.
   */
  request: ServiceRequest;
}

type PickResult = { ok: true; pick: Pick } | { ok: false; refusal: Refusal };

interface ValidRequest {
  requested: Map<Family, IPAddress>;
  /** Families to assign, in the request's order. */
  wanted: Family[];
}

export class Allocator {
  private pools = new Map<string, Pool>();
  /** Pools in the order they are tried (see comparePools). */
  private ordered: Pool[] = [];
  private holdings = new Map<string, Holding>();
  private byService = new Map<string, ServiceEntry>();
  private readonly used: Record<Family, AddressSet> = { 4: new AddressSet(), 6: new AddressSet() };
  /** Held addresses that isBuggyAddress rules out, so that pool stats can leave them out by counting. */
  private readonly buggyHeld: Record<Family, AddressSet> = { 4: new AddressSet(), 6: new AddressSet() };
  private sharingGroups = new Map<string, Set<Holding>>();
  /** For each Service, the holdings its status may show though it does not hold them (Holding.shownBy). */
  private shownWithoutHolding = new Map<string, Map<Holding, 'given up' | 'foreign'>>();

  /**
   * Replaces the pool configuration. Pools with a bad entry or a duplicate name are rejected whole and
   * reported. Held addresses stay where they are; those now in no pool are reported.
   */
  setPools(inputs: readonly PoolInput[]): SetPoolsResult {
    const errors: PoolError[] = [];
    const pools = new Map<string, Pool>();
    for (const input of inputs) {
      if (pools.has(input.name)) {
        errors.push({ pool: input.name, message: `pool ${input.name} is defined twice; the first is used` });
        continue;
      }
      const compiled: CompiledPool = compilePool(input);
      if (compiled.ok) pools.set(input.name, compiled.pool);
      else errors.push({ pool: input.name, message: compiled.message });
    }
    this.pools = pools;
    this.ordered = [...pools.values()].sort(comparePools);
    for (const holding of this.holdings.values()) holding.pool = this.attribute(holding);
    return { errors, outOfPool: this.outOfPool() };
  }

  /** Pool names in the order they are tried for a Service that names none. */
  poolNames(): string[] {
    return this.ordered.map((p) => p.name);
  }

  /**
   * Records the addresses a Service already has in its status, before anything new is assigned, so a
   * controller restart moves nothing. Addresses in no pool are kept. An address already held by a
   * Service it may not share with stays with the Service restored first and is reported as a conflict:
   * the caller restores first the Services that did not change their terms since they got their
   * addresses, so the one that broke the terms is the one that must move. Replaces whatever the Service
   * held before. An address its status shows but it does not get back goes to nobody else until written()
   * says the status no longer shows it.
   */
  restore(req: ServiceRequest, addresses: readonly string[]): RestoreResult {
    this.release(req.key);
    const conflicts: Refusal[] = [];
    const picks: Pick[] = [];
    const notRestored: Pick[] = [];
    for (const text of addresses) {
      const parsed = parseAddress(text.trim());
      if (!parsed) {
        conflicts.push({
          reason: 'InvalidRequest',
          message: `${req.key} has "${text}" in its status, which is not an IP address; it was not restored`,
        });
        continue;
      }
      const canonical = formatAddress(parsed);
      const sameFamily = picks.find((p) => p.family === parsed.family);
      if (sameFamily) {
        conflicts.push({
          reason: 'InvalidRequest',
          message: `${req.key} has a second ${familyName(parsed.family)} address ${canonical} in its status; only ${sameFamily.text} was restored`,
          family: parsed.family,
          address: canonical,
        });
        notRestored.push({ ...parsed, text: canonical, existing: this.holdings.get(canonical) });
        continue;
      }
      const existing = this.holdings.get(canonical);
      const refusal = existing && sharingRefusal(canonical, req.key, req.sharing, this.holdersOf(existing));
      if (refusal) {
        conflicts.push({
          ...refusal,
          family: parsed.family,
          message: `${refusal.message}; ${req.key} also has it in its status, and gives it up`,
        });
        notRestored.push({ ...parsed, text: canonical, existing });
        continue;
      }
      picks.push({ family: parsed.family, value: parsed.value, text: canonical, existing });
    }
    this.apply(req, picks);
    for (const pick of notRestored) {
      if (picks.some((p) => p.text === pick.text)) continue;
      this.addShown('given up', this.holdings.get(pick.text) ?? this.createHolding(pick), req.key);
    }
    const assignment = this.assignmentOf(req.key);
    return {
      assignment,
      outOfPool: (assignment?.addresses ?? []).filter((a) => a.pool === undefined).map((a) => a.address),
      conflicts,
    };
  }

  /**
   * Gives the Service an address per wanted family, keeping every address it holds that still
   * satisfies the request. On refusal nothing changes.
   */
  assign(req: ServiceRequest): AssignResult {
    const entry = this.byService.get(req.key);
    const before = entry?.holdings ?? [];
    const valid = validateRequest(req);
    if (!valid.ok) {
      const lost = entry ? this.giveUpUnshareable(req, entry) : [];
      return { ok: false, refusal: valid.refusal, assignment: this.assignmentOf(req.key), lost };
    }

    const picks: Pick[] = [];
    const failures: Refusal[] = [];
    for (const family of valid.request.wanted) {
      const requested = valid.request.requested.get(family);
      const current = before.find((h) => h.family === family);
      if (current && this.stillSatisfies(current, entry!.request, req, requested)) {
        picks.push({ family, value: current.value, text: current.text, existing: current });
        continue;
      }
      const result = requested ? this.pickRequested(req, requested) : this.pickAuto(req, family);
      if (result.ok) picks.push(result.pick);
      else failures.push({ ...result.refusal, family });
    }
    if (failures.length && (req.requireAllFamilies || picks.length === 0)) {
      const lost = entry ? this.giveUpUnshareable(req, entry) : [];
      return { ok: false, refusal: failures[0]!, assignment: this.assignmentOf(req.key), lost };
    }
    this.apply(req, picks);
    const after = this.byService.get(req.key)?.holdings ?? [];
    const changed = before.length !== after.length || before.some((h, i) => h !== after[i]);
    return { ok: true, assignment: this.assignmentOf(req.key)!, changed, unassigned: failures };
  }

  /**
   * After a refusal: the Service keeps the addresses it may still share under its new sharing terms, held
   * from now on under those terms, and gives up the others. Returns why each was given up.
   */
  private giveUpUnshareable(req: ServiceRequest, entry: ServiceEntry): Refusal[] {
    const lost: Refusal[] = [];
    const kept: Pick[] = [];
    for (const h of entry.holdings) {
      const refusal = sharingRefusal(h.text, req.key, req.sharing, this.holdersOf(h));
      if (!refusal) {
        kept.push({ family: h.family, value: h.value, text: h.text, existing: h });
        continue;
      }
      lost.push({
        ...refusal,
        family: h.family,
        address: h.text,
        message: `${req.key} gives up ${h.text}: ${refusal.message}`,
      });
    }
    const terms: ServiceRequest = { ...entry.request };
    if (req.sharing) terms.sharing = req.sharing;
    else delete terms.sharing;
    this.apply(terms, kept);
    return lost;
  }

  /**
   * Frees every address the Service holds (an address stays held while other Services share it). When
   * its status may still show them (the Service still exists), they stay out of reach of other Services
   * until written() says the status no longer does.
   */
  release(service: string, statusMayShow = false): void {
    for (const holding of this.byService.get(service)?.holdings ?? [])
      this.removeHolder(holding, service, statusMayShow);
    this.byService.delete(service);
    if (!statusMayShow) this.written(service, []);
  }

  /**
   * The Service's status now shows exactly `addresses` (written, or found so). Addresses it gave up and
   * no longer shows become free for others; returns whether any did, so waiting Services can be served.
   */
  written(service: string, addresses: readonly string[]): boolean {
    const shownOnly = this.shownWithoutHolding.get(service);
    if (!shownOnly) return false;
    const shown = new Set(addresses.map((a) => canonicalAddress(a.trim()) ?? a));
    let freed = false;
    for (const holding of shownOnly.keys()) {
      if (shown.has(holding.text)) continue;
      this.stopShown(holding, service);
      if (holding.shownBy.size > 0) continue;
      freed = true;
      if (holding.holders.size === 0) this.deleteHolding(holding);
    }
    return freed;
  }

  /**
   * The status of a Service Beacon does not serve (another class; MetalLB's, beside a class-only Beacon)
   * shows these addresses: nobody gets them while it does. Returns whether an address it showed before
   * and shows no more became free.
   */
  shownBy(service: string, addresses: readonly string[]): boolean {
    const freed = this.written(service, addresses);
    for (const text of addresses) {
      const parsed = parseAddress(text.trim());
      if (!parsed) continue;
      const canonical = formatAddress(parsed);
      const existing = this.holdings.get(canonical);
      if (existing?.holders.has(service)) continue;
      this.addShown(
        'foreign',
        existing ?? this.createHolding({ ...parsed, text: canonical, existing: undefined }),
        service,
      );
    }
    return freed;
  }

  /** Addresses the Service gave up whose status may still show them (until written() says otherwise). */
  givenUp(service: string): string[] {
    const shown = [...(this.shownWithoutHolding.get(service) ?? [])];
    return shown.filter(([, why]) => why === 'given up').map(([h]) => h.text);
  }

  assignmentOf(service: string): Assignment | undefined {
    const entry = this.byService.get(service);
    if (!entry) return undefined;
    return {
      service,
      addresses: entry.holdings.map((h) => ({ address: h.text, family: h.family, pool: h.pool })),
      ...(entry.request.sharing ? { sharing: entry.request.sharing } : {}),
    };
  }

  /** The Services on an address, by name; empty when the address is free or not an address. */
  servicesAt(address: string): string[] {
    const parsed = parseAddress(address.trim());
    const holding = parsed && this.holdings.get(formatAddress(parsed));
    return holding ? [...holding.holders.keys()].sort() : [];
  }

  /** Every held address that lies in no pool, with its Services. */
  outOfPool(): OutOfPoolAddress[] {
    return [...this.holdings.values()]
      .filter((h) => h.pool === undefined && h.holders.size > 0)
      .sort((a, b) => a.family - b.family || (a.value < b.value ? -1 : 1))
      .map((h) => ({ address: h.text, family: h.family, services: [...h.holders.keys()].sort() }));
  }

  poolStats(name: string): PoolStats | undefined {
    const pool = this.pools.get(name);
    if (!pool) return undefined;
    return { pool: name, ipv4: this.familyStats(pool, 4), ipv6: this.familyStats(pool, 6) };
  }

  /** Address ranges that belong to two pools at once (a configuration mistake to report). */
  overlappingPools(): PoolOverlap[] {
    const pools = [...this.pools.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
    const overlaps: PoolOverlap[] = [];
    for (let i = 0; i < pools.length; i++) {
      for (let j = i + 1; j < pools.length; j++) {
        for (const family of [4, 6] as const) {
          for (const shared of intersectRanges(pools[i]!.ranges[family], pools[j]!.ranges[family])) {
            overlaps.push({ a: pools[i]!.name, b: pools[j]!.name, range: formatRange(shared) });
          }
        }
      }
    }
    return overlaps;
  }

  /**
   * Elementary steps taken by address searches so far. It grows with the number of held addresses,
   * never with pool size; tests and benchmarks use it to prove that without timing anything.
   */
  get searchSteps(): number {
    return this.used[4].steps + this.used[6].steps;
  }

  private stillSatisfies(
    current: Holding,
    previous: ServiceRequest,
    req: ServiceRequest,
    requested: IPAddress | undefined,
  ): boolean {
    if (requested && requested.value !== current.value) return false;
    if (req.pool && req.pool !== previous.pool) {
      const pool = this.pools.get(req.pool);
      if (!pool || !poolContains(pool, current.family, current.value)) return false;
    }
    return sharingRefusal(current.text, req.key, req.sharing, this.holdersOf(current)) === undefined;
  }

  private pickRequested(req: ServiceRequest, address: IPAddress): PickResult {
    const { family, value } = address;
    const text = formatAddress(address);
    const refuse = (reason: Refusal['reason'], message: string, pools?: string[]): PickResult => ({
      ok: false,
      refusal: { reason, message, address: text, ...(pools ? { pools } : {}) },
    });
    const containing = this.ordered.filter((p) => poolContains(p, family, value));
    let allowed: Pool[];
    if (req.pool) {
      const named = this.pools.get(req.pool);
      if (!named) return this.unknownPool(req);
      if (!poolContains(named, family, value)) {
        const elsewhere = containing.length ? ` (it lies in ${poolList(containing)})` : '';
        return refuse(
          'AddressNotInPool',
          `${text}, requested by ${req.key}, is not in pool ${named.name}, which ${req.key} asks for${elsewhere}`,
          [named.name],
        );
      }
      const exclusion = poolExclusion(named, req);
      if (exclusion) return refuse('PoolNotAllowed', exclusion, [named.name]);
      allowed = [named];
    } else {
      if (containing.length === 0) {
        return refuse('AddressNotInPool', `${text}, requested by ${req.key}, is in no address pool`);
      }
      allowed = containing.filter((p) => !poolExclusion(p, req));
      if (allowed.length === 0) {
        return refuse(
          'AddressNotInPool',
          `${text}, requested by ${req.key}, lies only in ${poolList(containing)}, which ${req.key} may not use: ${poolExclusion(containing[0]!, req)}`,
          containing.map((p) => p.name),
        );
      }
    }
    const pool = allowed.find((p) => poolCanHandOut(p, family, value));
    if (!pool) {
      return refuse(
        'AddressNotInPool',
        family === 4
          ? `${text}, requested by ${req.key}, ends in .${value & 0xffn}, which ${poolList(allowed)} never hands out (avoidBuggyIPs)`
          : `${text}, requested by ${req.key}, is a Subnet-Router anycast address (all-zeros interface identifier, RFC 4291 §2.6.1), which ${poolList(allowed)} never hands out (avoidBuggyIPs)`,
        allowed.map((p) => p.name),
      );
    }
    const existing = this.holdings.get(text);
    if (existing) {
      const refusal =
        sharingRefusal(text, req.key, req.sharing, this.holdersOf(existing)) ??
        this.stillShownRefusal(existing, req.key);
      if (refusal) return { ok: false, refusal };
    }
    return { ok: true, pick: { family, value, text, existing } };
  }

  private pickAuto(req: ServiceRequest, family: Family): PickResult {
    let candidates: Pool[];
    if (req.pool) {
      const named = this.pools.get(req.pool);
      if (!named) return this.unknownPool(req);
      const exclusion = poolExclusion(named, req);
      if (exclusion) {
        return { ok: false, refusal: { reason: 'PoolNotAllowed', message: exclusion, pools: [named.name] } };
      }
      if (named.ranges[family].length === 0) {
        return {
          ok: false,
          refusal: {
            reason: 'NoPoolForFamily',
            message: `pool ${named.name}, which ${req.key} asks for, has no ${familyName(family)} addresses`,
            pools: [named.name],
          },
        };
      }
      candidates = [named];
    } else {
      candidates = this.ordered.filter(
        (p) => p.autoAssign && p.ranges[family].length > 0 && !poolExclusion(p, req),
      );
      if (candidates.length === 0) return this.noPoolForFamily(req, family);
    }
    if (req.sharing) {
      const joined = this.findShareable(req, family, candidates);
      if (joined) return { ok: true, pick: joined };
    }
    for (const pool of candidates) {
      const value = this.firstFree(pool, family);
      if (value !== undefined) {
        const text = formatAddress({ family, value });
        return { ok: true, pick: { family, value, text, existing: undefined } };
      }
    }
    const sharingNote = req.sharing
      ? `, and no address held under sharing key "${req.sharing.key}" can take it`
      : '';
    return {
      ok: false,
      refusal: {
        reason: 'PoolExhausted',
        message: `no free ${familyName(family)} address for ${req.key} in ${poolList(candidates)}${sharingNote}`,
        pools: candidates.map((p) => p.name),
      },
    };
  }

  /** An address already held under the request's sharing key that it may join, as MetalLB prefers. */
  private findShareable(req: ServiceRequest, family: Family, candidates: readonly Pool[]): Pick | undefined {
    const group = this.sharingGroups.get(req.sharing!.key);
    if (!group) return undefined;
    const held = [...group].filter((h) => h.family === family).sort((a, b) => (a.value < b.value ? -1 : 1));
    for (const pool of candidates) {
      for (const h of held) {
        if (!poolCanHandOut(pool, family, h.value)) continue;
        if (sharingRefusal(h.text, req.key, req.sharing, this.holdersOf(h))) continue;
        if (this.stillShownRefusal(h, req.key)) continue;
        return { family, value: h.value, text: h.text, existing: h };
      }
    }
    return undefined;
  }

  /** The lowest address the pool would hand out that nobody holds, found without enumerating. */
  private firstFree(pool: Pool, family: Family): bigint | undefined {
    const used = this.used[family];
    for (const range of pool.ranges[family]) {
      let from = range.first;
      for (;;) {
        const gap = used.firstAbsent(from, range.last);
        if (gap === undefined) break;
        if (!poolAvoids(pool, family, gap)) return gap;
        from = gap + 1n;
      }
    }
    return undefined;
  }

  private unknownPool(req: ServiceRequest): PickResult {
    const known = this.ordered.length ? ` (pools: ${this.poolNames().join(', ')})` : ' (there are no pools)';
    return {
      ok: false,
      refusal: {
        reason: 'UnknownPool',
        message: `pool ${req.pool}, which ${req.key} asks for, does not exist${known}`,
        pools: [req.pool!],
      },
    };
  }

  private noPoolForFamily(req: ServiceRequest, family: Family): PickResult {
    const withFamily = this.ordered.filter((p) => p.ranges[family].length > 0);
    const why = withFamily.map((p) =>
      p.autoAssign
        ? poolExclusion(p, req)!
        : `pool ${p.name} hands out addresses only when asked for by name or address (autoAssign: false)`,
    );
    const detail = why.length ? `: ${why.join('; ')}` : `: no pool has ${familyName(family)} addresses`;
    return {
      ok: false,
      refusal: {
        reason: 'NoPoolForFamily',
        message: `no pool may give ${req.key} an ${familyName(family)} address${detail}`,
        pools: withFamily.map((p) => p.name),
      },
    };
  }

  /**
   * The pool an address is counted in: among the pools that contain it (in trial order), one a holder
   * names, else one that hands it out to a holder, else the first. Only overlapping pools make this a
   * choice, and the answer depends on who holds the address, never on who came first.
   */
  private attribute(holding: Holding): string | undefined {
    const containing = this.ordered.filter((p) => poolContains(p, holding.family, holding.value));
    if (containing.length <= 1) return containing[0]?.name;
    const requests = [...holding.holders].sort().map((s) => this.byService.get(s)!.request);
    const named = containing.find((p) => requests.some((r) => r.pool === p.name));
    const serving = containing.find(
      (p) => poolCanHandOut(p, holding.family, holding.value) && requests.some((r) => !poolExclusion(p, r)),
    );
    return (named ?? serving ?? containing[0]!).name;
  }

  /** AddressInUse while a Service other than `service` may show the address without holding it. */
  private stillShownRefusal(holding: Holding, service: string): Refusal | undefined {
    const others = [...holding.shownBy].filter((s) => s !== service).sort();
    if (others.length === 0) return undefined;
    const foreign = others.filter((s) => this.shownWithoutHolding.get(s)?.get(holding) === 'foreign');
    return {
      reason: 'AddressInUse',
      message: foreign.length
        ? `${holding.text} is in the status of ${foreign.join(', ')}, which another load-balancer provider serves; it is free for Beacon once that status no longer shows it`
        : `${holding.text} was given up by ${others.join(', ')}, whose status still shows it; it is free once that status is written without it`,
      address: holding.text,
      services: others,
    };
  }

  private holdersOf(holding: Holding): Holder[] {
    return [...holding.holders].map((service) => ({
      service,
      sharing: this.byService.get(service)!.request.sharing,
    }));
  }

  private familyStats(pool: Pool, family: Family): FamilyStats {
    let total = 0n;
    let assigned = 0n;
    let heldUnusable = 0n;
    const avoid = pool.avoidBuggyIPs;
    const anycast = family === 6 ? pool.anycast6 : [];
    for (const r of pool.ranges[family]) {
      assigned += this.used[family].countBetween(r.first, r.last);
      total += rangeSize(r);
      if (!avoid) continue;
      total -= countBuggyAddresses(r);
      heldUnusable += this.buggyHeld[family].countBetween(r.first, r.last);
      for (const v of anycast) {
        if (v < r.first || v > r.last) continue;
        total--;
        if (this.used[family].has(v)) heldUnusable++;
      }
    }
    return { total, assigned, available: total - (assigned - heldUnusable) };
  }

  /** Makes `picks` the Service's addresses under `req`: joins or creates their holdings, leaves the rest. */
  private apply(req: ServiceRequest, picks: readonly Pick[]): void {
    const previous = this.byService.get(req.key)?.holdings ?? [];
    const next = picks.map((pick) => pick.existing ?? this.createHolding(pick));
    // The entry goes first: regrouping and attribution read the holders' requests from it.
    if (next.length) this.byService.set(req.key, { holdings: next, request: req });
    else this.byService.delete(req.key);
    for (const holding of next) {
      holding.holders.add(req.key);
      this.stopShown(holding, req.key);
      this.holdersChanged(holding);
    }
    // Its status shows the previous addresses until the controller writes the new ones.
    for (const old of previous) if (!next.includes(old)) this.removeHolder(old, req.key, true);
  }

  private createHolding(pick: Pick): Holding {
    const holding: Holding = {
      family: pick.family,
      value: pick.value,
      text: pick.text,
      pool: undefined,
      holders: new Set(),
      shownBy: new Set(),
      groupKey: undefined,
    };
    this.holdings.set(holding.text, holding);
    this.used[holding.family].add(holding.value);
    if (isBuggyAddress(holding.family, holding.value)) this.buggyHeld[holding.family].add(holding.value);
    return holding;
  }

  private removeHolder(holding: Holding, service: string, statusMayShow: boolean): void {
    holding.holders.delete(service);
    if (statusMayShow) this.addShown('given up', holding, service);
    if (holding.holders.size > 0 || holding.shownBy.size > 0) {
      this.holdersChanged(holding);
      return;
    }
    this.deleteHolding(holding);
  }

  private addShown(why: 'given up' | 'foreign', holding: Holding, service: string): void {
    holding.shownBy.add(service);
    const mine = this.shownWithoutHolding.get(service) ?? new Map();
    if (!mine.has(holding)) mine.set(holding, why);
    this.shownWithoutHolding.set(service, mine);
  }

  private stopShown(holding: Holding, service: string): void {
    if (!holding.shownBy.delete(service)) return;
    const mine = this.shownWithoutHolding.get(service);
    mine?.delete(holding);
    if (mine?.size === 0) this.shownWithoutHolding.delete(service);
  }

  private deleteHolding(holding: Holding): void {
    this.holdings.delete(holding.text);
    this.used[holding.family].delete(holding.value);
    this.buggyHeld[holding.family].delete(holding.value);
    this.setGroup(holding, undefined);
  }

  private holdersChanged(holding: Holding): void {
    this.regroup(holding);
    holding.pool = this.attribute(holding);
  }

  /** Keeps the sharing-key index in step with the key its holders use (a sole holder may change it). */
  private regroup(holding: Holding): void {
    const first = holding.holders.values().next().value;
    this.setGroup(holding, first === undefined ? undefined : this.byService.get(first)?.request.sharing?.key);
  }

  private setGroup(holding: Holding, key: string | undefined): void {
    if (holding.groupKey === key) return;
    if (holding.groupKey !== undefined) {
      const group = this.sharingGroups.get(holding.groupKey);
      group?.delete(holding);
      if (group?.size === 0) this.sharingGroups.delete(holding.groupKey);
    }
    holding.groupKey = key;
    if (key !== undefined) {
      const group = this.sharingGroups.get(key) ?? new Set();
      group.add(holding);
      this.sharingGroups.set(key, group);
    }
  }
}

const FAMILIES: readonly Family[] = [4, 6];

function poolList(pools: readonly Pool[]): string {
  return pools.length === 1 ? `pool ${pools[0]!.name}` : `pools ${pools.map((p) => p.name).join(', ')}`;
}

function validateRequest(
  req: ServiceRequest,
): { ok: true; request: ValidRequest } | { ok: false; refusal: Refusal } {
  const invalid = (message: string) => ({
    ok: false as const,
    refusal: { reason: 'InvalidRequest' as const, message },
  });
  if (req.problem) return invalid(req.problem);
  if (req.families.length === 0) return invalid(`${req.key} has no IP family to assign an address for`);
  if (new Set(req.families).size !== req.families.length || req.families.some((f) => !FAMILIES.includes(f))) {
    return invalid(
      `${req.key} lists the IP families ${req.families.join(', ')}; expected IPv4 and/or IPv6 once each`,
    );
  }
  const requested = new Map<Family, IPAddress>();
  for (const text of req.requestedAddresses) {
    if (text.trim() === '') {
      return invalid(`${req.key} requests an empty address (an empty entry in its list of addresses)`);
    }
    const address = parseAddress(text.trim());
    if (!address) {
      const hint = addressHint(text.trim());
      return invalid(`"${text}", requested by ${req.key}, is not an IP address${hint ? `: ${hint}` : ''}`);
    }
    const v4 = mappedIPv4(address);
    if (v4) {
      return invalid(
        `"${text}", requested by ${req.key}, is an IPv4-mapped IPv6 address, which Kubernetes does not accept as a Service's address; request ${v4} instead`,
      );
    }
    const name = familyName(address.family);
    const earlier = requested.get(address.family);
    if (earlier) {
      return invalid(
        `${req.key} requests two ${name} addresses (${formatAddress(earlier)} and ${formatAddress(address)}); request at most one per family`,
      );
    }
    if (!req.families.includes(address.family)) {
      return invalid(
        `${req.key} requests the ${name} address ${formatAddress(address)} but its IP families are ${req.families.map(familyName).join(', ')}`,
      );
    }
    requested.set(address.family, address);
  }
  const wanted = requested.size ? req.families.filter((f) => requested.has(f)) : [...req.families];
  if (req.requireAllFamilies && wanted.length < req.families.length) {
    const missing = req.families.filter((f) => !requested.has(f)).map(familyName);
    return invalid(
      `${req.key} requires an address of every family (${req.families.map(familyName).join(', ')}) but requests no ${missing.join(' or ')} address; request one per family, or none`,
    );
  }
  return { ok: true, request: { requested, wanted } };
}
