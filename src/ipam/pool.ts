/**
 * A pool compiled from its spec: sorted disjoint ranges per family, who it may serve, and the order in
 * which pools are tried.
 */
import { formatSelector, selectorsAllow } from '../labels/selector.ts';
import type { Family } from './address.ts';
import { type AddressRange, cidrAnycast, isBuggyAddress, mergeRanges, parseAddressBlock } from './range.ts';
import type { PoolInput, ServiceAllocation, ServiceRequest } from './types.ts';

export interface Pool {
  name: string;
  ranges: Readonly<Record<Family, readonly AddressRange[]>>;
  autoAssign: boolean;
  avoidBuggyIPs: boolean;
  /**
   * With avoidBuggyIPs: the all-zeros addresses of the pool's IPv6 CIDR entries longer than /64, skipped
   * besides what isBuggyAddress covers. Sorted, distinct.
   */
  anycast6: readonly bigint[];
  allocation: ServiceAllocation | undefined;
}

/** A compiled pool, or a message naming the pool and every bad entry. */
export type CompiledPool = { ok: true; pool: Pool } | { ok: false; message: string };

/** A pool with any bad entry is rejected whole: handing out part of a mistyped pool helps nobody. */
export function compilePool(input: PoolInput): CompiledPool {
  if (input.addresses.length === 0) return { ok: false, message: `pool ${input.name} has no addresses` };
  const byFamily: Record<Family, AddressRange[]> = { 4: [], 6: [] };
  const problems: string[] = [];
  for (const entry of input.addresses) {
    const parsed = parseAddressBlock(entry);
    if (parsed.ok) byFamily[parsed.range.family].push(parsed.range);
    else problems.push(parsed.message);
  }
  if (problems.length) return { ok: false, message: `pool ${input.name}: ${problems.join('; ')}` };
  return {
    ok: true,
    pool: {
      name: input.name,
      ranges: { 4: mergeRanges(byFamily[4]), 6: mergeRanges(byFamily[6]) },
      autoAssign: input.autoAssign,
      avoidBuggyIPs: input.avoidBuggyIPs,
      anycast6: input.avoidBuggyIPs
        ? [...new Set(input.addresses.map(cidrAnycast).filter((v) => v !== undefined))].sort((a, b) =>
            a < b ? -1 : 1,
          )
        : [],
      allocation: input.serviceAllocation,
    },
  };
}

/** Whether the address lies in one of the pool's ranges (whether or not the pool would hand it out). */
export function poolContains(pool: Pool, family: Family, value: bigint): boolean {
  const ranges = pool.ranges[family];
  let lo = 0;
  let hi = ranges.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = ranges[mid]!;
    if (value < r.first) hi = mid - 1;
    else if (value > r.last) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Whether the pool's avoidBuggyIPs rules out this address (see isBuggyAddress and anycast6). */
export function poolAvoids(pool: Pool, family: Family, value: bigint): boolean {
  if (!pool.avoidBuggyIPs) return false;
  return isBuggyAddress(family, value) || (family === 6 && pool.anycast6.includes(value));
}

/** Whether the pool would hand this address out: inside it, and not one it avoids. */
export function poolCanHandOut(pool: Pool, family: Family, value: bigint): boolean {
  return poolContains(pool, family, value) && !poolAvoids(pool, family, value);
}

/**
 * Why the pool's serviceAllocation excludes the Service, or undefined when it may serve it. As in
 * MetalLB, `namespaces` and `namespaceSelectors` together name the namespaces served (either may match),
 * and `serviceSelectors` must match as well when given.
 */
export function poolExclusion(pool: Pool, req: ServiceRequest): string | undefined {
  const a = pool.allocation;
  if (!a) return undefined;
  const namespaces = a.namespaces ?? [];
  const nsSelectors = a.namespaceSelectors ?? [];
  if (namespaces.length || nsSelectors.length) {
    const byName = namespaces.includes(req.namespace);
    const byLabels = nsSelectors.length > 0 && selectorsAllow(nsSelectors, req.namespaceLabels);
    if (!byName && !byLabels) {
      const allowed = [
        ...(namespaces.length ? [`namespaces ${namespaces.join(', ')}`] : []),
        ...(nsSelectors.length
          ? [`namespaces labelled ${nsSelectors.map(formatSelector).join(' or ')}`]
          : []),
      ];
      return `pool ${pool.name} serves only ${allowed.join(' and ')}, not namespace ${req.namespace}`;
    }
  }
  if (!selectorsAllow(a.serviceSelectors, req.serviceLabels)) {
    const wanted = (a.serviceSelectors ?? []).map(formatSelector).join(' or ');
    return `pool ${pool.name} serves only Services labelled ${wanted}, and ${req.key} does not match`;
  }
  return undefined;
}

/** Whether the pool restricts the Services it serves, making it a more specific choice. */
function selectsServices(pool: Pool): boolean {
  const a = pool.allocation;
  return !!(a?.namespaces?.length || a?.namespaceSelectors?.length || a?.serviceSelectors?.length);
}

/**
 * The order pools are tried in: pools with a priority first, lower number first; then, as in MetalLB,
 * pools that select Services by namespace or label before pools open to all; then by name.
 */
export function comparePools(a: Pool, b: Pool): number {
  const pa = a.allocation?.priority;
  const pb = b.allocation?.priority;
  if (pa !== undefined && pb === undefined) return -1;
  if (pa === undefined && pb !== undefined) return 1;
  if (pa !== undefined && pb !== undefined && pa !== pb) return pa - pb;
  const sa = selectsServices(a);
  const sb = selectsServices(b);
  if (sa !== sb) return sa ? -1 : 1;
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
