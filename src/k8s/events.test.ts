import assert from 'node:assert/strict';
import { test } from 'node:test';
import { boundedMessage, MAX_EVENT_MESSAGE } from './events.ts';

test('Event messages keep both ends of a long quoted value and stay within 1 kB', () => {
  const short = 'pool main, which app/web asks for, does not exist';
  assert.equal(boundedMessage(short), short);
  const long = `pool ${'p'.repeat(60_000)}, which app/web asks for, does not exist (pools: main)`;
  const m = boundedMessage(long);
  assert.equal([...m].length, MAX_EVENT_MESSAGE);
  assert.match(
    m,
    /^pool p+ … \(\d+ characters left out\) … p+, which app\/web asks for, does not exist \(pools: main\)$/,
  );
  // Characters outside the BMP are never cut in half.
  const emoji = boundedMessage('🙂'.repeat(5000));
  assert.equal([...emoji].length, MAX_EVENT_MESSAGE);
  assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(emoji));
});
