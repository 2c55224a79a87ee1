import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from './args.ts';
import type { Command } from './command.ts';

const USAGE = `Usage: beacon lab [--failover] [--exit]

Builds a small cluster on this machine out of network namespaces: a real etcd + kube-apiserver, three nodes
running beacon speaker, beacon controller, an FRR router and a client. Creates a demo Service over L2 and
one over BGP, proves both answer from the client (naming the node that answered), and keeps running until
Ctrl-C, then removes every namespace and process it made.

Needs root, a source checkout (it uses the test harness), Go, FRR, curl and arping: run scripts/setup.sh.

Flags:
  --failover   kill the speaker that answers over L2 and show how long the takeover took
  --exit       tear down right after the checks instead of waiting for Ctrl-C`;

interface LabModule {
  runLab(opts: {
    failover: boolean;
    exitAfterChecks: boolean;
    signal: AbortSignal;
    print(line: string): void;
  }): Promise<{ secondsToReachable: number; failoverMs?: number }>;
}

export const labCommand: Command = {
  name: 'lab',
  summary: 'run the whole system on this machine in network namespaces (needs root)',
  usage: USAGE,
  async run({ args, signal }) {
    let values: { failover?: boolean; exit?: boolean };
    try {
      ({ values } = parseArgs({
        args,
        options: { failover: { type: 'boolean' }, exit: { type: 'boolean' } },
        strict: true,
      }));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    // The lab lives beside the sources and reuses the test harness; an installed image has neither.
    const entry = join(import.meta.dirname, '..', '..', 'lab', 'run-lab.ts');
    if (!existsSync(entry)) {
      process.stderr.write(
        'beacon lab needs a source checkout of Beacon (git clone, then scripts/setup.sh)\n',
      );
      return 1;
    }
    const lab = (await import(entry)) as LabModule;
    try {
      await lab.runLab({
        failover: values.failover ?? false,
        exitAfterChecks: values.exit ?? false,
        signal,
        print: (line) => process.stdout.write(`${line}\n`),
      });
      return 0;
    } catch {
      return 1;
    }
  },
};
