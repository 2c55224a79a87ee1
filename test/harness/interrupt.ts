/**
 * What a test process removes when the run is interrupted. Node's test runner ends each test file's
 * process with SIGTERM when it is itself interrupted (Ctrl-C, or a signal to `npm test`), and that process
 * then exits without running its after hooks: a lab's own teardown never runs. Tethered processes die with
 * it (pdeathsig), but network namespaces, cgroups with the containers in them, and directories would stay
 * until the next lab swept them. Each lab registers a synchronous removal here while it exists; the signal
 * runs them all, newest first, before the process ends. Synchronous, because the runner's own handler ends
 * the process a moment after the signal, and nothing asynchronous outlives that.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';

interface Removal {
  readonly what: string;
  readonly remove: () => void;
}

const removals = new Set<Removal>();
const SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
let installed = false;
let programTearsDown = false;

/**
 * For a program that tears its labs down itself on a signal (`npm run lab`, with an ordered teardown that
 * says what it waits for): a removal here would pre-empt it, so none is registered from now on.
 */
export function programTearsDownOnSignal(): void {
  programTearsDown = true;
}

/**
 * Registers `remove` (synchronous, idempotent) to run if this process is interrupted; returns the function
 * that withdraws it, which the lab's ordinary teardown calls.
 */
export function removeOnInterrupt(what: string, remove: () => void): () => void {
  if (programTearsDown) return () => {};
  if (!installed) {
    installed = true;
    for (const signal of SIGNALS) process.on(signal, () => removeAll(signal));
  }
  const r: Removal = { what, remove };
  removals.add(r);
  return () => {
    removals.delete(r);
  };
}

/**
 * A directory under the system's temporary directory for one test file or test: `remove()` at its end, and
 * removed too if the run is interrupted before that (a Helm home, a kustomize overlay, a chart copy).
 */
export function temporaryDirectory(prefix: string): { path: string; remove: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  const removeDir = () => rmSync(path, { recursive: true, force: true });
  const withdraw = removeOnInterrupt(path, removeDir);
  return {
    path,
    remove: () => {
      withdraw();
      removeDir();
    },
  };
}

function removeAll(signal: (typeof SIGNALS)[number]): void {
  const pending = [...removals].reverse();
  removals.clear();
  for (const r of pending) {
    try {
      r.remove();
      process.stderr.write(`[harness] ${signal}: removed ${r.what}\n`);
    } catch (err) {
      process.stderr.write(`[harness] ${signal}: could not remove ${r.what}: ${(err as Error).message}\n`);
    }
  }
  // Alone on this signal (outside the test runner, whose handler ends the process), this listener took the
  // place of the default action, which was to end the process.
  if (process.listenerCount(signal) === 1) process.exit(128 + constants.signals[signal]);
}

/**
 * Blocks until process `pid` has ended (a zombie counts as ended: nothing reaps it while this process
 * blocks), or `timeoutMs` passed; for a removal that asks a child with a teardown of its own to stop.
 */
export function waitForExitSync(pid: number, timeoutMs: number): boolean {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let state = '';
    try {
      state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0] ?? '';
    } catch {
      return true;
    }
    if (state === 'Z' || state === 'X') return true;
    if (Date.now() > deadline) return false;
    blockFor(50);
  }
}

/** Waits `ms` by blocking the thread: the only way to wait inside a removal (see above). */
export function blockFor(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}
