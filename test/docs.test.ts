/**
 * The documentation tells the truth, checked where a check can catch the next mistake: links resolve, the
 * README's state table names what exists, its CEL example is what the API server prints, the annotations it
 * says the controller writes are the ones the admission policy lets it write, and the troubleshooting page's
 * commands, metrics and log messages are those of the program (every `kubectl get` runs against a real API
 * server with Beacon installed).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { parse } from 'yaml';
import { commands } from '../src/cli/commands.ts';
import { controllerMetrics } from '../src/controller/metrics.ts';
import { ANNOTATION } from '../src/controller/service-request.ts';
import { speakerMetrics } from '../src/speaker/metrics.ts';
import { installDeploy, mustKubectl } from './deploy/cluster.ts';
import { type ApiServer, startApiServer } from './harness/apiserver.ts';
import { REPO_ROOT } from './harness/binaries.ts';
import { exportedNames } from './harness/promql.ts';

const read = (path: string) => readFileSync(join(REPO_ROOT, path), 'utf8');
const README = read('README.md');
const TROUBLESHOOTING = read('docs/troubleshooting.md');
const DOCS = ['README.md', ...readdirSync(join(REPO_ROOT, 'docs')).map((f) => `docs/${f}`)].filter((f) =>
  f.endsWith('.md'),
);

let api: ApiServer;
before(async () => {
  api = await startApiServer();
  await installDeploy(api);
});
after(() => api?.stop());

test('every relative link in the README and docs/ points at a file that exists', () => {
  const broken: string[] = [];
  for (const doc of DOCS) {
    for (const m of read(doc).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]!.split('#')[0]!;
      if (!target || /^[a-z]+:/.test(target)) continue;
      if (!existsSync(resolve(REPO_ROOT, dirname(doc), target))) broken.push(`${doc}: ${m[1]}`);
    }
  }
  assert.deepEqual(broken, []);
});

/** The README section under `heading`, up to the next heading of the same or a higher level. */
function section(text: string, heading: string): string {
  const start = text.indexOf(heading);
  assert.ok(start >= 0, `the README has ${heading}`);
  const level = /^#+/.exec(heading)![0];
  const rest = text.slice(start + heading.length);
  const end = rest.search(new RegExp(`\\n#{1,${level.length}} `));
  return end < 0 ? rest : rest.slice(0, end);
}

test("the README's state table names paths and commands that exist, and says no built part is unusable", () => {
  const table = section(README, '## State of the project');
  const rows = table.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| part'));
  assert.ok(rows.length >= 5);
  const names = new Set(commands.map((c) => c.name));
  for (const row of rows) {
    const cells = row.split('|').map((c) => c.trim());
    const state = cells[2]!;
    if (row.startsWith('| not there yet')) {
      assert.equal(state, 'missing');
      continue;
    }
    assert.ok(['usable', 'done'].includes(state), `${row}: state "${state}"`);
    for (const m of cells[3]!.matchAll(/`([^`]+)`/g)) {
      const ref = m[1]!;
      const command = /^beacon (\S+)$/.exec(ref);
      if (command) assert.ok(names.has(command[1]!), `${row}: no command ${ref}`);
      else assert.ok(existsSync(join(REPO_ROOT, ref)), `${row}: no ${ref} in the tree`);
    }
  }
  assert.doesNotMatch(README, /not usable yet/);
});

test("the README's CEL example is the message the API server prints", async () => {
  const block = /rules\), with a message naming the field, for example:\n\n```text\n([\s\S]*?)```/.exec(
    README,
  );
  assert.ok(block, 'the README shows an example message');
  const shown = block[1]!.trim();
  const m = /^The IPAddressPool "([^"]+)" is invalid: spec\.addresses\[0\]: Invalid value: "([^"]+)"/.exec(
    shown,
  );
  assert.ok(m, shown);
  await mustKubectl(api, ['create', 'namespace', 'docs']);
  const r = await api.kubectl(
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'beacon.dev/v1alpha1',
      kind: 'IPAddressPool',
      metadata: { name: m[1], namespace: 'docs' },
      spec: { addresses: [m[2]] },
    }),
  );
  assert.notEqual(r.code, 0);
  assert.equal(r.stderr.trim(), shown);
});

test('the annotations the README says the controller writes are the ones its admission policy allows', () => {
  const written = [...README.matchAll(/^\| `([^`]+)` \| \| written by the controller/gm)].map((m) => m[1]!);
  const policy = parse(read('deploy/admission-policies.yaml').split('\n---\n')[0]!) as {
    spec: { variables: { name: string; expression: string }[] };
  };
  const own = policy.spec.variables.find((v) => v.name === 'own')!.expression;
  const allowed = [...own.matchAll(/'([^']+)'/g)].map((m) => m[1]!);
  assert.deepEqual(written.sort(), allowed.sort());
  assert.deepEqual(allowed.sort(), [ANNOTATION.allocatedFromPool, ANNOTATION.allocatedSharing].sort());
  const count = ['no', 'one', 'two', 'three'][allowed.length];
  assert.match(
    README,
    new RegExp(`the controller may write Services' status and ${count} annotations? of its own`),
  );
});

test('the README says setup runs npm ci, and scripts/setup.sh does', () => {
  assert.match(README, /runs\s+`npm ci`/);
  assert.match(read('scripts/setup.sh'), /^\s*npm ci\b/m);
});

/** `kubectl ...` command lines in a document: code-block lines and inline code, placeholders filled. */
function kubectlGets(text: string): string[][] {
  const lines = [
    ...[...text.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1]!.split('\n')),
    ...[...text.matchAll(/`(kubectl [^`]+)`/g)].map((m) => m[1]!),
  ];
  const fill: Record<string, string> = { NAME: 'web', NS: 'shop', NODE: 'node-a', POOL: 'default' };
  return lines
    .map((l) => l.replace(/\s+#.*$/, '').trim())
    .filter((l) => /^kubectl (-n \S+ )?get /.test(l) && !l.includes('|'))
    .map((l) => {
      // Words as the shell splits them: quoted parts kept whole, without their quotes.
      const args = (l.match(/(?:[^\s']+|'[^']*')+/g) ?? []).slice(1);
      return args.map((a) =>
        a.replace(/'([^']*)'/g, '$1').replace(/\b(NAME|NS|NODE|POOL)\b/g, (w) => fill[w]!),
      );
    });
}

test("every kubectl get in the troubleshooting page and the README runs against Beacon's resources", async () => {
  await mustKubectl(api, ['create', 'namespace', 'shop']);
  await mustKubectl(
    api,
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'v1',
          kind: 'Service',
          metadata: { name: 'web', namespace: 'shop' },
          spec: { type: 'LoadBalancer', ports: [{ port: 80 }] },
        },
        { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' } },
        {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: 'beacon-controller', namespace: 'beacon-system' },
          spec: { holderIdentity: 'beacon-controller-0' },
        },
      ],
    }),
  );
  const all = [...kubectlGets(TROUBLESHOOTING), ...kubectlGets(README)];
  assert.ok(all.length >= 10, `found ${all.length} kubectl get commands`);
  const failed: string[] = [];
  for (const args of all) {
    const r = await api.kubectl(args);
    if (r.code !== 0) failed.push(`kubectl ${args.join(' ')}: ${r.stderr.trim()}`);
  }
  assert.deepEqual(failed, []);
});

test('every beacon command and flag on the troubleshooting page exists', async () => {
  const usage = new Map(
    await Promise.all(commands.map(async (c) => [c.name, (await c.load()).usage] as const)),
  );
  const uses = [...TROUBLESHOOTING.matchAll(/`beacon ([a-z0-9-]+)((?: [^`]*)?)`/g)];
  assert.ok(uses.length > 0);
  const common = ['--kubeconfig', '--log-level', '--metrics-addr', '--version', '--help'];
  for (const m of uses) {
    const [, name, rest] = m;
    if (name!.startsWith('--')) continue;
    const own = usage.get(name!);
    assert.ok(own !== undefined, `beacon ${name} is a command`);
    for (const flag of rest!.match(/--[a-z-]+/g) ?? [])
      assert.ok(own.includes(flag) || common.includes(flag), `beacon ${name} has ${flag}`);
  }
  for (const m of TROUBLESHOOTING.matchAll(/`--([a-z-]+)/g)) {
    const flag = `--${m[1]}`;
    assert.ok(
      common.includes(flag) || [...usage.values()].some((u) => u.includes(flag)),
      `${flag} is a flag of some command`,
    );
  }
});

test('every metric the troubleshooting page names is exported, and every log message it quotes is logged', async () => {
  const names = new Set([
    ...exportedNames(await controllerMetrics().registry.metrics()),
    ...exportedNames(await speakerMetrics().registry.metrics()),
  ]);
  const metrics = [...TROUBLESHOOTING.matchAll(/\b((?:beacon|nodejs|process)_[a-z0-9_]+)/g)].map(
    (m) => m[1]!,
  );
  assert.ok(metrics.length > 5);
  assert.deepEqual(
    metrics.filter((n) => !names.has(n)),
    [],
  );
  const sources = (function walk(dir: string): string[] {
    return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory()
        ? walk(join(dir, e.name))
        : e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')
          ? [readFileSync(join(dir, e.name), 'utf8')]
          : [],
    );
  })(join(REPO_ROOT, 'src')).join('\n');
  const quoted = [
    ...[...TROUBLESHOOTING.matchAll(/"msg":"([^"]+)"/g)].map((m) => m[1]!),
    ...[...TROUBLESHOOTING.matchAll(/grep '"([^"]+)"'/g)].map((m) => m[1]!),
    ...[...TROUBLESHOOTING.matchAll(/grep\s+`"([^"]+)"`|\(grep\s+`"([^"]+)"`/g)].map((m) => m[1] ?? m[2]!),
  ];
  assert.ok(quoted.length >= 8, `found ${quoted.length} quoted log messages`);
  assert.deepEqual(
    quoted.filter((msg) => !sources.includes(`'${msg}'`)),
    [],
    'log messages the page quotes that the program never logs',
  );
});

test('the troubleshooting page covers every symptom operators report', () => {
  const headings = [...TROUBLESHOOTING.matchAll(/^## (.+)$/gm)].map((m) => m[1]!.toLowerCase());
  for (const symptom of [
    'pending',
    'unreachable',
    'wrong node',
    'routes missing',
    'flapping',
    'failover is slow',
    'pool change',
    'does not start',
  ])
    assert.ok(
      headings.some((h) => h.includes(symptom)),
      `a section for "${symptom}"`,
    );
});
