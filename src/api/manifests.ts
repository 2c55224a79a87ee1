import { stringify } from 'yaml';
import type { Kind } from './crds/common.ts';
import { KINDS } from './crds/kinds.ts';
import { customResourceDefinition } from './crds/render.ts';

export const GENERATED_HEADER = '# Generated from src/api/crds/ by `npm run gen:crds`; do not edit.\n';

/** File name and YAML text of every CRD manifest, in a stable order. */
export function crdManifests(kinds: readonly Kind[] = KINDS): { file: string; yaml: string }[] {
  return kinds.map((k) => ({
    file: `${k.plural}.beacon.dev.yaml`,
    yaml: GENERATED_HEADER + stringify(customResourceDefinition(k), { lineWidth: 0 }),
  }));
}
