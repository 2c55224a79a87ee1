// `npm test [-- FILE...]`: builds the test cluster's binaries (API server, kubelet, containerd, ...) and Helm
// once (minutes on a fresh machine, with progress) so that no test file times out waiting for them, then runs
// Node's test runner on every *.test.ts under src/ and test/ (or on the files given).
import { spawnSync } from 'node:child_process';
import { clusterBinaries } from '../test/harness/cluster/binaries.ts';
import { helmBinary } from '../test/harness/helm.ts';

const files = process.argv.slice(2);
const started = Date.now();
const progress = (line: string) => process.stdout.write(`[harness] ${line}\n`);
const bins = await clusterBinaries(progress);
await helmBinary(progress);
process.stdout.write(
  `[harness] Kubernetes ${bins.kubernetesVersion}, etcd ${bins.etcdVersion}, containerd ${bins.containerdVersion}, runc ${bins.runcVersion} ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`,
);

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
