/**
 * Go duration strings as Beacon's and MetalLB's resources carry them (90s, 1m30s, 500ms, 9m0s), the format
 * the CRDs' CEL `duration()` accepts.
 */
const UNIT_MS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3,
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
};

/** Milliseconds, or undefined for an absent or malformed value. */
export function durationMs(d: string | undefined): number | undefined {
  if (!d) return undefined;
  if (!/^(?:[0-9.]+(?:ns|us|µs|ms|s|m|h))+$/.test(d)) return undefined;
  let total = 0;
  for (const m of d.matchAll(/([0-9.]+)(ns|us|µs|ms|s|m|h)/g)) total += Number(m[1]) * UNIT_MS[m[2]!]!;
  return Number.isFinite(total) ? total : undefined;
}

/** Whole seconds (rounded), as BGP timers are. */
export function durationSeconds(d: string | undefined): number | undefined {
  const ms = durationMs(d);
  return ms === undefined ? undefined : Math.round(ms / 1000);
}
