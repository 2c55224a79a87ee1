import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { UsageError } from './args.ts';
import type { Command } from './command.ts';

const USAGE = `Usage: beacon lab [--failover] [--exit]

Builds a real Kubernetes cluster on this machine: a control plane and three nodes (each a network namespace
running containerd, the kubelet and kube-proxy), an FRR router and a client, all on one bridge. Installs
Beacon's image with its Helm chart, runs a Deployment of demo pods behind a LoadBalancer Service over L2 and
one over BGP, proves both answer from the client (naming the pod and node that answered), and keeps running
until Ctrl-C (or SIGTERM, or SIGHUP), then removes every pod, process, namespace and cgroup it made.

Needs root, a source checkout (it uses the test harness), Go, FRR and the node tools: run scripts/setup.sh.

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

/**
 * Lines for the terminal that never fail the lab: when stdout goes away (a `| tee` killed by the same Ctrl-C,
 * a closed terminal), writing fails with EPIPE or EIO, and the teardown must still run to the end.
 */
function resilientPrinter(): (line: string) => void {
  let broken = false;
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', () => {
      broken = true;
    });
  }
  return (line) => {
    if (broken) return;
    try {
      process.stdout.write(`${line}\n`);
    } catch {
      broken = true;
    }
  };
}

export const labCommand: Command = {
  usage: USAGE,
  finishesCleanupOnRepeatedSignal: true,
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
        print: resilientPrinter(),
      });
      return 0;
    } catch {
      // Interrupted before the checks finished: torn down all the same, and said so.
      return signal.aborted ? 130 : 1;
    }
  },
};
