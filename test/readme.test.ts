/**
 * The README's set-up commands are what CI runs, and the facts README and docs/ state that a file in the tree
 * settles (metric names, install.md's object counts and Helm values) are checked here without an API server,
 * so they cannot rot.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { controllerMetrics } from '../src/controller/metrics.ts';
import { speakerMetrics } from '../src/speaker/metrics.ts';
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

const docs = ['README.md', ...readdirSync(join(REPO_ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) =>
  f.endsWith('.md'),
);
const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');

test('every beacon_ metric README and docs/ name is one Beacon exports', () => {
  const exported = new Set(
    [controllerMetrics().registry, speakerMetrics().registry].flatMap((r) =>
      r.getMetricsAsArray().map((m) => m.name),
    ),
  );
  const unknown = docs.flatMap((doc) =>
    [...read(doc).matchAll(/\bbeacon_[a-z0-9_]+/g)]
      .map((m) => m[0].replace(/_(bucket|sum|count)$/, ''))
      .filter((name) => !exported.has(name))
      .map((name) => `${doc}: ${name}`),
  );
  assert.deepEqual(unknown, []);
});

test("install.md's object counts are those of deploy/", () => {
  const install = read('docs/install.md');
  const kinds = readdirSync(join(REPO_ROOT, 'deploy'))
    .filter((f) => f.endsWith('.yaml'))
    .flatMap((f) => [...read(`deploy/${f}`).matchAll(/^kind: (\S+)$/gm)].map((m) => m[1]!));
  const policies = kinds.filter((k) => k === 'ValidatingAdmissionPolicy').length;
  assert.match(install, new RegExp(`\\| ${policies} ValidatingAdmissionPolicies and bindings \\|`));
  const crds = readdirSync(join(REPO_ROOT, 'crds')).filter((f) => f.endsWith('.beacon.dev.yaml')).length;
  assert.match(install, new RegExp(`\\| ${crds} CRDs \\(\`beacon.dev\`\\)`));
});

test("every Helm value install.md's table names is in the chart's values.yaml", () => {
  const values = parse(read('deploy/helm/beacon/values.yaml')) as Record<string, unknown>;
  const has = (path: string) =>
    path
      .split('.')
      .reduce<unknown>(
        (v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined),
        values,
      ) !== undefined;
  const table = read('docs/install.md')
    .split('\n')
    .filter((l) => l.startsWith('| `'));
  const rows = table.slice(
    0,
    table.findIndex((l) => l.startsWith('| `BeaconBGPSessionDown`')),
  );
  const named: string[] = [];
  for (const row of rows) {
    const own: string[] = [];
    for (const m of row.split('|')[1]!.matchAll(/`([^`]+)`/g)) {
      const token = m[1]!;
      // "(and `speaker.`)": the row's controller keys, under speaker.
      if (token.endsWith('.')) own.push(...own.map((k) => k.replace(/^controller\./, token)));
      // ".maxUnavailable": a sibling of the key before it.
      else own.push(token.startsWith('.') ? own.at(-1)!.replace(/\.[^.]+$/, '') + token : token);
    }
    named.push(...own);
  }
  assert.ok(named.length > 30, `found ${named.length} values`);
  assert.deepEqual(
    [...new Set(named)].filter((n) => !has(n)),
    [],
  );
});
