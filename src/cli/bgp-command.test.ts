import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { BgpListener, BgpSession, formatPrefix, type UpdateMessage } from '../bgp/index.ts';
import { parseCommunities } from './bgp-command.ts';

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
  const lines = stdout.split('\n');
  assert.ok(lines.includes('capability four-octet-as(65000)'));
  assert.ok(lines.some((l) => l.startsWith('state Established from=OpenConfirm')));
  assert.ok(lines.some((l) => l.startsWith('open router-id=192.0.2.254 as=65000 ')));
  assert.ok(
    router.peerOpen?.capabilities.some((c) => c.kind === 'graceful-restart' && c.restartTime === 120),
  );
  child.kill('SIGINT');
  const [code] = await once(child, 'exit');
  assert.equal(code, 0);
  assert.equal(routes.size, 0, 'withdrawn before the Cease');
  assert.ok(stdout.includes('notification sent 6/2 cease/administrative-shutdown'));
  assert.ok(stdout.trimEnd().endsWith('stopped'));
});
