import { join } from 'node:path';
import type { ApiServer } from './apiserver.ts';
import { REPO_ROOT } from './binaries.ts';

/** Applies crds/ to the server and waits until every CRD is Established. */
export async function installCrds(api: ApiServer): Promise<void> {
  const applied = await api.kubectl(['apply', '--server-side', '-k', join(REPO_ROOT, 'crds')]);
  if (applied.code !== 0) throw new Error(`installing the CRDs failed:\n${applied.stderr}`);
  const waited = await api.kubectl([
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd',
    '-l',
    '',
    '--all',
  ]);
  if (waited.code !== 0) throw new Error(`the CRDs did not become Established:\n${waited.stderr}`);
}
