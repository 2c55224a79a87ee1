/**
 * The skip policy of `npm test` (README, Development; docs/design.md §7): under CI=true a test that did not
 * run fails the run unless test/skip-allow-list.txt names its file, its full name and its skip message, and
 * an entry that matches no skip fails it too. Each case runs the real runner (scripts/test.ts) on test files
 * written to a scratch repository, so the reporter, the runner and the judgement are all the real ones. The
 * expected outcomes are the rule's, written here; the last cases check that a broken tool (an addon that
 * was not built, an `ip` that fails) fails a file under CI=true instead of skipping it.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, describe, test } from 'node:test';
import { AllowListError, parseAllowList } from '../scripts/skip-policy.ts';
import { REPO_ROOT } from './harness/binaries.ts';

const RUNNER = join(REPO_ROOT, 'scripts', 'test.ts');
const scratch: string[] = [];
after(() => {
  for (const d of scratch) rmSync(d, { recursive: true, force: true });
});

/** A scratch repository holding `files` (path relative to it -> content). */
function repo(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-skip-policy-'));
  scratch.push(dir);
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

interface Outcome {
  code: number;
  out: string;
}

/**
 * Runs scripts/test.ts in `dir` (its repository root) as `npm test -- FILE...` would. Files are always
 * named: with none the runner would prepare the container images for the whole suite.
 */
function runTests(dir: string, files: string[], env: NodeJS.ProcessEnv): Promise<Outcome> {
  const base = { ...process.env };
  // The outer runner marks its children; a runner started inside one must not think it is one.
  delete base.NODE_TEST_CONTEXT;
  delete base.CI;
  const child = spawn(process.execPath, [RUNNER, ...files], {
    cwd: dir,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 120_000,
  });
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  return new Promise((resolve) => child.on('close', (code) => resolve({ code: code ?? -1, out })));
}

const SUITE = `import { describe, test } from 'node:test';
test('runs', () => {});
test('needs a router', { skip: 'no router here' }, () => {});
describe('wire', () => {
  test('checks at run time', (t) => {
    t.skip('no capture tool');
  });
});
test('later', { todo: 'not written yet' }, () => {});
`;

const entry = (file: string, name: string, reason: string, why = 'a reason a reviewer accepts') =>
  `file: ${file}\ntest: ${name}\nreason: ${reason}\nwhy: ${why}\n`;

const ALL_LISTED = [
  entry('test/suite.test.ts', 'needs a router', 'no router here'),
  entry('test/suite.test.ts', 'wire > checks at run time', 'no capture tool'),
  entry('test/suite.test.ts', 'later', 'not written yet'),
].join('\n');

describe('the skip policy, through the real runner', { concurrency: 3, timeout: 300_000 }, () => {
  test('under CI=true an unlisted skip, run-time skip or todo fails the run, each named', async () => {
    const dir = repo({ 'test/suite.test.ts': SUITE });
    const r = await runTests(dir, ['test/suite.test.ts'], { CI: 'true' });
    assert.notEqual(r.code, 0, r.out);
    for (const [name, reason] of [
      ['needs a router', 'no router here'],
      ['wire > checks at run time', 'no capture tool'],
      ['later', 'not written yet'],
    ])
      assert.match(
        r.out,
        new RegExp(`file: test/suite\\.test\\.ts\ntest: ${name}\nreason: ${reason}\n`),
        r.out,
      );
  });

  test('under CI=true a run whose every skip is allow-listed passes', async () => {
    const dir = repo({ 'test/suite.test.ts': SUITE, 'test/skip-allow-list.txt': ALL_LISTED });
    const r = await runTests(dir, ['test/suite.test.ts'], { CI: 'true' });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /3 allow-listed skips/);
  });

  test('an entry covers only its own reason: the same test skipping for another reason fails', async () => {
    const dir = repo({
      'test/suite.test.ts': SUITE.replace("'no router here'", "'needs root'"),
      'test/skip-allow-list.txt': ALL_LISTED,
    });
    const r = await runTests(dir, ['test/suite.test.ts'], { CI: 'true' });
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /test: needs a router\nreason: needs root\n/);
    // ... and the entry for the old reason matched nothing.
    assert.match(r.out, /line 1: test\/suite\.test\.ts: needs a router \(no router here\)/);
  });

  test('an entry that matches no skip fails the run, naming its line', async () => {
    const list = `${ALL_LISTED}\n# gone since\n${entry('test/suite.test.ts', 'runs', 'was flaky')}`;
    const dir = repo({ 'test/suite.test.ts': SUITE, 'test/skip-allow-list.txt': list });
    const r = await runTests(dir, ['test/suite.test.ts'], { CI: 'true' });
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /1 allow-list entry .* matched no skipped test/);
    assert.match(r.out, /line 17: test\/suite\.test\.ts: runs \(was flaky\)/);
  });

  test('an entry for a file that no longer exists fails the run', async () => {
    const list = `${ALL_LISTED}\n${entry('test/removed.test.ts', 'old', 'gone')}`;
    const dir = repo({ 'test/suite.test.ts': SUITE, 'test/skip-allow-list.txt': list });
    const r = await runTests(dir, ['test/suite.test.ts'], { CI: 'true' });
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /test\/removed\.test\.ts: old \(gone\)/);
  });

  test('a run of some files judges only entries of the files that ran', async () => {
    const list = `${ALL_LISTED}\n${entry('test/other.test.ts', 'elsewhere', 'not here')}`;
    const dir = repo({
      'test/suite.test.ts': SUITE,
      'test/other.test.ts':
        "import { test } from 'node:test';\ntest('elsewhere', { skip: 'not here' }, () => {});\n",
      'test/skip-allow-list.txt': list,
    });
    const r = await runTests(dir, ['test/suite.test.ts'], { CI: 'true' });
    assert.equal(r.code, 0, r.out);
  });

  test('a skipped suite is judged as the suite: its tests never ran', async () => {
    const file = `import { describe, test } from 'node:test';
describe('BFD', { skip: 'no BFD in this router' }, () => {
  test('drops routes', () => {});
});
`;
    const listed = repo({
      'test/bfd.test.ts': file,
      'test/skip-allow-list.txt': entry('test/bfd.test.ts', 'BFD', 'no BFD in this router'),
    });
    assert.equal((await runTests(listed, ['test/bfd.test.ts'], { CI: 'true' })).code, 0);
    const byTest = repo({
      'test/bfd.test.ts': file,
      'test/skip-allow-list.txt': entry('test/bfd.test.ts', 'BFD > drops routes', 'no BFD in this router'),
    });
    assert.notEqual((await runTests(byTest, ['test/bfd.test.ts'], { CI: 'true' })).code, 0);
  });

  test('a test written in a shared module is named by the test file that ran it', async () => {
    const shared = `import { describe, test } from 'node:test';
export function matrix(kind: string) {
  describe(\`interop with \${kind}\`, () => {
    test('BFD', { skip: kind === 'b' ? 'b has no BFD' : undefined }, () => {});
  });
}
`;
    const dir = repo({
      'test/matrix.ts': shared,
      'test/a.test.ts': "import { matrix } from './matrix.ts';\nmatrix('a');\n",
      'test/b.test.ts': "import { matrix } from './matrix.ts';\nmatrix('b');\n",
      'test/skip-allow-list.txt': entry('test/b.test.ts', 'interop with b > BFD', 'b has no BFD'),
    });
    const r = await runTests(dir, ['test/a.test.ts', 'test/b.test.ts'], { CI: 'true' });
    assert.equal(r.code, 0, r.out);
  });

  test('a skip without a message cannot be allow-listed', async () => {
    const dir = repo({
      'test/bare.test.ts': "import { test } from 'node:test';\ntest.skip('quietly', () => {});\n",
    });
    const r = await runTests(dir, ['test/bare.test.ts'], { CI: 'true' });
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /test: quietly\nreason: \(no reason given/);
  });

  test('outside CI skips are listed and the run passes', async () => {
    const dir = repo({ 'test/suite.test.ts': SUITE });
    const r = await runTests(dir, ['test/suite.test.ts'], {});
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /3 tests did not run/);
  });

  test('a malformed allow-list fails the run, naming the line', async () => {
    const dir = repo({
      'test/suite.test.ts': SUITE,
      'test/skip-allow-list.txt': `${ALL_LISTED}\nfile: test/suite.test.ts\ntest: runs\nbecause: no\n`,
    });
    const r = await runTests(dir, ['test/suite.test.ts'], {});
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /test\/skip-allow-list\.txt:18: expected one of "file:", "test:", "reason:", "why:"/);
  });
});

describe('the allow-list format', () => {
  test('entries are separated by blank lines; indented lines continue a value; # lines are comments', () => {
    const text = [
      '# header',
      'file: test/a.test.ts',
      'test: outer > inner',
      'reason: GoBGP 3.10 has no BFD',
      'why: GoBGP implements no BFD;',
      '  FRR and BIRD cover it.',
      '',
      '',
      'file: test/b.test.ts',
      '# a comment inside an entry',
      'test: x',
      'reason: y',
      'why: z',
    ].join('\n');
    assert.deepEqual(parseAllowList(text, 'list'), [
      {
        file: 'test/a.test.ts',
        test: 'outer > inner',
        reason: 'GoBGP 3.10 has no BFD',
        why: 'GoBGP implements no BFD; FRR and BIRD cover it.',
        line: 2,
      },
      { file: 'test/b.test.ts', test: 'x', reason: 'y', why: 'z', line: 9 },
    ]);
  });

  test('an entry without a why, a repeated key or a repeated entry is refused with its line', () => {
    assert.throws(() => parseAllowList('file: a\ntest: b\nreason: c\n', 'list'), {
      message: 'list:1: entry lacks "why:"',
    });
    assert.throws(() => parseAllowList('file: a\nfile: b\n', 'list'), {
      message: 'list:2: "file:" given twice in one entry (separate entries by a blank line)',
    });
    const one = entry('a', 'b', 'c');
    assert.throws(
      () => parseAllowList(`${one}\n${one}`, 'list'),
      (err: Error) => {
        assert.ok(err instanceof AllowListError);
        assert.equal(err.message, 'list:6: the same file, test and reason are listed twice');
        return true;
      },
    );
  });

  test("the repository's allow-list parses, and every file it names exists", () => {
    const path = join(REPO_ROOT, 'test', 'skip-allow-list.txt');
    const entries = parseAllowList(readFileSync(path, 'utf8'), path);
    for (const e of entries) assert.ok(existsSync(join(REPO_ROOT, e.file)), `${e.file} (line ${e.line})`);
  });
});

describe('a broken tool fails a test file under CI=true instead of skipping it', {
  concurrency: 3,
  timeout: 300_000,
}, () => {
  // A real test file that skips when the addon is unavailable; the addon path points at nothing, which is
  // what an install with BEACON_SKIP_NATIVE=1 leaves.
  const ADDON_FILE = join(REPO_ROOT, 'src', 'bgp', 'session', 'tcp-options.test.ts');

  test('an addon that was not built: the file fails under CI=true', async () => {
    const r = await runTests(REPO_ROOT, [ADDON_FILE], {
      CI: 'true',
      BEACON_NATIVE_ADDON: '/nonexistent/beacon.node',
    });
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /native addon is not built \(\/nonexistent\/beacon\.node is missing\)/);
    assert.match(r.out, /a broken tool is a failure under CI=true, never a skip/);
    assert.doesNotMatch(r.out, /did not run and/);
  });

  test('an addon that was not built: outside CI the skip says the tool is broken', async () => {
    const r = await runTests(REPO_ROOT, [ADDON_FILE], { BEACON_NATIVE_ADDON: '/nonexistent/beacon.node' });
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /# broken: Beacon's native addon is not built/);
  });

  test('an `ip` that fails: a network test file fails under CI=true', {
    skip: process.getuid?.() === 0 ? undefined : 'needs root (network namespaces); CI runs as root',
  }, async () => {
    const bin = repo({ 'bin/ip': '#!/bin/sh\necho "ip: cannot open netns directory" >&2\nexit 1\n' });
    chmodSync(join(bin, 'bin', 'ip'), 0o755);
    const r = await runTests(REPO_ROOT, [join(REPO_ROOT, 'test', 'lab.test.ts')], {
      CI: 'true',
      PATH: `${join(bin, 'bin')}:${process.env.PATH}`,
    });
    assert.notEqual(r.code, 0, r.out);
    assert.match(r.out, /`ip netns list` failed: ip: cannot open netns directory/);
    assert.doesNotMatch(r.out, /did not run and/);
  });
});
