/**
 * The command line as an operator meets it: `beacon --version`, `beacon help CMD`, usage errors as one
 * readable line with exit status 2, and the real controller process's log (its first line names the
 * version; no line names a key twice) and metrics (beacon_build_info) against a real API server.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { type ApiServer, startApiServer } from './harness/apiserver.ts';
import { REPO_ROOT } from './harness/binaries.ts';
import { installCrds } from './harness/crds.ts';
import { adminRest, ensureNamespace } from './harness/kube.ts';
import { linesWithDuplicateKeys } from './harness/log-lines.ts';
import { waitFor } from './harness/process.ts';
import { promtoolBinary, runPromtool } from './harness/promtool.ts';

const NODE = join(REPO_ROOT, 'node_modules', '.bin', 'node');
const MAIN = join(REPO_ROOT, 'src', 'cli', 'main.ts');
const VERSION = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string })
  .version;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function beacon(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      NODE,
      [MAIN, ...args],
      {
        timeout: 30_000,
        env: { ...process.env, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '', HOME: '/nonexistent', ...env },
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

let api: ApiServer;
let promtool: string;
before(async () => {
  [api, promtool] = await Promise.all([startApiServer(), promtoolBinary()]);
  await installCrds(api);
});
after(() => api?.stop());

test('beacon --version prints the release', async () => {
  const r = await beacon(['--version']);
  assert.equal(r.code, 0);
  assert.equal(r.stdout, `beacon ${VERSION} (Node.js ${process.version})\n`);
});

test("beacon help CMD prints that command's usage, like CMD --help", async () => {
  for (const cmd of ['controller', 'speaker', 'migrate', 'bgp', 'l2', 'crds', 'lab']) {
    const help = await beacon(['help', cmd]);
    assert.equal(help.code, 0, cmd);
    assert.match(help.stdout, new RegExp(`^Usage: beacon ${cmd}\\b`), cmd);
    assert.equal(help.stdout, (await beacon([cmd, '--help'])).stdout, cmd);
  }
  const unknown = await beacon(['help', 'frobnicate']);
  assert.equal(unknown.code, 2);
  assert.equal(unknown.stderr, "beacon: unknown command 'frobnicate' (see 'beacon --help')\n");
});

test('a reader that closes the pipe early: the command ends quietly, and normally', async () => {
  // `beacon migrate | head -1`: the reader goes after its first chunk, and 2,000 pools' worth of output is far
  // more than a pipe holds, so a later write finds the pipe closed, whatever the timing.
  const pools = Array.from(
    { length: 2000 },
    (_, i) =>
      `apiVersion: metallb.io/v1beta1\nkind: IPAddressPool\nmetadata: { name: p${i}, namespace: metallb-system }\nspec: { addresses: [10.${i >> 8}.${i & 255}.0/24] }\n`,
  ).join('---\n');
  const child = spawn(NODE, [MAIN, 'migrate'], { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.end(pools);
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  child.stdout.once('data', () => child.stdout.destroy());
  const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
  assert.equal(stderr, '');
  // Not cut short either: what it had to do besides printing (the lab's teardown) runs to its end.
  assert.equal(code, 0);
});

test('usage errors are one readable line on stderr and exit 2, never a JSON stack trace', async () => {
  const cases: [string[], RegExp][] = [
    [['speaker'], /^beacon speaker: --node \(or \$NODE_NAME\) is required \(see 'beacon help speaker'\)$/],
    [['speaker', '--node', 'n1', '--mesh-port', 'abc'], /^beacon speaker: --mesh-port must be/],
    [['speaker', '--node', 'n1', '--mesh-port', '70000'], /^beacon speaker: --mesh-port must be a port/],
    [['--metrics-addr', 'nonsense', 'controller'], /^beacon: --metrics-addr must be HOST:PORT/],
    [['--metrics-addr', ':99999', 'speaker', '--node', 'n1'], /^beacon: --metrics-addr port 99999/],
    [['controller'], /^beacon controller: no kubeconfig: pass --kubeconfig/],
    [
      ['--kubeconfig', '/nonexistent', 'controller'],
      /^beacon controller: kubeconfig \/nonexistent does not exist/,
    ],
    [['controller', '--frob'], /^beacon controller: Unknown option '--frob'/],
    [
      ['controller', '--lease-duration', '-1'],
      /^beacon controller: Option '--lease-duration' argument is ambiguous\./,
    ],
    [['controller', '--concurrency', '0'], /^beacon controller: --concurrency must be a positive number/],
    [['--log-level', 'loud', 'controller'], /^beacon: --log-level must be one of/],
    [['frobnicate'], /^beacon: unknown command 'frobnicate'/],
    [['--kubeconfig'], /^beacon: --kubeconfig needs a value/],
    [['migrate', '--namespace'], /^beacon migrate: Option '--namespace <value>' argument missing/],
    [['l2', '--address', '1.2.3'], /^beacon l2: --address 1\.2\.3: not an IPv4 or IPv6 address/],
    [['bgp', '--local-as', '1'], /^beacon bgp: --peer-as is required/],
  ];
  for (const [args, message] of cases) {
    const r = await beacon(args);
    const what = `beacon ${args.join(' ')}`;
    assert.equal(r.code, 2, `${what}: exit status\n${r.stderr}`);
    assert.equal(r.stdout, '', what);
    const lines = r.stderr.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, `${what}: one line, got:\n${r.stderr}`);
    assert.match(lines[0]!, message, what);
    assert.ok(!lines[0]!.startsWith('{'), `${what}: not a JSON log line`);
    assert.match(lines[0]!, /\(see 'beacon (help \w+|--help)'\)$/, `${what}: says where to read more`);
  }
});

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '::1', port, path, timeout: 5000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('the controller process: version in its first log line and in beacon_build_info, no key twice in a line', {
  timeout: 60_000,
}, async (t) => {
  const rest = await adminRest(api);
  await ensureNamespace(rest, 'beacon-system');
  const child: ChildProcess = spawn(
    NODE,
    [
      MAIN,
      '--kubeconfig',
      api.kubeconfigPath,
      '--metrics-addr',
      ':0',
      '--log-level',
      'debug',
      'controller',
      '--identity',
      'cli-test',
      '--lease-duration',
      '2',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  child.stderr!.on('data', (c: Buffer) => {
    out += c.toString();
  });
  t.after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });
  await waitFor(
    'the controller to lead',
    () => out.includes('allocation table rebuilt'),
    30_000,
    50,
    () => out,
  );
  const lines = out.split('\n').filter(Boolean);
  const first = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.equal(first.msg, 'starting controller');
  assert.equal(first.version, VERSION);
  assert.equal(first.nodejs, process.version);
  assert.equal(first.identity, 'cli-test');
  const serving = lines.map((l) => JSON.parse(l) as { msg: string; listen?: string }).find((l) => l.listen);
  const port = Number(/\]:(\d+)$/.exec(serving?.listen ?? '')?.[1]);
  assert.ok(port > 0, `the metrics line names the port: ${out}`);
  const metrics = await get(port, '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(
    metrics.body,
    new RegExp(
      `^beacon_build_info\\{version="${VERSION.replaceAll('.', '\\.')}",nodejs="${process.version}",component="controller"\\} 1$`,
      'm',
    ),
  );
  const lint = await runPromtool(promtool, ['check', 'metrics'], metrics.body);
  assert.equal(lint.code, 0, `promtool check metrics: ${lint.stdout}${lint.stderr}`);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  assert.deepEqual(linesWithDuplicateKeys(out), [], 'no JSON line names a key twice');
});
