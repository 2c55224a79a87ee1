import { createLogger, isLogLevel } from '../log.ts';
import { VERSION } from '../version.ts';
import { checkCommonOptions, splitArgs, UsageError } from './args.ts';
import type { CommandEntry } from './command.ts';
import { commands } from './commands.ts';

function helpText(list: readonly CommandEntry[]): string {
  const width = Math.max(...list.map((c) => c.name.length));
  return [
    'beacon: bare-metal LoadBalancer provider for Kubernetes',
    '',
    'Usage: beacon [common flags] <command> [command flags]',
    '       beacon help <command>      a command and its flags',
    '       beacon --version',
    '',
    'Commands:',
    ...list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Common flags:',
    '  --kubeconfig PATH      kubeconfig to use (default: $KUBECONFIG, then in-cluster config, then ~/.kube/config)',
    '  --log-level LEVEL      fatal|error|warn|info|debug|trace|silent (default: info)',
    '  --metrics-addr H:P     serve Prometheus metrics, /healthz and /readyz on this address',
    '                         (:PORT listens on IPv6 and IPv4, or IPv4 alone where IPv6 is off)',
    '',
    "Run 'beacon help <command>' (or 'beacon <command> --help') for a command's own flags.",
  ].join('\n');
}

/**
 * A usage error is one line on stderr that says where to read more, with exit status 2: never a stack
 * trace or a JSON log line, which a person at a terminal (or reading a crash-looping Pod's `kubectl logs`)
 * cannot use. Node's parseArgs messages span several lines; they are joined.
 */
function usageError(where: string, message: string, hint: string): number {
  process.stderr.write(`${where}: ${message.replace(/\s*\n\s*/g, ' ').trim()} (${hint})\n`);
  return 2;
}

const TOP_HINT = "see 'beacon --help'";

export async function main(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof splitArgs>;
  try {
    parsed = splitArgs(argv);
  } catch (err) {
    return usageError('beacon', (err as Error).message, TOP_HINT);
  }
  const { common, command, rest, help, version } = parsed;
  if (version) {
    process.stdout.write(`beacon ${VERSION} (Node.js ${process.version})\n`);
    return 0;
  }
  if (command === undefined) {
    (help ? process.stdout : process.stderr).write(`${helpText(commands)}\n`);
    return help ? 0 : 2;
  }
  const entry = commands.find((c) => c.name === command);
  if (!entry) return usageError('beacon', `unknown command '${command}'`, TOP_HINT);
  const cmd = await entry.load();
  if (help || rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${cmd.usage}\n`);
    return 0;
  }
  if (!isLogLevel(common.logLevel))
    return usageError(
      'beacon',
      `--log-level must be one of fatal|error|warn|info|debug|trace|silent, got "${common.logLevel}"`,
      TOP_HINT,
    );
  try {
    checkCommonOptions(common);
  } catch (err) {
    return usageError('beacon', (err as Error).message, TOP_HINT);
  }
  const log = createLogger(entry.name, common.logLevel);
  const abort = new AbortController();
  const stop = (sig: NodeJS.Signals) => {
    if (abort.signal.aborted) {
      if (cmd.finishesCleanupOnRepeatedSignal) return;
      process.exit(130);
    }
    log.info({ signal: sig }, 'stopping');
    abort.abort();
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const s of signals) process.on(s, stop);
  try {
    return await cmd.run({ common, args: rest, log, signal: abort.signal });
  } catch (err) {
    if (err instanceof UsageError)
      return usageError(`beacon ${entry.name}`, err.message, `see 'beacon help ${entry.name}'`);
    log.fatal({ err }, 'command failed');
    return 1;
  } finally {
    for (const s of signals) process.off(s, stop);
  }
}

if (import.meta.main) {
  // `beacon migrate | head`, or a `| tee` killed by the same Ctrl-C, closes the pipe: what is left to print
  // is dropped, and the command goes on to its end (the lab's teardown must run whatever stdout does),
  // never a stack trace. Exiting here would cut that teardown short.
  process.stdout.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
  process.exitCode = await main(process.argv.slice(2));
}
