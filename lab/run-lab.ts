/**
 * `beacon lab`: Beacon on a real Kubernetes cluster on this machine. The test harness's cluster (a control
 * plane and three nodes running containerd, the kubelet and kube-proxy, each node a network namespace on
 * one bridge, with an FRR router and a client beside them), Beacon's image imported into every node and
 * installed with its Helm chart, and a Deployment of real pods behind two LoadBalancer Services: one
 * announced over L2, one over BGP. The client reaches a pod through each, and the answer names the pod and
 * its node. It can crash the answering speaker to show the takeover, and removes everything it made.
 *
 * It needs root (namespaces, cgroups), Go (to build the cluster's binaries once), FRR and the node tools
 * (scripts/setup.sh installs them), and a source checkout: it reuses the test harness.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ApiServer } from '../test/harness/apiserver.ts';
import { REPO_ROOT } from '../test/harness/binaries.ts';
import { clusterBinaries, clusterToolsMissing } from '../test/harness/cluster/binaries.ts';
import {
  type Answer,
  apply,
  demoDeployment,
  describeAnswer,
  loadBalancerService,
  mustKubectl,
  routedPoolConfig,
  waitForAnswer,
  waitForExternalIp,
  waitForRollout,
} from '../test/harness/cluster/demo.ts';
import { clusterImages } from '../test/harness/cluster/images.ts';
import { KubeCluster } from '../test/harness/cluster/kube-cluster.ts';
import { crashContainer, listPods } from '../test/harness/cluster/pods.ts';
import { L2_POOL } from '../test/harness/cluster-lab.ts';
import { helmBinary, runHelm } from '../test/harness/helm.ts';
import { programTearsDownOnSignal } from '../test/harness/interrupt.ts';
import { netnsUnavailable } from '../test/harness/netns.ts';
import { waitFor } from '../test/harness/process.ts';

export interface LabOptions {
  /** Crash the speaker that answers over L2 after the reachability checks, and report the takeover time. */
  failover: boolean;
  /** Tear down after the checks instead of waiting for a signal (what CI does). */
  exitAfterChecks: boolean;
  signal: AbortSignal;
  print(line: string): void;
}

export interface LabResult {
  l2Answer: Answer;
  bgpAnswer: Answer;
  failoverMs?: number;
  secondsToReachable: number;
}

const NS = 'beacon-system';
const DEMO_NS = 'demo';

class StepError extends Error {
  readonly fix: string;
  constructor(message: string, fix: string) {
    super(message);
    this.fix = fix;
  }
}

function need(command: string, pkg: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
  } catch {
    throw new StepError(
      `${command} is not installed`,
      `install the Debian package ${pkg} (scripts/setup.sh installs everything)`,
    );
  }
}

/** Preconditions, each with what to do when it fails. */
async function checkMachine(): Promise<void> {
  const why = await netnsUnavailable();
  if (why)
    throw new StepError(`cannot build network namespaces: ${why}`, 'run the lab as root: sudo npm run lab');
  need('go', 'golang-go (or Go from go.dev)');
  need('vtysh', 'frr');
  need('curl', 'curl');
  need('arping', 'arping');
  need('iptables', 'iptables');
  need('nft', 'nftables');
  const missing = clusterToolsMissing();
  if (missing) throw new StepError(missing, 'run scripts/setup.sh');
}

/** Beacon's configuration and the demo, applied while the nodes are still starting. */
async function applyDemo(
  api: ApiServer,
  images: Awaited<ReturnType<typeof clusterImages>>,
  signal: AbortSignal,
): Promise<void> {
  await apply(
    api,
    `apiVersion: v1
kind: Namespace
metadata: { name: ${DEMO_NS} }
---
${demoDeployment(images.demo, { namespace: DEMO_NS, name: 'hello', replicas: 3 })}
---
${loadBalancerService({ namespace: DEMO_NS, name: 'hello-l2', app: 'hello', targetPort: images.demo.port })}
---
${loadBalancerService({
  namespace: DEMO_NS,
  name: 'hello-bgp',
  app: 'hello',
  targetPort: images.demo.port,
  annotations: { 'beacon.dev/address-pool': 'routed' },
})}`,
    signal,
  );
}

export async function runLab(opts: LabOptions): Promise<LabResult> {
  // Its caller aborts opts.signal on SIGINT, SIGTERM and SIGHUP, and the teardown below runs in order.
  programTearsDownOnSignal();
  const started = Date.now();
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  const step = (n: number, text: string) => opts.print(`[${n}/8] ${text}  (${elapsed()})`);
  const detail = (text: string) => opts.print(`      ${text}`);
  let cluster: KubeCluster | undefined;
  let helmHome: string | undefined;
  try {
    step(1, 'checking the machine (root, Go, FRR, curl, arping, iptables, nftables, CNI plugins)');
    await checkMachine();
    step(2, "the cluster's binaries and images (built once, then cached under .cache/)");
    const [images, helm] = await Promise.all([
      clusterImages(detail),
      helmBinary(detail),
      clusterBinaries(detail),
    ]);
    helmHome = mkdtempSync(join(tmpdir(), 'beacon-lab-helm-'));
    const helmRun = async (args: string[], api: ApiServer, signal: AbortSignal) => {
      const r = await runHelm(helm, [...args, `--kubeconfig=${api.kubeconfigPath}`], helmHome!, signal);
      if (r.code !== 0)
        throw new StepError(`helm ${args[0]} failed: ${r.stderr.trim()}`, 'see the message above');
      return r.stdout;
    };
    step(3, 'starting the cluster: control plane, 3 nodes (containerd, kubelet, kube-proxy), FRR, a client');
    detail(
      'while the nodes start: helm install Beacon, its BGP configuration, the demo Deployment and Services',
    );
    try {
      cluster = await KubeCluster.start({
        tag: 'lab',
        router: true,
        images: images.archives,
        sandboxImage: images.pause.ref,
        log: detail,
        signal: opts.signal,
        // As docs/install.md says: the namespace with its Pod Security label, then the chart.
        onApiServer: async (api, signal) => {
          await mustKubectl(api, ['create', 'namespace', NS], undefined, signal);
          await mustKubectl(
            api,
            ['label', 'namespace', NS, 'pod-security.kubernetes.io/enforce=privileged'],
            undefined,
            signal,
          );
          await helmRun(
            [
              'install',
              'beacon',
              join(REPO_ROOT, 'deploy', 'helm', 'beacon'),
              '-n',
              NS,
              `--set=image.repository=${images.beacon.repository}`,
              `--set=image.tag=${images.beacon.tag}`,
              `--set=pools[0].name=lan,pools[0].addresses[0]=${L2_POOL[0]},pools[0].l2Advertisement=true`,
            ],
            api,
            signal,
          );
          await apply(api, routedPoolConfig(NS), signal);
          await applyDemo(api, images, signal);
        },
      });
    } catch (err) {
      if (err instanceof StepError || opts.signal.aborted) throw err;
      throw new StepError(
        `the cluster did not start: ${(err as Error).message}`,
        'see the message above; leftovers of a killed run are removed by the next one',
      );
    }
    const api = cluster.api;
    detail(`cluster up in ${cluster.timings.total.toFixed(1)} s`);
    // No wait for every pod to report Ready: the EXTERNAL-IPs and the answers are what prove Beacon works,
    // and readiness probes run every few seconds.
    step(4, 'waiting for the EXTERNAL-IPs (beacon controller)');
    const [l2Address] = await waitForExternalIp(api, DEMO_NS, 'hello-l2', opts.signal);
    const [bgpAddress] = await waitForExternalIp(api, DEMO_NS, 'hello-bgp', opts.signal);
    const svc = await mustKubectl(api, ['get', 'svc', '-n', DEMO_NS]);
    opts.print(`\n$ kubectl get svc -n ${DEMO_NS}\n${svc}`);
    step(5, 'proving reachability from the client namespace (beacon speaker, kube-proxy, the demo pods)');
    const l2Answer = await waitForAnswer(cluster.client, l2Address!, 60_000, undefined, opts.signal).catch(
      (err) => {
        if (opts.signal.aborted) throw err;
        throw new StepError(
          `the client could not reach ${l2Address} over L2`,
          `kubectl -n ${NS} logs ds/beacon-speaker; kubectl get servicel2statuses -n ${NS} shows who should answer`,
        );
      },
    );
    const arpOwner = await cluster.nodeAnsweringFor(l2Address!);
    detail(
      `curl http://${l2Address}/  (L2: ARP answered by Beacon on ${arpOwner?.name ?? '?'}, then kube-proxy)  ->  ${describeAnswer(l2Answer)}`,
    );
    const bgpAnswer = await waitForAnswer(cluster.client, bgpAddress!, 90_000, undefined, opts.signal).catch(
      (err) => {
        if (opts.signal.aborted) throw err;
        throw new StepError(
          `the client could not reach ${bgpAddress} through the router`,
          `check the sessions: kubectl get bgpsessionstates -n ${NS}`,
        );
      },
    );
    detail(
      `curl http://${bgpAddress}/  (BGP: routed by FRR, then kube-proxy)  ->  ${describeAnswer(bgpAnswer)}`,
    );
    const routes = await cluster.router!.routes(['ipv4']);
    const hops = [
      ...new Set(routes.filter((r) => r.prefix === `${bgpAddress}/32`).flatMap((r) => r.nextHops)),
    ];
    detail(`FRR holds ${bgpAddress}/32 via ${hops.sort().join(', ')}`);
    const result: LabResult = { l2Answer, bgpAnswer, secondsToReachable: (Date.now() - started) / 1000 };
    detail(`reachable over L2 and BGP ${result.secondsToReachable.toFixed(1)} s after start`);

    step(6, 'what runs where');
    for (const [kind, name, ns] of [
      ['daemonset', 'beacon-speaker', NS],
      ['deployment', 'beacon-controller', NS],
      ['deployment', 'hello', DEMO_NS],
    ] as const) {
      await waitForRollout(api, kind, ns, name, opts.signal);
    }
    const pods = await mustKubectl(api, ['get', 'pods', '-A', '-o', 'wide']);
    opts.print(`\n$ kubectl get pods -A -o wide\n${pods}`);

    if (opts.failover && arpOwner) {
      step(7, `failing over: SIGKILL of the speaker on ${arpOwner.name}, which answers ARP for ${l2Address}`);
      const [pod] = await listPods(api, NS, 'app.kubernetes.io/component=speaker').then((all) =>
        all.filter((p) => p.spec.nodeName === arpOwner.name),
      );
      if (!pod)
        throw new StepError(`no speaker pod on ${arpOwner.name}`, `kubectl -n ${NS} get pods -o wide`);
      const killed = Date.now();
      crashContainer(arpOwner, pod);
      await waitFor(
        'another node to answer',
        async () => {
          const n = await cluster!.nodeAnsweringFor(l2Address!);
          return !!n && n !== arpOwner;
        },
        30_000,
        10,
      );
      result.failoverMs = Date.now() - killed;
      const after = await waitForAnswer(cluster.client, l2Address!);
      const now = await cluster.nodeAnsweringFor(l2Address!);
      detail(
        `the client's neighbour entry moved to ${now?.name} after ${result.failoverMs} ms; curl now -> ${describeAnswer(after)}`,
      );
    } else {
      step(7, 'skipping the failover (run with --failover to see one)');
    }

    step(8, opts.exitAfterChecks ? 'done; tearing down' : 'running; press Ctrl-C to tear everything down');
    if (!opts.exitAfterChecks) {
      const kubectl = api.binaries.kubectl;
      opts.print(`
Explore it (as root, from this machine):
  export KUBECONFIG=${api.kubeconfigPath}
  ${kubectl} get pods -A -o wide
  ${kubectl} get svc -n ${DEMO_NS}
  ${kubectl} get servicel2statuses,servicebgpstatuses,bgpsessionstates -n ${NS}
  ${kubectl} logs -n ${NS} ds/beacon-speaker
  ip netns exec ${cluster.client.name} curl http://${l2Address}/
  ip netns exec ${cluster.client.name} curl http://${bgpAddress}/
  kill -9 $(pgrep -f 'speaker --node=${arpOwner?.name ?? 'node-1'}')   # and watch another node take over
`);
      await new Promise<void>((resolve) => {
        if (opts.signal.aborted) resolve();
        opts.signal.addEventListener('abort', () => resolve(), { once: true });
      });
    }
    return result;
  } catch (err) {
    if (opts.signal.aborted) opts.print(`\ninterrupted at ${elapsed()}`);
    else if (err instanceof StepError) opts.print(`\nFAILED: ${err.message}\n  fix: ${err.fix}`);
    else opts.print(`\nFAILED: ${(err as Error).message}`);
    throw err;
  } finally {
    const tearing = Date.now();
    opts.print(
      cluster || !opts.signal.aborted
        ? 'tearing down: removing every pod, process, namespace and cgroup the lab made'
        : 'tearing down: the cluster start removes what it had made',
    );
    await cluster
      ?.stop((line) => opts.print(`      ${line}`))
      .catch((err: Error) => {
        opts.print(`      teardown failed: ${err.message}`);
      });
    if (helmHome) rmSync(helmHome, { recursive: true, force: true });
    opts.print(`torn down in ${((Date.now() - tearing) / 1000).toFixed(1)} s`);
  }
}
