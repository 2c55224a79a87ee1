/** Tethered processes: their output reaches the log file whole, whenever it arrives. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { endInput, spawnTethered, waitFor } from './process.ts';

test('output written after the process exited (by a child still holding its stdout) reaches the log file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-process-test-'));
  try {
    const logFile = join(dir, 'out.log');
    // The shell exits at once; its background child writes 200 ms later on the same pipe. Ending the log
    // at 'exit' made that late write throw ERR_STREAM_WRITE_AFTER_END out of the harness.
    const p = spawnTethered('late-writer', 'sh', ['-c', 'echo early; (sleep 0.2; echo late) & exit 0'], {
      logFile,
    });
    assert.equal(await p.exited, 0);
    await waitFor('the late line in the tail', () => p.tail().includes('late'), 5000, 20, p.tail);
    await waitFor(
      'the late line in the log file',
      () => readFileSync(logFile, 'utf8') === 'early\nlate\n',
      5000,
      20,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('input for a child that closed its stdin without reading it: the exit status is the verdict, not an EPIPE', async () => {
  // The promtool failure of a stress run: `check rules FILE` reads no stdin and may be gone before the
  // (empty) input is written. Here the child closes its stdin, says so, and stays until the input is sent.
  const exited = new Promise<number>((resolve) => {
    const child = execFile('sh', ['-c', 'exec 0<&-; echo closed; sleep 0.5; exit 3'], (err) =>
      resolve(typeof err?.code === 'number' ? err.code : 0),
    );
    child.stdout?.once('data', () => endInput(child, 'x'.repeat(1 << 20)));
  });
  assert.equal(await exited, 3);
});
