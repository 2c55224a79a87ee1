/**
 * TCP sockets from the addon for BGP, on loopback: MD5 keys (RFC 2385) per peer on both ends, keys added
 * and removed on a live listener, GTSM's minimum TTL, errors with codes. As root, also the signatures on
 * the wire (tcpdump validates them with the key) and the capability needed for port 179.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isSystemError } from '../../src/native/addon.ts';
import { connectTcp, listenTcp, type TcpListener } from '../../src/native/tcp.ts';
import { REPO_ROOT } from '../harness/binaries.ts';
import { NetLab, netnsUnavailable } from '../harness/netns.ts';
import { addonUnavailable } from '../harness/preconditions.ts';
import { waitFor } from '../harness/process.ts';
import { NODE_BIN } from './l2-lab.ts';

const skip = addonUnavailable();
/** Long enough for a SYN and its answer on loopback many times over; a dropped SYN is retried after 1 s. */
const REFUSED_WITHIN_MS = 1_500;

async function echoListener(opts: Parameters<typeof listenTcp>[0]): Promise<TcpListener> {
  const listener = await listenTcp(opts, (socket) => socket.pipe(socket));
  after(() => listener.close());
  return listener;
}

async function roundTrip(socket: import('node:net').Socket, text: string): Promise<string> {
  socket.write(text);
  const [data] = (await once(socket, 'data')) as [Buffer];
  socket.destroy();
  return data.toString();
}

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    const s = await p;
    (s as import('node:net').Socket).destroy();
  } catch (err) {
    assert.ok(isSystemError(err), String(err));
    return { code: err.code, message: err.message };
  }
  assert.fail('expected the connection to fail');
}

test('matching MD5 keys connect and carry data; a wrong or missing key never gets an answer', {
  skip,
  timeout: 30_000,
}, async () => {
  const listener = await echoListener({
    host: '127.0.0.1',
    port: 0,
    md5Keys: [{ peer: '127.0.0.1', key: 'bgp-secret' }],
  });
  const port = listener.address.port;
  const socket = await connectTcp({ host: '127.0.0.1', port, md5Key: 'bgp-secret' });
  assert.equal(socket.remotePort, port);
  assert.equal(await roundTrip(socket, 'OPEN'), 'OPEN');

  for (const md5Key of ['wrong-secret', undefined]) {
    const failed = await rejection(
      connectTcp({ host: '127.0.0.1', port, timeoutMs: REFUSED_WITHIN_MS, ...(md5Key ? { md5Key } : {}) }),
    );
    assert.equal(failed.code, 'ETIMEDOUT');
    assert.match(
      failed.message,
      new RegExp(`connecting to 127\\.0\\.0\\.1:${port}: no answer within ${REFUSED_WITHIN_MS} ms`),
    );
  }
});

test('keys on a live listener: added for a new peer, removed again', { skip, timeout: 30_000 }, async () => {
  const listener = await echoListener({ host: '127.0.0.1', port: 0 });
  const port = listener.address.port;
  listener.setMd5Key('127.0.0.1', Buffer.from('0011223344', 'hex'));
  const signed = await connectTcp({ host: '127.0.0.1', port, md5Key: Buffer.from('0011223344', 'hex') });
  assert.equal(await roundTrip(signed, 'x'), 'x');
  assert.equal(
    (await rejection(connectTcp({ host: '127.0.0.1', port, timeoutMs: REFUSED_WITHIN_MS }))).code,
    'ETIMEDOUT',
  );
  listener.setMd5Key('127.0.0.1', undefined);
  const plain = await connectTcp({ host: '127.0.0.1', port });
  assert.equal(await roundTrip(plain, 'y'), 'y');
});

test('IPv6, and an IPv4 peer on a dual-stack listener (keyed by its v4-mapped address)', {
  skip,
  timeout: 30_000,
}, async () => {
  const v6 = await echoListener({ host: '::1', port: 0, md5Keys: [{ peer: '::1', key: 'six' }] });
  assert.equal(
    await roundTrip(await connectTcp({ host: '::1', port: v6.address.port, md5Key: 'six' }), 'v6'),
    'v6',
  );

  const dual = await echoListener({
    host: '::',
    port: 0,
    v6Only: false,
    md5Keys: [{ peer: '127.0.0.1', key: 'four' }],
  });
  const viaV4 = await connectTcp({ host: '127.0.0.1', port: dual.address.port, md5Key: 'four' });
  assert.equal(await roundTrip(viaV4, 'v4'), 'v4');
});

test('GTSM: a listener with minimum TTL 255 drops segments sent with TTL 254', {
  skip,
  timeout: 30_000,
}, async () => {
  // Both ends send with TTL 255 and accept nothing lower: what GTSM asks of directly connected peers.
  const listener = await echoListener({ host: '127.0.0.1', port: 0, ttl: 255, minTtl: 255 });
  const port = listener.address.port;
  const far = await rejection(
    connectTcp({ host: '127.0.0.1', port, ttl: 254, timeoutMs: REFUSED_WITHIN_MS }),
  );
  assert.equal(far.code, 'ETIMEDOUT');
  const near = await connectTcp({ host: '127.0.0.1', port, ttl: 255, minTtl: 255, timeoutMs: 5_000 });
  assert.equal(await roundTrip(near, 'hop'), 'hop');
  // The listener's answers carry TTL 255 too, or a client insisting on 255 would drop them.
  const strictListener = await echoListener({ host: '127.0.0.1', port: 0, minTtl: 255 });
  const strictClient = await rejection(
    connectTcp({
      host: '127.0.0.1',
      port: strictListener.address.port,
      ttl: 255,
      minTtl: 255,
      timeoutMs: REFUSED_WITHIN_MS,
    }),
  );
  assert.equal(strictClient.code, 'ETIMEDOUT');
});

test('errors: refused, aborted, bad key, bad address', { skip, timeout: 30_000 }, async () => {
  const closed = await echoListener({ host: '127.0.0.1', port: 0 });
  const port = closed.address.port;
  await closed.close();
  const refused = await rejection(connectTcp({ host: '127.0.0.1', port }));
  assert.equal(refused.code, 'ECONNREFUSED');
  assert.match(
    refused.message,
    new RegExp(`connecting to 127\\.0\\.0\\.1:${port}: Connection refused \\(ECONNREFUSED\\)`),
  );

  const listener = await echoListener({
    host: '127.0.0.1',
    port: 0,
    md5Keys: [{ peer: '127.0.0.1', key: 'k' }],
  });
  const abort = new AbortController();
  const pending = connectTcp({ host: '127.0.0.1', port: listener.address.port, signal: abort.signal });
  setTimeout(() => abort.abort(new Error('session stopped')), 200);
  await assert.rejects(pending, /session stopped/);

  await assert.rejects(
    connectTcp({ host: '127.0.0.1', port: 1, md5Key: 'x'.repeat(81) }),
    /an MD5 key has 1 to 80 bytes/,
  );
  await assert.rejects(
    connectTcp({ host: 'router.example', port: 179 }),
    /not an IP address: 'router\.example'/,
  );
});

test('as root: signatures on the wire are valid for the key, and port 179 needs CAP_NET_BIND_SERVICE', {
  skip: (await netnsUnavailable()) ?? skip,
  timeout: 60_000,
}, async () => {
  const lab = await NetLab.create('tcpmd5');
  after(() => lab.cleanup());
  const ns = await lab.addNamespace('bgp');
  const dump = ns.spawn('tcpdump', 'tcpdump', [
    '-i',
    'lo',
    '-n',
    '-l',
    '-vv',
    '-M',
    'bgp-secret',
    'tcp port 179',
  ]);
  await waitFor('tcpdump to listen', () => dump.tail().includes('listening on'), 10_000, 50, dump.tail);
  const script = `
    import { connectTcp, listenTcp } from ${JSON.stringify(join(REPO_ROOT, 'src/native/tcp.ts'))};
    const l = await listenTcp({ host: '127.0.0.1', port: 179, md5Keys: [{ peer: '127.0.0.1', key: 'bgp-secret' }] }, (s) => s.end('ok'));
    const s = await connectTcp({ host: '127.0.0.1', port: 179, md5Key: 'bgp-secret' });
    s.on('data', (d) => { console.log(String(d)); s.destroy(); l.close(); });`;
  const ok = await ns.exec(NODE_BIN, ['--input-type=module', '-e', script], 20_000);
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(ok.stdout.trim(), 'ok');
  await waitFor(
    'signed segments in the capture',
    () => /options \[nop,nop,md5 valid/.test(dump.tail()),
    5_000,
    50,
    dump.tail,
  );
  assert.doesNotMatch(dump.tail(), /md5 invalid|md5 unknown|can't check/i);

  const denied = await ns.exec(
    'setpriv',
    [
      '--inh-caps=-all',
      '--bounding-set=-net_bind_service',
      '--',
      NODE_BIN,
      '--input-type=module',
      '-e',
      `
      import { listenTcp } from ${JSON.stringify(join(REPO_ROOT, 'src/native/tcp.ts'))};
      try { await listenTcp({ host: '127.0.0.1', port: 179 }, () => {}); console.log('bound'); }
      catch (err) { console.log(err.code + ' ' + err.message); }`,
    ],
    20_000,
  );
  assert.match(
    denied.stdout,
    /^EACCES binding a TCP socket to 127\.0\.0\.1:179: Permission denied \(EACCES\); binding a port below 1024 needs CAP_NET_BIND_SERVICE/,
    denied.stdout + denied.stderr,
  );
});
