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
import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeRest } from '../../../src/k8s/rest.ts';
import type { ApiServer } from '../apiserver.ts';
import { CLIENT_IP, NODE_ASN, ROUTER_ASN, ROUTER_IP } from '../cluster-lab.ts';
import { adminRest } from '../kube.ts';
import { type Bridge, NetLab, type Netns } from '../netns.ts';
import { waitFor } from '../process.ts';
import type { FrrRouter } from '../routers/frr.ts';
import { type ClusterBinaries, clusterBinaries, clusterToolsMissing } from './binaries.ts';
import { removeStaleCgroupRoots } from './cgroups.ts';
import { type ControlPlane, SERVICE_CIDR, startControlPlane } from './control-plane.ts';
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
  /** OCI archives to import into every node's runtime (the pause image among them). */
  images: string[];
  log?: (line: string) => void;
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
  }

  static async start(opts: KubeClusterOptions): Promise<KubeCluster> {
    const log = opts.log ?? (() => {});
    const missing = clusterToolsMissing();
    if (missing) throw new Error(missing);
    const t0 = Date.now();
    const since = (t: number) => (Date.now() - t) / 1000;
    const binaries = await clusterBinaries(log);
    const tBinaries = since(t0);
    await removeStaleCgroupRoots(CGROUP_PREFIX);
    const dir = mkdtempSync(join(tmpdir(), `beacon-cluster-${opts.tag}-`));
    const net = await NetLab.create(opts.tag);
    const tag = opts.tag.replace(/[^a-z0-9]/gi, '').slice(0, 12);
    const nodes: KubeNode[] = [];
    let cp: ControlPlane | undefined;
    try {
      const t1 = Date.now();
      const bridge = await net.addBridge();
      const cpNs = await net.addNamespace('cp');
      await net.attach(cpNs, bridge, { ifname: 'eth0', addresses: [`${CONTROL_PLANE_IP}/24`] });
      const count = opts.nodes ?? 3;
      const nodeIps = Array.from({ length: count }, (_, i) => `192.0.2.${11 + i}`);
      const podCidrs = Array.from({ length: count }, (_, i) => `10.244.${i + 1}.0/24`);
      // Pods' traffic to the API server keeps its source address; the control plane routes it back.
      for (let i = 0; i < count; i++)
        await cpNs.must('ip', ['route', 'add', podCidrs[i]!, 'via', nodeIps[i]!]);
      const pki = await createPki(join(dir, 'pki'));
      cp = await startControlPlane({
        ns: cpNs,
        ip: CONTROL_PLANE_IP,
        dir: join(dir, 'control-plane'),
        pki,
        binaries,
        podCidr: CLUSTER_CIDR,
        log,
      });
      const tControlPlane = since(t1);

      const t2 = Date.now();
      log(`nodes: ${count} x (containerd, images, kubelet, kube-proxy)`);
      const proxyKubeconfig = join(dir, 'kube-proxy.kubeconfig');
      await writeText(proxyKubeconfig, await cp.kubeconfigFor('kube-proxy', 'system:kube-proxy', []));
      for (let i = 0; i < count; i++) {
        const name = `node-${i + 1}`;
        const nodeDir = join(dir, name);
        const kubeletKubeconfig = join(dir, `${name}-kubelet.kubeconfig`);
        await writeText(
          kubeletKubeconfig,
          await cp.kubeconfigFor(`kubelet-${name}`, `system:node:${name}`, ['system:nodes']),
        );
        nodes.push(
          await KubeNode.start({
            lab: net,
            bridge,
            name,
            ip: nodeIps[i]!,
            podCidr: podCidrs[i]!,
            podRoutes: podCidrs.map((cidr, j) => ({ cidr, via: nodeIps[j]! })).filter((_, j) => j !== i),
            serviceCidr: SERVICE_CIDR,
            clusterCidr: CLUSTER_CIDR,
            caCert: pki.ca.cert,
            kubeletKubeconfig,
            proxyKubeconfig,
            proxyMode: opts.proxyMode ?? 'iptables',
            cgroupRoot: `${CGROUP_PREFIX}${process.pid}-${tag}-${name}`,
            dir: nodeDir,
            binaries,
          }),
        );
      }
      await Promise.all(nodes.map((n) => n.importImages(opts.images)));
      for (const n of nodes) await n.startKubelet();
      await Promise.all(nodes.map((n) => n.startKubeProxy()));
      const tNodes = since(t2);

      const t3 = Date.now();
      const api = cp.api;
      await waitFor(
        'every node Ready',
        async () => {
          const r = await api.kubectl(['wait', '--for=condition=Ready', 'node', '--all', '--timeout=5s']);
          const listed = await api.kubectl(['get', 'nodes', '-o', 'name']);
          return r.code === 0 && listed.stdout.trim().split('\n').length === count;
        },
        120_000,
        500,
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
      const client = await net.addNamespace('client');
      await net.attach(client, bridge, { ifname: 'eth0', addresses: [`${CLIENT_IP}/24`] });
      let router: FrrRouter | undefined;
      if (opts.router) {
        log('FRR router');
        const rns = await net.addNamespace('router');
        await net.attach(rns, bridge, { ifname: 'eth0', addresses: [`${ROUTER_IP}/24`] });
        await client.must('ip', ['route', 'add', '198.51.100.0/24', 'via', ROUTER_IP]);
        await rns.must('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
        const { FrrRouter } = await import('../routers/frr.ts');
        router = await FrrRouter.start(
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
      });
    } catch (err) {
      await teardown(nodes, cp, net, undefined, dir);
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

  async stop(): Promise<void> {
    await teardown(this.nodes, this.cp, this.net, this.router, this.dir);
  }
}

async function writeText(path: string, text: string): Promise<void> {
  await writeFile(path, text, { mode: 0o600 });
}

/** Pods first (through their cgroups), then every process and namespace; nothing is waited for gracefully. */
async function teardown(
  nodes: KubeNode[],
  cp: ControlPlane | undefined,
  net: NetLab,
  router: FrrRouter | undefined,
  dir: string,
): Promise<void> {
  await Promise.all(nodes.map((n) => n.stop().catch(() => {})));
  await router?.stop().catch(() => {});
  await cp?.stop().catch(() => {});
  await net.cleanup();
  rmSync(dir, { recursive: true, force: true });
}
