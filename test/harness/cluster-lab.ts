/**
 * A small cluster made of network namespaces: a real API server (host loopback, bridged into the
 * namespaces), N "node" namespaces each able to run `beacon speaker`, a client namespace and optionally an
 * FRR router, all on one bridge. Node objects in the API carry the namespaces' addresses, so speakers find
 * each other exactly as on real nodes. Used by the speaker tests, the benchmarks and `beacon lab`.
 *
 * Addresses (documentation ranges only): bridge 192.0.2.0/24 and 2001:db8::/64; router .1/::1, nodes
 * .11, .12, ..., client .100. L2 pool 192.0.2.200-192.0.2.250 and 2001:db8::200-2001:db8::2ff (on the
 * bridge); BGP pool 198.51.100.0/24 (behind the router).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { KubeRest, RequestInit } from '../../src/k8s/rest.ts';
import { type ApiBridge, bridgeApiServer } from './api-bridge.ts';
import { type ApiServer, startApiServer } from './apiserver.ts';
import { REPO_ROOT } from './binaries.ts';
import { installCrds } from './crds.ts';
import { removeOnInterrupt } from './interrupt.ts';
import { adminRest, createBeaconObject, createPool, ensureNamespace } from './kube.ts';
import { type Bridge, NetLab, type Netns } from './netns.ts';
import type { TetheredProcess } from './process.ts';
import { waitFor } from './process.ts';
import type { FrrRouter } from './routers/frr.ts';

/** What a speaker logs on becoming alive in the mesh (its "membership state" line). */
const ALIVE_IN_MESH = '"status":"alive","generation"';

export const BEACON_NS = 'beacon-system';
export const ROUTER_IP = '192.0.2.1';
export const ROUTER_IP6 = '2001:db8::1';
export const CLIENT_IP = '192.0.2.100';
export const CLIENT_IP6 = '2001:db8::100';
export const L2_POOL = ['192.0.2.200-192.0.2.250', '2001:db8::200-2001:db8::2ff'];
export const BGP_POOL = ['198.51.100.0/24'];
export const ROUTER_ASN = 64500;
export const NODE_ASN = 64512;

export interface LabNode {
  name: string;
  ns: Netns;
  ip: string;
  ip6: string;
  mac: string;
  /** Index of its port on the bridge, to cut its link from the switch side. */
  port: number;
  speaker: TetheredProcess | undefined;
}

export interface ClusterLabOptions {
  tag: string;
  nodes: number;
  router?: boolean;
  log?: (line: string) => void;
  /** Extra kube-apiserver flags (e.g. an audit log for counting writes). */
  apiServerArgs?: (dir: string) => string[];
}

export class ClusterLab {
  readonly api: ApiServer;
  readonly rest: KubeRest;
  readonly net: NetLab;
  readonly bridge: Bridge;
  readonly apiBridge: ApiBridge;
  readonly nodes: LabNode[];
  readonly client: Netns;
  readonly router: FrrRouter | undefined;
  private readonly dir: string;
  /** Withdraws the directory's removal on interrupt (interrupt.ts) once stop() has done it. */
  private readonly withdrawInterruptRemoval: () => void;

  private constructor(init: {
    api: ApiServer;
    rest: KubeRest;
    net: NetLab;
    bridge: Bridge;
    apiBridge: ApiBridge;
    nodes: LabNode[];
    client: Netns;
    router: FrrRouter | undefined;
    dir: string;
    withdraw: () => void;
  }) {
    this.api = init.api;
    this.rest = init.rest;
    this.net = init.net;
    this.bridge = init.bridge;
    this.apiBridge = init.apiBridge;
    this.nodes = init.nodes;
    this.client = init.client;
    this.router = init.router;
    this.dir = init.dir;
    this.withdrawInterruptRemoval = init.withdraw;
  }

  static async start(opts: ClusterLabOptions): Promise<ClusterLab> {
    const log = opts.log ?? (() => {});
    const dir = mkdtempSync(join(tmpdir(), `beacon-lab-${opts.tag}-`));
    const withdraw = process.env.BEACON_KEEP_LAB_LOGS
      ? () => {}
      : removeOnInterrupt(dir, () => rmSync(dir, { recursive: true, force: true }));
    log('starting etcd and kube-apiserver');
    const api = await startApiServer({ log, extraArgs: opts.apiServerArgs?.(dir) ?? [] });
    const net = await NetLab.create(opts.tag);
    try {
      await installCrds(api);
      const rest = await adminRest(api);
      await ensureNamespace(rest, BEACON_NS);
      // No heartbeat Secret: the first speaker creates it, as on a fresh install.
      log('building the network: bridge, nodes, client');
      const bridge = await net.addBridge();
      const apiBridge = await bridgeApiServer(api, dir);
      const nodes: LabNode[] = [];
      for (let i = 0; i < opts.nodes; i++) {
        const name = `node-${i + 1}`;
        const ns = await net.addNamespace(`n${i + 1}`);
        const ip = `192.0.2.${11 + i}`;
        const ip6 = `2001:db8::${(0x11 + i).toString(16)}`;
        const port = bridge.ports;
        await net.attach(ns, bridge, { ifname: 'eth0', addresses: [`${ip}/24`, `${ip6}/64`] });
        await ns.must('ip', ['route', 'add', '198.51.100.0/24', 'via', ROUTER_IP]).catch(() => {});
        const mac = await ns.mac('eth0');
        await apiBridge.openInto(ns);
        nodes.push({ name, ns, ip, ip6, mac, port, speaker: undefined });
        await createNode(rest, name, ip, ip6);
      }
      const client = await net.addNamespace('client');
      await net.attach(client, bridge, {
        ifname: 'eth0',
        addresses: [`${CLIENT_IP}/24`, `${CLIENT_IP6}/64`],
      });
      let router: FrrRouter | undefined;
      if (opts.router) {
        log('starting FRR');
        const rns = await net.addNamespace('router');
        await net.attach(rns, bridge, { ifname: 'eth0', addresses: [`${ROUTER_IP}/24`, `${ROUTER_IP6}/64`] });
        await client.must('ip', ['route', 'add', '198.51.100.0/24', 'via', ROUTER_IP]);
        // The router forwards client traffic to the nodes along the routes Beacon announces.
        await rns.must('sysctl', ['-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']);
        const { FrrRouter } = await import('./routers/frr.ts');
        router = await FrrRouter.start(
          rns,
          {
            asn: ROUTER_ASN,
            routerId: ROUTER_IP,
            // BFD on every neighbour: it only takes effect for speakers whose BGPPeer names a BFDProfile.
            neighbors: nodes.map((n) => ({
              address: n.ip,
              asn: NODE_ASN,
              holdTime: 9,
              exportRoutes: false,
              bfd: true,
            })),
          },
          { installRoutes: true },
        );
      }
      return new ClusterLab({ api, rest, net, bridge, apiBridge, nodes, client, router, dir, withdraw });
    } catch (err) {
      await net.cleanup();
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
      withdraw();
      throw err;
    }
  }

  /**
   * Starts `beacon speaker` in the node's namespace, from the TypeScript sources, or from the compiled
   * `dist/` (what production runs, without the type stripper's memory) when `compiled` is set.
   */
  startSpeaker(
    node: LabNode,
    extraArgs: string[] = [],
    compiled = false,
    env: Record<string, string> = {},
    nodeArgs: string[] = [],
  ): TetheredProcess {
    node.speaker = node.ns.spawn(
      `speaker-${node.name}`,
      join(REPO_ROOT, 'node_modules', '.bin', 'node'),
      [
        // Compiled means "as in production": the heap caps deploy/speaker.yaml sets through NODE_OPTIONS.
        ...(compiled ? ['--max-semi-space-size=1', '--max-old-space-size=256'] : []),
        ...nodeArgs,
        compiled ? join(REPO_ROOT, 'dist', 'cli', 'main.js') : join(REPO_ROOT, 'src', 'cli', 'main.ts'),
        'speaker',
        `--node=${node.name}`,
        `--kubeconfig=${this.apiBridge.kubeconfigPath}`,
        `--namespace=${BEACON_NS}`,
        '--log-level=info',
        ...extraArgs,
      ],
      {
        logFile: join(this.dir, `speaker-${node.name}.log`),
        env: { ...process.env, ...env },
        remember: ['caches synced', ALIVE_IN_MESH],
      },
    );
    return node.speaker;
  }

  /** Everything the node's speakers logged so far (all runs: the log file is appended to). */
  speakerLog(node: LabNode): string {
    try {
      return readFileSync(join(this.dir, `speaker-${node.name}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  async waitForSpeakersSynced(nodes: LabNode[] = this.nodes): Promise<void> {
    await this.waitForEachSpeaker(nodes, 'to sync', 'caches synced');
  }

  /**
   * Until each speaker has been alive in the mesh (heard by enough neighbours): a test about how
   * addresses spread over the nodes must not judge while one node still joins and another holds them all.
   */
  async waitForSpeakersAlive(nodes: LabNode[] = this.nodes): Promise<void> {
    await this.waitForEachSpeaker(nodes, 'to be alive in the mesh', ALIVE_IN_MESH);
  }

  /** Until each node's speaker has written `marker` (one of the lines it was started to remember). */
  private async waitForEachSpeaker(nodes: LabNode[], what: string, marker: string): Promise<void> {
    for (const n of nodes) {
      await waitFor(
        `${n.name}'s speaker ${what}`,
        () => !!n.speaker?.said(marker),
        30_000,
        50,
        () => n.speaker?.tail() ?? '',
      );
    }
  }

  /** Everything every speaker of this lab has logged so far (all runs, appended per node). */
  speakerLogs(): string {
    return readdirSync(this.dir)
      .filter((f) => /^speaker-.*\.log$/.test(f))
      .map((f) => readFileSync(join(this.dir, f), 'utf8'))
      .join('\n');
  }

  async stop(): Promise<void> {
    await this.router?.stop().catch(() => {});
    await this.net.cleanup();
    await this.apiBridge.close();
    await this.api.stop();
    // BEACON_KEEP_LAB_LOGS=1 keeps the speakers' logs for a look after a failure.
    if (process.env.BEACON_KEEP_LAB_LOGS) process.stderr.write(`# lab logs kept in ${this.dir}\n`);
    else rmSync(this.dir, { recursive: true, force: true });
    this.withdrawInterruptRemoval();
  }
}

async function createNode(rest: KubeRest, name: string, ip: string, ip6: string): Promise<void> {
  await rest.create('/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
  });
  await rest.patch(`/api/v1/nodes/${name}/status`, 'merge', {
    status: {
      addresses: [
        { type: 'InternalIP', address: ip },
        { type: 'InternalIP', address: ip6 },
        { type: 'Hostname', address: name },
      ],
      conditions: [
        {
          type: 'Ready',
          status: 'True',
          reason: 'Lab',
          message: 'a network namespace',
          lastHeartbeatTime: new Date().toISOString(),
          lastTransitionTime: new Date().toISOString(),
        },
      ],
    },
  });
}

/**
 * BGP mode as the lab's tests and benches configure it: a pool `routed` of `addresses`, the router as the
 * `BGPPeer` `frr` (9 s hold time) of every node, and an advertisement of the pool with a community and a
 * large community, as a real configuration has them, so that every route carries attributes none may lose.
 */
export async function configureRoutedBgp(rest: KubeRest, addresses: string[]): Promise<void> {
  await createPool(rest, BEACON_NS, 'routed', { addresses });
  await createBeaconObject(rest, BEACON_NS, 'BGPPeer', 'frr', {
    myASN: NODE_ASN,
    peerASN: ROUTER_ASN,
    peerAddress: ROUTER_IP,
    holdTime: '9s',
  });
  await createBeaconObject(rest, BEACON_NS, 'BGPAdvertisement', 'routed', {
    ipAddressPools: ['routed'],
    communities: ['64512:100', 'large:64512:1:2'],
  });
}

/** An EndpointSlice placing ready endpoints of a Service on these nodes (no kube-controller-manager here). */
export async function setEndpoints(
  rest: KubeRest,
  namespace: string,
  service: string,
  nodes: string[],
  init: RequestInit = {},
): Promise<void> {
  const name = `${service}-lab`;
  const body = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace, labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ name: 'p80-tcp', port: 80, protocol: 'TCP' }],
    endpoints: nodes.map((n, i) => ({
      addresses: [`10.244.0.${i + 10}`],
      nodeName: n,
      conditions: { ready: true },
    })),
  };
  try {
    await rest.create(`/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`, body, init);
  } catch {
    await rest.replace(
      `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices/${name}`,
      body,
      init,
    );
  }
}
