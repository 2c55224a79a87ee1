/**
 * docs/routers.md shows router configs for peering with Beacon; they must be exactly what the harness
 * generates from EXAMPLE_ROUTER, the config the router tests run. Needs no root.
 */
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { birdConfig } from './routers/bird.ts';
import { EXAMPLE_ROUTER } from './routers/examples.ts';
import { frrConfig } from './routers/frr.ts';
import { gobgpConfig } from './routers/gobgp.ts';

const docs = await readFile(join(import.meta.dirname, '..', '..', 'docs', 'routers.md'), 'utf8');

for (const [name, lang, generate] of [
  ['FRR', 'text', frrConfig],
  ['BIRD', 'text', birdConfig],
  ['GoBGP', 'toml', gobgpConfig],
] as const) {
  test(`docs/routers.md shows the ${name} config the router tests run`, () => {
    const block = `\`\`\`${lang}\n${generate(EXAMPLE_ROUTER)}\`\`\``;
    assert.ok(docs.includes(block), `docs/routers.md lacks this ${name} block, verbatim:\n${block}`);
  });
}
