import assert from 'node:assert/strict';
import { test } from 'node:test';
import { duplicateKeys } from './log-lines.ts';

test('duplicateKeys finds top-level keys named twice, and only those', () => {
  assert.deepEqual(duplicateKeys('{"a":1,"node":"x","b":{"node":2},"node":"x"}'), ['node']);
  assert.deepEqual(duplicateKeys('{"a":"{\\"a\\":1}","b":[{"a":1}],"c":"a"}'), []);
  assert.deepEqual(duplicateKeys('{"msg":"node: x", "node": "y"}'), []);
  assert.deepEqual(duplicateKeys('{"a":1, "a" :2,"b":"\\"","b":3}'), ['a', 'b']);
});
