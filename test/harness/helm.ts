/**
 * Builds the `helm` CLI from the Go module pinned in test/harness/helm/go.mod (fetched through the Go
 * module proxy, like the API server's binaries) and caches it under .cache/helm/<version>/. Helm lives in a
 * module of its own so that its dependencies never move the Kubernetes versions of test/harness/go.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { cachedBuild, goBuild, REPO_ROOT, requiredVersion } from './binaries.ts';

const MODULE_DIR = join(import.meta.dirname, 'helm');
const CACHE_ROOT = process.env.BEACON_HELM_CACHE ?? join(REPO_ROOT, '.cache', 'helm');

export interface HelmBinary {
  path: string;
  version: string;
}

export function pinnedHelmVersion(): string {
  return requiredVersion(MODULE_DIR, 'helm.sh/helm/v4');
}

/** Returns the cached helm binary, building it first when it is missing (a cold build takes minutes). */
export async function helmBinary(log: (line: string) => void = () => {}): Promise<HelmBinary> {
  const version = pinnedHelmVersion();
  const dir = join(CACHE_ROOT, `helm-${version}`);
  await cachedBuild(dir, ['helm'], async (tmp) => {
    // The same -X flag Helm's Makefile sets, so `helm version` reports the release, not a bare "v4.x".
    const ldflags = `-s -w -X helm.sh/helm/v4/internal/version.version=${version} -X helm.sh/helm/v4/internal/version.gitTreeState=clean`;
    await goBuild({
      moduleDir: MODULE_DIR,
      pkg: 'helm.sh/helm/v4/cmd/helm',
      out: join(tmp, 'helm'),
      ldflags,
      log,
    });
  });
  return { path: join(dir, 'helm'), version };
}

/**
 * Runs helm with a throwaway home (cache, config and data dirs), so no state on the machine leaks in and
 * nothing is left behind; never throws for a non-zero exit.
 */
export function runHelm(
  helm: HelmBinary,
  args: string[],
  home: string,
  signal?: AbortSignal,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      helm.path,
      args,
      {
        maxBuffer: 64 * 1024 * 1024,
        timeout: 120_000,
        killSignal: 'SIGKILL',
        ...(signal && { signal }),
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: home,
          HELM_CACHE_HOME: join(home, 'cache'),
          HELM_CONFIG_HOME: join(home, 'config'),
          HELM_DATA_HOME: join(home, 'data'),
        },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}
