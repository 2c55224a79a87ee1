/**
 * What a test may skip for, and what it must not. A missing capability (not root, not Linux) is a reason to
 * skip: the skip is reported with that reason, and under CI=true it fails the run unless the allow-list
 * (test/skip-allow-list.txt) names it. A tool that is there but broken (an `ip` that fails, a native addon
 * that was not built or does not load) is not a reason: under CI=true it throws, so the test file fails
 * with the tool's own error instead of turning into a skip; elsewhere it skips with that error as its reason.
 */
import { nativeUnavailable } from '../../src/native/addon.ts';

/** Whether this is a CI run (CI=true, as CI systems set it): skips are then checked against the allow-list. */
export function underCi(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CI === 'true' || env.CI === '1';
}

/**
 * `problem` describes a broken tool. Under CI=true it is thrown; otherwise it is returned as the skip
 * reason, worded so that nobody mistakes it for a missing capability.
 */
export function brokenTool(problem: string, env: NodeJS.ProcessEnv = process.env): string {
  if (underCi(env)) throw new Error(`${problem} (a broken tool is a failure under CI=true, never a skip)`);
  return `broken: ${problem}`;
}

/**
 * Why the native addon cannot be used here, or undefined when it can. Off Linux the addon does not exist
 * (a missing capability); on Linux an addon that does not load was not built (`BEACON_SKIP_NATIVE=1` at
 * install time, a failed build) or is damaged.
 */
export function addonUnavailable(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const why = nativeUnavailable();
  if (why === undefined) return undefined;
  if (process.platform !== 'linux') return `the native addon is Linux-only (this is ${process.platform})`;
  return brokenTool(why, env);
}
