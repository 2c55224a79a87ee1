/**
 * Run by interrupt.test.ts under Node's test runner, which that test then interrupts: a lab with a network
 * namespace and a process in it. The runner skips the after hook below when it is interrupted, so only the
 * removal on interrupt (interrupt.ts) can clean this lab up.
 */
import { writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { NetLab } from './netns.ts';

test('holds a lab until interrupted', { timeout: 120_000 }, async () => {
  const lab = await NetLab.create('intr');
  after(() => lab.cleanup());
  const ns = await lab.addNamespace('a');
  const sleeper = ns.spawn('sleeper', 'sleep', ['300']);
  writeFileSync(process.env.BEACON_INTERRUPT_READY!, JSON.stringify({ pid: sleeper.child.pid, ns: ns.name }));
  await new Promise((resolve) => setTimeout(resolve, 120_000));
});
