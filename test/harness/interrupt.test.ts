/**
 * An interrupted test run leaves nothing behind: Node's test runner ends a test file's process without its
 * after hooks, so the labs' removal on interrupt (interrupt.ts) is all that cleans up. Interrupted the way
 * Ctrl-C interrupts `npm test`: SIGINT to the runner, which ends its test file processes.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { netnsUnavailable, removeStaleNamespaces } from './netns.ts';
import { pidAlive, waitFor } from './process.ts';

const skip = await netnsUnavailable();

const namespaces = () =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .map((l) => l.split(' ')[0]);

test('a test run interrupted with Ctrl-C removes the namespaces, processes and directories its labs made', {
  skip,
  timeout: 90_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-interrupt-'));
  const ready = join(dir, 'ready.json');
  // Without the variable that tells a test file's process it runs under a runner: this is a runner of its own.
  const { NODE_TEST_CONTEXT: _, ...env } = process.env;
  const runner = spawn(
    process.execPath,
    ['--test', '--test-reporter=tap', join(import.meta.dirname, 'interrupted-lab.fixture.ts')],
    {
      env: { ...env, BEACON_INTERRUPT_READY: ready },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    },
  );
  let output = '';
  runner.stdout.on('data', (d: Buffer) => {
    output += d.toString();
  });
  runner.stderr.on('data', (d: Buffer) => {
    output += d.toString();
  });
  const exited = new Promise<void>((resolve) => runner.once('close', () => resolve()));
  try {
    await waitFor(
      'the fixture lab is up',
      () => existsSync(ready),
      60_000,
      100,
      () => output,
    );
    const made = JSON.parse(readFileSync(ready, 'utf8')) as { pid: number; ns: string; dir: string };
    assert.ok(pidAlive(made.pid), 'the process in the lab runs');
    assert.ok(namespaces().includes(made.ns), 'the lab made its namespace');
    assert.ok(existsSync(made.dir), 'the test made its directory');
    runner.kill('SIGINT');
    await waitFor(
      `${made.ns} and ${made.dir} removed and process ${made.pid} gone`,
      () => !pidAlive(made.pid) && !namespaces().includes(made.ns) && !existsSync(made.dir),
      10_000,
      100,
      () => output,
    );
    await exited;
  } finally {
    if (runner.exitCode === null && runner.pid !== undefined) process.kill(-runner.pid, 'SIGKILL');
    await exited;
    // What a failed removal left: the fixture's process is gone, so its namespaces are stale.
    await removeStaleNamespaces();
    rmSync(dir, { recursive: true, force: true });
  }
});
