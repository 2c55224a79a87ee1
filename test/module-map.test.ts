/**
 * The module map in docs/design.md ("Module map") is the tree as it is: the test reads the table from the
 * document and holds every .ts file under src/ to it, as the TypeScript compiler parses the file. The
 * checker is shown to fail on a small tree of its own whose forbidden imports are listed by hand from the
 * rules.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT } from './harness/binaries.ts';
import { checkModuleMap, formatViolation, type Violation } from './module-map/check.ts';
import { type ModuleReference, moduleReferences } from './module-map/imports.ts';
import { type ModuleRule, parseModuleMap } from './module-map/map.ts';

const COMPUTED_IMPORTS = {
  'src/cli/lab-command.ts': 'loads lab/run-lab.ts from a source checkout; the image has no lab/',
};

const designMap = () => parseModuleMap(readFileSync(join(REPO_ROOT, 'docs', 'design.md'), 'utf8'));

test('every import under src/ is one the module map in docs/design.md allows', { timeout: 60_000 }, () => {
  const violations = checkModuleMap(REPO_ROOT, designMap(), moduleReferences(REPO_ROOT), {
    computedImports: COMPUTED_IMPORTS,
  });
  assert.deepEqual(violations.map(formatViolation), []);
});

test("the map keeps issue 15's rules: protocol, allocation, membership and time code is free of Kubernetes, BFD knows no BGP", () => {
  const rules = new Map(designMap().map((r) => [r.path, r]));
  for (const path of ['src/bgp', 'src/bfd', 'src/l2', 'src/ipam', 'src/mesh', 'src/time', 'src/native']) {
    assert.ok(rules.has(path), `${path} has a row`);
    assert.equal(rules.get(path)?.kubernetes, false, `${path} must be Kubernetes-free`);
  }
  for (const [path, rule] of rules) {
    if (path.startsWith('src/bgp/')) assert.equal(rule.kubernetes, false, `${path} must be Kubernetes-free`);
    if (path.startsWith('src/bfd'))
      assert.deepEqual(
        rule.mayImport.filter((m) => m.startsWith('src/bgp')),
        [],
        `${path} must not import src/bgp`,
      );
  }
  assert.deepEqual(rules.get('src/time')?.mayImport, []);
  assert.deepEqual(rules.get('src/native')?.mayImport, []);
});

describe('the checker, on a tree of its own', () => {
  let root: string;
  let references: Map<string, ModuleReference[]>;
  const MAP = `# A design

## 3. Module map

| folder | owns | may import | Kubernetes |
|---|---|---|---|
| \`src/time/\` | clocks | nothing | no |
| \`src/bfd/\` | BFD | \`src/time\` | no |
| \`src/bgp/\` | BGP | \`src/bfd/index.ts\` | no |
| \`src/l2/\` | ARP | nothing | no |
| \`src/api/\` | the API | nothing | yes |
| \`src/ipam/\` | allocation | \`src/api\` | no |
| \`src/k8s/\` | the API server | nothing | yes |

## 4. Next section

| folder | owns | may import | Kubernetes |
|---|---|---|---|
| \`src/orphan/\` | a row outside the map's section does not count | nothing | no |
`;
  const FILES: Record<string, string> = {
    'src/time/clock.ts': 'export const now = () => 0;\n',
    'src/time/uses-yaml.ts': "import { parse } from 'yaml';\nexport const p = parse;\n",
    'src/bfd/index.ts': "export { now } from './session.ts';\n",
    'src/bfd/session.ts': [
      "import { now } from '../time/clock.ts';",
      "import type { Update } from '../bgp/update.ts';",
      'export { now };',
      'export type U = Update;',
      '',
    ].join('\n'),
    'src/bfd/later.ts': [
      'export async function load(name: string) {',
      "  await import('../bgp/update.ts');",
      '  return import(name);',
      '}',
      "type T = typeof import('../bgp/update.ts');",
      'export type { T };',
      '',
    ].join('\n'),
    'src/bgp/update.ts': [
      "import { now } from '../bfd/index.ts';",
      "export { now as later } from '../bfd/session.ts';",
      'export type Update = { at: ReturnType<typeof now> };',
      '',
    ].join('\n'),
    'src/l2/frames.ts': "import type { V1Node } from '@kubernetes/client-node';\nexport type N = V1Node;\n",
    'src/l2/multi.ts': ['import {', '  now,', "} from '../time/clock.ts';", 'export const t = now;', ''].join(
      '\n',
    ),
    'src/l2/quoted.ts': [
      "// import { now } from '../time/clock.ts';",
      `export const s = "import x from '../bgp/update.ts'";`,
      '',
    ].join('\n'),
    'src/api/meta.ts':
      "import type { V1ObjectMeta } from '@kubernetes/client-node';\nexport type Meta = V1ObjectMeta;\n",
    'src/api/selector.ts': 'export type Selector = { app: string };\n',
    'src/api/client.ts': [
      "import { KubeConfig } from '@kubernetes/client-node';",
      "import { type V1Pod } from '@kubernetes/client-node';",
      'export const k = KubeConfig;',
      'export type P = V1Pod;',
      '',
    ].join('\n'),
    'src/ipam/pool.ts': [
      "import type { Selector } from '../api/selector.ts';",
      "import type { Meta } from '../api/meta.ts';",
      'export type Pool = { s: Selector; m: Meta };',
      '',
    ].join('\n'),
    'src/ipam/pool.test.ts': [
      "import fc from 'fast-check';",
      "import { helper } from '../../test/harness/helper.ts';",
      "import type { Update } from '../bgp/update.ts';",
      "import type { V1Pod } from '@kubernetes/client-node';",
      'export { fc, helper };',
      'export type X = [Update, V1Pod];',
      '',
    ].join('\n'),
    'src/k8s/rest.ts': 'export const get = () => 1;\n',
    'src/orphan/a.ts': 'export const a = 1;\n',
  };

  before(() => {
    root = mkdtempSync(join(tmpdir(), 'beacon-module-map-'));
    for (const [file, text] of Object.entries(FILES)) {
      mkdirSync(join(root, dirname(file)), { recursive: true });
      writeFileSync(join(root, file), text);
    }
    references = moduleReferences(root);
  });
  after(() => rmSync(root, { recursive: true, force: true }));

  const brief = (v: Violation) =>
    `${v.file}${v.line ? `:${v.line}` : ''}${v.specifier ? ` ${v.specifier}` : ''}`;

  test('reads imports as the compiler parses them: multi-line, type-only, dynamic, in types; not in strings or comments', () => {
    assert.deepEqual(references.get('src/l2/multi.ts'), [
      { specifier: '../time/clock.ts', typeOnly: false, line: 3 },
    ]);
    assert.deepEqual(references.get('src/l2/quoted.ts'), []);
    assert.deepEqual(references.get('src/bfd/later.ts'), [
      { specifier: '../bgp/update.ts', typeOnly: false, line: 2 },
      { specifier: undefined, typeOnly: false, line: 3 },
      { specifier: '../bgp/update.ts', typeOnly: true, line: 5 },
    ]);
    assert.deepEqual(references.get('src/api/client.ts'), [
      { specifier: '@kubernetes/client-node', typeOnly: false, line: 1 },
      // `import { type X }` still loads the module at run time.
      { specifier: '@kubernetes/client-node', typeOnly: false, line: 2 },
    ]);
    assert.deepEqual(references.get('src/bfd/index.ts'), [
      { specifier: './session.ts', typeOnly: false, line: 1 },
    ]);
  });

  test('fails on each forbidden import, naming file, line, import and rule', () => {
    const violations = checkModuleMap(root, parseModuleMap(MAP), references);
    const found = new Map(violations.map((v) => [brief(v), v.rule]));
    // Written from the rules of MAP above, one by one.
    const expected: Record<string, string> = {
      // A folder without a row; the row in "Next section" is not part of the map.
      'src/orphan': 'src/orphan has no row',
      // src/time may import nothing, not even a package.
      'src/time/uses-yaml.ts:1 yaml': 'src/time may import nothing',
      // BFD must not know BGP: not by `import type`, `import()`, or a type-level import().
      'src/bfd/session.ts:2 ../bgp/update.ts': 'src/bfd may import src/time',
      'src/bfd/later.ts:2 ../bgp/update.ts': 'src/bfd may import src/time',
      'src/bfd/later.ts:5 ../bgp/update.ts': 'src/bfd may import src/time',
      'src/bfd/later.ts:3': 'computed specifier',
      // BGP may reach BFD through src/bfd/index.ts only.
      'src/bgp/update.ts:2 ../bfd/session.ts': 'src/bgp may import src/bfd/index.ts (',
      // L2 is Kubernetes-free, and may import nothing of Beacon.
      'src/l2/frames.ts:1 @kubernetes/client-node': 'src/l2 may not import anything Kubernetes',
      'src/l2/multi.ts:3 ../time/clock.ts': 'src/l2 may import nothing',
      // The API may use Kubernetes types, but only erased ones.
      'src/api/client.ts:1 @kubernetes/client-node': 'types only',
      'src/api/client.ts:2 @kubernetes/client-node': 'types only',
      // ipam may import src/api, but not a file of it that brings Kubernetes along.
      'src/ipam/pool.ts:2 ../api/meta.ts':
        'src/ipam may not depend on anything Kubernetes, and src/api/meta.ts reaches it (src/api/meta.ts -> @kubernetes/client-node)',
      // A test may reach across the map, but a Kubernetes-free folder's test still has no Kubernetes.
      'src/ipam/pool.test.ts:4 @kubernetes/client-node': 'src/ipam may not import anything Kubernetes',
    };
    assert.deepEqual([...found.keys()].sort(), Object.keys(expected).sort());
    for (const [where, rule] of Object.entries(expected))
      assert.ok(found.get(where)?.includes(rule), `${where}: "${found.get(where)}" should say "${rule}"`);
  });

  test('an allowed computed import() is one the caller names, in a file that has one', () => {
    const violations = checkModuleMap(root, parseModuleMap(MAP), references, {
      computedImports: { 'src/bfd/later.ts': 'test', 'src/time/clock.ts': 'stale' },
    });
    assert.ok(!violations.some((v) => brief(v) === 'src/bfd/later.ts:3'));
    assert.ok(
      violations.some((v) => v.file === 'src/time/clock.ts' && v.rule.includes('has none')),
      'an allowance for a file without a computed import() is reported',
    );
  });

  test('fails on a map that contradicts itself: a cycle, a Kubernetes-free row listing src/k8s, a stale or missing path', () => {
    const rules: ModuleRule[] = [
      { path: 'src/time', owns: '', mayImport: ['src/bfd'], kubernetes: false },
      { path: 'src/bfd', owns: '', mayImport: ['src/time'], kubernetes: false },
      { path: 'src/l2', owns: '', mayImport: ['src/k8s', 'src/nowhere', 'pino'], kubernetes: false },
      { path: 'src/k8s', owns: '', mayImport: [], kubernetes: false },
    ];
    const mapFindings = checkModuleMap(root, rules, references)
      .filter((v) => v.file === 'docs/design.md')
      .map((v) => v.rule);
    for (const expected of [
      'the rows import each other in a cycle: src/time -> src/bfd -> src/time',
      'src/l2 is marked Kubernetes-free but may import src/k8s',
      "src/l2's row names src/nowhere, which does not exist",
      'src/k8s is Kubernetes access, so it cannot be Kubernetes-free',
      'src/l2 lists pino, which none of its files imports',
    ])
      assert.ok(
        mapFindings.some((r) => r.includes(expected)),
        `expected "${expected}" among:\n${mapFindings.join('\n')}`,
      );
  });

  test('refuses a malformed table instead of reading no rules from it', () => {
    assert.throws(() => parseModuleMap('# x\n'), /no "## Module map" section/);
    assert.throws(
      () => parseModuleMap('## Module map\n\n| folder | owns | may import |\n|---|---|---|\n'),
      /columns/,
    );
    assert.throws(
      () =>
        parseModuleMap(
          '## Module map\n\n| folder | owns | may import | Kubernetes |\n|---|---|---|---|\n| `src/a` | a | nothing | maybe |\n',
        ),
      /yes or no/,
    );
    assert.throws(
      () =>
        parseModuleMap(
          '## Module map\n\n| folder | owns | may import | Kubernetes |\n|---|---|---|---|\n| `src/a` | a | src/b | no |\n',
        ),
      /backticks/,
    );
  });
});
