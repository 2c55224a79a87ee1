/**
 * One privacy convention (docs/design.md, "Conventions"): class members are kept private with TypeScript's
 * `private`, never with ECMAScript `#names`. Read as the compiler parses the files, so a `#` in a string,
 * a comment or a colour is not taken for one.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from './harness/binaries.ts';
import { privateNames } from './module-map/imports.ts';

test('no class member under src/ is an ECMAScript #private name', { timeout: 60_000 }, () => {
  const found = [...privateNames(REPO_ROOT)].flatMap(([file, lines]) => lines.map((l) => `${file}:${l}`));
  assert.deepEqual(found, [], 'use `private name` instead');
});

test('the check finds #names in declarations, accesses and `in` tests, and nothing in strings or comments', () => {
  const root = mkdtempSync(join(tmpdir(), 'beacon-private-'));
  try {
    const files: Record<string, string> = {
      'src/a/hash.ts': [
        'export class A {',
        '  #count = 0;',
        '  static #made = 0;',
        '  #bump(): void {',
        '    this.#count++;',
        '  }',
        '  static is(x: object): boolean {',
        '    return #count in x;',
        '  }',
        '}',
        '',
      ].join('\n'),
      'src/a/plain.ts': [
        '// not #this one',
        "export const colour = '#ff0000';",
        'export class B {',
        '  private count = 0;',
        '  /** See #count. */',
        '  get value(): number {',
        '    return this.count;',
        '  }',
        '}',
        '',
      ].join('\n'),
    };
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, file)), { recursive: true });
      writeFileSync(join(root, file), text);
    }
    const names = privateNames(root);
    assert.deepEqual(names.get('src/a/hash.ts'), [2, 3, 4, 5, 8]);
    assert.deepEqual(names.get('src/a/plain.ts'), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
