import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_RETRY_BACKOFF, type QueueTimers, WorkQueue } from './work-queue.ts';

/** Timers that run only when the test says so, recording the delay each was set for. */
function manualTimers() {
  const due: { fn: () => void; ms: number; cancelled: boolean }[] = [];
  const timers: QueueTimers = {
    setTimeout: (fn, ms) => {
      const t = { fn, ms, cancelled: false };
      due.push(t);
      return t;
    },
    clearTimeout: (h) => {
      (h as { cancelled: boolean }).cancelled = true;
    },
  };
  const fireAll = () => {
    for (const t of due.splice(0)) if (!t.cancelled) t.fn();
  };
  return { timers, due, fireAll };
}

const settle = () => new Promise((r) => setImmediate(r));

test('a failing key comes back after delays that double up to the cap, and starts over once it succeeds', async () => {
  const { timers, due, fireAll } = manualTimers();
  const runs: string[] = [];
  let fail = true;
  const q: WorkQueue = new WorkQueue(
    async (key) => {
      runs.push(key);
      if (fail) q.addRateLimited(key);
      else q.forget(key);
    },
    4,
    { backoff: { initialMs: 100, maxMs: 1000 }, timers },
  );
  q.resume();
  q.add('ns/svc');
  const delays: number[] = [];
  for (let i = 0; i < 7; i++) {
    await settle();
    delays.push(...due.filter((t) => !t.cancelled).map((t) => t.ms));
    fireAll();
  }
  // Exponential from the first failure, capped: one attempt per delay, never more.
  assert.deepEqual(delays, [100, 200, 400, 800, 1000, 1000, 1000]);
  // The first run and one per delay that ran out.
  await settle();
  assert.equal(runs.length, 8);
  assert.equal(q.failuresOf('ns/svc'), 8);
  fail = false;
  await settle();
  fireAll();
  await settle();
  assert.equal(q.failuresOf('ns/svc'), 0);
  fail = true;
  q.add('ns/svc');
  await settle();
  assert.deepEqual(
    due.filter((t) => !t.cancelled).map((t) => t.ms),
    [100],
    'after a success the next failure waits the first delay again',
  );
});

test('a change still runs the key at once; its pending retry is replaced, not doubled', async () => {
  const { timers, due } = manualTimers();
  const runs: string[] = [];
  const q: WorkQueue = new WorkQueue(
    async (key) => {
      runs.push(key);
      q.addRateLimited(key);
    },
    1,
    { backoff: { initialMs: 100, maxMs: 1000 }, timers },
  );
  q.resume();
  q.add('k');
  await settle();
  q.add('k');
  await settle();
  assert.equal(runs.length, 2);
  assert.deepEqual(
    due.filter((t) => !t.cancelled).map((t) => t.ms),
    [200],
  );
  // clear() (stepping down) drops pending retries and counts.
  q.clear();
  assert.equal(q.failuresOf('k'), 0);
  assert.deepEqual(
    due.filter((t) => !t.cancelled),
    [],
  );
});

test('the default backoff starts at half a second and caps at five minutes', () => {
  assert.deepEqual(DEFAULT_RETRY_BACKOFF, { initialMs: 500, maxMs: 300_000 });
});
