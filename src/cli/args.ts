import { parseArgs } from 'node:util';
import { type ClusterAccess, loadClusterAccess } from '../k8s/kubeconfig.ts';
import { parseListenAddress } from '../metrics/server.ts';
import type { CommonOptions } from './command.ts';

/** A mistake in how Beacon was invoked: reported as one line on stderr with exit status 2. */
export class UsageError extends Error {}

/** The cluster to talk to; a missing or unreadable kubeconfig is the invocation's fault, not a crash. */
export function clusterAccess(common: CommonOptions): ClusterAccess {
  try {
    return loadClusterAccess(common.kubeconfig);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** Checks the common flags' values before any command starts work. */
export function checkCommonOptions(common: CommonOptions): void {
  if (common.metricsAddr !== undefined) {
    try {
      parseListenAddress(common.metricsAddr);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
  }
}

const COMMON_FLAGS = new Set(['--kubeconfig', '--log-level', '--metrics-addr']);

/**
 * Splits argv into the common flags, the subcommand name and the subcommand's own arguments.
 * Common flags may stand before or after the subcommand, as with kubectl.
 */
export function splitArgs(argv: readonly string[]): {
  common: CommonOptions;
  command: string | undefined;
  rest: string[];
  help: boolean;
  version: boolean;
} {
  const common: CommonOptions = {
    kubeconfig: process.env.KUBECONFIG || undefined,
    logLevel: process.env.BEACON_LOG_LEVEL || 'info',
    metricsAddr: undefined,
  };
  let command: string | undefined;
  let help = false;
  let version = false;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    if (COMMON_FLAGS.has(flag)) {
      let value: string | undefined;
      if (eq > 0) value = arg.slice(eq + 1);
      else {
        value = argv[++i];
        if (value === undefined) throw new UsageError(`${flag} needs a value`);
      }
      if (flag === '--kubeconfig') common.kubeconfig = value;
      else if (flag === '--log-level') common.logLevel = value;
      else common.metricsAddr = value;
    } else if (command === undefined && (arg === '--help' || arg === '-h' || arg === 'help')) {
      help = true;
    } else if (command === undefined && arg === '--version') {
      version = true;
    } else if (command === undefined && !arg.startsWith('-')) {
      command = arg;
    } else {
      rest.push(arg);
    }
  }
  return { common, command, rest, help, version };
}

/**
 * A subcommand's own `--name VALUE` flags, and `--name` switches (true when given); unknown flags are a
 * UsageError.
 */
export function parseStringFlags<S extends string = never>(
  args: string[],
  names: readonly string[],
  switches: readonly S[] = [],
): Record<string, string | undefined> & Record<S, boolean> {
  try {
    const { values } = parseArgs({
      args,
      options: Object.fromEntries([
        ...names.map((k) => [k, { type: 'string' as const }]),
        ...switches.map((k) => [k, { type: 'boolean' as const }]),
      ]),
      strict: true,
    });
    const out = values as Record<string, string | boolean | undefined>;
    for (const s of switches) out[s] ??= false;
    return out as Record<string, string | undefined> & Record<S, boolean>;
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function positiveNumber(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0)
    throw new UsageError(`${flag} must be a positive number, got "${value}"`);
  return n;
}
