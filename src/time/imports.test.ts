/**
 * The arrows between the protocol modules point one way: time <- bfd <- bgp. A clock belongs to neither
 * protocol, BFD knows nothing of BGP, and BGP reaches BFD through one file and BFD's public entry only.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const SRC = join(import.meta.dirname, '..');

function sources(folder: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(join(SRC, folder), { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.test.ts'))
      out.push(relative(SRC, join(e.parentPath, e.name)));
  }
  return out.sort();
}

/** Every module a file imports, as a path relative to src/ (or the bare package name). */
function imports(file: string): string[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const out: string[] = [];
  for (const m of text.matchAll(/^(?:import|export)[^'"]*?from\s+'([^']+)'/gm)) {
    const spec = m[1]!;
    out.push(spec.startsWith('.') ? relative(SRC, resolve(SRC, dirname(file), spec)) : spec);
  }
  return out;
}

const KUBERNETES = /^@kubernetes\/|^(k8s|controller|speaker|api)\//;

test('src/time imports nothing of Beacon', () => {
  for (const f of sources('time'))
    assert.deepEqual(
      imports(f).filter((i) => !i.startsWith('node:')),
      [],
      f,
    );
});

test('src/bfd imports neither src/bgp nor anything Kubernetes', () => {
  for (const f of sources('bfd'))
    for (const i of imports(f)) {
      assert.ok(!i.startsWith('bgp/'), `${f} imports ${i}`);
      assert.ok(!KUBERNETES.test(i), `${f} imports ${i}`);
    }
});

test('src/bgp imports nothing Kubernetes', () => {
  for (const f of sources('bgp'))
    for (const i of imports(f)) assert.ok(!KUBERNETES.test(i), `${f} imports ${i}`);
});

test('src/bgp reaches src/bfd from one file, through its public entry', () => {
  const users: string[] = [];
  for (const f of sources('bgp'))
    for (const i of imports(f).filter((i) => i.startsWith('bfd/'))) {
      assert.equal(i, 'bfd/index.ts', `${f} imports ${i}`);
      users.push(f);
    }
  assert.deepEqual([...new Set(users)], ['bgp/session/bfd-coupling.ts']);
});
