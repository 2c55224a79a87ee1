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

/**
 * A command as `beacon --help` lists it. Its code is loaded only when it runs, so a process imports the one
 * command it is: the controller does not load and keep the lab, the BGP tool or the migration's YAML code
 * (7 MB less resident memory right after the imports, measured with /proc/PID/status).
 */
export interface CommandEntry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}
