import assert from 'node:assert/strict';
import { test } from 'node:test';
import { durationMs, durationSeconds } from './duration.ts';

test('Go durations in milliseconds and whole seconds; malformed ones are undefined', () => {
  assert.equal(durationMs('90s'), 90_000);
  assert.equal(durationMs('9m0s'), 540_000);
  assert.equal(durationMs('1m30s'), 90_000);
  assert.equal(durationMs('1h'), 3_600_000);
  assert.equal(durationMs('500ms'), 500);
  assert.equal(durationMs('0s'), 0);
  assert.equal(durationSeconds('1500ms'), 2);
  assert.equal(durationMs(undefined), undefined);
  assert.equal(durationMs('90'), undefined);
  assert.equal(durationMs('soon'), undefined);
});
