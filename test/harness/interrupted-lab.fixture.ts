/**
 * Run by interrupt.test.ts under Node's test runner, which that test then interrupts: a lab with a network
 * namespace, a process in it and a temporary directory. The runner skips the after hook below when it is interrupted, so only the
 * removal on interrupt (interrupt.ts) can clean this lab up.
 */
import { writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { temporaryDirectory } from './interrupt.ts';
import { NetLab } from './netns.ts';

test('holds a lab until interrupted', { timeout: 120_000 }, async () => {
  const lab = await NetLab.create('intr');
  after(() => lab.cleanup());
  const ns = await lab.addNamespace('a');
  const sleeper = ns.spawn('sleeper', 'sleep', ['300']);
  const dir = temporaryDirectory('beacon-interrupted-');
  after(() => dir.remove());
  writeFileSync(
    process.env.BEACON_INTERRUPT_READY!,
    JSON.stringify({ pid: sleeper.child.pid, ns: ns.name, dir: dir.path }),
  );
  await new Promise((resolve) => setTimeout(resolve, 120_000));
});
