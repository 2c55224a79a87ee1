/** The README's set-up commands are what CI runs, so they cannot rot. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from './harness/binaries.ts';

const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
const ci = readFileSync(join(REPO_ROOT, '.ci', 'run'), 'utf8');

function firstCodeBlock(text: string): string[] {
  const m = /```sh\n([\s\S]*?)```/.exec(text);
  assert.ok(m, 'the README starts with a sh code block of set-up commands');
  return m[1]!.split('\n').filter((l) => l.trim() && !l.trim().startsWith('#'));
}

test("README's test command is the one .ci/run runs", () => {
  const commands = firstCodeBlock(readme);
  const testCommand = commands
    .find((c) => c.includes('npm test'))
    ?.replace(/#.*$/, '')
    .trim();
  assert.ok(testCommand, 'README names a test command');
  const ciLines = ci.split('\n').map((l) => l.trim());
  assert.ok(ciLines.includes(testCommand), `.ci/run does not run "${testCommand}"`);
});

test('the first command runs the lab', () => {
  assert.match(firstCodeBlock(readme)[0]!, /npm run lab/);
});

test('README opens with the set-up commands, before anything else', () => {
  const beforeBlock = readme.slice(0, readme.indexOf('```sh'));
  assert.ok(
    beforeBlock.split('\n').filter((l) => l.trim()).length <= 3,
    'only a title and a line before the commands',
  );
});
