// A node:test reporter that records, as JSON lines, every test file that ran and every test or suite that
// was skipped (a `skip` option, `test.skip`, or `t.skip()` at run time) or marked todo, with its file, its
// full name and its reason. scripts/test.ts runs it beside the spec reporter and hands what it wrote to
// scripts/skip-policy.ts. Children of a skipped suite never run, so the suite is the one recorded.
import { relative, sep } from 'node:path';
import type { TestEvent } from 'node:test/reporters';
import type { SkipRecord } from './skip-policy.ts';

interface Known {
  name: string;
  parentId: number | undefined;
}

/** Path relative to the directory the runner was started in (the repository root), with `/` separators. */
function repoPath(file: string): string {
  return relative(process.cwd(), file).split(sep).join('/');
}

export default async function* skipReporter(source: AsyncIterable<TestEvent>): AsyncGenerator<string> {
  // testId is unique within one test file's process only, hence one map per file.
  const tests = new Map<string, Map<number, Known>>();
  const line = (r: SkipRecord | { kind: 'file'; file: string }) => `${JSON.stringify(r)}\n`;
  for await (const event of source) {
    if (event.type !== 'test:start' && event.type !== 'test:pass' && event.type !== 'test:fail') continue;
    const { name, testId, parentId } = event.data;
    // `file` is where the test was written (a shared module like test/bgp-interop/matrix.ts defines the
    // tests of three files); `entryFile`, which @types/node does not declare yet, is the test file that ran.
    const file = (event.data as { entryFile?: string }).entryFile ?? event.data.file;
    if (!file) continue;
    const path = repoPath(file);
    let known = tests.get(path);
    if (!known) {
      known = new Map();
      tests.set(path, known);
      yield line({ kind: 'file', file: path });
    }
    if (event.type === 'test:start') {
      known.set(testId, { name, parentId });
      continue;
    }
    const { skip, todo } = event.data;
    // `skip: ''` or `false` does not skip; node leaves the field out or passes it through as given.
    if (!skip && !todo) continue;
    const names = [name];
    for (let up = parentId; up !== undefined; ) {
      const parent = known.get(up);
      if (!parent) break;
      names.unshift(parent.name);
      up = parent.parentId;
    }
    const marker = skip || todo;
    yield line({
      kind: skip ? 'skip' : 'todo',
      file: path,
      test: names.join(' > '),
      reason: typeof marker === 'string' ? marker : '',
    });
  }
}
