/**
 * The workload the cluster tests and `beacon lab` put behind Beacon: a Deployment of real pods running a
 * small HTTP server that answers with its pod's and node's names, spread one per node, and LoadBalancer
 * Services in front of it. Also the client side: one request with curl, and a request loop (client-loop.ts)
 * whose lines time outages as the client saw them.
 */
import { join } from 'node:path';
import type { ApiServer } from '../apiserver.ts';
import { REPO_ROOT } from '../binaries.ts';
import { BGP_POOL, NODE_ASN, ROUTER_ASN, ROUTER_IP } from '../cluster-lab.ts';
import type { Netns } from '../netns.ts';
import { type TetheredProcess, waitFor } from '../process.ts';
import type { ClusterImage } from './images.ts';

/** What the echo server (test/images/echo) answers: who served the request, and whom it saw. */
export interface Answer {
  pod: string;
  node: string;
  podIP: string;
  /** The client address the pod saw (the client's own with externalTrafficPolicy: Local). */
  client: string;
}

/** The echo server's JSON answer, or undefined for anything else. */
export function parseAnswer(text: string): Answer | undefined {
  try {
    const a = JSON.parse(text) as Partial<Answer>;
    if (typeof a.pod !== 'string' || typeof a.node !== 'string') return undefined;
    return { pod: a.pod, node: a.node, podIP: a.podIP ?? '', client: a.client ?? '' };
  } catch {
    return undefined;
  }
}

/** "pod NAME on node NODE", for people. */
export function describeAnswer(a: Answer): string {
  return `pod ${a.pod} on node ${a.node}`;
}

/** `kubectl apply -f -`, throwing with kubectl's stderr when it fails. */
export async function apply(api: ApiServer, yaml: string, signal?: AbortSignal): Promise<string> {
  const r = await api.kubectl(['apply', '-f', '-'], yaml, signal);
  if (r.code !== 0) throw new Error(`kubectl apply failed:\n${r.stderr}\n--- input ---\n${yaml}`);
  return r.stdout;
}

export async function mustKubectl(
  api: ApiServer,
  args: string[],
  input?: string,
  signal?: AbortSignal,
): Promise<string> {
  const r = await api.kubectl(args, input, signal);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

/**
 * A Deployment of the demo server: `replicas` pods, at most one per node (the scheduler spreads them over
 * hostnames), or all on `node` when given.
 */
export function demoDeployment(
  image: ClusterImage & { port: number },
  o: { namespace: string; name: string; replicas: number; node?: string },
): string {
  return `apiVersion: apps/v1
kind: Deployment
metadata: { name: ${o.name}, namespace: ${o.namespace} }
spec:
  replicas: ${o.replicas}
  selector: { matchLabels: { app: ${o.name} } }
  template:
    metadata: { labels: { app: ${o.name} } }
    spec:
      ${o.node ? `nodeSelector: { kubernetes.io/hostname: ${o.node} }` : ''}
      topologySpreadConstraints:
        - maxSkew: 1
          topologyKey: kubernetes.io/hostname
          whenUnsatisfiable: DoNotSchedule
          # A cordoned node is not a place to spread to.
          nodeTaintsPolicy: Honor
          labelSelector: { matchLabels: { app: ${o.name} } }
      terminationGracePeriodSeconds: 1
      containers:
        - name: server
          image: ${image.ref}
          imagePullPolicy: Never
          ports: [{ name: http, containerPort: ${image.port} }]
          env:
            - { name: POD_NAME, valueFrom: { fieldRef: { fieldPath: metadata.name } } }
            - { name: POD_NAMESPACE, valueFrom: { fieldRef: { fieldPath: metadata.namespace } } }
            - { name: NODE_NAME, valueFrom: { fieldRef: { fieldPath: spec.nodeName } } }
            - { name: POD_IP, valueFrom: { fieldRef: { fieldPath: status.podIP } } }
          readinessProbe:
            httpGet: { path: /healthz, port: http }
            periodSeconds: 1
`;
}

/**
 * Beacon's BGP side for the cluster's FRR router: the pool `routed` (BGP_POOL, given out only on request,
 * with the `beacon.dev/address-pool: routed` annotation), a BGPPeer to the router and a BGPAdvertisement.
 */
export function routedPoolConfig(namespace: string): string {
  return `apiVersion: beacon.dev/v1alpha1
kind: IPAddressPool
metadata: { name: routed, namespace: ${namespace} }
spec: { addresses: [${BGP_POOL[0]}], autoAssign: false, avoidBuggyIPs: true }
---
apiVersion: beacon.dev/v1alpha1
kind: BGPPeer
metadata: { name: router, namespace: ${namespace} }
spec: { myASN: ${NODE_ASN}, peerASN: ${ROUTER_ASN}, peerAddress: ${ROUTER_IP}, holdTime: 9s }
---
apiVersion: beacon.dev/v1alpha1
kind: BGPAdvertisement
metadata: { name: routed, namespace: ${namespace} }
spec: { ipAddressPools: [routed] }
`;
}

/** A LoadBalancer Service on port 80 in front of the Deployment `app`. */
export function loadBalancerService(o: {
  namespace: string;
  name: string;
  app: string;
  targetPort: number;
  annotations?: Record<string, string>;
  externalTrafficPolicy?: 'Cluster' | 'Local';
}): string {
  const annotations = Object.entries(o.annotations ?? {})
    .map(([k, v]) => `${k}: ${JSON.stringify(v)}`)
    .join(', ');
  return `apiVersion: v1
kind: Service
metadata: { name: ${o.name}, namespace: ${o.namespace}, annotations: { ${annotations} } }
spec:
  type: LoadBalancer
  externalTrafficPolicy: ${o.externalTrafficPolicy ?? 'Cluster'}
  selector: { app: ${o.app} }
  ports: [{ name: http, port: 80, targetPort: ${o.targetPort} }]
`;
}

/**
 * Waits until a Deployment or DaemonSet has every replica of its current template ready, polling (unlike
 * `kubectl rollout status`, which would outlive an interrupted caller).
 */
export async function waitForRollout(
  api: ApiServer,
  kind: 'deployment' | 'daemonset',
  namespace: string,
  name: string,
  signal?: AbortSignal,
): Promise<void> {
  let last = '';
  await waitFor(
    `${kind}/${name} to be ready`,
    async () => {
      const r = await api.kubectl(['get', kind, name, '-n', namespace, '-o', 'json']);
      if (r.code !== 0) return false;
      const o = JSON.parse(r.stdout) as {
        metadata: { generation: number };
        spec: { replicas?: number };
        status: {
          observedGeneration?: number;
          desiredNumberScheduled?: number;
          updatedNumberScheduled?: number;
          numberReady?: number;
          updatedReplicas?: number;
          readyReplicas?: number;
        };
      };
      const s = o.status;
      const want = kind === 'daemonset' ? s.desiredNumberScheduled : o.spec.replicas;
      const updated = kind === 'daemonset' ? s.updatedNumberScheduled : s.updatedReplicas;
      const ready = kind === 'daemonset' ? s.numberReady : s.readyReplicas;
      last = `want ${want}, updated ${updated}, ready ${ready}`;
      return s.observedGeneration === o.metadata.generation && !!want && updated === want && ready === want;
    },
    180_000,
    250,
    () => last,
    signal,
  );
}

/** The Service's EXTERNAL-IPs as `kubectl get svc` shows them, once there is one. */
export async function waitForExternalIp(
  api: ApiServer,
  namespace: string,
  name: string,
  signal?: AbortSignal,
): Promise<string[]> {
  let ips: string[] = [];
  await waitFor(
    `${namespace}/${name} to get an EXTERNAL-IP`,
    async () => {
      const out = await mustKubectl(api, [
        'get',
        'service',
        name,
        '-n',
        namespace,
        '-o',
        'jsonpath={.status.loadBalancer.ingress[*].ip}',
      ]);
      ips = out.split(' ').filter(Boolean);
      return ips.length > 0;
    },
    60_000,
    200,
    () => '',
    signal,
  );
  return ips;
}

/** One request from the client namespace, as a user would make it. */
export async function curl(client: Netns, address: string, timeoutS = 2): Promise<string> {
  const r = await client.exec('curl', ['-s', '--max-time', String(timeoutS), `http://${address}/`], 10_000);
  return r.stdout.trim();
}

/** Waits until a request to `address` gets a demo answer (satisfying `accept`), returning it. */
export async function waitForAnswer(
  client: Netns,
  address: string,
  timeoutMs = 60_000,
  accept: (a: Answer) => boolean = () => true,
  signal?: AbortSignal,
): Promise<Answer> {
  let last = '';
  let answer: Answer | undefined;
  await waitFor(
    `an answer from http://${address}/`,
    async () => {
      last = await curl(client, address);
      answer = parseAnswer(last);
      return !!answer && accept(answer);
    },
    timeoutMs,
    200,
    () => `last answer: ${JSON.stringify(last)}`,
    signal,
  );
  return answer!;
}

export interface Sample {
  /** When the request started (epoch ms). */
  t: number;
  ok: boolean;
  answer: Answer | undefined;
  text: string;
}

export function parseSamples(output: string): Sample[] {
  return output
    .split('\n')
    .map((l) => /^(\d+) (ok|fail) ?(.*)$/.exec(l))
    .filter((m): m is RegExpExecArray => !!m)
    .map((m) => ({ t: Number(m[1]), ok: m[2] === 'ok', text: m[3]!, answer: parseAnswer(m[3]!) }));
}

/**
 * The longest time during which every request the client started failed: from the start of the first
 * failed request of such a run to the start of the next one that succeeded (0 when none failed). The loop
 * starts requests on a fixed schedule, so this is exact to within its interval.
 */
export function longestOutage(samples: Sample[]): { ms: number; from: number; failed: number } {
  let worst = { ms: 0, from: 0, failed: 0 };
  let runStart: number | undefined;
  let failed = 0;
  for (const s of [...samples].sort((a, b) => a.t - b.t)) {
    if (!s.ok) {
      runStart ??= s.t;
      failed++;
    } else if (runStart !== undefined) {
      if (s.t - runStart > worst.ms) worst = { ms: s.t - runStart, from: runStart, failed };
      runStart = undefined;
      failed = 0;
    }
  }
  return worst;
}

export interface ClientLoop {
  /** Stops the loop and returns every request it made. */
  stop(): Promise<Sample[]>;
  /** The requests so far. */
  samples(): Sample[];
}

/** Requests http://ADDRESS/ from the client namespace every `intervalMs`, until stopped. */
export async function startClientLoop(
  client: Netns,
  address: string,
  intervalMs = 50,
  timeoutMs = 500,
): Promise<ClientLoop> {
  let output = '';
  const p: TetheredProcess = client.spawn(
    `loop-${address}`,
    join(REPO_ROOT, 'node_modules', '.bin', 'node'),
    [
      join(REPO_ROOT, 'test', 'harness', 'cluster', 'client-loop.ts'),
      address,
      String(intervalMs),
      String(timeoutMs),
    ],
  );
  p.child.stdout?.on('data', (c: Buffer) => {
    output += c.toString('utf8');
  });
  await waitFor(
    `the client loop to ${address} to answer`,
    () => /\d+ ok /.test(output),
    30_000,
    50,
    () => output,
  );
  return {
    samples: () => parseSamples(output),
    async stop() {
      await p.stop(2000);
      return parseSamples(output);
    },
  };
}

/** The MACs that answer one ARP request from the client for `address` (none when nobody owns it). */
export async function arpAnswerers(client: Netns, address: string): Promise<string[]> {
  // One request, and up to a second to hear every answerer.
  const r = await client.exec('arping', ['-c', '1', '-w', '1', '-i', 'eth0', address], 10_000);
  // Silence must mean "nobody answered", never "arping did not run".
  if (!r.stdout.includes(`ARPING ${address}`)) throw new Error(`arping did not run: ${r.stderr || r.stdout}`);
  return [...new Set([...r.stdout.matchAll(/from ([0-9a-f:]{17})/gi)].map((m) => m[1]!.toLowerCase()))];
}
