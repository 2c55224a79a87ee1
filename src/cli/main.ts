import { createLogger, isLogLevel } from '../log.ts';
import { splitArgs, UsageError } from './args.ts';
import type { Command } from './command.ts';
import { commands } from './commands.ts';

function helpText(list: readonly Command[]): string {
  const width = Math.max(...list.map((c) => c.name.length));
  return [
    'beacon: bare-metal LoadBalancer provider for Kubernetes',
    '',
    'Usage: beacon [common flags] <command> [command flags]',
    '',
    'Commands:',
    ...list.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
    '',
    'Common flags:',
    '  --kubeconfig PATH      kubeconfig to use (default: $KUBECONFIG, then in-cluster config, then ~/.kube/config)',
    '  --log-level LEVEL      fatal|error|warn|info|debug|trace|silent (default: info)',
    '  --metrics-addr H:P     serve Prometheus metrics, /healthz and /readyz on this address',
    '',
    "Run 'beacon <command> --help' for a command's own flags.",
  ].join('\n');
}

export async function main(argv: readonly string[]): Promise<number> {
  let parsed: ReturnType<typeof splitArgs>;
  try {
    parsed = splitArgs(argv);
  } catch (err) {
    process.stderr.write(`beacon: ${(err as Error).message}\n`);
    return 2;
  }
  const { common, command, rest, help } = parsed;
  if (help || command === undefined) {
    (help ? process.stdout : process.stderr).write(`${helpText(commands)}\n`);
    return help ? 0 : 2;
  }
  const cmd = commands.find((c) => c.name === command);
  if (!cmd) {
    process.stderr.write(`beacon: unknown command '${command}'\n\n${helpText(commands)}\n`);
    return 2;
  }
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(`${cmd.usage}\n`);
    return 0;
  }
  if (!isLogLevel(common.logLevel)) {
    process.stderr.write(`beacon: --log-level must be one of fatal|error|warn|info|debug|trace|silent\n`);
    return 2;
  }
  const log = createLogger(cmd.name, common.logLevel);
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
    if (err instanceof UsageError) {
      process.stderr.write(`beacon ${cmd.name}: ${err.message}\n\n${cmd.usage}\n`);
      return 2;
    }
    log.fatal({ err }, 'command failed');
    return 1;
  } finally {
    for (const s of signals) process.off(s, stop);
  }
}

if (import.meta.main) {
  process.exitCode = await main(process.argv.slice(2));
}
