/**
 * Beacon as users deploy it, on a real cluster: kube-apiserver, controller manager and scheduler, three
 * nodes each running containerd, the kubelet and kube-proxy (test/harness/cluster/), Beacon's own image
 * imported into every node, installed with `helm install` from deploy/helm/beacon exactly as the README's
 * install section says, and a Deployment of real pods behind LoadBalancer Services, reached from a client
 * namespace over L2 and through an FRR router over BGP. Then the things a user does to a running
 * install: kube-proxy in another mode, a speaker pod deleted or crashing, `helm upgrade`, 1,000 Services,
 * `helm uninstall`, `kubectl apply -k deploy/`, and a node lost.
 *
 * One cluster serves every test, in order (they build on each other, as a user's day does). Timings are
 * reported as `# figure` lines, never asserted against wall-clock bounds.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from '../harness/binaries.ts';
import { clusterToolsMissing } from '../harness/cluster/binaries.ts';
import { cgroupMemory, v1Hierarchy } from '../harness/cluster/cgroups.ts';
import {
  type Answer,
  apply,
  arpAnswerers,
  curl,
  demoDeployment,
  loadBalancerService,
  longestOutage,
  mustKubectl,
  routedPoolConfig,
  startClientLoop,
  waitForAnswer,
  waitForExternalIp,
  waitForRollout,
} from '../harness/cluster/demo.ts';
import { type ClusterImages, clusterImages } from '../harness/cluster/images.ts';
import { KubeCluster } from '../harness/cluster/kube-cluster.ts';
import type { KubeNode } from '../harness/cluster/node.ts';
import { containerCgroup, crashContainer, listPods, type PodJson } from '../harness/cluster/pods.ts';
import { CLIENT_IP, L2_POOL } from '../harness/cluster-lab.ts';
import { type HelmBinary, helmBinary, runHelm } from '../harness/helm.ts';
import { temporaryDirectory } from '../harness/interrupt.ts';
import { createService } from '../harness/kube.ts';
import { netnsUnavailable } from '../harness/netns.ts';
import { waitFor } from '../harness/process.ts';

const skip = (await netnsUnavailable()) ?? clusterToolsMissing();
const NS = 'beacon-system';
const APP_NS = 'shop';
const CHART = join(REPO_ROOT, 'deploy', 'helm', 'beacon');

let cluster: KubeCluster;
let images: ClusterImages;
let helm: HelmBinary;
let helmHome: string;
let removeHelmHome = () => {};
/** The L2 and BGP Services' addresses, which no later step may change. */
const addresses: Record<string, string> = {};
/** The client-side outage when the announcing speaker crashes: the figure a rolling update must stay within. */
let crashFailoverMs = 0;

/** The kubectl and helm commands of the README's "Install on a real cluster" block, split into words. */
function readmeInstallCommands(): string[][] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Install on a real cluster'));
  const block = /```sh\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  return block
    .split('\n')
    .map((l) => l.replace(/#.*$/, '').trim())
    .filter((l) => /^(kubectl|helm) /.test(l))
    .map((l) => l.split(/\s+/));
}

function figure(name: string, value: number | string, unit = ''): void {
  process.stdout.write(`# figure ${name}: ${value}${unit ? ` ${unit}` : ''}\n`);
}

async function helmRun(args: string[]): Promise<string> {
  const r = await runHelm(helm, [...args, `--kubeconfig=${cluster.api.kubeconfigPath}`], helmHome);
  if (r.code !== 0) throw new Error(`helm ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

const kubectl = (args: string[], input?: string) => mustKubectl(cluster.api, args, input);

async function getJson<T>(args: string[]): Promise<T> {
  return JSON.parse(await kubectl([...args, '-o', 'json'])) as T;
}

async function speakerPods(): Promise<PodJson[]> {
  return listPods(cluster.api, NS, 'app.kubernetes.io/component=speaker');
}

async function speakerOn(node: string): Promise<PodJson> {
  const pod = (await speakerPods()).find((p) => p.spec.nodeName === node);
  if (!pod) throw new Error(`no speaker pod on ${node}`);
  return pod;
}

/** The node whose MAC answers the client's ARP request for `address` (exactly one must). */
async function l2Owner(address: string): Promise<KubeNode> {
  let macs: string[] = [];
  await waitFor(
    `one node to answer ARP for ${address}`,
    async () => {
      macs = await arpAnswerers(cluster.client, address);
      return macs.length === 1;
    },
    30_000,
    100,
    () => `answering MACs: ${macs.join(', ')}`,
  );
  const node = cluster.nodes.find((n) => n.mac === macs[0]);
  if (!node) throw new Error(`${macs[0]} is no node's MAC`);
  return node;
}

async function externalIps(): Promise<Record<string, string>> {
  const list = await getJson<{
    items: { metadata: { name: string }; status: { loadBalancer?: { ingress?: { ip: string }[] } } }[];
  }>(['get', 'services', '-n', APP_NS]);
  return Object.fromEntries(
    list.items.map((s) => [
      s.metadata.name,
      (s.status.loadBalancer?.ingress ?? []).map((i) => i.ip).join(','),
    ]),
  );
}

async function assertAddressesKept(step: string): Promise<void> {
  const now = await externalIps();
  for (const [svc, ip] of Object.entries(addresses))
    assert.equal(now[svc], ip, `${svc}'s address after ${step}`);
}

/** A pod name of the demo Deployment `app`, on a node of the cluster. */
async function assertDemoAnswer(answer: Answer, app: string): Promise<void> {
  const pods = await getJson<{ items: PodJson[] }>(['get', 'pods', '-n', APP_NS, '-l', `app=${app}`]);
  const pod = pods.items.find((p) => p.metadata.name === answer.pod);
  assert.ok(
    pod,
    `${answer.pod} is not a pod of ${app}: ${pods.items.map((p) => p.metadata.name).join(', ')}`,
  );
  assert.equal(pod.spec.nodeName, answer.node, `the pod says it runs on ${answer.node}`);
}

/**
 * Runs `fault` against the node that answers for `address` while the client requests it, and times the
 * takeover from the client's side: when its neighbour entry names another node, and the longest time every
 * request failed.
 */
async function timeTakeover(
  address: string,
  owner: KubeNode,
  fault: () => Promise<void> | void,
): Promise<{ movedMs: number; outageMs: number }> {
  const loop = await startClientLoop(cluster.client, address);
  const started = Date.now();
  await fault();
  let movedAt = 0;
  await waitFor(
    'the client to learn another MAC for the address',
    async () => {
      const n = await cluster.nodeAnsweringFor(address);
      if (n && n !== owner) movedAt = Date.now();
      return movedAt > 0;
    },
    30_000,
    10,
  );
  await waitFor(
    'an answer after the takeover',
    () => loop.samples().some((s) => s.ok && s.t > movedAt),
    30_000,
    50,
  );
  const samples = await loop.stop();
  return {
    movedMs: movedAt - started,
    outageMs: longestOutage(samples.filter((s) => s.t >= started - 100)).ms,
  };
}

before(
  async () => {
    if (skip) return;
    const log = (l: string) => process.stdout.write(`# ${l}\n`);
    images = await clusterImages(log);
    helm = await helmBinary(log);
    ({ path: helmHome, remove: removeHelmHome } = temporaryDirectory('beacon-helm-home-'));
    cluster = await KubeCluster.start({
      tag: 'install',
      router: true,
      images: images.archives,
      sandboxImage: images.pause.ref,
      log,
    });
    figure('cluster start (binaries cached)', cluster.timings.total.toFixed(1), 's');
    // The "new release" of the rolling update: the same image under the next tag, as a registry would hold it.
    await Promise.all(cluster.nodes.map((n) => n.tagImage(images.beacon.ref, nextTagRef())));
    await kubectl(['create', 'namespace', APP_NS]);
    await apply(cluster.api, demoDeployment(images.demo, { namespace: APP_NS, name: 'web', replicas: 3 }));
    await waitForRollout(cluster.api, 'deployment', APP_NS, 'web');
  },
  { timeout: 600_000 },
);

after(async () => {
  await cluster?.stop();
  removeHelmHome();
});

const NEXT_TAG = '0.1.1-next';
function nextTagRef(): string {
  return images.beacon.ref.replace(/:[^:/]+$/, `:${NEXT_TAG}`);
}

test('helm install as the README says: a controller Deployment and a speaker DaemonSet on the host network, under their own tokens', {
  skip,
  timeout: 300_000,
}, async () => {
  const started = Date.now();
  // The README's install section, command by command as written there (the image is on the nodes already,
  // imported from its archive by the harness as the README says).
  const commands = readmeInstallCommands();
  assert.deepEqual(
    commands.map((c) => c.slice(0, 2).join(' ')),
    ['kubectl create', 'kubectl label', 'helm install'],
  );
  const helmInstall = commands[2]!;
  assert.ok(
    helmInstall.includes(`image.repository=${images.beacon.repository}`) &&
      helmInstall.includes(`image.tag=${images.beacon.tag}`),
    `the README installs the image the build makes (${images.beacon.ref})`,
  );
  for (const [tool, ...args] of commands) {
    if (tool === 'kubectl') await kubectl(args);
    else await helmRun(args.map((a) => (existsSync(join(REPO_ROOT, a)) ? join(REPO_ROOT, a) : a)));
  }
  await waitForRollout(cluster.api, 'daemonset', NS, 'beacon-speaker');
  await waitForRollout(cluster.api, 'deployment', NS, 'beacon-controller');
  // docs/install.md: "A first pool announced in L2 mode", through the chart's values.
  await helmRun([
    'upgrade',
    'beacon',
    CHART,
    '-n',
    NS,
    '--reuse-values',
    `--set=pools[0].name=lan,pools[0].addresses[0]=${L2_POOL[0]},pools[0].l2Advertisement=true`,
  ]);
  figure('helm install (README) until every pod is ready', ((Date.now() - started) / 1000).toFixed(1), 's');

  const deploy = await getJson<{ status: { readyReplicas?: number } }>([
    'get',
    'deployment',
    'beacon-controller',
    '-n',
    NS,
  ]);
  assert.equal(deploy.status.readyReplicas, 2);
  const speakers = await speakerPods();
  assert.deepEqual(speakers.map((p) => p.spec.nodeName).sort(), cluster.nodes.map((n) => n.name).sort());
  for (const p of speakers) {
    const node = cluster.node(p.spec.nodeName);
    assert.equal(p.spec.hostNetwork, true);
    assert.equal(p.status.podIP, node.ip, 'a host-network pod has its node address');
    assert.ok(
      p.status.containerStatuses?.every((c) => c.ready && c.image.endsWith(`beacon:${images.beacon.tag}`)),
    );
    // The token and CA come from the projected service-account volume the kubelet mounts, as in production.
    assert.ok(p.spec.volumes?.some((v) => v.name.startsWith('kube-api-access-') && v.projected));
    const logs = await kubectl(['logs', '-n', NS, p.metadata.name]);
    assert.match(logs, /"kubeconfig":"in-cluster service account"/);
    assert.match(logs, /"msg":"caches synced"/);
  }
});

test("the ValidatingAdmissionPolicies are enforced by the API server against the speaker's own pod-bound token", {
  skip,
  timeout: 120_000,
}, async () => {
  const node = cluster.nodes[0]!;
  const pod = await speakerOn(node.name);
  // The token file the kubelet wrote into the speaker's pod, read from the node's filesystem: what the
  // speaker itself sends, bound to its pod and node.
  const volumes = node.hostPath(
    join(node.stateDir, 'kubelet', 'pods', pod.metadata.uid, 'volumes', 'kubernetes.io~projected'),
  );
  const access = readdirSync(volumes).find((d) => d.startsWith('kube-api-access-'));
  assert.ok(access, `no projected token volume in ${volumes}`);
  const token = readFileSync(join(volumes, access, 'token'), 'utf8').trim();
  const ca = readFileSync(join(volumes, access, 'ca.crt'), 'utf8');
  assert.match(ca, /BEGIN CERTIFICATE/);
  const asSpeaker = async (args: string[], input?: string) =>
    cluster.api.kubectl([`--token=${token}`, ...args], input);

  const other = cluster.nodes[1]!.name;
  // Its own node's Lease: allowed. Another node's: refused by the beacon-leases policy (the token names the
  // node), though RBAC lets the speaker write Leases.
  const annotate = (n: string) =>
    asSpeaker([
      'annotate',
      '--overwrite',
      'lease',
      `beacon-speaker-${n}`,
      '-n',
      NS,
      'beacon.test/touched=yes',
    ]);
  const own = await annotate(node.name);
  assert.equal(own.code, 0, own.stderr);
  const stolen = await annotate(other);
  assert.notEqual(stolen.code, 0);
  assert.match(stolen.stderr, /ValidatingAdmissionPolicy 'beacon-leases'/);
  // Its own Lease held by another node, or lasting longer than peers may believe: refused too.
  const lent = await asSpeaker([
    'patch',
    'lease',
    `beacon-speaker-${node.name}`,
    '-n',
    NS,
    '--type=merge',
    '-p',
    JSON.stringify({ spec: { holderIdentity: other } }),
  ]);
  assert.notEqual(lent.code, 0);
  assert.match(lent.stderr, /ValidatingAdmissionPolicy 'beacon-leases'.*may only write a Lease held by/);
  // No Secret at all: the membership needs none, and RBAC grants none.
  const secret = await asSpeaker([
    'create',
    'secret',
    'generic',
    'not-the-heartbeat',
    '-n',
    NS,
    '--from-literal=a=b',
  ]);
  assert.notEqual(secret.code, 0);
  assert.match(secret.stderr, /cannot create resource "secrets"/);
});

test('a Deployment behind a LoadBalancer Service gets an EXTERNAL-IP; the client reaches its pods over L2 and through FRR over BGP (kube-proxy iptables)', {
  skip,
  timeout: 180_000,
}, async () => {
  await apply(cluster.api, routedPoolConfig(NS));
  await apply(
    cluster.api,
    loadBalancerService({ namespace: APP_NS, name: 'web-l2', app: 'web', targetPort: images.demo.port }),
  );
  await apply(
    cluster.api,
    loadBalancerService({
      namespace: APP_NS,
      name: 'web-bgp',
      app: 'web',
      targetPort: images.demo.port,
      annotations: { 'beacon.dev/address-pool': 'routed' },
    }),
  );
  const [l2] = await waitForExternalIp(cluster.api, APP_NS, 'web-l2');
  const [bgp] = await waitForExternalIp(cluster.api, APP_NS, 'web-bgp');
  assert.match(l2!, /^192\.0\.2\.(2[0-4]\d|250)$/, 'from the lan pool (192.0.2.200-250)');
  assert.match(bgp!, /^198\.51\.100\.\d+$/, 'from the routed pool');
  addresses['web-l2'] = l2!;
  addresses['web-bgp'] = bgp!;
  const table = await kubectl(['get', 'svc', '-n', APP_NS]);
  assert.match(table, new RegExp(`web-l2\\s+LoadBalancer\\s+\\S+\\s+${l2!.replaceAll('.', '\\.')}\\s`));

  const viaL2 = await waitForAnswer(cluster.client, l2!);
  await assertDemoAnswer(viaL2, 'web');
  const owner = await l2Owner(l2!);
  process.stdout.write(`# ${l2} answered ARP from ${owner.name}; pod ${viaL2.pod} on ${viaL2.node} served\n`);
  // kube-proxy spreads requests over every pod, on every node, whichever node took them in.
  const seen = new Set<string>();
  await waitFor(
    'answers from pods on every node',
    async () => {
      const a = await waitForAnswer(cluster.client, l2!);
      seen.add(a.node);
      return seen.size === cluster.nodes.length;
    },
    60_000,
    0,
    () => [...seen].join(', '),
  );

  const viaBgp = await waitForAnswer(cluster.client, bgp!);
  await assertDemoAnswer(viaBgp, 'web');
  const routes = await cluster.router!.routes(['ipv4']);
  const hops = routes.filter((r) => r.prefix === `${bgp}/32`).flatMap((r) => r.nextHops);
  assert.deepEqual(
    [...new Set(hops)].sort(),
    cluster.nodes.map((n) => n.ip).sort(),
    'every node announces it',
  );
});

test('externalTrafficPolicy: Local: only the node with a ready pod answers, and the answer comes from that pod', {
  skip,
  timeout: 180_000,
}, async () => {
  const target = cluster.nodes[1]!.name;
  await apply(
    cluster.api,
    demoDeployment(images.demo, { namespace: APP_NS, name: 'local', replicas: 1, node: target }),
  );
  await waitForRollout(cluster.api, 'deployment', APP_NS, 'local');
  for (const [name, annotations] of [
    ['local-l2', {}],
    ['local-bgp', { 'beacon.dev/address-pool': 'routed' }],
  ] as const) {
    await apply(
      cluster.api,
      loadBalancerService({
        namespace: APP_NS,
        name,
        app: 'local',
        targetPort: images.demo.port,
        annotations,
        externalTrafficPolicy: 'Local',
      }),
    );
    const [ip] = await waitForExternalIp(cluster.api, APP_NS, name);
    addresses[name] = ip!;
  }
  const l2Answer = await waitForAnswer(cluster.client, addresses['local-l2']!);
  assert.equal(l2Answer.node, target);
  assert.equal(l2Answer.client, CLIENT_IP, "Local keeps the client's source address");
  assert.equal(
    (await l2Owner(addresses['local-l2']!)).name,
    target,
    'only the node with the endpoint answers ARP',
  );
  await waitFor(
    'only the pod node to announce the Local BGP address',
    async () => {
      const routes = await cluster.router!.routes(['ipv4']);
      const hops = routes
        .filter((r) => r.prefix === `${addresses['local-bgp']}/32`)
        .flatMap((r) => r.nextHops);
      return hops.length === 1 && hops[0] === cluster.node(target).ip;
    },
    30_000,
    200,
  );
  const bgpAnswer = await waitForAnswer(cluster.client, addresses['local-bgp']!);
  assert.equal(bgpAnswer.node, target);
});

test('kube-proxy in nftables mode: the same L2, BGP and Local paths work', {
  skip,
  timeout: 240_000,
}, async () => {
  await cluster.setProxyMode('nftables');
  try {
    for (const n of cluster.nodes) {
      const tables = await n.ns.must('nft', ['list', 'tables']);
      assert.match(tables, /table ip kube-proxy/, `${n.name} runs kube-proxy's nftables rules`);
      const legacy = await n.ns.exec('iptables', ['-t', 'nat', '-S', 'KUBE-SERVICES']);
      assert.notEqual(legacy.code, 0, `${n.name}'s iptables-mode chains were removed`);
    }
    await assertDemoAnswer(await waitForAnswer(cluster.client, addresses['web-l2']!), 'web');
    await assertDemoAnswer(await waitForAnswer(cluster.client, addresses['web-bgp']!), 'web');
    assert.equal((await waitForAnswer(cluster.client, addresses['local-l2']!)).node, cluster.nodes[1]!.name);
  } finally {
    await cluster.setProxyMode('iptables');
  }
  for (const n of cluster.nodes) {
    const gone = await n.ns.exec('nft', ['list', 'table', 'ip', 'kube-proxy']);
    assert.notEqual(gone.code, 0, `${n.name}: iptables mode removed the nftables table`);
  }
  await waitForAnswer(cluster.client, addresses['web-l2']!);
});

test("strictARP: with the sysctls kube-proxy's IPVS mode sets (arp_ignore=1, arp_announce=2), one node still answers", {
  skip,
  timeout: 120_000,
}, async () => {
  // This kernel has no IPVS, so kube-proxy cannot run in that mode; the sysctls it sets for strictARP can be.
  for (const n of cluster.nodes) {
    await n.ns.must('sysctl', ['-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2']);
  }
  try {
    for (const svc of ['web-l2', 'local-l2']) {
      assert.equal((await arpAnswerers(cluster.client, addresses[svc]!)).length, 1, svc);
      await waitForAnswer(cluster.client, addresses[svc]!);
    }
  } finally {
    for (const n of cluster.nodes) {
      await n.ns.must('sysctl', [
        '-qw',
        'net.ipv4.conf.all.arp_ignore=0',
        'net.ipv4.conf.all.arp_announce=0',
      ]);
    }
  }
});

test('kubectl delete pod of the announcing speaker: the client keeps being answered', {
  skip,
  timeout: 180_000,
}, async () => {
  const address = addresses['web-l2']!;
  const owner = await l2Owner(address);
  const victim = await speakerOn(owner.name);
  const loop = await startClientLoop(cluster.client, address);
  const deleted = Date.now();
  await kubectl(['delete', 'pod', '-n', NS, victim.metadata.name, '--wait=true']);
  await waitForRollout(cluster.api, 'daemonset', NS, 'beacon-speaker');
  await sleep(1000);
  const samples = await loop.stop();
  const outage = longestOutage(samples.filter((s) => s.t >= deleted));
  figure('delete speaker pod: longest client outage', outage.ms, 'ms');
  figure('delete speaker pod: failed requests', samples.filter((s) => !s.ok).length);
  assert.ok(samples.at(-1)?.ok, 'the client is answered after the new speaker pod started');
  await l2Owner(address);
  await assertAddressesKept('deleting a speaker pod');
});

test('the announcing speaker crashes (SIGKILL): another node takes the address over', {
  skip,
  timeout: 180_000,
}, async () => {
  const address = addresses['web-l2']!;
  const owner = await l2Owner(address);
  const pod = await speakerOn(owner.name);
  const { movedMs, outageMs } = await timeTakeover(address, owner, () => crashContainer(owner, pod));
  crashFailoverMs = Math.max(outageMs, movedMs);
  figure('speaker crash: client neighbour entry moved after', movedMs, 'ms');
  figure('speaker crash: longest client outage', outageMs, 'ms');
  await waitForRollout(cluster.api, 'daemonset', NS, 'beacon-speaker');
  await assertAddressesKept('a speaker crash');
});

test('helm upgrade to a new image tag rolls the speakers one by one: no address moves, no outage longer than a crash failover', {
  skip,
  timeout: 300_000,
}, async () => {
  assert.ok(crashFailoverMs > 0, 'the crash failover was measured first');
  const loops = {
    l2: await startClientLoop(cluster.client, addresses['web-l2']!),
    bgp: await startClientLoop(cluster.client, addresses['web-bgp']!),
  };
  const started = Date.now();
  await helmRun([
    'upgrade',
    'beacon',
    CHART,
    '-n',
    NS,
    '--reuse-values',
    `--set=image.tag=${NEXT_TAG}`,
    '--wait',
    '--timeout=240s',
  ]);
  await waitForRollout(cluster.api, 'daemonset', NS, 'beacon-speaker');
  figure(
    'helm upgrade (rolling update of 3 speakers and 2 controllers)',
    ((Date.now() - started) / 1000).toFixed(1),
    's',
  );
  await sleep(1000);
  for (const [path, loop] of Object.entries(loops)) {
    const samples = await loop.stop();
    const outage = longestOutage(samples);
    figure(`rolling update (${path}): longest client outage`, outage.ms, 'ms');
    figure(
      `rolling update (${path}): failed requests`,
      `${samples.filter((s) => !s.ok).length} of ${samples.length}`,
    );
    assert.ok(
      outage.ms <= crashFailoverMs,
      `${path}: the client went ${outage.ms} ms without an answer during the rolling update, longer than the ${crashFailoverMs} ms of a crash failover`,
    );
  }
  // The pods' specs name the new tag (their status may name either: both tags are one image).
  const running = await kubectl([
    'get',
    'pods',
    '-n',
    NS,
    '-o',
    'jsonpath={.items[*].spec.containers[0].image}',
  ]);
  assert.deepEqual([...new Set(running.split(' '))], [`${images.beacon.repository}:${NEXT_TAG}`]);
  await assertAddressesKept('a rolling update of the speakers');
});

test('helm upgrade of the controller alone: a new leader, no address moves', {
  skip,
  timeout: 240_000,
}, async () => {
  const leaseBefore = (
    await kubectl(['get', 'lease', 'beacon-controller', '-n', NS, '-o', 'jsonpath={.spec.holderIdentity}'])
  ).trim();
  await helmRun([
    'upgrade',
    'beacon',
    CHART,
    '-n',
    NS,
    '--reuse-values',
    '--set=controller.resources.requests.cpu=50m',
    '--wait',
    '--timeout=180s',
  ]);
  await waitForRollout(cluster.api, 'deployment', NS, 'beacon-controller');
  await waitFor(
    'a controller of the new ReplicaSet to lead',
    async () => {
      const holder = (
        await kubectl([
          'get',
          'lease',
          'beacon-controller',
          '-n',
          NS,
          '-o',
          'jsonpath={.spec.holderIdentity}',
        ])
      ).trim();
      const pods = await kubectl([
        'get',
        'pods',
        '-n',
        NS,
        '-l',
        'app.kubernetes.io/component=controller',
        '-o',
        'name',
      ]);
      return holder !== leaseBefore && pods.includes(`pod/${holder}`);
    },
    60_000,
    500,
  );
  // A new Service is served by the new leader; the old ones keep their addresses.
  await apply(
    cluster.api,
    loadBalancerService({
      namespace: APP_NS,
      name: 'after-upgrade',
      app: 'web',
      targetPort: images.demo.port,
    }),
  );
  const [ip] = await waitForExternalIp(cluster.api, APP_NS, 'after-upgrade');
  assert.ok(!Object.values(addresses).includes(ip!), 'a new address, not one already in use');
  await assertAddressesKept('a controller upgrade');
  await kubectl(['delete', 'service', 'after-upgrade', '-n', APP_NS]);
});

test("1,000 Services: the speaker Pod's memory as the kubelet and its cgroup report it", {
  skip,
  // The API server creates 1,000 Services in one to three minutes on a busy 2-core machine.
  timeout: 540_000,
}, async () => {
  await apply(
    cluster.api,
    `apiVersion: beacon.dev/v1alpha1
kind: IPAddressPool
metadata: { name: bulk, namespace: ${NS} }
spec: { addresses: [198.18.0.0/22], autoAssign: false }
---
apiVersion: beacon.dev/v1alpha1
kind: BGPAdvertisement
metadata: { name: bulk, namespace: ${NS} }
spec: { ipAddressPools: [bulk] }
`,
  );
  const count = 1000;
  const routedBefore = await cluster.router!.prefixCount('ipv4');
  const started = Date.now();
  // Created through the API 32 at a time (kubectl apply reads each object first: minutes on a busy machine).
  // kube-proxy is told to leave them alone (service-proxy-name): what is measured is the speaker, and three
  // kube-proxies rewriting rules for 1,000 Services would take this machine's two cores for minutes.
  const names = Array.from({ length: count }, (_, i) => `bulk-${i}`);
  for (let i = 0; i < count; i += 32) {
    await Promise.all(
      names.slice(i, i + 32).map((name) =>
        createService(cluster.rest, APP_NS, name, undefined, {
          labels: { bulk: 'true', 'service.kubernetes.io/service-proxy-name': 'not-kube-proxy' },
          annotations: { 'beacon.dev/address-pool': 'bulk' },
          spec: { selector: { app: 'web' } },
        }),
      ),
    );
  }
  await waitFor(
    '1,000 Services with an address',
    async () => {
      const out = await kubectl([
        'get',
        'svc',
        '-n',
        APP_NS,
        '-l',
        'bulk=true',
        '-o',
        'jsonpath={.items[*].status.loadBalancer.ingress[0].ip}',
      ]);
      return out.split(' ').filter(Boolean).length === count;
    },
    240_000,
    2000,
  );
  // A count, not the routes themselves: FRR's JSON for 3,000 paths takes seconds to produce on a busy machine.
  await waitFor(
    'the router to hold 1,000 more prefixes',
    async () => (await cluster.router!.prefixCount('ipv4')) === routedBefore + count,
    240_000,
    2000,
  );
  figure('1,000 Services assigned and routed', ((Date.now() - started) / 1000).toFixed(1), 's');
  await sleep(10_000);
  for (const node of cluster.nodes) {
    const pod = await speakerOn(node.name);
    const summary = JSON.parse(
      await kubectl(['get', '--raw', `/api/v1/nodes/${node.name}/proxy/stats/summary`]),
    ) as {
      pods: {
        podRef: { name: string };
        containers?: { name: string; memory?: { workingSetBytes?: number } }[];
      }[];
    };
    const kubeletWs = summary.pods
      .find((p) => p.podRef.name === pod.metadata.name)
      ?.containers?.find((c) => c.name === 'speaker')?.memory?.workingSetBytes;
    const memoryRoot = v1Hierarchy('memory') ?? '/sys/fs/cgroup/memory';
    const cg = cgroupMemory(containerCgroup(node, pod).slice(memoryRoot.length));
    const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
    figure(`speaker on ${node.name} with 1,000 Services: working set (kubelet)`, mb(kubeletWs ?? 0), 'MB');
    figure(
      `speaker on ${node.name} with 1,000 Services: cgroup usage / working set / rss`,
      `${mb(cg.usage)} / ${mb(cg.workingSet)} / ${mb(cg.rss)}`,
      'MB',
    );
    assert.ok(kubeletWs && kubeletWs > 0);
    assert.ok(cg.rss > 0 && cg.workingSet <= 384 * 1024 * 1024, 'within the chart limit (384 Mi)');
  }
  for (let i = 0; i < count; i += 16) {
    await Promise.all(
      names
        .slice(i, i + 16)
        .map((name) => cluster.rest.delete(`/api/v1/namespaces/${APP_NS}/services/${name}`)),
    );
  }
  await kubectl(['delete', 'ipaddresspool,bgpadvertisement', 'bulk', '-n', NS]);
});

test("helm uninstall: nothing of Beacon's is left but the CRDs, and no node answers any more", {
  skip,
  timeout: 240_000,
}, async () => {
  await helmRun(['uninstall', 'beacon', '-n', NS, '--wait', '--timeout=180s']);
  await waitFor(
    'the speaker and controller pods to be gone',
    async () => {
      return (await kubectl(['get', 'pods', '-n', NS, '-o', 'name'])).trim() === '';
    },
    120_000,
    500,
  );
  const labelled = await kubectl([
    'get',
    'deployments,daemonsets,serviceaccounts,roles,rolebindings,clusterroles,clusterrolebindings,validatingadmissionpolicies,validatingadmissionpolicybindings',
    '-A',
    '-l',
    'app.kubernetes.io/name=beacon',
    '-o',
    'name',
  ]);
  assert.equal(labelled.trim(), '');
  const anyNamed = await kubectl([
    'get',
    'clusterroles,clusterrolebindings,validatingadmissionpolicies',
    '-o',
    'name',
  ]);
  assert.doesNotMatch(anyNamed, /beacon/);
  const sas = await kubectl(['get', 'serviceaccounts', '-n', NS, '-o', 'name']);
  assert.equal(sas.trim(), 'serviceaccount/default');
  const crds = await kubectl(['get', 'crd', '-o', 'name']);
  assert.equal(crds.split('\n').filter((l) => l.endsWith('.beacon.dev')).length, 9, 'Helm keeps CRDs');
  for (const [svc, ip] of Object.entries(addresses)) {
    if (svc.endsWith('-l2'))
      assert.deepEqual(await arpAnswerers(cluster.client, ip), [], `nobody answers ARP for ${ip}`);
  }
  await waitFor(
    'the router to lose every Beacon route',
    async () => {
      const routes = await cluster.router!.routes(['ipv4']);
      return routes.length === 0;
    },
    30_000,
    200,
  );
  // A client with the old owner's MAC still cached reaches kube-proxy on that node (the Service keeps its
  // status); one that asks afresh finds nobody.
  await cluster.client.must('ip', ['neigh', 'flush', 'dev', 'eth0']);
  assert.equal(await curl(cluster.client, addresses['web-l2']!, 2), '');
});

test('kubectl apply -k with the kustomize base deploy/: Beacon installed again serves the Services', {
  skip,
  timeout: 240_000,
}, async () => {
  // docs/install.md's overlay: the base as it is, with the image where the nodes have it.
  const overlayDir = temporaryDirectory('beacon-overlay-');
  const overlay = overlayDir.path;
  try {
    writeFileSync(
      join(overlay, 'kustomization.yaml'),
      `resources:
  - ${relative(overlay, join(REPO_ROOT, 'deploy'))}
images:
  - name: beacon
    newName: ${images.beacon.repository}
    newTag: ${images.beacon.tag}
`,
    );
    const applied = await cluster.api.kubectl(['apply', '--server-side', '-k', overlay]);
    assert.equal(applied.code, 0, applied.stderr);
  } finally {
    overlayDir.remove();
  }
  await waitForRollout(cluster.api, 'daemonset', NS, 'beacon-speaker');
  await waitForRollout(cluster.api, 'deployment', NS, 'beacon-controller');
  // The pools went with the release; the Services kept their addresses in their status meanwhile.
  await apply(
    cluster.api,
    `apiVersion: beacon.dev/v1alpha1
kind: IPAddressPool
metadata: { name: lan, namespace: ${NS} }
spec: { addresses: [${L2_POOL[0]}] }
---
apiVersion: beacon.dev/v1alpha1
kind: L2Advertisement
metadata: { name: lan, namespace: ${NS} }
spec: { ipAddressPools: [lan] }
`,
  );
  await assertDemoAnswer(await waitForAnswer(cluster.client, addresses['web-l2']!), 'web');
  await assertDemoAnswer(await waitForAnswer(cluster.client, addresses['web-bgp']!), 'web');
  await assertAddressesKept('uninstall and a kustomize install');
});

test('a node is lost (its kubelet, runtime and pods killed, its link down): another node takes its addresses', {
  skip,
  timeout: 240_000,
}, async () => {
  const address = addresses['web-l2']!;
  const owner = await l2Owner(address);
  // The demo pods leave the doomed node first, so every answer after the takeover comes from a live pod:
  // what is timed is Beacon's takeover, not the minute Kubernetes takes to drop a dead node's endpoints.
  await kubectl(['cordon', owner.name]);
  await kubectl([
    'delete',
    'pods',
    '-n',
    APP_NS,
    '-l',
    'app=web',
    '--field-selector',
    `spec.nodeName=${owner.name}`,
  ]);
  await waitForRollout(cluster.api, 'deployment', APP_NS, 'web');
  const { movedMs, outageMs } = await timeTakeover(address, owner, () => owner.lose());
  figure('node lost: client neighbour entry moved after', movedMs, 'ms');
  figure('node lost: longest client outage', outageMs, 'ms');
  const after = (await l2Owner(address)).name;
  assert.notEqual(after, owner.name);
  await assertAddressesKept('a lost node');
});
