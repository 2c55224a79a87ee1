/**
 * Builds etcd, kube-apiserver and kubectl from the Go modules pinned in test/harness/go/go.mod and caches
 * them under .cache/kube/<versions>/, so only the first run on a machine pays for the build. Several test
 * processes may ask at once: a lock directory makes one of them build while the others wait.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
const MODULE_DIR = join(import.meta.dirname, 'go');
const CACHE_ROOT = process.env.BEACON_KUBE_CACHE ?? join(REPO_ROOT, '.cache', 'kube');

export interface KubeBinaries {
  etcd: string;
  kubeApiserver: string;
  kubectl: string;
  kubernetesVersion: string;
  etcdVersion: string;
}

function requiredVersion(goMod: string, module: string): string {
  const m = new RegExp(`^\\s*${module.replaceAll('.', '\\.')} (v\\S+)`, 'm').exec(goMod);
  if (!m?.[1]) throw new Error(`test/harness/go/go.mod does not require ${module}`);
  return m[1];
}

export function pinnedVersions(): { kubernetes: string; etcd: string } {
  const goMod = readFileSync(join(MODULE_DIR, 'go.mod'), 'utf8');
  return {
    kubernetes: requiredVersion(goMod, 'k8s.io/kubernetes'),
    etcd: requiredVersion(goMod, 'go.etcd.io/etcd/server/v3'),
  };
}

function paths(dir: string, v: { kubernetes: string; etcd: string }): KubeBinaries {
  return {
    etcd: join(dir, 'etcd'),
    kubeApiserver: join(dir, 'kube-apiserver'),
    kubectl: join(dir, 'kubectl'),
    kubernetesVersion: v.kubernetes,
    etcdVersion: v.etcd,
  };
}

function complete(b: KubeBinaries): boolean {
  return [b.etcd, b.kubeApiserver, b.kubectl].every((p) => existsSync(p));
}

/** -X flags so that `kubectl version` and the server's /version report the real release, not v0.0.0-master. */
function versionLdflags(kubernetes: string): string {
  const [major, minor] = kubernetes.replace(/^v/, '').split('.');
  const vars = (pkg: string) => [
    `-X ${pkg}.gitVersion=${kubernetes}`,
    `-X ${pkg}.gitMajor=${major}`,
    `-X ${pkg}.gitMinor=${minor}`,
    `-X ${pkg}.gitTreeState=clean`,
  ];
  return ['-s', '-w', ...vars('k8s.io/component-base/version'), ...vars('k8s.io/client-go/pkg/version')].join(
    ' ',
  );
}

async function build(dir: string, v: { kubernetes: string; etcd: string }, log: (line: string) => void) {
  const tmp = `${dir}.partial-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp, { recursive: true });
  const targets: [string, string, string][] = [
    ['etcd', 'go.etcd.io/etcd/server/v3', '-s -w'],
    ['kube-apiserver', 'k8s.io/kubernetes/cmd/kube-apiserver', versionLdflags(v.kubernetes)],
    ['kubectl', 'k8s.io/kubernetes/cmd/kubectl', versionLdflags(v.kubernetes)],
  ];
  for (const [name, pkg, ldflags] of targets) {
    const started = Date.now();
    log(`building ${name} (${pkg}) ...`);
    try {
      await run('go', ['build', '-trimpath', `-ldflags=${ldflags}`, '-o', join(tmp, name), pkg], {
        cwd: MODULE_DIR,
        env: { ...process.env, CGO_ENABLED: '0', GOFLAGS: '-buildvcs=false' },
        maxBuffer: 64 * 1024 * 1024,
      });
    } catch (err) {
      const e = err as Error & { stderr?: string };
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new Error(
          'the Go toolchain (`go`) is not on PATH; install Go 1.26 or newer to build the test API server',
        );
      }
      throw new Error(`building ${name} failed:\n${e.stderr ?? e.message}`);
    }
    log(`built ${name} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  rmSync(dir, { recursive: true, force: true });
  renameSync(tmp, dir);
}

/**
 * Returns the cached binaries, building them first when they are missing. `log` receives progress lines;
 * a cold build takes minutes.
 */
export async function kubeBinaries(log: (line: string) => void = () => {}): Promise<KubeBinaries> {
  const v = pinnedVersions();
  const dir = join(CACHE_ROOT, `kubernetes-${v.kubernetes}_etcd-${v.etcd}`);
  const bins = paths(dir, v);
  if (complete(bins)) return bins;
  mkdirSync(CACHE_ROOT, { recursive: true });
  const lock = `${dir}.lock`;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (complete(bins)) return bins;
      // A builder that died leaves its lock behind; a build never takes an hour.
      const held = statSync(lock, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > 3_600_000) rmSync(lock, { recursive: true, force: true });
      await sleep(1000);
    }
  }
  try {
    if (!complete(bins)) await build(dir, v, log);
    return bins;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}
