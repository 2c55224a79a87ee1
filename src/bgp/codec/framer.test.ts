import assert from 'node:assert/strict';
import { test } from 'node:test';
import { encodeKeepalive, encodeRouteRefresh } from './encode.ts';
import { MessageFramer } from './framer.ts';

function drain(f: MessageFramer) {
  const out = [];
  for (let m = f.next(); m; m = f.next()) out.push(m);
  return out;
}

test('messages split across chunks at every offset come out whole and in order', () => {
  const stream = Buffer.concat([encodeKeepalive(), encodeRouteRefresh(2, 1), encodeKeepalive()]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const f = new MessageFramer();
    f.push(stream.subarray(0, cut));
    const first = drain(f);
    f.push(stream.subarray(cut));
    const all = [...first, ...drain(f)];
    assert.deepEqual(
      all.map((m) => (m.ok ? m.bytes.length : -1)),
      [19, 23, 19],
    );
    assert.equal(f.buffered, 0);
  }
});

test('one byte at a time', () => {
  const f = new MessageFramer();
  const frames = [];
  for (const b of encodeRouteRefresh(1, 1)) {
    f.push(Uint8Array.of(b));
    frames.push(...drain(f));
  }
  assert.equal(frames.length, 1);
});

test('a bad marker or a length above 4096 poisons the stream for good', () => {
  const bad = encodeKeepalive().slice();
  bad[3] = 0;
  const f = new MessageFramer();
  f.push(Buffer.concat([bad, encodeKeepalive()]));
  const first = f.next();
  assert.ok(first && !first.ok && first.error.code === 1 && first.error.subcode === 1);
  assert.equal(f.next(), undefined);

  const long = encodeKeepalive().slice();
  long[16] = 0x10;
  long[17] = 0x01;
  const g = new MessageFramer();
  g.push(long);
  const e = g.next();
  assert.ok(e && !e.ok);
  assert.deepEqual([e.error.code, e.error.subcode, [...e.error.data]], [1, 2, [0x10, 0x01]]);
});

test('an incomplete header waits for more', () => {
  const f = new MessageFramer();
  f.push(encodeKeepalive().subarray(0, 18));
  assert.equal(f.next(), undefined);
  assert.equal(f.buffered, 18);
});
