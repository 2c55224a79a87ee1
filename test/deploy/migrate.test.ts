/**
 * `beacon migrate` end to end: the CLI converts MetalLB examples of every kind (from a file, stdin, or the
 * cluster) and the real API server, with Beacon's CRDs, accepts the output as it is.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { type ApiServer, startApiServer } from '../harness/apiserver.ts';
import { REPO_ROOT } from '../harness/binaries.ts';
import { installCrds, installStandInCrds } from '../harness/crds.ts';
import { endInput } from '../harness/process.ts';
import { mustKubectl, NAMESPACE } from './cluster.ts';

const FIXTURES = join(REPO_ROOT, 'src', 'migrate', 'fixtures');
const EXAMPLES = join(FIXTURES, 'metallb-examples.yaml');
const UNSUPPORTED = join(FIXTURES, 'metallb-unsupported.yaml');
const LEGACY = join(FIXTURES, 'metallb-legacy-config.yaml');

let api: ApiServer;
before(async () => {
  api = await startApiServer();
  await installCrds(api);
  await mustKubectl(api, ['create', 'namespace', NAMESPACE]);
  await mustKubectl(api, ['create', 'namespace', 'lb']);
});
after(() => api?.stop());

function beacon(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(
      join(REPO_ROOT, 'node_modules', '.bin', 'node'),
      [join(REPO_ROOT, 'src', 'cli', 'main.ts'), ...args],
      { maxBuffer: 16 * 1024 * 1024, timeout: 60_000, env: { ...process.env, KUBECONFIG: '' } },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
    endInput(child, input);
  });
}

const objectsOf = (yaml: string) =>
  parseAllDocuments(yaml)
    .map((d) => d.toJS() as { kind: string; metadata: { name: string; namespace?: string } } | null)
    .filter((o) => o !== null);
const keys = (yaml: string) => objectsOf(yaml).map((o) => `${o.kind}/${o.metadata.name}`);

async function acceptedByServer(yaml: string): Promise<void> {
  const r = await api.kubectl(['apply', '--dry-run=server', '-f', '-'], yaml);
  assert.equal(r.code, 0, `the API server refused beacon migrate's output:\n${r.stderr}`);
  assert.equal(r.stdout.match(/\(server dry run\)/g)?.length, objectsOf(yaml).length);
}

test('the MetalLB examples of every kind convert, and the API server accepts the result as it is', async () => {
  const r = await beacon(['migrate', EXAMPLES]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(keys(r.stdout).length, 14);
  assert.match(r.stderr, /^warning: BGPPeer\/tor-a spec\.passwordSecret: copy the Secret/m);
  await acceptedByServer(r.stdout);
});

test('objects with unsupported fields convert to what the API server accepts, each loss named on stderr', async () => {
  const r = await beacon(['migrate', UNSUPPORTED]);
  assert.equal(r.code, 0, r.stderr);
  for (const field of ['spec.vrf', 'spec.disableMP', 'spec.ebgpMultiHop', 'spec.serviceSelectors']) {
    assert.match(r.stderr, new RegExp(`^warning: \\S+ ${field.replace('.', '\\.')}: `, 'm'), field);
  }
  // The legacy ConfigMap among them converts too, without a warning.
  assert.ok(keys(r.stdout).includes('IPAddressPool/default'), r.stdout);
  assert.doesNotMatch(r.stderr, /ConfigMap\/config/);
  // ebgpMultiHop on an iBGP peer would be refused by Beacon's CRD; the converter left it out.
  await acceptedByServer(r.stdout);
});

test('stdin and --namespace: the objects land in the namespace asked for', async () => {
  const r = await beacon(['migrate', '--namespace', 'lb'], readFileSync(EXAMPLES, 'utf8'));
  assert.equal(r.code, 0, r.stderr);
  for (const o of objectsOf(r.stdout) as { metadata: { namespace: string } }[])
    assert.equal(o.metadata.namespace, 'lb');
  await acceptedByServer(r.stdout);
});

test('nothing to convert exits 1; bad YAML names the file; unknown flags are a usage error', async () => {
  const legacyOnly =
    'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: config}\ndata:\n  config: "address-pools: []"\n';
  const none = await beacon(['migrate'], legacyOnly);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no MetalLB configuration found to convert/);
  assert.equal(none.stdout, '');
  const bad = await beacon(['migrate', '-'], 'kind: [\n');
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /stdin: document 1/);
  assert.equal((await beacon(['migrate', '--frobnicate'])).code, 2);
});

test('--from-cluster reads MetalLB objects from the API and converts them like the files', async () => {
  // MetalLB's own CRDs are not vendored here: schema-less CRDs with its group, kinds and versions stand
  // in for them, which is all reading needs (objects come back as they were stored).
  await installStandInCrds(api, 'metallb.io', [
    ['IPAddressPool', 'ipaddresspools', 'v1beta1'],
    ['L2Advertisement', 'l2advertisements', 'v1beta1'],
    ['BGPAdvertisement', 'bgpadvertisements', 'v1beta1'],
    ['BGPPeer', 'bgppeers', 'v1beta1', 'v1beta2'],
    ['BFDProfile', 'bfdprofiles', 'v1beta1'],
    ['Community', 'communities', 'v1beta1'],
    ['AddressPool', 'addresspools', 'v1beta1'],
  ]);
  await mustKubectl(api, ['create', 'namespace', 'metallb-system']);
  await mustKubectl(api, ['apply', '-f', EXAMPLES]);

  const fromCluster = await beacon(['--kubeconfig', api.kubeconfigPath, 'migrate', '--from-cluster']);
  assert.equal(fromCluster.code, 0, fromCluster.stderr);
  const fromFile = await beacon(['migrate', EXAMPLES]);
  const sorted = (yaml: string) =>
    objectsOf(yaml).sort((a, b) =>
      `${a.kind}/${a.metadata.name}`.localeCompare(`${b.kind}/${b.metadata.name}`),
    );
  assert.deepEqual(sorted(fromCluster.stdout), sorted(fromFile.stdout));
  await acceptedByServer(fromCluster.stdout);
});

test("MetalLB's legacy ConfigMap converts to what the API server accepts, from a file or --from-cluster", async () => {
  const fromFile = await beacon(['migrate', LEGACY]);
  assert.equal(fromFile.code, 0, fromFile.stderr);
  assert.equal(fromFile.stderr, '');
  assert.deepEqual(keys(fromFile.stdout), [
    'BFDProfile/fast',
    'BGPPeer/peer-1',
    'BGPPeer/peer-2',
    'BGPPeer/peer-3',
    'IPAddressPool/lan',
    'L2Advertisement/lan',
    'IPAddressPool/public',
    'BGPAdvertisement/public-0',
    'BGPAdvertisement/public-1',
    'IPAddressPool/plain-bgp',
    'BGPAdvertisement/plain-bgp',
  ]);
  await acceptedByServer(fromFile.stdout);

  // MetalLB in a namespace of its own (a Helm install), where --from-cluster reads the ConfigMap `config`
  // beside the (here: no) MetalLB objects. Runs after the --from-cluster test, which installed the stand-in
  // CRDs that listing needs.
  await mustKubectl(api, ['create', 'namespace', 'metallb-legacy']);
  const manifest = readFileSync(LEGACY, 'utf8').replace(
    'namespace: metallb-system',
    'namespace: metallb-legacy',
  );
  await mustKubectl(api, ['apply', '-f', '-'], manifest);
  const fromCluster = await beacon([
    '--kubeconfig',
    api.kubeconfigPath,
    'migrate',
    '--from-cluster',
    '--metallb-namespace',
    'metallb-legacy',
  ]);
  assert.equal(fromCluster.code, 0, fromCluster.stderr);
  assert.deepEqual(objectsOf(fromCluster.stdout), objectsOf(fromFile.stdout));
  assert.match(fromCluster.stderr, /^warning: ConfigMap\/config metadata\.namespace: was metallb-legacy;/m);
});

/** `kubectl get ... | beacon migrate` command lines in `text` (continuations joined), as kubectl arguments. */
function documentedPipes(text: string): string[][] {
  const joined = text.replace(/\\\n\s*/g, ' ');
  return [...joined.matchAll(/^\s*kubectl (get [^|\n]*)\|\s*beacon migrate/gm)].map((m) =>
    m[1]!.trim().split(/\s+/),
  );
}

test("the documented kubectl pipe (docs/migrate.md, --help) reads MetalLB's objects with Beacon's CRDs installed", async () => {
  // Runs after the --from-cluster test: MetalLB's (stand-in) CRDs, its objects in metallb-system, and
  // Beacon's CRDs, whose plurals are the same words, are all installed.
  const help = await beacon(['migrate', '--help']);
  const sources = {
    '--help': help.stdout,
    'docs/migrate.md': readFileSync(join(REPO_ROOT, 'docs', 'migrate.md'), 'utf8'),
  };
  // What metallb-examples.yaml holds in MetalLB v0.14+ kinds (the deprecated AddressPool is gone there).
  const expected = [
    'BFDProfile/fast',
    'BGPAdvertisement/upstream',
    'BGPPeer/legacy-peer',
    'BGPPeer/route-reflector',
    'BGPPeer/tor-a',
    'Community/aliases',
    'IPAddressPool/production',
    'IPAddressPool/reserved',
    'L2Advertisement/lan',
  ];
  for (const [where, text] of Object.entries(sources)) {
    const pipes = documentedPipes(text);
    assert.ok(pipes.length > 0, `${where} shows the kubectl pipe`);
    for (const args of pipes) {
      const got = await api.kubectl(args);
      assert.equal(got.code, 0, `${where}: kubectl ${args.join(' ')}\n${got.stderr}`);
      const converted = await beacon(['migrate'], got.stdout);
      assert.equal(
        converted.code,
        0,
        `${where}: nothing converted from kubectl ${args.join(' ')}\n${converted.stderr}`,
      );
      assert.deepEqual(keys(converted.stdout).sort(), expected, where);
    }
  }
});

test("MetalLB's own samples convert to what the API server accepts, each change named on stderr", async () => {
  const r = await beacon(['migrate', join(FIXTURES, 'metallb-samples.yaml')]);
  assert.equal(r.code, 0, r.stderr);
  const expectations: [string, RegExp][] = [
    ['BGPPeer/peer-in-vrf spec.vrf', /cannot peer through VRF red; this BGPPeer is left out/],
    ['BGPPeer/local-as spec.localASN', /carried over as myASN 65010/],
    ['BGPPeer/keepalive-equals-hold spec.keepaliveTime', /set to 10s/],
    ['BGPPeer/keepalive-above-default-hold spec.holdTime', /set to 360s, three times keepaliveTime 2m/],
    ['BGPPeer/secret-elsewhere spec.passwordSecret', /copy the Secret tor-auth from netops to beacon-system/],
    ['ConfigMap/config-communities bgp-communities.no-advertise', /no advertisement uses it/],
  ];
  for (const [prefix, message] of expectations) {
    const line = r.stderr.split('\n').find((l) => l.startsWith(`warning: ${prefix}: `));
    assert.ok(line, `a warning for ${prefix}:\n${r.stderr}`);
    assert.match(line, message, prefix);
  }
  const objects = objectsOf(r.stdout) as unknown as {
    kind: string;
    metadata: { name: string };
    spec: Record<string, unknown>;
  }[];
  assert.ok(!objects.some((o) => o.metadata.name === 'peer-in-vrf'), 'no default-VRF session for a VRF peer');
  assert.deepEqual(objects.find((o) => o.metadata.name === 'secret-elsewhere')?.spec.passwordSecret, {
    name: 'tor-auth',
  });
  // Every converted object, the adjusted timers and the carried localASN included, is valid for Beacon.
  await acceptedByServer(r.stdout);
});
