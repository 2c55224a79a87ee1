/**
 * What tsconfig.build.json puts in dist/ (and so in the image) is what `beacon` can run: every shipped file
 * is reachable from the command's entry point, src/cli/main.ts. Test helpers, fuzzers and fixtures live
 * under test/ or are excluded from the build.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';

const ROOT = join(import.meta.dirname, '..');

/** Files the build compiles, from the compiler itself. */
async function shipped(): Promise<string[]> {
  const tsc = join(ROOT, 'node_modules', '.bin', 'tsc');
  const { stdout } = await promisify(execFile)(tsc, ['-p', 'tsconfig.build.json', '--listFilesOnly'], {
    cwd: ROOT,
  });
  return stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith(join(ROOT, 'src') + '/'))
    .map((l) => relative(ROOT, l))
    .sort();
}

/** Files reachable from `entry` through relative imports (static, and dynamic ones with a literal path). */
function reachable(entry: string): Set<string> {
  const seen = new Set<string>();
  const stack = [join(ROOT, entry)];
  while (stack.length) {
    const file = stack.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(
      /^\s*(?:import|export)[^'"]*?from\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/gm,
    ))
      stack.push(resolve(dirname(file), (m[1] ?? m[2])!));
  }
  return new Set([...seen].map((f) => relative(ROOT, f)));
}

test('every file the build ships is used by the beacon command', { timeout: 60_000 }, async () => {
  const files = await shipped();
  assert.ok(files.includes('src/cli/main.ts'), `the build lists src/: ${files.length} files`);
  const used = reachable('src/cli/main.ts');
  assert.deepEqual(
    files.filter((f) => !used.has(f)),
    [],
    'shipped but never imported by a command: move it under test/ or exclude it in tsconfig.build.json',
  );
});
