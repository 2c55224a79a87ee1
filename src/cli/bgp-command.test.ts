import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { type AddressInfo, createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { answerOpen, onMessages } from '../../test/bgp/raw-peer.ts';
import { attr, updateMessage } from '../../test/bgp/update-errors.ts';
import { BgpListener, BgpSession, formatPrefix, type UpdateMessage } from '../bgp/index.ts';
import { hostRoutes, parseCommunities } from './bgp-command.ts';

test('--community values split into standard and large communities', () => {
  assert.deepEqual(parseCommunities(['65001:100', 'no-export', 'large:4200000000:1:2', '1:2:3']), {
    communities: [0xfde90064, 0xffffff01],
    largeCommunities: [
      [4200000000, 1, 2],
      [1, 2, 3],
    ],
  });
  assert.throws(() => parseCommunities(['65536:1']), /ASN:VALUE/);
  assert.throws(() => parseCommunities(['large:1:2']), /large/);
});

test('beacon bgp peers with a session, prints greppable lines, announces, and withdraws on SIGINT', {
  timeout: 30_000,
}, async (t) => {
  const log = pino({ level: 'silent' });
  const listener = await BgpListener.listen({ host: '127.0.0.2', port: 0, log });
  const router = new BgpSession({
    localAs: 65000,
    peerAs: 4200000001,
    peerAddress: '127.0.0.1',
    routerId: '192.0.2.254',
    passive: true,
    log,
  });
  listener.add(router);
  router.start();
  const routes = new Map<string, UpdateMessage>();
  router.on('update', (u) => {
    for (const p of [...u.withdrawn, ...(u.attributes.mpUnreach?.withdrawn ?? [])])
      routes.delete(formatPrefix(p));
    for (const p of [...u.nlri, ...(u.attributes.mpReach?.nlri ?? [])]) routes.set(formatPrefix(p), u);
  });
  const child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, 'main.ts'),
      '--log-level',
      'silent',
      'bgp',
      '--local-as',
      '4200000001',
      '--peer-as',
      '65000',
      '--peer',
      '127.0.0.2',
      '--port',
      String(listener.address.port),
      '--local-address',
      '127.0.0.1',
      '--prefix',
      '198.51.100.7/32',
      '--community',
      '65001:100',
      '--community',
      'large:4200000001:1:2',
      '--med',
      '20',
      '--graceful-restart',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await router.stop();
    await listener.close();
  });
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  const signal = AbortSignal.timeout(20_000);
  const until = async (cond: () => boolean, what: string) => {
    while (!cond()) {
      if (signal.aborted) throw new Error(`timed out waiting for ${what}; output:\n${stdout}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await until(() => routes.has('198.51.100.7/32'), 'the route at the router');
  const u = routes.get('198.51.100.7/32')!;
  assert.deepEqual(u.attributes.communities, [0xfde90064]);
  assert.deepEqual(u.attributes.largeCommunities, [[4200000001, 1, 2]]);
  assert.equal(u.attributes.med, 20);
  assert.equal(u.attributes.nextHop, '127.0.0.1');
  await until(() => stdout.includes('\nstate Established from=OpenConfirm'), 'the Established line');
  const lines = stdout.split('\n');
  assert.ok(lines.includes('capability four-octet-as(65000)'));
  assert.ok(lines.some((l) => l.startsWith('state Established from=OpenConfirm')));
  assert.ok(lines.some((l) => l.startsWith('open router-id=192.0.2.254 as=65000 ')));
  assert.ok(
    router.peerOpen?.capabilities.some((c) => c.kind === 'graceful-restart' && c.restartTime === 120),
  );
  child.kill('SIGINT');
  // 'close', not 'exit': only then has every line the command printed been read.
  const [code] = await once(child, 'close');
  assert.equal(code, 0);
  assert.equal(routes.size, 0, 'withdrawn before the Cease');
  assert.ok(stdout.includes('notification sent 6/2 cease/administrative-shutdown'));
  assert.ok(stdout.trimEnd().endsWith('stopped'));
});

test('--prefix-base/--prefix-count generate consecutive host routes, carrying across bytes', () => {
  const v4 = hostRoutes('10.0.0.254', 3);
  assert.ok(typeof v4 !== 'string');
  assert.deepEqual([...v4].map(formatPrefix), ['10.0.0.254/32', '10.0.0.255/32', '10.0.1.0/32']);
  assert.deepEqual([...v4].map(formatPrefix), ['10.0.0.254/32', '10.0.0.255/32', '10.0.1.0/32'], 'again');
  const v6 = hostRoutes('2001:db8::ffff', 2);
  assert.ok(typeof v6 !== 'string');
  assert.deepEqual([...v6].map(formatPrefix), ['2001:db8::ffff/128', '2001:db8::1:0/128']);
  const last = hostRoutes('255.255.255.255', 1);
  assert.ok(typeof last !== 'string');
  assert.equal([...last].length, 1);
  assert.match(String(hostRoutes('255.255.255.255', 2)), /past the end/);
  assert.match(String(hostRoutes('10.0.0.0/24', 2)), /not an IPv4 or IPv6 address/);
  assert.match(String(hostRoutes('10.0.0', 2)), /not an IPv4 or IPv6 address/);
});

test('beacon bgp: generated prefixes, the R bit, and SIGUSR2 withdrawing and restoring with the session up', {
  timeout: 30_000,
}, async (t) => {
  const log = pino({ level: 'silent' });
  const listener = await BgpListener.listen({ host: '127.0.0.2', port: 0, log });
  const router = new BgpSession({
    localAs: 65000,
    peerAs: 65001,
    peerAddress: '127.0.0.1',
    routerId: '192.0.2.254',
    passive: true,
    log,
  });
  listener.add(router);
  router.start();
  const routes = new Set<string>();
  router.on('update', (u) => {
    for (const p of [...u.withdrawn, ...(u.attributes.mpUnreach?.withdrawn ?? [])])
      routes.delete(formatPrefix(p));
    for (const p of [...u.nlri, ...(u.attributes.mpReach?.nlri ?? [])]) routes.add(formatPrefix(p));
  });
  const states: string[] = [];
  router.on('state', (c) => states.push(c.to));
  const args = ['--local-as', '65001', '--peer-as', '65000', '--peer', '127.0.0.2'];
  args.push('--port', String(listener.address.port), '--local-address', '127.0.0.1');
  args.push('--prefix-count', '1000', '--prefix-base', '10.0.0.250', '--prefix', '198.51.100.7/32');
  args.push('--graceful-restart', '--restarting');
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, 'main.ts'), '--log-level', 'silent', 'bgp', ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await router.stop();
    await listener.close();
  });
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  const signal = AbortSignal.timeout(20_000);
  const until = async (cond: () => boolean, what: string) => {
    while (!cond()) {
      if (signal.aborted) throw new Error(`timed out waiting for ${what}; output:\n${stdout}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  await until(() => routes.size === 1001, '1,001 routes at the router');
  for (const p of ['10.0.0.250/32', '10.0.1.0/32', '10.0.4.225/32', '198.51.100.7/32'])
    assert.ok(routes.has(p), p);
  assert.ok(!routes.has('10.0.4.226/32'));
  assert.ok(
    router.peerOpen?.capabilities.some((c) => c.kind === 'graceful-restart' && c.restarting),
    'the R bit is set',
  );
  // The router can hold every route before the command's line about sending them has been read here.
  await until(() => /^sent updates=\d+ prefixes=1001 end-of-rib=ipv4/m.test(stdout), 'the sent line');

  child.kill('SIGUSR2');
  await until(() => routes.size === 0, 'every route withdrawn');
  await until(() => stdout.includes('announcements withdrawn prefixes=1001'), 'the withdrawn line');
  child.kill('SIGUSR2');
  await until(() => routes.size === 1001, 'every route announced again');
  await until(() => stdout.includes('announcements restored prefixes=1001'), 'the restored line');
  assert.equal(router.state, 'Established');
  assert.deepEqual(
    states.filter((s) => s === 'Established'),
    ['Established'],
    'one session throughout',
  );
  child.kill('SIGTERM');
  const [code] = await once(child, 'close');
  assert.equal(code, 0);
  assert.equal(routes.size, 0);
});

test('beacon bgp refuses --prefix-count without --prefix-base and --restarting without --graceful-restart', async () => {
  const main = join(import.meta.dirname, 'main.ts');
  const base = [
    'bgp',
    '--local-as',
    '1',
    '--peer-as',
    '2',
    '--peer',
    '127.0.0.2',
    '--router-id',
    '192.0.2.1',
  ];
  for (const [extra, why] of [
    [['--prefix-count', '5'], /go together/],
    [['--prefix-count', '5', '--prefix-base', '255.255.255.255'], /past the end/],
    [['--prefix-count', '0', '--prefix-base', '10.0.0.0'], /--prefix-count must be/],
    [['--restarting'], /needs --graceful-restart/],
  ] as const) {
    const child = spawn(process.execPath, [main, ...base, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const [code] = await once(child, 'close');
    assert.equal(code, 2, extra.join(' '));
    assert.match(stderr, why);
  }
});

test('beacon bgp says why a malformed UPDATE withdrew its routes, and keeps the session (RFC 7606)', {
  timeout: 30_000,
}, async (t) => {
  // A router on a raw socket: OPEN, KEEPALIVE, then 203.0.113.0/24 with an ORIGIN of length 2 (RFC 7606 7.1).
  const server = createServer();
  server.listen(0, '127.0.0.2');
  await once(server, 'listening');
  let peer: Socket | undefined;
  server.on('connection', (socket: Socket) => {
    peer = socket;
    onMessages(socket, (m) => {
      if (m.type !== 'open') return true;
      answerOpen(socket, 65000, '192.0.2.254');
      socket.write(
        updateMessage(
          '',
          attr(0x40, 1, '0000') + attr(0x40, 2, '02 01 0000fde8') + attr(0x40, 3, 'c00002fe'),
          '18 cb0071',
        ),
      );
      return true;
    });
  });
  const child = spawn(
    process.execPath,
    [
      join(import.meta.dirname, 'main.ts'),
      ...['--log-level', 'silent', 'bgp', '--local-as', '65001', '--peer-as', '65000'],
      ...['--peer', '127.0.0.2', '--port', String((server.address() as AddressInfo).port)],
      ...['--local-address', '127.0.0.1'],
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.after(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    peer?.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  let stdout = '';
  child.stdout.on('data', (c: Buffer) => {
    stdout += c.toString();
  });
  const signal = AbortSignal.timeout(20_000);
  while (!stdout.includes('received malformed update')) {
    if (signal.aborted) throw new Error(`no malformed-update line; output:\n${stdout}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  child.kill('SIGTERM');
  const [code] = await once(child, 'close');
  assert.equal(code, 0);
  const lines = stdout.split('\n');
  assert.ok(lines.includes('received update announced=0 withdrawn=1'), stdout);
  assert.ok(
    lines.includes(
      'received malformed update treat-as-withdraw error="3/5 update-message-error/attribute-length-error" reason="ORIGIN: length 2" rule="RFC 7606 7.1"',
    ),
    stdout,
  );
  assert.ok(!stdout.includes('notification sent 3/'), 'no NOTIFICATION for it');
  assert.ok(
    stdout.includes('notification sent 6/2 cease/administrative-shutdown'),
    'the session was up until the stop',
  );
});
