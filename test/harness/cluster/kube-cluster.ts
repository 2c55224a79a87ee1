/**
 * A real Kubernetes cluster on one machine, for the tests that install Beacon as a user would and for
 * `beacon lab`: a control-plane namespace (etcd, kube-apiserver, kube-controller-manager, kube-scheduler),
 * worker nodes that each run containerd, the kubelet and kube-proxy (node.ts), a client namespace and
 * optionally an FRR router, all on one bridge. Images come from local OCI archives imported into every
 * node's runtime; nothing is pulled.
 *
 * Addresses (documentation ranges only, as in cluster-lab.ts): bridge 192.0.2.0/24, router .1, control
 * plane .10, nodes .11, .12, ..., client .100; L2 pool 192.0.2.200-250; BGP pool 198.51.100.0/24 behind
 * the router; pods 10.244.N.0/24 on node N; Services 10.96.0.0/16.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hostArch } from '../../../scripts/image/platform.ts';
import type { KubeRest } from '../../../src/k8s/rest.ts';
import type { ApiServer } from '../apiserver.ts';
import { CLIENT_IP, NODE_ASN, ROUTER_ASN, ROUTER_IP } from '../cluster-lab.ts';
import { removeOnInterrupt } from '../interrupt.ts';
import { adminRest } from '../kube.ts';
import { type Bridge, NetLab, type Netns } from '../netns.ts';
import { pidAlive, waitFor } from '../process.ts';
import type { FrrRouter } from '../routers/frr.ts';
import { type ClusterBinaries, clusterBinaries, clusterToolsMissing } from './binaries.ts';
import { removeCgroupRoot, removeCgroupRootSync, removeStaleCgroupRoots } from './cgroups.ts';
import {
  API_PORT,
  type ControlPlane,
  SERVICE_CIDR,
  startControlPlane,
  writeClientKubeconfig,
} from './control-plane.ts';
import { KubeNode, type ProxyMode } from './node.ts';
import { createPki } from './pki.ts';

export const CONTROL_PLANE_IP = '192.0.2.10';
export const CLUSTER_CIDR = '10.244.0.0/16';
const CGROUP_PREFIX = 'bcn';

export interface KubeClusterOptions {
  /** Tells clusters of one process apart; part of every namespace and cgroup name. */
  tag: string;
  nodes?: number;
  proxyMode?: ProxyMode;
  router?: boolean;
  /** OCI archives to import into every node's runtime, the sandbox image's among them. */
  images: string[];
  /** The sandbox (pause) image's reference. */
  sandboxImage: string;
  log?: (line: string) => void;
  /**
   * Called as soon as the API server answers, while the nodes are still coming up, so that a caller can
   * apply its objects meanwhile; start() resolves once it has too. `signal` is aborted when the start
   * fails or is aborted: the hook must stop its commands then, because start() waits for it before the
   * teardown (a kubectl or helm left running would keep the process alive, talking to a cluster that is
   * gone or to whatever listens on its port next).
   */
  onApiServer?: (api: ApiServer, signal: AbortSignal) => Promise<void>;
  /** Stops the start between phases (what is already running is torn down before start() rejects). */
  signal?: AbortSignal;
}

export class StartAborted extends Error {
  constructor() {
    super('the cluster start was interrupted');
  }
}

/** Seconds each phase of a start took, for the benches and the lab's output. */
export interface StartTimings {
  binaries: number;
  controlPlane: number;
  nodes: number;
  ready: number;
  total: number;
}

export class KubeCluster {
  readonly api: ApiServer;
  readonly rest: KubeRest;
  readonly net: NetLab;
  readonly bridge: Bridge;
  readonly controlPlane: Netns;
  readonly nodes: KubeNode[];
  readonly client: Netns;
  readonly router: FrrRouter | undefined;
  readonly binaries: ClusterBinaries;
  readonly dir: string;
  /** Withdraws the cluster's removal on interrupt (../interrupt.ts) once stop() has done it. */
  private readonly withdrawInterruptRemoval: () => void;
  readonly timings: StartTimings;
  private readonly cp: ControlPlane;

  private constructor(init: {
    api: ApiServer;
    rest: KubeRest;
    net: NetLab;
    bridge: Bridge;
    controlPlane: Netns;
    cp: ControlPlane;
    nodes: KubeNode[];
    client: Netns;
    router: FrrRouter | undefined;
    binaries: ClusterBinaries;
    dir: string;
    timings: StartTimings;
    withdraw: () => void;
  }) {
    this.api = init.api;
    this.rest = init.rest;
    this.net = init.net;
    this.bridge = init.bridge;
    this.controlPlane = init.controlPlane;
    this.cp = init.cp;
    this.nodes = init.nodes;
    this.client = init.client;
    this.router = init.router;
    this.binaries = init.binaries;
    this.dir = init.dir;
    this.timings = init.timings;
    this.withdrawInterruptRemoval = init.withdraw;
  }

  static async start(opts: KubeClusterOptions): Promise<KubeCluster> {
    const log = opts.log ?? (() => {});
    const checkAbort = () => {
      if (opts.signal?.aborted) throw new StartAborted();
    };
    const missing = clusterToolsMissing();
    if (missing) throw new Error(missing);
    const t0 = Date.now();
    const since = (t: number) => (Date.now() - t) / 1000;
    const binaries = await clusterBinaries(log);
    const tBinaries = since(t0);
    await removeStaleCgroupRoots(CGROUP_PREFIX);
    removeStaleDirs();
    const dir = mkdtempSync(join(tmpdir(), `beacon-cluster-${process.pid}-${opts.tag}-`));
    const net = await NetLab.create(opts.tag);
    const tag = opts.tag.replace(/[^a-z0-9]/gi, '').slice(0, 12);
    const count = opts.nodes ?? 3;
    const specs = Array.from({ length: count }, (_, i) => ({
      name: `node-${i + 1}`,
      ip: `192.0.2.${11 + i}`,
      podCidr: `10.244.${i + 1}.0/24`,
      cgroupRoot: `${CGROUP_PREFIX}${process.pid}-${tag}-node-${i + 1}`,
    }));
    // The pods' processes are children of containerd's shims, which pdeathsig does not reach.
    const withdraw = removeOnInterrupt(`the test cluster's pods, runtimes and ${dir}`, () => {
      for (const s of specs) removeCgroupRootSync(s.cgroupRoot);
      rmSync(dir, { recursive: true, force: true });
    });
    const nodes: KubeNode[] = [];
    let cp: ControlPlane | undefined;
    let hook: Promise<void> | undefined;
    const hookStop = new AbortController();
    const hookSignal = opts.signal ? AbortSignal.any([opts.signal, hookStop.signal]) : hookStop.signal;
    try {
      const t1 = Date.now();
      const bridge = await net.addBridge();
      const cpNs = await net.addNamespace('cp');
      await net.attach(cpNs, bridge, { ifname: 'eth0', addresses: [`${CONTROL_PLANE_IP}/24`] });
      // Pods' traffic to the API server keeps its source address; the control plane routes it back.
      for (const n of specs) await cpNs.must('ip', ['route', 'add', n.podCidr, 'via', n.ip]);
      checkAbort();
      const pki = await createPki(join(dir, 'pki'));
      const server = `https://${CONTROL_PLANE_IP}:${API_PORT}`;
      const proxyKubeconfig = await writeClientKubeconfig(
        pki,
        server,
        dir,
        'kube-proxy',
        'system:kube-proxy',
        [],
      );

      // The control plane and the nodes' runtimes (with their images) come up side by side.
      log(`control plane, and ${count} nodes' containerd with ${opts.images.length} images each`);
      const cpStarting = startControlPlane({
        ns: cpNs,
        ip: CONTROL_PLANE_IP,
        dir: join(dir, 'control-plane'),
        pki,
        binaries,
        podCidr: CLUSTER_CIDR,
        log,
      });
      const nodesStarting = specs.map(async (spec) => {
        const node = await KubeNode.start({
          lab: net,
          bridge,
          name: spec.name,
          ip: spec.ip,
          podCidr: spec.podCidr,
          podRoutes: specs.filter((o) => o !== spec).map((o) => ({ cidr: o.podCidr, via: o.ip })),
          serviceCidr: SERVICE_CIDR,
          clusterCidr: CLUSTER_CIDR,
          caCert: pki.ca.cert,
          kubeletKubeconfig: await writeClientKubeconfig(
            pki,
            server,
            dir,
            `kubelet-${spec.name}`,
            `system:node:${spec.name}`,
            ['system:nodes'],
          ),
          proxyKubeconfig,
          proxyMode: opts.proxyMode ?? 'iptables',
          sandboxImage: opts.sandboxImage,
          platform: `linux/${hostArch()}`,
          cgroupRoot: spec.cgroupRoot,
          dir: join(dir, spec.name),
          binaries,
        });
        nodes.push(node);
        checkAbort();
        const importing = Date.now();
        await node.importImages(opts.images, opts.signal);
        log(`${spec.name}: ${opts.images.length} images imported in ${since(importing).toFixed(1)} s`);
        return node;
      });
      // Awaited together below; an abort rejects them while the control plane is still starting, and that
      // must not count as unhandled (it would end the process before its teardown).
      for (const n of nodesStarting) n.catch(() => {});
      try {
        cp = await cpStarting;
      } catch (err) {
        await Promise.allSettled(nodesStarting);
        throw err;
      }
      const api = cp.api;
      const tControlPlane = since(t1);
      hook = opts.onApiServer?.(api, hookSignal);
      // Awaited below; until then a failure must not count as unhandled.
      hook?.catch(() => {});
      await settled(Promise.resolve(), ...nodesStarting);
      checkAbort();
      nodes.sort((a, b) => a.name.localeCompare(b.name));
      log('kubelets and kube-proxies');
      await Promise.all(nodes.map((n) => n.startKubelet()));
      await Promise.all(nodes.map((n) => n.startKubeProxy()));
      const tNodes = since(t1);

      const t3 = Date.now();
      await waitFor(
        'every node Ready',
        async () => {
          const r = await api.kubectl(['wait', '--for=condition=Ready', 'node', '--all', '--timeout=5s']);
          const listed = await api.kubectl(['get', 'nodes', '-o', 'name']);
          return r.code === 0 && listed.stdout.trim().split('\n').length === count;
        },
        120_000,
        500,
        () => '',
        opts.signal,
      );
      // The controller manager publishes the CA that pods' service-account volumes carry.
      await waitFor(
        'the default ServiceAccount and kube-root-ca.crt',
        async () =>
          (
            await api.kubectl([
              'get',
              'serviceaccount/default',
              'configmap/kube-root-ca.crt',
              '-n',
              'default',
            ])
          ).code === 0,
        60_000,
        250,
      );
      checkAbort();
      const client = await net.addNamespace('client');
      await net.attach(client, bridge, { ifname: 'eth0', addresses: [`${CLIENT_IP}/24`] });
      let router: FrrRouter | undefined;
      if (opts.router) {
        log('FRR router');
        router = await startRouter(
          net,
          bridge,
          client,
          specs.map((n) => n.ip),
        );
      }
      await hook;
      checkAbort();
      const rest = await adminRest(api);
      const timings: StartTimings = {
        binaries: tBinaries,
        controlPlane: tControlPlane,
        nodes: tNodes,
        ready: since(t3),
        total: since(t0),
      };
      return new KubeCluster({
        api,
        rest,
        net,
        bridge,
        controlPlane: cpNs,
        cp,
        nodes,
        client,
        router,
        binaries,
        dir,
        timings,
        withdraw,
      });
    } catch (err) {
      hookStop.abort();
      await hook?.catch(() => {});
      await teardown(
        specs.map((s) => s.cgroupRoot),
        nodes,
        cp,
        net,
        undefined,
        dir,
        () => {},
      );
      withdraw();
      throw err;
    }
  }

  node(name: string): KubeNode {
    const n = this.nodes.find((x) => x.name === name);
    if (!n) throw new Error(`no node ${name}`);
    return n;
  }

  /** The node whose MAC the client's neighbour table holds for `address`, if any. */
  async nodeAnsweringFor(address: string): Promise<KubeNode | undefined> {
    const out = await this.client.exec('ip', ['-j', 'neigh', 'show', address, 'dev', 'eth0']);
    const mac = (JSON.parse(out.stdout || '[]') as { lladdr?: string }[])[0]?.lladdr;
    return this.nodes.find((n) => n.mac === mac);
  }

  /** Restarts every node's kube-proxy in `mode`. */
  async setProxyMode(mode: ProxyMode): Promise<void> {
    await Promise.all(this.nodes.map((n) => n.startKubeProxy(mode)));
  }

  /** Removes everything the cluster made; `log` hears what it is waiting for. */
  async stop(log: (line: string) => void = () => {}): Promise<void> {
    await teardown(
      this.nodes.map((n) => n.cgroupRoot),
      this.nodes,
      this.cp,
      this.net,
      this.router,
      this.dir,
      log,
    );
    this.withdrawInterruptRemoval();
  }
}

/** Awaits every promise, then throws the first failure: nothing is still starting when cleanup begins. */
async function settled<T>(first: Promise<T>, ...rest: Promise<unknown>[]): Promise<T> {
  const results = await Promise.allSettled([first, ...rest]);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return (results[0] as PromiseFulfilledResult<T>).value;
}

async function startRouter(
  net: NetLab,
  bridge: Bridge,
  client: Netns,
  nodeIps: string[],
): Promise<FrrRouter> {
  const rns = await net.addNamespace('router');
  await net.attach(rns, bridge, { ifname: 'eth0', addresses: [`${ROUTER_IP}/24`] });
  await client.must('ip', ['route', 'add', '198.51.100.0/24', 'via', ROUTER_IP]);
  await rns.must('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  const { FrrRouter } = await import('../routers/frr.ts');
  return FrrRouter.start(
    rns,
    {
      asn: ROUTER_ASN,
      routerId: ROUTER_IP,
      neighbors: nodeIps.map((address) => ({
        address,
        asn: NODE_ASN,
        holdTime: 9,
        exportRoutes: false,
        bfd: true,
      })),
    },
    { installRoutes: true },
  );
}

/** Cluster directories of test processes that no longer exist (killed before they could clean up). */
function removeStaleDirs(): void {
  for (const name of readdirSync(tmpdir())) {
    const m = /^beacon-cluster-(\d+)-/.exec(name);
    if (m && !pidAlive(Number(m[1]))) rmSync(join(tmpdir(), name), { recursive: true, force: true });
  }
}

/**
 * Pods first (killed through their cgroups: they are the shims' children, which outlive everything else),
 * then every process and namespace. Nothing is waited for gracefully: the cluster is thrown away.
 */
async function teardown(
  cgroupRoots: string[],
  nodes: KubeNode[],
  cp: ControlPlane | undefined,
  net: NetLab,
  router: FrrRouter | undefined,
  dir: string,
  log: (line: string) => void,
): Promise<void> {
  const started = Date.now();
  const step = (line: string) => log(`${line} (${((Date.now() - started) / 1000).toFixed(1)} s)`);
  step(`killing the pods and runtimes of ${cgroupRoots.length} nodes`);
  await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
  await Promise.all(cgroupRoots.map((r) => removeCgroupRoot(r).catch(() => {})));
  step('stopping the router and the control plane');
  await Promise.all([router?.stop(0).catch(() => {}), cp?.stop(0).catch(() => {})]);
  // The router's logs go with the cluster (routerDir keeps them for tests that fail; the cluster keeps none).
  if (router) rmSync(router.dir, { recursive: true, force: true });
  step('stopping the nodes and deleting the network namespaces');
  await net.cleanup(0);
  rmSync(dir, { recursive: true, force: true });
  step('everything removed');
}
