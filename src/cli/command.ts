import type { Logger } from '../log.ts';

/** Flags every subcommand understands. */
export interface CommonOptions {
  kubeconfig: string | undefined;
  logLevel: string;
  metricsAddr: string | undefined;
}

export interface CommandContext {
  common: CommonOptions;
  /** Arguments after the subcommand name, common flags removed. */
  args: string[];
  log: Logger;
  /** Aborted on SIGINT/SIGTERM; long-running commands stop when it fires. */
  signal: AbortSignal;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /** Resolves with the process exit code. */
  run(ctx: CommandContext): Promise<number>;
}
