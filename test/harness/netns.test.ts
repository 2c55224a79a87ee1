import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, test } from 'node:test';
import { NetLab, netnsUnavailable } from './netns.ts';

const skip = await netnsUnavailable();

test('a lab bridges two namespaces, they reach each other, and cleanup leaves nothing', {
  skip,
  timeout: 60_000,
}, async () => {
  const lab = await NetLab.create('selftest');
  after(() => lab.cleanup());
  const br = await lab.addBridge();
  const a = await lab.addNamespace('a');
  const b = await lab.addNamespace('b');
  await lab.attach(a, br, { addresses: ['192.0.2.1/24', '2001:db8::1/64'] });
  await lab.attach(b, br, { addresses: ['192.0.2.2/24', '2001:db8::2/64'] });
  assert.equal((await a.exec('ping', ['-c1', '-W2', '192.0.2.2'])).code, 0);
  assert.equal((await a.exec('ping', ['-6', '-c1', '-W2', '2001:db8::2'])).code, 0);
  const sleeper = b.spawn('sleep', 'sleep', ['600']);
  await lab.cleanup();
  assert.notEqual(await Promise.race([sleeper.exited, Promise.resolve('running')]), 'running');
  const left = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  assert.doesNotMatch(left, new RegExp(`bcn${process.pid}-selftest`));
});
