// `npm test [-- FILE...]`: builds the test cluster's binaries (API server, kubelet, containerd, ...), Helm and
// promtool once (minutes on a fresh machine, with progress) so that no test file times out waiting for
// them, and the container images when a test file that runs them is selected, then runs Node's test runner
// on every *.test.ts under src/ and test/ (or on the files given).
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { clusterBinaries } from '../test/harness/cluster/binaries.ts';
import { helmBinary } from '../test/harness/helm.ts';
import { testImages } from '../test/harness/images.ts';
import { promtoolBinary } from '../test/harness/promtool.ts';

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

const args = [
  '--test',
  '--test-concurrency=2',
  // A hung test must fail the run, not hold CI until its own limit.
  '--test-timeout=300000',
  '--test-reporter=spec',
  ...(files.length ? files : ['src/**/*.test.ts', 'test/**/*.test.ts']),
];
const res = spawnSync(process.execPath, args, { stdio: 'inherit' });
process.exit(res.status ?? 1);
