/**
 * `beacon lab`: the whole system on one Linux machine. A real etcd + kube-apiserver, three "nodes"
 * (network namespaces) running `beacon speaker`, `beacon controller`, an FRR router and a client, all on
 * one bridge; a demo Service whose "pods" are HTTP servers in the node namespaces. It proves the address is
 * reachable over L2 and through the router over BGP, can fail a node over, and removes everything it made.
 *
 * It needs root (namespaces, raw sockets), Go (to build the API server once), FRR and the wire tools
 * (scripts/setup.sh installs them), and a source checkout: it reuses the test harness.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BEACON_NS,
  BGP_POOL,
  ClusterLab,
  L2_POOL,
  type LabNode,
  NODE_ASN,
  ROUTER_ASN,
  ROUTER_IP,
  setEndpoints,
} from '../test/harness/cluster-lab.ts';
import {
  createBeaconObject,
  createPool,
  createService,
  ensureNamespace,
  type RunningController,
  startController,
  waitForIngress,
} from '../test/harness/kube.ts';
import { netnsUnavailable } from '../test/harness/netns.ts';
import { waitFor } from '../test/harness/process.ts';

export interface LabOptions {
  /** Run a node failure after the reachability checks, and report the takeover time. */
  failover: boolean;
  /** Tear down after the checks instead of waiting for Ctrl-C (what CI does). */
  exitAfterChecks: boolean;
  signal: AbortSignal;
  print(line: string): void;
}

export interface LabResult {
  l2Node: string;
  bgpNode: string;
  failoverMs?: number;
  secondsToReachable: number;
}

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
  if (!existsSync('/usr/lib/frr/bgpd')) throw new StepError('FRR daemons are missing', 'apt-get install frr');
}

const DEMO_SERVER = `
const http = require('node:http');
const node = process.argv[2];
http.createServer((req, res) => res.end('served by ' + node + '\\n')).listen(80, '::', () => console.log('listening'));
`;

/** The demo's "pods": an HTTP server per node, and the Service addresses accepted locally (like kube-proxy). */
async function startPods(lab: ClusterLab, addresses: string[]): Promise<void> {
  const script = join(lab.api.kubeconfigPath, '..', 'demo-server.cjs');
  writeFileSync(script, DEMO_SERVER);
  for (const n of lab.nodes) {
    // With the address on lo the kernel would answer ARP for it on eth0 too; arp_ignore=1 keeps ARP to
    // Beacon (the same setting kube-proxy's IPVS mode needs, strictARP).
    await n.ns.must('sysctl', ['-qw', 'net.ipv4.conf.all.arp_ignore=1', 'net.ipv4.conf.all.arp_announce=2']);
    for (const a of addresses) await n.ns.must('ip', ['addr', 'add', `${a}/32`, 'dev', 'lo']);
    const p = n.ns.spawn(`pod-${n.name}`, process.execPath, [script, n.name]);
    await waitFor(
      `the demo server on ${n.name}`,
      () => p.tail().includes('listening'),
      10_000,
      50,
      () => p.tail(),
    );
  }
}

async function curl(lab: ClusterLab, address: string): Promise<string> {
  const r = await lab.client.exec('curl', ['-s', '--max-time', '2', `http://${address}/`], 5000);
  return r.stdout.trim();
}

function nodeNamed(lab: ClusterLab, text: string): LabNode | undefined {
  return lab.nodes.find((n) => text.endsWith(n.name));
}

export async function runLab(opts: LabOptions): Promise<LabResult> {
  const started = Date.now();
  const step = (n: number, text: string) => opts.print(`[${n}/8] ${text}`);
  const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;
  let lab: ClusterLab | undefined;
  let controller: RunningController | undefined;
  try {
    step(1, 'checking the machine (root, Go, FRR, curl, arping)');
    await checkMachine();
    step(2, 'starting etcd + kube-apiserver, three node namespaces, a client and an FRR router');
    try {
      lab = await ClusterLab.start({
        tag: 'lab',
        nodes: 3,
        router: true,
        log: (l) => opts.print(`      ${l}`),
      });
    } catch (err) {
      throw new StepError(
        `the cluster did not start: ${(err as Error).message}`,
        'see the message above; a port or namespace conflict clears after `ip netns list` shows no bcn* namespaces',
      );
    }
    step(3, 'applying an IPAddressPool, an L2Advertisement, a BGPPeer and a BGPAdvertisement');
    await createPool(lab.rest, BEACON_NS, 'lab-l2', { addresses: L2_POOL });
    await createPool(lab.rest, BEACON_NS, 'lab-bgp', {
      addresses: BGP_POOL,
      autoAssign: false,
      avoidBuggyIPs: true,
    });
    await createBeaconObject(lab.rest, BEACON_NS, 'L2Advertisement', 'lab', { ipAddressPools: ['lab-l2'] });
    await createBeaconObject(lab.rest, BEACON_NS, 'BGPPeer', 'router', {
      myASN: NODE_ASN,
      peerASN: ROUTER_ASN,
      peerAddress: ROUTER_IP,
      holdTime: '9s',
    });
    await createBeaconObject(lab.rest, BEACON_NS, 'BGPAdvertisement', 'lab', { ipAddressPools: ['lab-bgp'] });
    step(4, 'starting beacon controller and a beacon speaker on each node');
    controller = await startController(lab.api, {
      namespace: BEACON_NS,
      loadBalancerClass: 'beacon.dev/lb',
      identity: 'lab-controller',
    });
    for (const n of lab.nodes) lab.startSpeaker(n);
    await lab.waitForSpeakersSynced();
    step(5, 'creating the demo Services (one over L2, one over BGP) and their pods');
    await ensureNamespace(lab.rest, 'demo');
    await createService(lab.rest, 'demo', 'hello-l2', undefined);
    await createService(lab.rest, 'demo', 'hello-bgp', undefined, {
      annotations: { 'beacon.dev/address-pool': 'lab-bgp' },
    });
    for (const s of ['hello-l2', 'hello-bgp'])
      await setEndpoints(
        lab.rest,
        'demo',
        s,
        lab.nodes.map((n) => n.name),
      );
    const [l2Address] = await waitForIngress(lab.rest, 'demo', 'hello-l2');
    const [bgpAddress] = await waitForIngress(lab.rest, 'demo', 'hello-bgp');
    await startPods(lab, [l2Address!, bgpAddress!]);
    const svc = await lab.api.kubectl(['get', 'svc', '-n', 'demo', '-o', 'wide']);
    opts.print(`\n$ kubectl get svc -n demo\n${svc.stdout}`);
    step(6, `proving reachability from the client (${elapsed()} so far)`);
    let l2Answer = '';
    await waitFor(
      `http://${l2Address}/ over L2`,
      async () => {
        l2Answer = await curl(lab!, l2Address!);
        return !!nodeNamed(lab!, l2Answer);
      },
      30_000,
      200,
      () => `last answer: "${l2Answer}"`,
    ).catch(() => {
      throw new StepError(
        `the client could not reach ${l2Address} over L2`,
        "look at the speakers' logs: kubectl get servicel2statuses -n beacon-system shows who should answer",
      );
    });
    opts.print(`      curl http://${l2Address}/ (L2, ARP answered by Beacon)  ->  ${l2Answer}`);
    let bgpAnswer = '';
    await waitFor(
      `http://${bgpAddress}/ through the router`,
      async () => {
        bgpAnswer = await curl(lab!, bgpAddress!);
        return !!nodeNamed(lab!, bgpAnswer);
      },
      60_000,
      250,
      () => `last answer: "${bgpAnswer}"`,
    ).catch(() => {
      throw new StepError(
        `the client could not reach ${bgpAddress} through the router`,
        'check the sessions: kubectl get bgpsessionstates -n beacon-system',
      );
    });
    opts.print(`      curl http://${bgpAddress}/ (BGP, routed by FRR)      ->  ${bgpAnswer}`);
    const routes = await lab.router!.routes(['ipv4']);
    const paths = routes.filter((r) => r.prefix === `${bgpAddress}/32`).flatMap((r) => r.nextHops);
    opts.print(`      FRR holds ${bgpAddress}/32 via ${[...new Set(paths)].sort().join(', ')}`);
    const result: LabResult = {
      l2Node: nodeNamed(lab, l2Answer)!.name,
      bgpNode: nodeNamed(lab, bgpAnswer)!.name,
      secondsToReachable: (Date.now() - started) / 1000,
    };
    opts.print(`      reachable over L2 and BGP ${result.secondsToReachable.toFixed(1)} s after start`);

    if (opts.failover) {
      const owner = nodeNamed(lab, l2Answer)!;
      step(7, `failing over: killing the speaker on ${owner.name}, which answers for ${l2Address}`);
      const killed = Date.now();
      owner.speaker!.child.kill('SIGKILL');
      let after = '';
      await waitFor(
        'another node to answer',
        async () => {
          const mac = JSON.parse(
            (await lab!.client.exec('ip', ['-j', 'neigh', 'show', l2Address!, 'dev', 'eth0'])).stdout || '[]',
          )[0]?.lladdr;
          return !!mac && mac !== owner.mac;
        },
        15_000,
        10,
      );
      result.failoverMs = Date.now() - killed;
      after = await curl(lab, l2Address!);
      opts.print(
        `      the client's neighbour entry moved after ${result.failoverMs} ms; curl now -> ${after}`,
      );
      lab.startSpeaker(owner);
    } else {
      step(7, 'skipping the failover (run with --failover to see one)');
    }

    step(8, opts.exitAfterChecks ? 'done; tearing down' : 'running; press Ctrl-C to tear everything down');
    if (!opts.exitAfterChecks) {
      opts.print(`
Explore it (as root, from this machine):
  export KUBECONFIG=${lab.api.kubeconfigPath}
  ${lab.api.binaries.kubectl} get svc -n demo
  ${lab.api.binaries.kubectl} get servicel2statuses,servicebgpstatuses,bgpsessionstates -n beacon-system
  ${lab.api.binaries.kubectl} describe svc -n demo hello-l2
  ip netns exec ${lab.client.name} curl http://${l2Address}/
  ip netns exec ${lab.client.name} curl http://${bgpAddress}/
  kill -9 $(pgrep -f 'speaker --node=${result.l2Node}')   # and watch another node take over
`);
      await new Promise<void>((resolve) =>
        opts.signal.addEventListener('abort', () => resolve(), { once: true }),
      );
    }
    return result;
  } catch (err) {
    if (err instanceof StepError) {
      opts.print(`\nFAILED: ${err.message}\n  fix: ${err.fix}`);
    }
    throw err;
  } finally {
    opts.print('removing every namespace, link and process the lab made');
    await controller?.stop().catch(() => {});
    await lab?.stop().catch(() => {});
  }
}
