/**
 * deploy/ (kustomize) and deploy/helm/beacon (Helm) produce objects a real API server accepts as they are,
 * and the chart renders the same objects as the kustomize base. Helm is built from its Go module by the
 * harness (test/harness/helm.ts), cached after the first run.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { type ApiServer, startApiServer } from '../harness/apiserver.ts';
import { REPO_ROOT } from '../harness/binaries.ts';
import { installStandInCrds } from '../harness/crds.ts';
import { type HelmBinary, helmBinary, runHelm } from '../harness/helm.ts';
import { temporaryDirectory } from '../harness/interrupt.ts';
import { CHART_DIR, DEPLOY_DIR, mustKubectl, NAMESPACE } from './cluster.ts';

interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
}

let api: ApiServer;
let helm: HelmBinary;
let helmHome: string;
let removeHelmHome = () => {};

before(async () => {
  // A cold Helm build takes a minute or two; log it so a slow first run explains itself.
  [api, helm] = await Promise.all([
    startApiServer(),
    helmBinary((line) => process.stderr.write(`[helm] ${line}\n`)),
  ]);
  ({ path: helmHome, remove: removeHelmHome } = temporaryDirectory('beacon-helm-'));
});
after(async () => {
  await api?.stop();
  removeHelmHome();
});

function objects(yamlText: string): KubeObject[] {
  return parseAllDocuments(yamlText)
    .map((d) => d.toJS() as KubeObject | null)
    .filter((o): o is KubeObject => o !== null);
}

const key = (o: KubeObject) =>
  `${o.kind}/${o.metadata.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata.name}`;

async function helmTemplate(...extra: string[]): Promise<string> {
  return helmTemplateIn(NAMESPACE, ...extra);
}

async function helmTemplateIn(namespace: string, ...extra: string[]): Promise<string> {
  const r = await runHelm(
    helm,
    ['template', 'beacon', CHART_DIR, '--namespace', namespace, '--include-crds', ...extra],
    helmHome,
  );
  assert.equal(r.code, 0, `helm template failed:\n${r.stderr}`);
  return r.stdout;
}

async function kustomize(): Promise<string> {
  return mustKubectl(api, ['kustomize', DEPLOY_DIR]);
}

/** Applies with --dry-run=server and returns the lines kubectl printed for refused objects. */
async function dryRun(yamlText: string): Promise<{ code: number; refused: string[]; stdout: string }> {
  const r = await api.kubectl(['apply', '--dry-run=server', '-f', '-'], yamlText);
  return { code: r.code, refused: r.stderr.split('\n').filter((l) => l.trim()), stdout: r.stdout };
}

test('on a fresh cluster, a server dry run of deploy/ refuses namespaced objects only for the missing namespace', async () => {
  const rendered = objects(await kustomize());
  const r = await api.kubectl(['apply', '-k', DEPLOY_DIR, '--dry-run=server']);
  const namespaced = rendered.filter((o) => o.metadata.namespace);
  const refused = r.stderr.split('\n').filter((l) => l.trim());
  // Kubernetes does not create the namespace in a dry run, so every namespaced object is refused for that.
  assert.equal(refused.length, namespaced.length, r.stderr);
  for (const line of refused) assert.match(line, /namespaces "beacon-system" not found/);
  for (const o of rendered.filter((x) => !x.metadata.namespace)) {
    assert.match(
      r.stdout,
      new RegExp(`${o.metadata.name} (created|configured) \\(server dry run\\)`),
      key(o),
    );
  }
});

test('kubectl apply -k deploy/ --dry-run=server is accepted once the namespace exists, and a real apply works', async () => {
  await mustKubectl(api, ['apply', '-f', join(DEPLOY_DIR, 'namespace.yaml')]);
  const dry = await api.kubectl(['apply', '-k', DEPLOY_DIR, '--dry-run=server']);
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal(dry.stdout.match(/\(server dry run\)/g)?.length, objects(await kustomize()).length);
  const real = await api.kubectl(['apply', '--server-side', '-k', DEPLOY_DIR]);
  assert.equal(real.code, 0, real.stderr);
  await mustKubectl(api, ['wait', '--for=condition=Established', '--timeout=60s', 'crd', '--all']);
  // The objects are stored as they were sent: the Deployment keeps 2 replicas, the speaker its one capability.
  const ds = JSON.parse(
    await mustKubectl(api, ['get', 'daemonset', 'beacon-speaker', '-n', NAMESPACE, '-o', 'json']),
  );
  assert.deepEqual(ds.spec.template.spec.containers[0].securityContext.capabilities, {
    drop: ['ALL'],
    add: ['NET_RAW'],
  });
  assert.equal(ds.spec.template.spec.hostNetwork, true);
  const dep = JSON.parse(
    await mustKubectl(api, ['get', 'deployment', 'beacon-controller', '-n', NAMESPACE, '-o', 'json']),
  );
  assert.equal(dep.spec.replicas, 2);
  assert.equal(dep.spec.template.spec.securityContext.runAsNonRoot, true);
});

test('helm lint passes', async () => {
  const r = await runHelm(helm, ['lint', '--strict', CHART_DIR, '--namespace', NAMESPACE], helmHome);
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/);
});

test("helm template's objects are accepted by the API server as they are (--dry-run=server)", async () => {
  const r = await dryRun(await helmTemplate());
  assert.equal(r.code, 0, r.refused.join('\n'));
});

test('the chart renders the same objects as the kustomize base (apart from the Namespace, which Helm does not own)', async () => {
  const fromKustomize = new Map(objects(await kustomize()).map((o) => [key(o), o]));
  const fromHelm = new Map(objects(await helmTemplate()).map((o) => [key(o), o]));
  assert.deepEqual(
    [...fromHelm.keys()].sort(),
    [...fromKustomize.keys()].filter((k) => k !== `Namespace/${NAMESPACE}`).sort(),
  );
  for (const [k, o] of fromHelm)
    assert.deepEqual(o, fromKustomize.get(k), `${k} differs between Helm and kustomize`);
});

test("the chart's crds/ links every CRD in crds/", () => {
  const generated = readdirSync(join(REPO_ROOT, 'crds')).filter((f) => f.endsWith('.beacon.dev.yaml'));
  assert.deepEqual(readdirSync(join(CHART_DIR, 'crds')).sort(), generated.sort());
});

test('helm values (image, pools, log level, node selectors, tolerations, peer secrets) render accepted objects', async () => {
  const text = await helmTemplate(
    '--set',
    'image.repository=registry.example/beacon,image.tag=v9,logLevel=debug',
    '--set',
    'pools[0].name=default,pools[0].addresses[0]=192.0.2.0/28,pools[0].l2Advertisement=true',
    '--set',
    'pools[1].name=v6,pools[1].addresses[0]=2001:db8::/120,pools[1].autoAssign=false',
    '--set',
    'controller.nodeSelector.role=infra,speaker.nodeSelector.lb=yes',
    '--set',
    'controller.tolerations[0].key=infra,controller.tolerations[0].operator=Exists',
    '--set',
    'speaker.peerPasswordSecrets[0]=tor-a-password',
  );
  const rendered = new Map(objects(text).map((o) => [key(o), o]));
  const pool = rendered.get(`IPAddressPool/${NAMESPACE}/default`) as { spec?: unknown } | undefined;
  assert.deepEqual(pool?.spec, { addresses: ['192.0.2.0/28'] });
  assert.deepEqual((rendered.get(`IPAddressPool/${NAMESPACE}/v6`) as { spec?: unknown }).spec, {
    addresses: ['2001:db8::/120'],
    autoAssign: false,
  });
  assert.ok(rendered.has(`L2Advertisement/${NAMESPACE}/default`));
  assert.ok(!rendered.has(`L2Advertisement/${NAMESPACE}/v6`));
  const podSpec = (k: string) =>
    (
      rendered.get(k) as unknown as {
        spec: { template: { spec: Record<string, unknown> & { containers: Record<string, unknown>[] } } };
      }
    ).spec.template.spec;
  const ctl = podSpec(`Deployment/${NAMESPACE}/beacon-controller`);
  assert.equal(ctl.containers[0]!.image, 'registry.example/beacon:v9');
  assert.ok((ctl.containers[0]!.args as string[]).includes('--log-level=debug'));
  assert.deepEqual(ctl.nodeSelector, { 'kubernetes.io/os': 'linux', role: 'infra' });
  assert.deepEqual(ctl.tolerations, [{ key: 'infra', operator: 'Exists' }]);
  assert.deepEqual(podSpec(`DaemonSet/${NAMESPACE}/beacon-speaker`).nodeSelector, {
    'kubernetes.io/os': 'linux',
    lb: 'yes',
  });
  const role = rendered.get(`Role/${NAMESPACE}/beacon-speaker`) as unknown as {
    rules: { resources: string[]; resourceNames?: string[] }[];
  };
  assert.deepEqual(role.rules.find((r) => r.resourceNames)?.resourceNames, ['tor-a-password']);
  // deploy/ was applied for real above, so the CRDs exist and the pools are validated by their schema.
  const r = await dryRun(text);
  assert.equal(r.code, 0, r.refused.join('\n'));
});

test('a release in another namespace names its own ServiceAccounts in the admission policies', async () => {
  const r = await runHelm(helm, ['template', 'beacon', CHART_DIR, '--namespace', 'lb'], helmHome);
  assert.equal(r.code, 0, r.stderr);
  assert.ok(
    !JSON.stringify(objects(r.stdout)).includes('beacon-system'),
    'no object is tied to beacon-system',
  );
  const policies = objects(r.stdout).filter((o) => o.kind === 'ValidatingAdmissionPolicy');
  assert.equal(policies.length, 4);
  for (const p of policies)
    assert.match(JSON.stringify(p), /system:serviceaccount:lb:beacon-(controller|speaker)/);
});

test("docs/install.md's kustomize overlays work: registry image, and a peer password Secret for the speaker", async () => {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'install.md'), 'utf8');
  const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
  const imageOverlay = blocks.find((b) => b.includes('newName:'));
  const secretPatch = blocks.find((b) => b.includes('patches:'));
  assert.ok(imageOverlay && secretPatch, 'install.md shows both overlays');
  const dir = join(helmHome, 'overlay');
  mkdirSync(dir, { recursive: true });
  // The doc's overlay sits next to deploy/; here it refers to deploy/ by a relative path from a temp dir.
  const base = relative(dir, DEPLOY_DIR);
  writeFileSync(join(dir, 'kustomization.yaml'), `${imageOverlay.replace('../deploy', base)}${secretPatch}`);
  const rendered = objects(await mustKubectl(api, ['kustomize', dir]));
  const ds = rendered.find((o) => o.kind === 'DaemonSet') as unknown as {
    spec: { template: { spec: { containers: { image: string }[] } } };
  };
  assert.equal(ds.spec.template.spec.containers[0]!.image, 'registry.example/beacon:0.1.0');
  const role = rendered.find((o) => o.kind === 'Role' && o.metadata.name === 'beacon-speaker') as unknown as {
    rules: { resources: string[]; resourceNames?: string[] }[];
  };
  assert.deepEqual(
    role.rules.find((r) => r.resources.includes('secrets') && r.resourceNames)?.resourceNames,
    ['tor-a-password'],
  );
});

test('with no peer password Secrets the speaker gets no Secret rule at all (an empty resourceNames grants all)', async () => {
  for (const rendered of [
    objects(await mustKubectl(api, ['kustomize', DEPLOY_DIR])),
    objects(
      (await runHelm(helm, ['template', 'beacon', CHART_DIR, '--namespace', NAMESPACE], helmHome)).stdout,
    ),
  ]) {
    const roles = rendered.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole') as unknown as {
      metadata: { name: string };
      rules: { resources: string[] }[];
    }[];
    for (const role of roles.filter((r) => r.metadata.name === 'beacon-speaker'))
      assert.ok(!role.rules.some((r) => r.resources.includes('secrets')), JSON.stringify(role.rules));
  }
});

type PodTemplate = {
  spec: {
    template: {
      metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      spec: Record<string, unknown> & { containers: (Record<string, unknown> & { args: string[] })[] };
    };
  } & Record<string, unknown>;
};

test('helm lint --strict passes with every optional feature on too', async () => {
  const r = await runHelm(
    helm,
    [
      'lint',
      '--strict',
      CHART_DIR,
      '--namespace',
      NAMESPACE,
      '--set',
      'metrics.serviceMonitor.enabled=true,metrics.podMonitor.enabled=true,metrics.prometheusRule.enabled=true',
      '--set',
      'classOnly=true,speaker.excludeInterfaces[0]=eth9',
    ],
    helmHome,
  );
  assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
});

test('values.schema.json: a misspelt key or a bad log level fails helm template and helm install, naming it', async () => {
  const cases: [string, RegExp][] = [
    ['controller.replica=3', /at '\/controller': additional properties 'replica' not allowed/],
    [
      'speaker.excludeInterface[0]=eth0',
      /at '\/speaker': additional properties 'excludeInterface' not allowed/,
    ],
    ['logLevel=loud', /at '\/logLevel': value must be one of 'fatal'/],
    ['speaker.logLevel=verbose', /at '\/speaker\/logLevel': value must be one of ''/],
    ['metrics.prometheusRule.poolUsageThreshold=90', /poolUsageThreshold/],
    ['metrics.serviceMonitr.enabled=true', /additional properties 'serviceMonitr' not allowed/],
  ];
  for (const [set, message] of cases) {
    for (const command of [
      ['template', 'beacon', CHART_DIR],
      ['install', 'beacon', CHART_DIR, '--dry-run=client'],
    ]) {
      const r = await runHelm(helm, [...command, '--namespace', NAMESPACE, '--set', set], helmHome);
      assert.notEqual(r.code, 0, `helm ${command[0]} --set ${set} was accepted`);
      assert.match(r.stderr, message, `helm ${command[0]} --set ${set}`);
    }
  }
  // Valid values still pass the schema.
  const ok = await runHelm(
    helm,
    [
      'template',
      'beacon',
      CHART_DIR,
      '--namespace',
      NAMESPACE,
      '--set',
      'controller.logLevel=debug,speaker.logLevel=warn',
    ],
    helmHome,
  );
  assert.equal(ok.code, 0, ok.stderr);
});

test('the operator values land where Kubernetes reads them, and the objects are accepted', async () => {
  // A namespace of its own: a server-side dry run over the objects installed above would merge their
  // container ports with the changed ones instead of replacing them.
  const ns = 'lb-values';
  await mustKubectl(api, ['create', 'namespace', ns]);
  await mustKubectl(
    api,
    ['apply', '-f', '-'],
    JSON.stringify({
      apiVersion: 'scheduling.k8s.io/v1',
      kind: 'PriorityClass',
      metadata: { name: 'lb-critical' },
      value: 1000000,
    }),
  );
  const text = await helmTemplateIn(
    ns,
    '--set',
    'imagePullSecrets[0].name=regcred,loadBalancerClass=example.com/edge,classOnly=true',
    '--set',
    'controller.priorityClassName=lb-critical,controller.runtimeClassName=gvisor,controller.logLevel=debug',
    '--set',
    'controller.podAnnotations.team=net,controller.podLabels.tier=lb,controller.metricsPort=9472',
    '--set',
    'controller.strategy.type=Recreate,controller.podDisruptionBudget.maxUnavailable=0',
    '--set',
    'controller.livenessProbe.periodSeconds=20,controller.securityContext.readOnlyRootFilesystem=false',
    '--set',
    'controller.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].key=lb',
    '--set',
    'controller.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].operator=Exists',
    '--set',
    'speaker.priorityClassName=lb-critical,speaker.logLevel=warn,speaker.meshPort=7950,speaker.metricsPort=9473',
    '--set',
    'speaker.excludeInterfaces[0]=eth9,speaker.excludeInterfaces[1]=ib*',
    '--set',
    'speaker.updateStrategy.rollingUpdate.maxUnavailable=10%,speaker.podSecurityContext.runAsUser=0',
    '--set',
    'speaker.readinessProbe.failureThreshold=6,speaker.terminationGracePeriodSeconds=20',
  );
  const rendered = new Map(objects(text).map((o) => [key(o), o]));
  const ctl = rendered.get(`Deployment/${ns}/beacon-controller`) as unknown as PodTemplate;
  const ds = rendered.get(`DaemonSet/${ns}/beacon-speaker`) as unknown as PodTemplate;
  const cp = ctl.spec.template.spec;
  const sp = ds.spec.template.spec;
  assert.equal(cp.priorityClassName, 'lb-critical');
  assert.equal(cp.runtimeClassName, 'gvisor');
  assert.deepEqual(cp.imagePullSecrets, [{ name: 'regcred' }]);
  assert.deepEqual(sp.imagePullSecrets, [{ name: 'regcred' }]);
  // Helm merges maps: the node affinity joins the default anti-affinity (set it to null to drop that).
  assert.deepEqual(Object.keys(cp.affinity as object).sort(), ['nodeAffinity', 'podAntiAffinity']);
  assert.equal(ctl.spec.template.metadata.annotations.team, 'net');
  assert.equal(ctl.spec.template.metadata.annotations['prometheus.io/port'], '9472');
  assert.equal(ctl.spec.template.metadata.labels.tier, 'lb');
  assert.equal(ctl.spec.template.metadata.labels['app.kubernetes.io/component'], 'controller');
  assert.deepEqual(ctl.spec.strategy, { type: 'Recreate' });
  const c = cp.containers[0]!;
  assert.deepEqual(c.args, [
    '--metrics-addr=:9472',
    '--log-level=debug',
    'controller',
    '--namespace=$(POD_NAMESPACE)',
    '--load-balancer-class=example.com/edge',
    '--class-only',
  ]);
  assert.equal((c.livenessProbe as { periodSeconds: number }).periodSeconds, 20);
  assert.equal((c.securityContext as { readOnlyRootFilesystem: boolean }).readOnlyRootFilesystem, false);
  const s = sp.containers[0]!;
  assert.deepEqual(s.args, [
    '--metrics-addr=:9473',
    '--log-level=warn',
    'speaker',
    '--node=$(NODE_NAME)',
    '--load-balancer-class=example.com/edge',
    '--class-only',
    '--mesh-port=7950',
    '--exclude-interfaces=eth9,ib*',
  ]);
  assert.deepEqual(s.ports, [
    { name: 'monitoring', containerPort: 9473, protocol: 'TCP' },
    { name: 'mesh', containerPort: 7950, protocol: 'UDP' },
  ]);
  assert.equal(sp.priorityClassName, 'lb-critical');
  assert.equal(sp.terminationGracePeriodSeconds, 20);
  assert.equal((s.readinessProbe as { failureThreshold: number }).failureThreshold, 6);
  assert.deepEqual(ds.spec.updateStrategy, {
    type: 'RollingUpdate',
    rollingUpdate: { maxUnavailable: '10%' },
  });
  const pdb = rendered.get(`PodDisruptionBudget/${ns}/beacon-controller`) as unknown as {
    spec: { maxUnavailable: number };
  };
  assert.equal(pdb.spec.maxUnavailable, 0);
  // Without a PDB when asked.
  const none = objects(await helmTemplate('--set', 'controller.podDisruptionBudget.enabled=false'));
  assert.ok(!none.some((o) => o.kind === 'PodDisruptionBudget'));
  const r = await dryRun(text);
  assert.equal(r.code, 0, r.refused.join('\n'));
});

test('metrics Services, ServiceMonitors, PodMonitors and the PrometheusRule render when asked, and are accepted', async () => {
  // The Prometheus Operator's kinds, as schema-less stand-ins: what matters here is that the chart's
  // objects are well-formed and land in the right namespace (promtool checks the rules' content).
  await installStandInCrds(api, 'monitoring.coreos.com', [
    ['ServiceMonitor', 'servicemonitors', 'v1'],
    ['PodMonitor', 'podmonitors', 'v1'],
    ['PrometheusRule', 'prometheusrules', 'v1'],
  ]);
  const none = objects(await helmTemplate());
  assert.ok(
    !none.some((o) => ['ServiceMonitor', 'PodMonitor', 'PrometheusRule', 'Service'].includes(o.kind)),
  );
  const text = await helmTemplate(
    '--set',
    'metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.labels.release=kps,metrics.podMonitor.enabled=true',
    '--set',
    'metrics.prometheusRule.enabled=true,metrics.prometheusRule.labels.release=kps',
  );
  const kinds = objects(text)
    .filter((o) => ['ServiceMonitor', 'PodMonitor', 'PrometheusRule', 'Service'].includes(o.kind))
    .map(key)
    .sort();
  assert.deepEqual(kinds, [
    `PodMonitor/${NAMESPACE}/beacon-controller`,
    `PodMonitor/${NAMESPACE}/beacon-speaker`,
    `PrometheusRule/${NAMESPACE}/beacon`,
    `Service/${NAMESPACE}/beacon-controller-metrics`,
    `Service/${NAMESPACE}/beacon-speaker-metrics`,
    `ServiceMonitor/${NAMESPACE}/beacon-controller`,
    `ServiceMonitor/${NAMESPACE}/beacon-speaker`,
  ]);
  const sm = objects(text).find((o) => o.kind === 'ServiceMonitor') as unknown as {
    metadata: { labels: Record<string, string> };
    spec: { endpoints: { port: string }[] };
  };
  assert.equal(sm.metadata.labels.release, 'kps');
  assert.equal(sm.spec.endpoints[0]!.port, 'monitoring');
  const r = await dryRun(text);
  assert.equal(r.code, 0, r.refused.join('\n'));
});

test('NOTES.txt tells what to do next, with the release namespace and the class', async () => {
  const r = await runHelm(
    helm,
    ['install', 'beacon', CHART_DIR, '--namespace', 'lb', '--dry-run=client', '--set', 'classOnly=true'],
    helmHome,
  );
  assert.equal(r.code, 0, r.stderr);
  const notes = r.stdout.slice(r.stdout.indexOf('NOTES:'));
  assert.match(notes, /kubectl -n lb get pods -o wide/);
  assert.match(notes, /kind: IPAddressPool/);
  assert.match(notes, /with spec\.loadBalancerClass: beacon\.dev\/lb \(class-only/);
  assert.match(notes, /kubectl -n lb get servicel2statuses\.beacon\.dev/);
  assert.match(notes, /docs\/troubleshooting\.md/);
});
