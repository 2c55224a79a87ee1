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
  /** Aborted on SIGINT, SIGTERM or SIGHUP; long-running commands stop when it fires. */
  signal: AbortSignal;
}

export interface Command {
  name: string;
  summary: string;
  usage: string;
  /**
   * A second signal normally ends the process at once. A command whose cleanup must run to the end (the
   * lab removes namespaces and cgroups that would outlive it) sets this: `npm run` forwards the terminal's
   * Ctrl-C to its child, which so gets two SIGINTs for one keypress.
   */
  finishesCleanupOnRepeatedSignal?: boolean;
  /** Resolves with the process exit code. */
  run(ctx: CommandContext): Promise<number>;
}
