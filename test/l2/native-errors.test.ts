/**
 * The addon's failure paths: each is a JS error with errno, code and a message naming the interface and
 * what is missing, never a crash. No capability: the check runs under `setpriv` with CAP_NET_RAW dropped
 * from the bounding set (as root), or as it is (not root).
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { isSystemError } from '../../src/native/addon.ts';
import { getLink } from '../../src/native/links.ts';
import { openMulticastMembership, openPacketSocket } from '../../src/native/packet.ts';
import { REPO_ROOT } from '../harness/binaries.ts';
import { netnsUnavailable } from '../harness/netns.ts';
import { addonUnavailable } from '../harness/preconditions.ts';
import { createL2Lab, MAIN, NODE_BIN } from './l2-lab.ts';

const run = promisify(execFile);
const addonMissing = addonUnavailable();
const isRoot = process.getuid?.() === 0;
const NO_SUCH_INTERFACE = 'bcnnosuch0';
const ignore = { onFrame() {}, onError() {} };

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

async function outcome(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Outcome> {
  try {
    const { stdout, stderr } = await run(cmd, args, { cwd: REPO_ROOT, env, timeout: 20_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/** argv that runs `argv` without CAP_NET_RAW: setpriv as root, as it is otherwise. */
function withoutNetRaw(argv: string[]): string[] {
  return isRoot ? ['setpriv', '--inh-caps=-all', '--bounding-set=-net_raw', '--', ...argv] : argv;
}

test('no such interface: ENODEV naming the interface, from every call that takes one', {
  skip: addonMissing,
}, () => {
  const check = (call: () => unknown) =>
    assert.throws(call, (err: unknown) => {
      assert.ok(isSystemError(err), String(err));
      assert.equal(err.code, 'ENODEV');
      assert.equal(err.errno, -19);
      assert.match(err.message, new RegExp(`no such network interface '${NO_SUCH_INTERFACE}'`));
      return true;
    });
  check(() => openPacketSocket(NO_SUCH_INTERFACE, 'arp', ignore));
  check(() => openPacketSocket(NO_SUCH_INTERFACE, 'ndp', ignore));
  check(() => openMulticastMembership(NO_SUCH_INTERFACE));
  check(() => getLink(NO_SUCH_INTERFACE));
});

test('without CAP_NET_RAW: a clear EPERM error that names the capability, not a crash', {
  skip: addonMissing,
  timeout: 30_000,
}, async () => {
  const script = `
    import { openPacketSocket } from ${JSON.stringify(join(REPO_ROOT, 'src/native/packet.ts'))};
    try {
      openPacketSocket('lo', 'arp', { onFrame() {}, onError() {} });
      console.log(JSON.stringify({ opened: true }));
    } catch (err) {
      console.log(JSON.stringify({ code: err.code, errno: err.errno, syscall: err.syscall, message: err.message }));
    }`;
  const [cmd, ...args] = withoutNetRaw([NODE_BIN, '--input-type=module', '-e', script]);
  const r = await outcome(cmd!, args);
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { code: string; errno: number; syscall: string; message: string };
  assert.equal(result.code, 'EPERM', r.stdout);
  assert.equal(result.errno, -1);
  assert.equal(result.syscall, 'socket');
  assert.match(result.message, /socket\(AF_PACKET, SOCK_RAW\) for lo: Operation not permitted \(EPERM\)/);
  assert.match(result.message, /needs CAP_NET_RAW/);
});

test('beacon l2 without CAP_NET_RAW exits 1 with one readable line', {
  skip: (await netnsUnavailable()) ?? addonMissing,
  timeout: 60_000,
}, async () => {
  const l2 = await createL2Lab('noraw');
  after(() => l2.cleanup());
  const argv = [
    'ip',
    'netns',
    'exec',
    l2.node1.name,
    ...withoutNetRaw([NODE_BIN, MAIN, 'l2', '--interface', 'eth0', '--address', '192.0.2.100']),
  ];
  const r = await outcome(argv[0]!, argv.slice(1));
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(
    r.stderr,
    /^beacon l2: socket\(AF_PACKET, SOCK_RAW\) for eth0: Operation not permitted \(EPERM\); .*needs CAP_NET_RAW/m,
  );
  assert.doesNotMatch(r.stderr, /^\s+at /m, 'no stack trace');
  assert.doesNotMatch(r.stdout, /^ready/m);
});

test('beacon l2 on an interface that does not exist exits 1 naming it', {
  skip: addonMissing,
  timeout: 30_000,
}, async () => {
  const r = await outcome(NODE_BIN, [
    MAIN,
    'l2',
    '--interface',
    NO_SUCH_INTERFACE,
    '--address',
    '192.0.2.100',
  ]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  assert.match(r.stderr, new RegExp(`^beacon l2: no such network interface: ${NO_SUCH_INTERFACE}$`, 'm'));
});

test('addon not built, or not loadable: a message that says how to build it', {
  timeout: 30_000,
}, async () => {
  const missing = await outcome(NODE_BIN, [MAIN, 'l2', '--interface', 'lo', '--address', '192.0.2.100'], {
    ...process.env,
    BEACON_NATIVE_ADDON: '/nonexistent/beacon_native.node',
  });
  assert.equal(missing.code, 1, missing.stdout + missing.stderr);
  assert.match(
    missing.stderr,
    /^beacon l2: Beacon's native addon is not built \(\/nonexistent\/beacon_native\.node is missing\); run `npm run build:native`/m,
  );
  const dir = mkdtempSync(join(tmpdir(), 'beacon-addon-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const garbage = join(dir, 'beacon_native.node');
  writeFileSync(garbage, 'not an ELF file');
  const broken = await outcome(NODE_BIN, [MAIN, 'l2', '--interface', 'lo', '--address', '192.0.2.100'], {
    ...process.env,
    BEACON_NATIVE_ADDON: garbage,
  });
  assert.equal(broken.code, 1, broken.stdout + broken.stderr);
  assert.match(
    broken.stderr,
    /^beacon l2: Beacon's native addon at .*beacon_native\.node failed to load: .*; rebuild it with `npm run build:native`/m,
  );
  const wrong = await outcome(NODE_BIN, [MAIN, 'l2', '--interface', 'lo', '--address', '192.0.2.100'], {
    ...process.env,
    BEACON_NATIVE_ADDON: join(REPO_ROOT, 'package.json'),
  });
  assert.equal(wrong.code, 1, wrong.stdout + wrong.stderr);
  assert.match(
    wrong.stderr,
    /^beacon l2: .*package\.json is not Beacon's native addon \(it lacks PacketSocket, /m,
  );
});

test('a closed socket refuses to send with EBADF', {
  skip: (isRoot ? undefined : 'needs CAP_NET_RAW (root)') ?? addonMissing,
}, () => {
  const socket = openPacketSocket('lo', 'arp', ignore);
  socket.close();
  socket.close();
  assert.throws(
    () => socket.send(Buffer.alloc(60)),
    (err: unknown) => isSystemError(err) && err.code === 'EBADF',
  );
});
