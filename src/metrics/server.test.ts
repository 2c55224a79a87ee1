import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { Registry } from 'prom-client';
import { parseListenAddress, serveMetrics } from './server.ts';

const log = pino({ level: 'silent' });
const ready = { notReadyReason: () => undefined };

/** GET http://[host]:port/path; resolves with the status, or the connection error's code. */
function get(host: string, port: number, path: string): Promise<number | string> {
  return new Promise((resolve) => {
    const req = request({ host, port, path, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.end();
  });
}

async function serving(addr: string, t: { after(fn: () => void): void }): Promise<number> {
  const server: Server = await serveMetrics(addr, new Registry(), ready, log);
  t.after(() => server.close());
  return (server.address() as AddressInfo).port;
}

test(':PORT answers on IPv4 and IPv6 (kubelet probes on IPv6-only and dual-stack clusters)', async (t) => {
  const port = await serving(':0', t);
  assert.equal(await get('127.0.0.1', port, '/healthz'), 200);
  assert.equal(await get('::1', port, '/healthz'), 200);
  assert.equal(await get('::1', port, '/readyz'), 200);
});

test('an explicit host binds that address only', async (t) => {
  const v4 = await serving('127.0.0.1:0', t);
  assert.equal(await get('127.0.0.1', v4, '/healthz'), 200);
  assert.equal(await get('::1', v4, '/healthz'), 'ECONNREFUSED');
  const v6 = await serving('[::1]:0', t);
  assert.equal(await get('::1', v6, '/healthz'), 200);
  assert.equal(await get('127.0.0.1', v6, '/healthz'), 'ECONNREFUSED');
});

test('listen addresses: :PORT leaves the host to Node (both families), others are kept', () => {
  assert.deepEqual(parseListenAddress(':7472'), { host: undefined, port: 7472 });
  assert.deepEqual(parseListenAddress('0.0.0.0:7472'), { host: '0.0.0.0', port: 7472 });
  assert.deepEqual(parseListenAddress('[::]:7473'), { host: '::', port: 7473 });
  assert.deepEqual(parseListenAddress('[fd00::1]:80'), { host: 'fd00::1', port: 80 });
  assert.throws(() => parseListenAddress('7472'), /HOST:PORT/);
  assert.throws(() => parseListenAddress(':99999'), /out of range/);
});
