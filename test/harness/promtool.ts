/**
 * Builds Prometheus's `promtool` from the Go module pinned in test/harness/promtool/go.mod (through the Go
 * module proxy, like the API server's binaries and Helm) and caches it under .cache/promtool/<version>/.
 * The tests run `promtool check metrics` on Beacon's /metrics output and `promtool check rules` on the
 * chart's alerting rules.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { cachedBuild, goBuild, REPO_ROOT, requiredVersion } from './binaries.ts';
import { endInput } from './process.ts';

const MODULE_DIR = join(import.meta.dirname, 'promtool');
const CACHE_ROOT = process.env.BEACON_PROMTOOL_CACHE ?? join(REPO_ROOT, '.cache', 'promtool');

export function pinnedPrometheusVersion(): string {
  return requiredVersion(MODULE_DIR, 'github.com/prometheus/prometheus');
}

/** The cached promtool's path, building it first when it is missing (a cold build takes minutes). */
export async function promtoolBinary(log: (line: string) => void = () => {}): Promise<string> {
  const version = pinnedPrometheusVersion();
  const dir = join(CACHE_ROOT, `prometheus-${version}`);
  await cachedBuild(dir, ['promtool'], async (tmp) => {
    await goBuild({
      moduleDir: MODULE_DIR,
      pkg: 'github.com/prometheus/prometheus/cmd/promtool',
      out: join(tmp, 'promtool'),
      ldflags: '-s -w',
      log,
    });
  });
  return join(dir, 'promtool');
}

/** Runs promtool with `input` on stdin; never throws for a non-zero exit. */
export function runPromtool(
  promtool: string,
  args: string[],
  input?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      promtool,
      args,
      { maxBuffer: 16 * 1024 * 1024, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    endInput(child, input);
  });
}
