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

/**
 * Installs schema-less CustomResourceDefinitions of another project's kinds (MetalLB's, the Prometheus
 * Operator's) and waits until they are Established: enough for tests that only store and read such
 * objects, without vendoring the other project's schemas. `kinds` are [Kind, plural, versions...], the
 * last version the storage version.
 */
export async function installStandInCrds(
  api: ApiServer,
  group: string,
  kinds: readonly (readonly [kind: string, plural: string, ...versions: string[]])[],
): Promise<void> {
  const items = kinds.map(([kind, plural, ...versions]) => ({
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope: 'Namespaced',
      names: { kind, plural, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: versions.map((name, i) => ({
        name,
        served: true,
        storage: i === versions.length - 1,
        schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
      })),
    },
  }));
  const applied = await api.kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({ apiVersion: 'v1', kind: 'List', items }),
  );
  if (applied.code !== 0) throw new Error(`installing ${group} CRDs failed:\n${applied.stderr}`);
  const names = items.map((i) => `crd/${i.metadata.name}`);
  const waited = await api.kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...names]);
  if (waited.code !== 0) throw new Error(`the ${group} CRDs did not become Established:\n${waited.stderr}`);
}
