import assert from 'node:assert/strict';
import { test } from 'node:test';
import { capturingLogger, duplicateKeys } from '../../test/harness/log-lines.ts';
import { L2Answerer } from './answerer.ts';

test("under the speaker's logger (node already bound), L2 lines name each key once", () => {
  const { log, lines } = capturingLogger('debug', { component: 'speaker' });
  const speaker = new L2Answerer({ log: log.child({ node: 'node-1' }), node: 'node-1' });
  try {
    const { failed } = speaker.reconcile([{ address: '192.0.2.1', interface: 'no-such-if0' }], []);
    assert.equal(failed.length, 1);
  } finally {
    speaker.close();
  }
  const line = lines.find((l) => l.includes('cannot announce address on interface'));
  assert.ok(line, 'the failure is logged');
  assert.deepEqual(duplicateKeys(line), []);
  assert.equal((JSON.parse(line) as { node: string }).node, 'node-1');
});
