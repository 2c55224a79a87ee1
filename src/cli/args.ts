import { parseArgs } from 'node:util';
import type { CommonOptions } from './command.ts';

export class UsageError extends Error {}

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
} {
  const common: CommonOptions = {
    kubeconfig: process.env.KUBECONFIG || undefined,
    logLevel: process.env.BEACON_LOG_LEVEL || 'info',
    metricsAddr: undefined,
  };
  let command: string | undefined;
  let help = false;
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
    } else if (command === undefined && !arg.startsWith('-')) {
      command = arg;
    } else {
      rest.push(arg);
    }
  }
  return { common, command, rest, help };
}

/** A subcommand's own `--name VALUE` flags, all strings; unknown flags are a UsageError. */
export function parseStringFlags(
  args: string[],
  names: readonly string[],
): Record<string, string | undefined> {
  try {
    const { values } = parseArgs({
      args,
      options: Object.fromEntries(names.map((k) => [k, { type: 'string' as const }])),
      strict: true,
    });
    return values as Record<string, string | undefined>;
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
