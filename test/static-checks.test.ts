/** Type errors and lint findings fail the test run, so CI catches them like any other regression. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { REPO_ROOT } from './harness/binaries.ts';

const run = promisify(execFile);

async function check(bin: string, args: string[]): Promise<string | undefined> {
  try {
    await run(join(REPO_ROOT, 'node_modules', '.bin', bin), args, {
      cwd: REPO_ROOT,
      maxBuffer: 32 * 1024 * 1024,
    });
    return undefined;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return `${e.stdout ?? ''}${e.stderr ?? ''}`;
  }
}

test('TypeScript strict type check passes', { timeout: 240_000 }, async () => {
  const out = await check('tsc', ['--noEmit', '-p', 'tsconfig.json']);
  assert.equal(out, undefined, out);
});

test('Biome lint and format check passes', { timeout: 120_000 }, async () => {
  const out = await check('biome', ['check', '--reporter=summary', '.']);
  assert.equal(out, undefined, out);
});
