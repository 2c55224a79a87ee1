import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { crdManifests } from './manifests.ts';

test('crds/ holds exactly what src/api/crds/ generates (run `npm run gen:crds` after a schema change)', () => {
  for (const { file, yaml } of crdManifests()) {
    const committed = readFileSync(join(import.meta.dirname, '..', '..', 'crds', file), 'utf8');
    assert.equal(committed, yaml, `crds/${file} is stale`);
  }
});
