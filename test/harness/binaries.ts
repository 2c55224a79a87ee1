/**
 * Builds etcd, kube-apiserver and kubectl from the Go modules pinned in test/harness/go/go.mod and caches
 * them under .cache/kube/<versions>/, so only the first run on a machine pays for the build. Several test
 * processes may ask at once: a lock directory makes one of them build while the others wait. `goBuild` and
 * `cachedBuild` do the same for other harness tools (Helm, in helm.ts).
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
const MODULE_DIR = join(import.meta.dirname, 'go');
export const CACHE_ROOT = process.env.BEACON_KUBE_CACHE ?? join(REPO_ROOT, '.cache', 'kube');

export interface KubeBinaries {
  etcd: string;
  kubeApiserver: string;
  kubectl: string;
  kubernetesVersion: string;
  etcdVersion: string;
}

/** The version of `module` that the go.mod in `moduleDir` requires. */
export function requiredVersion(moduleDir: string, module: string): string {
  const goMod = readFileSync(join(moduleDir, 'go.mod'), 'utf8');
  const m = new RegExp(`^\\s*(?:require\\s+)?${module.replaceAll('.', '\\.')} (v\\S+)`, 'm').exec(goMod);
  if (!m?.[1]) throw new Error(`${join(moduleDir, 'go.mod')} does not require ${module}`);
  return m[1];
}

export function pinnedVersions(): { kubernetes: string; etcd: string } {
  return {
    kubernetes: requiredVersion(MODULE_DIR, 'k8s.io/kubernetes'),
    etcd: requiredVersion(MODULE_DIR, 'go.etcd.io/etcd/server/v3'),
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

/** -X flags so that `kubectl version` and the server's /version report the real release, not v0.0.0-master. */
export function versionLdflags(kubernetes: string): string {
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

/**
 * `go build` of one main package inside a harness Go module. CGO is off unless asked for (runc's nsenter is
 * C), so the binary runs on any Linux machine; `-trimpath` keeps build paths out of it.
 */
export async function goBuild(opts: {
  moduleDir: string;
  pkg: string;
  out: string;
  ldflags: string;
  log: (line: string) => void;
  cgo?: boolean;
  tags?: string[];
}): Promise<void> {
  const name = opts.out.split('/').pop() ?? opts.pkg;
  const started = Date.now();
  opts.log(`building ${name} (${opts.pkg}) ...`);
  try {
    const tags = opts.tags?.length ? [`-tags=${opts.tags.join(',')}`] : [];
    await run('go', ['build', '-trimpath', ...tags, `-ldflags=${opts.ldflags}`, '-o', opts.out, opts.pkg], {
      cwd: opts.moduleDir,
      env: { ...process.env, CGO_ENABLED: opts.cgo ? '1' : '0', GOFLAGS: '-buildvcs=false' },
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as Error & { stderr?: string };
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(
        'the Go toolchain (`go`) is not on PATH; install Go 1.26 or newer to build the test harness binaries',
      );
    }
    throw new Error(`building ${name} failed:\n${e.stderr ?? e.message}`);
  }
  opts.log(`built ${name} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

/**
 * Makes `dir` hold `files` (names inside it), calling `build(tmpDir)` when any is missing. The build writes
 * into a private temporary directory that is renamed into place, so a reader never sees half a cache; a
 * lock directory makes one of several concurrent callers build while the others wait.
 */
export async function cachedBuild(
  dir: string,
  files: readonly string[],
  build: (tmpDir: string) => Promise<void>,
): Promise<void> {
  const complete = () => files.every((f) => existsSync(join(dir, f)));
  if (complete()) return;
  mkdirSync(dirname(dir), { recursive: true });
  const lock = `${dir}.lock`;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      if (complete()) return;
      // A builder that died leaves its lock behind; a build never takes an hour.
      const held = statSync(lock, { throwIfNoEntry: false });
      if (held && Date.now() - held.mtimeMs > 3_600_000) rmSync(lock, { recursive: true, force: true });
      await sleep(1000);
    }
  }
  try {
    if (complete()) return;
    const tmp = `${dir}.partial-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true });
    try {
      await build(tmp);
    } catch (err) {
      rmSync(tmp, { recursive: true, force: true });
      throw err;
    }
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * Returns the cached binaries, building them first when they are missing. `log` receives progress lines;
 * a cold build takes minutes.
 */
export async function kubeBinaries(log: (line: string) => void = () => {}): Promise<KubeBinaries> {
  const v = pinnedVersions();
  const dir = join(CACHE_ROOT, `kubernetes-${v.kubernetes}_etcd-${v.etcd}`);
  const bins = paths(dir, v);
  const targets: [string, string, string][] = [
    ['etcd', 'go.etcd.io/etcd/server/v3', '-s -w'],
    ['kube-apiserver', 'k8s.io/kubernetes/cmd/kube-apiserver', versionLdflags(v.kubernetes)],
    ['kubectl', 'k8s.io/kubernetes/cmd/kubectl', versionLdflags(v.kubernetes)],
  ];
  await cachedBuild(
    dir,
    targets.map(([name]) => name),
    async (tmp) => {
      for (const [name, pkg, ldflags] of targets) {
        await goBuild({ moduleDir: MODULE_DIR, pkg, out: join(tmp, name), ldflags, log });
      }
    },
  );
  return bins;
}
