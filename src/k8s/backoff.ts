/**
 * Retry delays: exponential growth with a cap, and jitter so that many clients broken by one event (an API
 * server restart) do not come back in the same instant.
 */

export interface BackoffPolicy {
  /** The delay after the first failure. */
  initialMs: number;
  /** No delay grows beyond this. */
  maxMs: number;
  /** Growth per further failure; 2 when omitted. */
  factor?: number;
}

/** The delay after the `failures`-th failure in a row (1 for the first): initial × factor^(failures−1), capped. */
export function backoffDelay(policy: BackoffPolicy, failures: number): number {
  const n = Math.max(1, Math.floor(failures));
  const grown = policy.initialMs * (policy.factor ?? 2) ** (n - 1);
  return Math.min(policy.maxMs, grown);
}

/** `ms` spread uniformly over [ms/2, 3ms/2): the same mean, but clients broken together come back apart. */
export function jittered(ms: number, random: () => number = Math.random): number {
  return Math.round(ms * (0.5 + random()));
}
