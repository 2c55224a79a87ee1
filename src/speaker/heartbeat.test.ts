import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLogger } from '../log.ts';
import {
  decodeHeartbeat,
  encodeHeartbeat,
  HEARTBEAT_ALIVE,
  HEARTBEAT_LEAVING,
  type Heartbeat,
  HeartbeatMesh,
  ReplayGuard,
} from './heartbeat.ts';

const key = Buffer.from('0123456789abcdef0123456789abcdef');
const hb: Heartbeat = {
  type: HEARTBEAT_ALIVE,
  epoch: 1700000000000n,
  seq: 42n,
  node: 'node-a',
  hears: ['node-b', 'node-c'],
};

test('a heartbeat round-trips, and a wrong key, a flipped bit or a truncation is refused', () => {
  const wire = encodeHeartbeat(hb, key);
  assert.deepEqual(decodeHeartbeat(wire, key), hb);
  assert.deepEqual(decodeHeartbeat(wire, Buffer.from('another key')), { error: 'bad authentication' });
  for (let i = 0; i < wire.length; i++) {
    const bad = Buffer.from(wire);
    bad[i]! ^= 0x01;
    assert.ok('error' in decodeHeartbeat(bad, key), `bit flip at ${i} accepted`);
  }
  for (let n = 0; n < wire.length; n++) assert.ok('error' in decodeHeartbeat(wire.subarray(0, n), key));
});

test('replays and old epochs are refused; a restarted sender (newer epoch) is accepted', () => {
  const g = new ReplayGuard();
  assert.equal(g.accept(hb), true);
  assert.equal(g.accept(hb), false);
  assert.equal(g.accept({ ...hb, seq: 41n }), false);
  assert.equal(g.accept({ ...hb, seq: 43n }), true);
  assert.equal(g.accept({ ...hb, epoch: hb.epoch - 1n, seq: 1000n }), false);
  assert.equal(g.accept({ ...hb, epoch: hb.epoch + 1n, seq: 1n }), true);
});

test('two meshes on loopback hear each other, and the leaving notice arrives', {
  timeout: 10_000,
}, async () => {
  const log = createLogger('test', 'silent');
  const heard: string[] = [];
  const port = 20000 + Math.floor(Math.random() * 20000);
  // Two addresses of the loopback network so that both can bind the same port.
  const a = new HeartbeatMesh({
    self: 'a',
    key,
    port,
    bindAddress: '127.0.0.2',
    intervalMs: 20,
    log,
    hears: () => ['b'],
    onHeartbeat: (h) => heard.push(`${h.node}:${h.type}:${h.hears.join()}`),
  });
  const b = new HeartbeatMesh({
    self: 'b',
    key,
    port,
    bindAddress: '127.0.0.3',
    intervalMs: 20,
    log,
    hears: () => ['a'],
    onHeartbeat: () => {},
  });
  await a.start();
  await b.start();
  b.setPeers(['127.0.0.2']);
  while (!heard.includes(`b:${HEARTBEAT_ALIVE}:a`)) await new Promise((r) => setTimeout(r, 10));
  await b.stop();
  while (!heard.includes(`b:${HEARTBEAT_LEAVING}:a`)) await new Promise((r) => setTimeout(r, 10));
  await a.stop();
});
