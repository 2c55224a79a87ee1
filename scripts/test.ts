// `npm test [-- FILE...]`: builds the test cluster's binaries (API server, kubelet, containerd, ...), Helm and
// promtool once (minutes on a fresh machine, with progress) so that no test file times out waiting for
// them, and the container images when a test file that runs them is selected, then runs Node's test runner
// on every *.test.ts under src/ and test/ (or on the files given). Under CI=true a test that did not run
// fails the run unless test/skip-allow-list.txt names it (scripts/skip-policy.ts).
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clusterBinaries } from '../test/harness/cluster/binaries.ts';
import { helmBinary } from '../test/harness/helm.ts';
import { testImages } from '../test/harness/images.ts';
import { underCi } from '../test/harness/preconditions.ts';
import { promtoolBinary } from '../test/harness/promtool.ts';
import { enforceSkipPolicy } from './skip-policy.ts';

const files = process.argv.slice(2);
const started = Date.now();
const progress = (line: string) => process.stdout.write(`[harness] ${line}\n`);
const bins = await clusterBinaries(progress);
await helmBinary(progress);
await promtoolBinary(progress);
process.stdout.write(
  `[harness] Kubernetes ${bins.kubernetesVersion}, etcd ${bins.etcdVersion}, containerd ${bins.containerdVersion}, runc ${bins.runcVersion} ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
);
// Images: a cold build takes minutes (docs/image.md), more than a test's time limit.
if (!files.length || files.some((f) => /harness\/(cluster\/)?images\.ts/.test(readFileSync(f, 'utf8')))) {
  await testImages((line) => process.stdout.write(`[image] ${line}\n`));
}

const skipDir = mkdtempSync(join(tmpdir(), 'beacon-skips-'));
const skipRecords = join(skipDir, 'skips.jsonl');
const args = [
  '--test',
  '--test-concurrency=2',
  // A hung test must fail the run, not hold CI until its own limit.
  '--test-timeout=300000',
  '--test-reporter=spec',
  '--test-reporter-destination=stdout',
  `--test-reporter=${join(import.meta.dirname, 'skip-reporter.ts')}`,
  `--test-reporter-destination=${skipRecords}`,
  ...(files.length ? files : ['src/**/*.test.ts', 'test/**/*.test.ts']),
];
// In a process group of its own, so that a terminal's Ctrl-C reaches it once, through this script: a signal
// here goes to the runner alone, which cancels its tests and lets their after hooks tear the labs down, and
// this script waits for it instead of dying first and leaving it running.
const runner = spawn(process.execPath, args, { stdio: 'inherit', detached: true });
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, () => runner.kill(signal));
const status = await new Promise<number | null>((resolve) => runner.on('close', (code) => resolve(code)));
const skips = enforceSkipPolicy(skipRecords, underCi());
rmSync(skipDir, { recursive: true, force: true });
process.stdout.write(skips.text);
process.exit((status ?? 1) || (skips.failed ? 1 : 0));
