/** Helpers shared by the deploy tests: install deploy/ on the harness's API server, act as a ServiceAccount. */
import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import type { ApiServer } from '../harness/apiserver.ts';
import { REPO_ROOT } from '../harness/binaries.ts';
import { endInput } from '../harness/process.ts';

export const DEPLOY_DIR = join(REPO_ROOT, 'deploy');
export const CHART_DIR = join(DEPLOY_DIR, 'helm', 'beacon');
export const NAMESPACE = 'beacon-system';

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the harness's kubectl with another kubeconfig (e.g. a ServiceAccount's); never throws. */
export function kubectlWith(
  api: ApiServer,
  kubeconfig: string,
  args: string[],
  input?: string,
): Promise<Result> {
  return new Promise((resolve) => {
    const child = execFile(
      api.binaries.kubectl,
      [`--kubeconfig=${kubeconfig}`, ...args],
      { maxBuffer: 64 * 1024 * 1024, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
    endInput(child, input);
  });
}

export async function mustKubectl(api: ApiServer, args: string[], input?: string): Promise<string> {
  const r = await api.kubectl(args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

/** `kubectl apply -k deploy/` for real, then waits until the CRDs it brings are Established. */
export async function installDeploy(api: ApiServer): Promise<string> {
  const out = await mustKubectl(api, ['apply', '--server-side', '-k', DEPLOY_DIR]);
  await mustKubectl(api, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  return out;
}

/**
 * A kubeconfig for a token the caller obtained (e.g. one bound to a Pod): the admin kubeconfig with the
 * user swapped.
 */
export function kubeconfigForToken(api: ApiServer, user: string, token: string, file: string): string {
  const config = parse(readFileSync(api.kubeconfigPath, 'utf8')) as {
    users: { name: string; user: { token: string } }[];
    contexts: { context: { user: string } }[];
  };
  config.users = [{ name: user, user: { token } }];
  for (const c of config.contexts) c.context.user = user;
  const path = join(api.kubeconfigPath, '..', file);
  writeFileSync(path, stringify(config), { mode: 0o600 });
  return path;
}
