/**
 * Least privilege, proven by doing: deploy/ is applied to a real API server, then every action the
 * controller and the speaker need is performed with their ServiceAccounts' own tokens and must succeed,
 * and a table of actions they must not take is performed the same way and must be refused, each for the
 * stated reason (RBAC, or one of deploy/admission-policies.yaml's ValidatingAdmissionPolicies). The real
 * controller also runs under its ServiceAccount and serves a Service.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import { Controller } from '../../src/controller/controller.ts';
import { controllerMetrics } from '../../src/controller/metrics.ts';
import { parseKubeconfig } from '../../src/k8s/kubeconfig.ts';
import { KubeRest } from '../../src/k8s/rest.ts';
import { createLogger } from '../../src/log.ts';
import { nodeLabelValue } from '../../src/speaker/status-writer.ts';
import { type ApiServer, startApiServer } from '../harness/apiserver.ts';
import { REPO_ROOT } from '../harness/binaries.ts';
import { adminRest, ingressOf, waitForEvent } from '../harness/kube.ts';
import { waitFor } from '../harness/process.ts';
import {
  installDeploy,
  kubeconfigForToken,
  kubectlWith,
  mustKubectl,
  NAMESPACE,
  type Result,
} from './cluster.ts';

const CONTROLLER = `system:serviceaccount:${NAMESPACE}:beacon-controller`;
const SPEAKER = `system:serviceaccount:${NAMESPACE}:beacon-speaker`;
const APP = 'shop';

let api: ApiServer;
const kubeconfigs: Record<'controller' | 'speaker' | 'speakerOnNodeA', string> = {
  controller: '',
  speaker: '',
  speakerOnNodeA: '',
};

type Who = keyof typeof kubeconfigs;
type As = ((args: string[], input?: string) => Promise<Result>) & {
  /**
   * A merge patch sent the way Beacon sends it, with no GET first (kubectl patch reads the object before
   * patching, which would test the get verb instead).
   */
  patch(path: string, body: unknown): Promise<Result>;
  /** A DELETE of a collection by label, as a speaker's graceful shutdown sends it (kubectl deletes one by one). */
  deleteCollection(path: string, labelSelector: string): Promise<Result>;
};

function as(who: Who): As {
  const k = (args: string[], input?: string) => kubectlWith(api, kubeconfigs[who], args, input);
  // The User-Agent's first word names the request's field manager, as beacon-controller/<identity> does.
  const rest = () =>
    new KubeRest(parseKubeconfig(readFileSync(kubeconfigs[who], 'utf8'), kubeconfigs[who]), {
      userAgent: who === 'controller' ? 'beacon-controller/rbac-test' : 'beacon-speaker/rbac-test',
    });
  const result = (request: Promise<unknown>): Promise<Result> =>
    request.then(
      () => ({ code: 0, stdout: '', stderr: '' }),
      (err: Error) => ({ code: 1, stdout: '', stderr: err.message }),
    );
  return Object.assign(k, {
    patch: (path: string, body: unknown) => result(rest().patch(path, 'merge', body)),
    deleteCollection: (path: string, labelSelector: string) =>
      result(rest().delete(path, { query: { labelSelector } })),
  });
}
const core = (ns: string, plural: string, name: string, sub = '') =>
  `/api/v1/${ns ? `namespaces/${ns}/` : ''}${plural}/${name}${sub ? `/${sub}` : ''}`;
const beacon = (plural: string, name: string, sub = '') =>
  `/apis/beacon.dev/v1alpha1/namespaces/${NAMESPACE}/${plural}/${name}${sub ? `/${sub}` : ''}`;
const beaconCollection = (plural: string) => `/apis/beacon.dev/v1alpha1/namespaces/${NAMESPACE}/${plural}`;
const leasePath = (name: string) => `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases/${name}`;

const json = (o: unknown) => JSON.stringify(o);

/** The object as admin sees it, for PUT (update) requests that must carry the whole object. */
async function current(
  args: string[],
  edit: (o: Record<string, unknown>) => void = () => {},
): Promise<string> {
  const o = JSON.parse(await mustKubectl(api, ['get', ...args, '-o', 'json'])) as Record<string, unknown>;
  edit(o);
  return json(o);
}

const fixtures = [
  {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: APP },
    spec: {
      type: 'LoadBalancer',
      allocateLoadBalancerNodePorts: false,
      selector: { app: 'web' },
      ports: [{ port: 80 }],
    },
  },
  {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'unrelated', namespace: NAMESPACE },
    stringData: { a: 'b' },
  },
  {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'tor-a-password', namespace: NAMESPACE },
    type: 'kubernetes.io/basic-auth',
    stringData: { password: 'x' },
  },
  {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'db-password', namespace: APP },
    stringData: { password: 'x' },
  },
  {
    apiVersion: 'beacon.dev/v1alpha1',
    kind: 'IPAddressPool',
    metadata: { name: 'default', namespace: NAMESPACE },
    spec: { addresses: ['192.0.2.0/28'] },
  },
  {
    apiVersion: 'beacon.dev/v1alpha1',
    kind: 'IPAddressPool',
    metadata: { name: 'rogue', namespace: APP },
    spec: { addresses: ['198.51.100.0/28'] },
  },
  { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a', labels: { rack: 'a' } } },
  // What node-b's speaker published; node-a's speaker must leave it alone.
  ...(
    [
      ['ServiceL2Status', { serviceName: 'web', serviceNamespace: APP, addresses: ['192.0.2.1'] }],
      ['ServiceBGPStatus', { serviceName: 'web', serviceNamespace: APP }],
      ['BGPSessionState', { peer: 'tor-a' }],
    ] as const
  ).map(([kind, status]) => ({
    apiVersion: 'beacon.dev/v1alpha1',
    kind,
    metadata: { name: 'node-b-web', namespace: NAMESPACE, labels: { 'beacon.dev/node': 'node-b' } },
    status: { node: 'node-b', ...status },
  })),
  { apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-b' } },
  // node-b's speaker Lease; only node-b's speaker may write it.
  {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      name: 'beacon-speaker-node-b',
      namespace: NAMESPACE,
      labels: { 'app.kubernetes.io/component': 'speaker-lease' },
    },
    spec: { holderIdentity: 'node-b', leaseDurationSeconds: 15 },
  },
  {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'web-1', namespace: APP, labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.0.0.1'], nodeName: 'node-a', conditions: { ready: true } }],
    ports: [{ port: 8080, protocol: 'TCP' }],
  },
];

before(async () => {
  api = await startApiServer();
  await installDeploy(api);
  await mustKubectl(api, ['create', 'namespace', APP]);
  await mustKubectl(api, ['apply', '-f', '-'], json({ apiVersion: 'v1', kind: 'List', items: fixtures }));
  // L2Advertisement, BGPAdvertisement, BGPPeer, BFDProfile, Community (and a pool) in beacon-system.
  await mustKubectl(api, ['apply', '-f', join(REPO_ROOT, 'examples')]);
  kubeconfigs.controller = await api.serviceAccountKubeconfig(NAMESPACE, 'beacon-controller');
  kubeconfigs.speaker = await api.serviceAccountKubeconfig(NAMESPACE, 'beacon-speaker');
  // A token bound to a speaker Pod on node-a carries the node's name, as in a real cluster.
  await mustKubectl(
    api,
    ['apply', '-f', '-'],
    json({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'speaker-node-a', namespace: NAMESPACE },
      spec: {
        nodeName: 'node-a',
        serviceAccountName: 'beacon-speaker',
        containers: [{ name: 's', image: 'beacon:0.1.0' }],
      },
    }),
  );
  const token = await mustKubectl(api, [
    'create',
    'token',
    'beacon-speaker',
    '-n',
    NAMESPACE,
    '--bound-object-kind=Pod',
    '--bound-object-name=speaker-node-a',
  ]);
  kubeconfigs.speakerOnNodeA = kubeconfigForToken(api, SPEAKER, token.trim(), 'kubeconfig-speaker-node-a');

  // RBAC and admission policies are served from caches that fill within moments of the apply.
  await waitFor(
    'RBAC for both ServiceAccounts',
    async () => {
      const [c, s] = await Promise.all([
        as('controller')(['get', 'services', '-A']),
        as('speaker')(['get', 'nodes']),
      ]);
      return c.code === 0 && s.code === 0;
    },
    30_000,
    200,
  );
  const probes: [Who, string[], string, string?][] = [
    [
      'controller',
      [
        'patch',
        'service',
        'web',
        '-n',
        APP,
        '--dry-run=server',
        '--type=merge',
        '-p',
        json({ spec: { externalTrafficPolicy: 'Local' } }),
      ],
      'beacon-controller-service-metadata',
    ],
    [
      'controller',
      ['create', '--dry-run=server', '-f', '-'],
      'beacon-leases',
      json({
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: 'probe', namespace: NAMESPACE },
      }),
    ],
    [
      'speaker',
      ['create', '--dry-run=server', '-f', '-'],
      'beacon-leases',
      lease('beacon-speaker-node-a', 'node-a'),
    ],
    [
      'speaker',
      ['create', '--dry-run=server', '-f', '-'],
      'beacon-speaker-status-objects',
      statusObject('BGPSessionState', 'probe', { node: 'node-a' }),
    ],
    [
      'controller',
      ['create', '--dry-run=server', '-f', '-'],
      'beacon-events',
      event('probe', 'kubelet', 'node-a'),
    ],
  ];
  await waitFor(
    'the admission policies to be enforced',
    async () => {
      for (const [who, args, policy, input] of probes) {
        const r = await as(who)(args, input);
        if (!r.stderr.includes(`ValidatingAdmissionPolicy '${policy}'`)) return false;
      }
      return true;
    },
    30_000,
    200,
  );
});
after(() => api?.stop());

interface Row {
  what: string;
  run: (k: As) => Promise<Result>;
  /** Read-only and independent of the other rows: run together, since each watch lasts a second. */
  concurrent?: boolean;
}
interface Forbidden extends Row {
  /**
   * Why it must be refused: `rbac <verb> <resource>` (RBAC denies that verb), or the name of the
   * admission policy that denies it.
   */
  refusedBy: string;
}

const watchRow = (what: string, path: string): Row => ({
  what,
  run: (k) => k(watch(path)),
  concurrent: true,
});
const watch = (path: string) => [
  'get',
  '--raw',
  `${path}${path.includes('?') ? '&' : '?'}watch=1&timeoutSeconds=1`,
];
const statusObject = (
  kind: string,
  name: string,
  status: Record<string, unknown>,
  ns = NAMESPACE,
  node = 'node-a',
) =>
  json({
    apiVersion: 'beacon.dev/v1alpha1',
    kind,
    metadata: { name, namespace: ns, labels: { 'beacon.dev/node': node } },
    status,
  });
const lease = (name: string, holder: string) =>
  json({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace: NAMESPACE, labels: { 'app.kubernetes.io/component': 'speaker-lease' } },
    spec: {
      holderIdentity: holder,
      leaseDurationSeconds: 15,
      renewTime: new Date().toISOString().replace('Z', '000Z'),
    },
  });
/** An Event as Beacon's EventRecorder writes it; `over` changes fields to forge one. */
const event = (
  name: string,
  component: string,
  host: string,
  over: { namespace?: string; involvedObject?: Record<string, string>; source?: Record<string, string> } = {},
) =>
  json({
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name, namespace: over.namespace ?? APP },
    involvedObject: over.involvedObject ?? { apiVersion: 'v1', kind: 'Service', name: 'web', namespace: APP },
    type: 'Normal',
    reason: 'Test',
    message: 'from the RBAC test',
    source: over.source ?? { component, host },
    reportingComponent: `beacon.dev/${component}`,
    reportingInstance: host,
    count: 1,
  });
const pool = (ns: string) =>
  json({
    apiVersion: 'beacon.dev/v1alpha1',
    kind: 'IPAddressPool',
    metadata: { name: 'mine', namespace: ns },
    spec: { addresses: ['203.0.113.0/24'] },
  });
const ingress = (ip: string | null) => ({
  status: { loadBalancer: { ingress: ip ? [{ ip, ipMode: 'VIP' }] : null } },
});

const controllerPermitted: Row[] = [
  { what: 'list Services in every namespace', run: (k) => k(['get', 'services', '-A']) },
  { what: 'get a Service', run: (k) => k(['get', 'service', 'web', '-n', APP]) },
  watchRow('watch Services', '/api/v1/services'),
  { what: 'list Namespaces', run: (k) => k(['get', 'namespaces']) },
  watchRow('watch Namespaces', '/api/v1/namespaces'),
  {
    what: 'patch its annotation beacon.dev/ip-allocated-from-pool on a Service',
    run: (k) =>
      k.patch(core(APP, 'services', 'web'), {
        metadata: { annotations: { 'beacon.dev/ip-allocated-from-pool': 'default' } },
      }),
  },
  {
    what: 'remove its annotation again',
    run: (k) =>
      k.patch(core(APP, 'services', 'web'), {
        metadata: { annotations: { 'beacon.dev/ip-allocated-from-pool': null } },
      }),
  },
  {
    what: 'set and remove its annotation beacon.dev/ip-allocated-sharing (the terms of a shared address)',
    run: async (k) => {
      const set = await k.patch(core(APP, 'services', 'web'), {
        metadata: {
          annotations: {
            'beacon.dev/ip-allocated-from-pool': 'default',
            'beacon.dev/ip-allocated-sharing': '{"key":"k","ports":[],"trafficPolicy":"Cluster"}',
          },
        },
      });
      if (set.code !== 0) return set;
      return k.patch(core(APP, 'services', 'web'), {
        metadata: {
          annotations: { 'beacon.dev/ip-allocated-from-pool': null, 'beacon.dev/ip-allocated-sharing': null },
        },
      });
    },
  },
  {
    what: "patch a Service's status (services/status)",
    run: (k) => k.patch(core(APP, 'services', 'web', 'status'), ingress('192.0.2.1')),
  },
  {
    what: "update a Service's status (PUT services/status)",
    run: async (k) =>
      k(
        ['replace', '--subresource=status', '-f', '-'],
        await current(['service', 'web', '-n', APP], (o) => {
          o.status = ingress('192.0.2.2').status;
        }),
      ),
  },
  {
    what: 'create an Event',
    run: (k) => k(['create', '-f', '-'], event('web.controller', 'beacon-controller', 'rbac-test')),
  },
  {
    what: 'patch an Event (aggregation)',
    run: (k) => k.patch(core(APP, 'events', 'web.controller'), { count: 2 }),
  },
  {
    what: 'get an Event (to count on after a leader change)',
    run: (k) => k(['get', 'event', 'web.controller', '-n', APP]),
  },
  {
    what: 'create an Event on a pool in beacon-system',
    run: (k) =>
      k(
        ['create', '-f', '-'],
        event('default.controller', 'beacon-controller', 'rbac-test', {
          namespace: NAMESPACE,
          involvedObject: {
            apiVersion: 'beacon.dev/v1alpha1',
            kind: 'IPAddressPool',
            name: 'default',
            namespace: NAMESPACE,
          },
        }),
      ),
  },
  ...['ipaddresspools', 'l2advertisements', 'bgpadvertisements', 'communities'].flatMap((r): Row[] => [
    { what: `list ${r} in beacon-system`, run: (k) => k(['get', r, '-n', NAMESPACE]) },
    watchRow(`watch ${r} in beacon-system`, `/apis/beacon.dev/v1alpha1/namespaces/${NAMESPACE}/${r}`),
  ]),
  { what: 'get a pool', run: (k) => k(['get', 'ipaddresspool', 'default', '-n', NAMESPACE]) },
  {
    what: "patch a pool's status",
    run: (k) => k.patch(beacon('ipaddresspools', 'default', 'status'), { status: { assignedIPv4: 1 } }),
  },
  {
    what: "update a pool's status (PUT)",
    run: async (k) =>
      k(
        ['replace', '--subresource=status', '-f', '-'],
        await current(['ipaddresspool', 'default', '-n', NAMESPACE], (o) => {
          o.status = { assignedIPv4: 2 };
        }),
      ),
  },
  {
    what: "patch a BGPAdvertisement's status (CommunitiesResolved)",
    run: (k) =>
      k.patch(beacon('bgpadvertisements', 'production-bgp', 'status'), {
        status: {
          conditions: [
            {
              type: 'CommunitiesResolved',
              status: 'True',
              reason: 'Resolved',
              message: 'Every community has a value',
              lastTransitionTime: '2025-01-01T00:00:00Z',
            },
          ],
        },
      }),
  },
  {
    what: 'create the leader Lease beacon-controller',
    run: (k) => k(['create', '-f', '-'], lease('beacon-controller', 'rbac-test')),
  },
  { what: 'get the leader Lease', run: (k) => k(['get', 'lease', 'beacon-controller', '-n', NAMESPACE]) },
  {
    what: 'update the leader Lease (PUT)',
    run: async (k) =>
      k(
        ['replace', '-f', '-'],
        await current(['lease', 'beacon-controller', '-n', NAMESPACE], (o) => {
          (o.spec as Record<string, unknown>).leaseDurationSeconds = 1;
        }),
      ),
  },
];

const STATUS_KINDS = [
  [
    'servicel2statuses',
    'ServiceL2Status',
    { node: 'node-a', serviceName: 'web', serviceNamespace: APP, addresses: ['192.0.2.1'] },
  ],
  ['servicebgpstatuses', 'ServiceBGPStatus', { node: 'node-a', serviceName: 'web', serviceNamespace: APP }],
  ['bgpsessionstates', 'BGPSessionState', { node: 'node-a', peer: 'tor-a' }],
] as const;

const speakerPermitted: Row[] = [
  ...(
    [
      ['services', '/api/v1/services'],
      ['nodes', '/api/v1/nodes'],
      ['endpointslices', '/apis/discovery.k8s.io/v1/endpointslices'],
    ] as const
  ).flatMap(([r, path]): Row[] => [
    { what: `list ${r} everywhere`, run: (k) => k(['get', r, '-A']) },
    watchRow(`watch ${r}`, path),
  ]),
  { what: 'get a Node', run: (k) => k(['get', 'node', 'node-a']) },
  { what: 'get an EndpointSlice', run: (k) => k(['get', 'endpointslice', 'web-1', '-n', APP]) },
  ...[
    'ipaddresspools',
    'l2advertisements',
    'bgpadvertisements',
    'bgppeers',
    'bfdprofiles',
    'communities',
  ].flatMap((r): Row[] => [
    { what: `list ${r} in beacon-system`, run: (k) => k(['get', r, '-n', NAMESPACE]) },
    watchRow(`watch ${r} in beacon-system`, `/apis/beacon.dev/v1alpha1/namespaces/${NAMESPACE}/${r}`),
  ]),
  { what: 'get a BGPPeer', run: (k) => k(['get', 'bgppeer', 'tor-a', '-n', NAMESPACE]) },
  { what: 'get a node Lease', run: (k) => k(['get', 'lease', 'beacon-speaker-node-b', '-n', NAMESPACE]) },
  {
    what: "list the speakers' Leases by label",
    run: (k) => k(['get', 'leases', '-n', NAMESPACE, '-l', 'app.kubernetes.io/component=speaker-lease']),
  },
  watchRow('watch Leases', `/apis/coordination.k8s.io/v1/namespaces/${NAMESPACE}/leases`),
];

const speakerOnNodeAPermitted: Row[] = [
  ...STATUS_KINDS.flatMap(([plural, kind, status]): Row[] => [
    {
      what: `create a ${kind}`,
      run: (k) => k(['create', '-f', '-'], statusObject(kind, 'node-a-web', status)),
    },
    { what: `get a ${kind}`, run: (k) => k(['get', plural, 'node-a-web', '-n', NAMESPACE]) },
    {
      what: `list ${plural} by node label`,
      run: (k) => k(['get', plural, '-n', NAMESPACE, '-l', 'beacon.dev/node=node-a']),
    },
    watchRow(`watch ${plural}`, `/apis/beacon.dev/v1alpha1/namespaces/${NAMESPACE}/${plural}`),
    {
      what: `patch a ${kind}`,
      run: (k) => k.patch(beacon(plural, 'node-a-web'), { status: { node: 'node-a' } }),
    },
    {
      what: `update a ${kind} (PUT)`,
      run: async (k) => k(['replace', '-f', '-'], await current([plural, 'node-a-web', '-n', NAMESPACE])),
    },
    { what: `delete a ${kind}`, run: (k) => k(['delete', plural, 'node-a-web', '-n', NAMESPACE]) },
    {
      what: `delete all its own ${plural} in one request, by node label (graceful shutdown)`,
      run: async (k) => {
        const made = await k(['create', '-f', '-'], statusObject(kind, 'node-a-leaving', status));
        if (made.code !== 0) return made;
        const gone = await k.deleteCollection(beaconCollection(plural), 'beacon.dev/node=node-a');
        if (gone.code !== 0) return gone;
        const left = await k(['get', plural, 'node-a-leaving', '-n', NAMESPACE]);
        return left.code === 0 ? { ...left, code: 1, stderr: 'node-a-leaving is still there' } : gone;
      },
    },
  ]),
  {
    what: 'create an Event about a Service, from its node',
    run: (k) => k(['create', '-f', '-'], event('web.speaker', 'beacon-speaker', 'node-a')),
  },
  { what: 'patch its Event', run: (k) => k.patch(core(APP, 'events', 'web.speaker'), { count: 2 }) },
  { what: 'get its Event', run: (k) => k(['get', 'event', 'web.speaker', '-n', APP]) },
  {
    what: 'create its own node Lease beacon-speaker-node-a',
    run: (k) => k(['create', '-f', '-'], lease('beacon-speaker-node-a', 'node-a')),
  },
  {
    what: 'renew its own node Lease',
    run: (k) => k.patch(leasePath('beacon-speaker-node-a'), { spec: { leaseDurationSeconds: 20 } }),
  },
  {
    what: 'update its own node Lease (PUT)',
    run: async (k) =>
      k(['replace', '-f', '-'], await current(['lease', 'beacon-speaker-node-a', '-n', NAMESPACE])),
  },
  {
    what: 'delete its own node Lease (graceful shutdown)',
    run: (k) => k(['delete', 'lease', 'beacon-speaker-node-a', '-n', NAMESPACE]),
  },
  {
    what: 'create its own node Lease again',
    run: (k) => k(['create', '-f', '-'], lease('beacon-speaker-node-a', 'node-a')),
  },
];

const controllerForbidden: Forbidden[] = [
  {
    what: "replace a Service's managedFields",
    refusedBy: 'beacon-controller-service-metadata',
    run: (k) =>
      k.patch(core(APP, 'services', 'web'), {
        metadata: {
          managedFields: [
            {
              manager: 'beacon-controller',
              operation: 'Update',
              apiVersion: 'v1',
              fieldsType: 'FieldsV1',
              fieldsV1: { 'f:spec': { 'f:ports': {} } },
            },
          ],
        },
      }),
  },
  {
    what: 'write an Event as another source (kubelet)',
    refusedBy: 'beacon-events',
    run: (k) => k(['create', '-f', '-'], event('web.forged', 'kubelet', 'node-a')),
  },
  {
    what: 'write an Event about a Pod',
    refusedBy: 'beacon-events',
    run: (k) =>
      k(
        ['create', '-f', '-'],
        event('pod.forged', 'beacon-controller', 'rbac-test', {
          involvedObject: { apiVersion: 'v1', kind: 'Pod', name: 'web-0', namespace: APP },
        }),
      ),
  },
  {
    what: "update the speaker's Event",
    refusedBy: 'beacon-events',
    run: (k) => k.patch(core(APP, 'events', 'web.speaker'), { count: 9 }),
  },
  {
    what: 'create a Service',
    refusedBy: 'rbac create services',
    run: (k) => k(['create', 'service', 'clusterip', 'new', '-n', APP, '--tcp=80:80']),
  },
  {
    what: 'delete a Service',
    refusedBy: 'rbac delete services',
    run: (k) => k(['delete', 'service', 'web', '-n', APP]),
  },
  {
    what: 'update a Service (PUT)',
    refusedBy: 'rbac update services',
    run: async (k) => k(['replace', '-f', '-'], await current(['service', 'web', '-n', APP])),
  },
  {
    what: "patch a Service's spec",
    refusedBy: 'beacon-controller-service-metadata',
    run: (k) => k.patch(core(APP, 'services', 'web'), { spec: { externalTrafficPolicy: 'Local' } }),
  },
  {
    what: "patch a Service's spec and its own annotation together",
    refusedBy: 'beacon-controller-service-metadata',
    run: (k) =>
      k.patch(core(APP, 'services', 'web'), {
        metadata: { annotations: { 'beacon.dev/ip-allocated-from-pool': 'x' } },
        spec: { ports: [{ port: 81 }] },
      }),
  },
  {
    what: "change a Service's labels",
    refusedBy: 'beacon-controller-service-metadata',
    run: (k) => k.patch(core(APP, 'services', 'web'), { metadata: { labels: { evil: '1' } } }),
  },
  {
    what: 'set another annotation on a Service',
    refusedBy: 'beacon-controller-service-metadata',
    run: (k) =>
      k.patch(core(APP, 'services', 'web'), {
        metadata: { annotations: { 'beacon.dev/address-pool': 'rogue' } },
      }),
  },
  {
    what: 'add a finalizer to a Service',
    refusedBy: 'beacon-controller-service-metadata',
    run: (k) => k.patch(core(APP, 'services', 'web'), { metadata: { finalizers: ['example.com/block'] } }),
  },
  {
    what: 'read a Secret in beacon-system',
    refusedBy: 'rbac get secrets',
    run: (k) => k(['get', 'secret', 'unrelated', '-n', NAMESPACE]),
  },
  {
    what: 'read a Secret in another namespace',
    refusedBy: 'rbac get secrets',
    run: (k) => k(['get', 'secret', 'db-password', '-n', APP]),
  },
  { what: 'list Secrets', refusedBy: 'rbac list secrets', run: (k) => k(['get', 'secrets', '-A']) },
  {
    what: 'list EndpointSlices (the controller does not use them)',
    refusedBy: 'rbac list endpointslices',
    run: (k) => k(['get', 'endpointslices', '-A']),
  },
  { what: 'list Nodes', refusedBy: 'rbac list nodes', run: (k) => k(['get', 'nodes']) },
  {
    what: 'list BGPPeers (the controller does not use them)',
    refusedBy: 'rbac list bgppeers',
    run: (k) => k(['get', 'bgppeers', '-n', NAMESPACE]),
  },
  {
    what: 'list pools outside beacon-system',
    refusedBy: 'rbac list ipaddresspools',
    run: (k) => k(['get', 'ipaddresspools', '-n', APP]),
  },
  {
    what: 'create a pool',
    refusedBy: 'rbac create ipaddresspools',
    run: (k) => k(['create', '-f', '-'], pool(NAMESPACE)),
  },
  {
    what: 'delete a pool',
    refusedBy: 'rbac delete ipaddresspools',
    run: (k) => k(['delete', 'ipaddresspool', 'default', '-n', NAMESPACE]),
  },
  {
    what: "update a pool's spec",
    refusedBy: 'rbac patch ipaddresspools',
    run: (k) => k.patch(beacon('ipaddresspools', 'default'), { spec: { addresses: ['203.0.113.0/24'] } }),
  },
  {
    what: 'write an EndpointSlice',
    refusedBy: 'rbac patch endpointslices',
    run: (k) =>
      k.patch(`/apis/discovery.k8s.io/v1/namespaces/${APP}/endpointslices/web-1`, {
        metadata: { labels: { x: 'y' } },
      }),
  },
  {
    what: 'create a Lease with another name',
    refusedBy: 'beacon-leases',
    run: (k) => k(['create', '-f', '-'], lease('beacon-speaker-node-c', 'node-c')),
  },
  {
    what: "renew a speaker's Lease",
    refusedBy: 'rbac patch leases',
    run: (k) => k.patch(leasePath('beacon-speaker-node-a'), { spec: { holderIdentity: 'x' } }),
  },
  {
    what: 'delete the leader Lease',
    refusedBy: 'rbac delete leases',
    run: (k) => k(['delete', 'lease', 'beacon-controller', '-n', NAMESPACE]),
  },
  {
    what: 'patch a Node',
    refusedBy: 'rbac patch nodes',
    run: (k) => k.patch(core('', 'nodes', 'node-a'), { metadata: { labels: { x: 'y' } } }),
  },
];

const speakerForbidden: Forbidden[] = [
  {
    what: 'write a status object with a token bound to no node',
    refusedBy: 'beacon-speaker-status-objects',
    run: (k) =>
      k(
        ['create', '-f', '-'],
        statusObject('BGPSessionState', 'node-a-x', { node: 'node-a', peer: 'tor-a' }),
      ),
  },
  {
    what: 'write an Event with a token bound to no node',
    refusedBy: 'beacon-events',
    run: (k) => k(['create', '-f', '-'], event('web.unbound', 'beacon-speaker', 'node-a')),
  },
  {
    what: 'create a Service',
    refusedBy: 'rbac create services',
    run: (k) => k(['create', 'service', 'clusterip', 'new', '-n', APP, '--tcp=80:80']),
  },
  {
    what: 'delete a Service',
    refusedBy: 'rbac delete services',
    run: (k) => k(['delete', 'service', 'web', '-n', APP]),
  },
  {
    what: "patch a Service's status",
    refusedBy: 'rbac patch services/status',
    run: (k) => k.patch(core(APP, 'services', 'web', 'status'), ingress('192.0.2.9')),
  },
  {
    what: "update a Service's status (PUT)",
    refusedBy: 'rbac update services/status',
    run: async (k) =>
      k(['replace', '--subresource=status', '-f', '-'], await current(['service', 'web', '-n', APP])),
  },
  {
    what: 'annotate a Service',
    refusedBy: 'rbac patch services',
    run: (k) =>
      k.patch(core(APP, 'services', 'web'), {
        metadata: { annotations: { 'beacon.dev/ip-allocated-from-pool': 'x' } },
      }),
  },
  {
    what: "patch a Service's spec",
    refusedBy: 'rbac patch services',
    run: (k) => k.patch(core(APP, 'services', 'web'), { spec: { externalTrafficPolicy: 'Local' } }),
  },
  {
    what: 'read an unrelated Secret in beacon-system',
    refusedBy: 'rbac get secrets',
    run: (k) => k(['get', 'secret', 'unrelated', '-n', NAMESPACE]),
  },
  {
    what: "read a peer's passwordSecret not listed in its Role",
    refusedBy: 'rbac get secrets',
    run: (k) => k(['get', 'secret', 'tor-a-password', '-n', NAMESPACE]),
  },
  {
    what: 'read a Secret in another namespace',
    refusedBy: 'rbac get secrets',
    run: (k) => k(['get', 'secret', 'db-password', '-n', APP]),
  },
  {
    what: 'list Secrets in beacon-system without the name selector',
    refusedBy: 'rbac list secrets',
    run: (k) => k(['get', 'secrets', '-n', NAMESPACE]),
  },
  {
    what: 'update a Secret in beacon-system',
    refusedBy: 'rbac patch secrets',
    run: (k) => k.patch(core(NAMESPACE, 'secrets', 'tor-a-password'), { stringData: { password: 'weak' } }),
  },
  {
    what: 'delete a Secret in beacon-system',
    refusedBy: 'rbac delete secrets',
    run: (k) => k(['delete', 'secret', 'unrelated', '-n', NAMESPACE]),
  },
  {
    what: 'create a Secret in beacon-system',
    refusedBy: 'rbac create secrets',
    run: (k) => k(['create', 'secret', 'generic', 'loot', '-n', NAMESPACE, '--from-literal=a=b']),
  },
  {
    what: "create a service-account-token Secret (it would receive another account's token)",
    refusedBy: 'rbac create secrets',
    run: (k) =>
      k(
        ['create', '--dry-run=server', '-f', '-'],
        json({
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: {
            name: 'beacon-speaker-secrets',
            namespace: NAMESPACE,
            annotations: { 'kubernetes.io/service-account.name': 'beacon-controller' },
          },
          type: 'kubernetes.io/service-account-token',
        }),
      ),
  },
  {
    what: 'create a Secret outside beacon-system',
    refusedBy: 'rbac create secrets',
    run: (k) => k(['create', 'secret', 'generic', 'beacon-speaker-secrets', '-n', APP, '--from-literal=a=b']),
  },
  {
    what: 'create a pool',
    refusedBy: 'rbac create ipaddresspools',
    run: (k) => k(['create', '-f', '-'], pool(NAMESPACE)),
  },
  {
    what: 'delete a pool',
    refusedBy: 'rbac delete ipaddresspools',
    run: (k) => k(['delete', 'ipaddresspool', 'default', '-n', NAMESPACE]),
  },
  {
    what: "update a pool's spec",
    refusedBy: 'rbac patch ipaddresspools',
    run: (k) => k.patch(beacon('ipaddresspools', 'default'), { spec: { addresses: ['203.0.113.0/24'] } }),
  },
  {
    what: "write a pool's status",
    refusedBy: 'rbac patch ipaddresspools/status',
    run: (k) => k.patch(beacon('ipaddresspools', 'default', 'status'), { status: { assignedIPv4: 9 } }),
  },
  {
    what: "write a BGPAdvertisement's status (the controller's CommunitiesResolved)",
    refusedBy: 'rbac patch bgpadvertisements/status',
    run: (k) =>
      k.patch(beacon('bgpadvertisements', 'production-bgp', 'status'), { status: { conditions: [] } }),
  },
  {
    what: 'change a BGPPeer',
    refusedBy: 'rbac patch bgppeers',
    run: (k) => k.patch(beacon('bgppeers', 'tor-a'), { spec: { peerPort: 1179 } }),
  },
  {
    what: 'list pools outside beacon-system',
    refusedBy: 'rbac list ipaddresspools',
    run: (k) => k(['get', 'ipaddresspools', '-n', APP]),
  },
  {
    what: 'write an EndpointSlice',
    refusedBy: 'rbac patch endpointslices',
    run: (k) =>
      k.patch(`/apis/discovery.k8s.io/v1/namespaces/${APP}/endpointslices/web-1`, {
        metadata: { labels: { x: 'y' } },
      }),
  },
  {
    what: 'patch a Node',
    refusedBy: 'rbac patch nodes',
    run: (k) => k.patch(core('', 'nodes', 'node-a'), { metadata: { labels: { x: 'y' } } }),
  },
  {
    what: "take over the controller's leader Lease",
    refusedBy: 'beacon-leases',
    run: (k) => k.patch(leasePath('beacon-controller'), { spec: { holderIdentity: 'speaker' } }),
  },
  {
    what: "delete the controller's leader Lease",
    refusedBy: 'beacon-leases',
    run: (k) => k(['delete', 'lease', 'beacon-controller', '-n', NAMESPACE]),
  },
  {
    what: 'create a Lease not named beacon-speaker-*',
    refusedBy: 'beacon-leases',
    run: (k) => k(['create', '-f', '-'], lease('other', 'node-a')),
  },
  // A speaker Lease carries the node's mesh keys: a token bound to no node must write none.
  {
    what: 'create a node Lease with a token bound to no node',
    refusedBy: 'beacon-leases',
    run: (k) => k(['create', '-f', '-'], lease('beacon-speaker-node-c', 'node-c')),
  },
  {
    what: 'renew a node Lease with a token bound to no node',
    refusedBy: 'beacon-leases',
    run: (k) => k.patch(leasePath('beacon-speaker-node-b'), { spec: { leaseDurationSeconds: 20 } }),
  },
  {
    what: 'replace the mesh keys in a node Lease with a token bound to no node',
    refusedBy: 'beacon-leases',
    run: (k) =>
      k.patch(leasePath('beacon-speaker-node-b'), { metadata: { annotations: { 'beacon.dev/mesh': '{}' } } }),
  },
  {
    what: 'delete a node Lease with a token bound to no node',
    refusedBy: 'beacon-leases',
    run: (k) => k(['delete', 'lease', 'beacon-speaker-node-b', '-n', NAMESPACE]),
  },
  {
    what: 'write a status object outside beacon-system',
    refusedBy: 'rbac create servicel2statuses',
    run: (k) => k(['create', '-f', '-'], statusObject('ServiceL2Status', 'x', {}, APP)),
  },
];

const speakerOnNodeAForbidden: Forbidden[] = [
  ...STATUS_KINDS.flatMap(([plural, kind, status]): Forbidden[] => [
    {
      what: `create another node's ${kind}`,
      refusedBy: 'beacon-speaker-status-objects',
      run: (k) =>
        k(
          ['create', '-f', '-'],
          statusObject(kind, 'node-b-db', { ...status, node: 'node-b' }, NAMESPACE, 'node-b'),
        ),
    },
    {
      what: `create a ${kind} labelled with its node that names another in status.node`,
      refusedBy: 'beacon-speaker-status-objects',
      run: (k) => k(['create', '-f', '-'], statusObject(kind, 'node-a-db', { ...status, node: 'node-b' })),
    },
    {
      what: `patch another node's ${kind}`,
      refusedBy: 'beacon-speaker-status-objects',
      run: (k) => k.patch(beacon(plural, 'node-b-web'), { status: { node: 'node-b' } }),
    },
    {
      what: `take over another node's ${kind} (relabel it to its own node)`,
      refusedBy: 'beacon-speaker-status-objects',
      run: (k) =>
        k.patch(beacon(plural, 'node-b-web'), {
          metadata: { labels: { 'beacon.dev/node': 'node-a' } },
          status: { node: 'node-a' },
        }),
    },
    {
      what: `update another node's ${kind} (PUT)`,
      refusedBy: 'beacon-speaker-status-objects',
      run: async (k) => k(['replace', '-f', '-'], await current([plural, 'node-b-web', '-n', NAMESPACE])),
    },
    {
      what: `delete another node's ${kind}`,
      refusedBy: 'beacon-speaker-status-objects',
      run: (k) => k(['delete', plural, 'node-b-web', '-n', NAMESPACE]),
    },
    {
      what: `delete another node's ${plural} in one request, by its node label`,
      refusedBy: 'beacon-speaker-status-objects',
      run: (k) => k.deleteCollection(beaconCollection(plural), 'beacon.dev/node=node-b'),
    },
  ]),
  {
    what: "write an Event in kube-system as kube-system's scheduler",
    refusedBy: 'beacon-events',
    run: (k) =>
      k(
        ['create', '-f', '-'],
        event('kube-dns.forged', 'beacon-speaker', 'node-a', {
          namespace: 'kube-system',
          involvedObject: { apiVersion: 'v1', kind: 'Service', name: 'kube-dns', namespace: 'kube-system' },
          source: { component: 'default-scheduler' },
        }),
      ),
  },
  {
    what: 'write an Event about a Pod in kube-system',
    refusedBy: 'beacon-events',
    run: (k) =>
      k(
        ['create', '-f', '-'],
        event('etcd.forged', 'beacon-speaker', 'node-a', {
          namespace: 'kube-system',
          involvedObject: { apiVersion: 'v1', kind: 'Pod', name: 'etcd-node-a', namespace: 'kube-system' },
        }),
      ),
  },
  {
    what: 'write an Event as another node',
    refusedBy: 'beacon-events',
    run: (k) => k(['create', '-f', '-'], event('web.node-b', 'beacon-speaker', 'node-b')),
  },
  {
    what: "update the controller's Event",
    refusedBy: 'beacon-events',
    run: (k) => k.patch(core(APP, 'events', 'web.controller'), { count: 9 }),
  },
  {
    what: 'change what its own Event says',
    refusedBy: 'beacon-events',
    run: (k) => k.patch(core(APP, 'events', 'web.speaker'), { message: 'node-b is down' }),
  },
  {
    what: "renew another node's Lease",
    refusedBy: 'beacon-leases',
    run: (k) => k.patch(leasePath('beacon-speaker-node-b'), { spec: { leaseDurationSeconds: 5 } }),
  },
  {
    what: "create another node's Lease",
    refusedBy: 'beacon-leases',
    run: (k) => k(['create', '-f', '-'], lease('beacon-speaker-node-c', 'node-c')),
  },
  {
    what: "delete another node's Lease",
    refusedBy: 'beacon-leases',
    run: (k) => k(['delete', 'lease', 'beacon-speaker-node-b', '-n', NAMESPACE]),
  },
  {
    what: 'make its own Lease held by another node',
    refusedBy: 'beacon-leases',
    run: (k) => k.patch(leasePath('beacon-speaker-node-a'), { spec: { holderIdentity: 'node-b' } }),
  },
  {
    what: 'make its own Lease last longer than 300 s (peers would believe it dead late)',
    refusedBy: 'beacon-leases',
    run: (k) => k.patch(leasePath('beacon-speaker-node-a'), { spec: { leaseDurationSeconds: 3600 } }),
  },
  {
    what: 'create its own Lease without a holder',
    refusedBy: 'beacon-leases',
    run: (k) =>
      k(
        ['create', '--dry-run=server', '-f', '-'],
        json({
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name: 'beacon-speaker-node-a', namespace: NAMESPACE },
          spec: { leaseDurationSeconds: 15 },
        }),
      ),
  },
];

async function runPermitted(who: Who, rows: Row[]): Promise<void> {
  const failures: string[] = [];
  const check = (row: Row, r: Result) => {
    if (r.code !== 0) failures.push(`${row.what}: ${r.stderr.trim()}`);
  };
  const together = rows.filter((r) => r.concurrent);
  const results = await Promise.all(together.map((row) => row.run(as(who))));
  for (const [i, row] of together.entries()) check(row, results[i]!);
  for (const row of rows.filter((r) => !r.concurrent)) check(row, await row.run(as(who)));
  assert.deepEqual(failures, [], `${who} was refused what it needs`);
}

async function runForbidden(who: Who, user: string, rows: Forbidden[]): Promise<void> {
  const failures: string[] = [];
  for (const row of rows) {
    const r = await row.run(as(who));
    const rbac = /^rbac (\S+) (\S+)$/.exec(row.refusedBy);
    const why = rbac
      ? `User "${user}" cannot ${rbac[1]} resource "${rbac[2]}"`
      : `ValidatingAdmissionPolicy '${row.refusedBy}' with binding '${row.refusedBy}' denied request`;
    if (r.code === 0) failures.push(`${row.what}: ALLOWED`);
    else if (!r.stderr.includes('is forbidden:') || !r.stderr.includes(why))
      failures.push(`${row.what}: refused, but not by ${row.refusedBy}: ${r.stderr.trim()}`);
  }
  assert.deepEqual(failures, [], `${who} could do what it must not, or was refused for another reason`);
}

test('the real controller serves a Service under its own ServiceAccount', { timeout: 60_000 }, async () => {
  const access = parseKubeconfig(readFileSync(kubeconfigs.controller, 'utf8'), kubeconfigs.controller);
  const rest = new KubeRest(access, { userAgent: 'beacon-controller/rbac-test' });
  const abort = new AbortController();
  const controller = new Controller(
    rest,
    {
      namespace: NAMESPACE,
      identity: 'rbac-test',
      loadBalancerClass: 'beacon.dev/lb',
      concurrency: 4,
      leaseDurationMs: 3000,
      renewDeadlineMs: 2000,
      retryPeriodMs: 300,
    },
    createLogger('controller', (process.env.BEACON_TEST_LOG_LEVEL as 'info') ?? 'silent'),
    controllerMetrics(),
  );
  const running = controller.run(abort.signal);
  try {
    const admin = await adminRest(api);
    await waitFor('the controller to lead', () => controller.isLeader, 20_000, 50);
    let svc: V1Service | undefined;
    await waitFor(
      'web to get an address, with the pool annotation',
      async () => {
        svc = await admin.get<V1Service>(`/api/v1/namespaces/${APP}/services/web`);
        return (
          ingressOf(svc).length > 0 &&
          svc.metadata?.annotations?.['beacon.dev/ip-allocated-from-pool'] !== undefined
        );
      },
      20_000,
      100,
    );
    assert.match(ingressOf(svc!)[0]!, /^(192\.0\.2\.|198\.51\.100\.)/);
    await waitForEvent(admin, APP, 'web', 'IPAllocated');
    await waitFor(
      'pool status written',
      async () => {
        const pool = await admin.get<{ status?: { assignedIPv4?: number } }>(
          `/apis/beacon.dev/v1alpha1/namespaces/${NAMESPACE}/ipaddresspools/default`,
        );
        return pool.status?.assignedIPv4 !== undefined;
      },
      20_000,
      100,
    );
  } finally {
    abort.abort();
    await running;
  }
  // The permitted table below creates the Lease itself.
  await mustKubectl(api, ['delete', 'lease', 'beacon-controller', '-n', NAMESPACE]);
  await mustKubectl(api, [
    'patch',
    'service',
    'web',
    '-n',
    APP,
    '--subresource=status',
    '--type=merge',
    '-p',
    json(ingress(null)),
  ]);
});

test('the controller may do everything it needs', async () => {
  await runPermitted('controller', controllerPermitted);
});

test('the speaker may do everything it needs', async () => {
  await runPermitted('speaker', speakerPermitted);
  await runPermitted('speakerOnNodeA', speakerOnNodeAPermitted);
});

test('the controller is refused everything else in the table, each for the stated reason', async () => {
  await runForbidden('controller', CONTROLLER, controllerForbidden);
});

test('the speaker is refused everything else in the table, each for the stated reason', async () => {
  await runForbidden('speaker', SPEAKER, speakerForbidden);
  await runForbidden('speakerOnNodeA', SPEAKER, speakerOnNodeAForbidden);
});

test('kubectl auth can-i agrees: no wildcard rights, no Secrets', async () => {
  const can = async (user: string, ...args: string[]) =>
    (await api.kubectl(['auth', 'can-i', `--as=${user}`, ...args])).stdout.trim();
  for (const user of [CONTROLLER, SPEAKER]) {
    assert.equal(await can(user, '*', '*', '-A'), 'no', user);
    assert.equal(await can(user, 'get', 'secrets', '-n', NAMESPACE), 'no', user);
    assert.equal(await can(user, 'create', 'pods', '-n', NAMESPACE), 'no', user);
    assert.equal(await can(user, 'update', 'services', '-n', APP), 'no', user);
  }
  for (const verb of ['get', 'create', 'list'])
    assert.equal(await can(SPEAKER, verb, 'secrets', '-n', NAMESPACE), 'no', verb);
  assert.equal(await can(SPEAKER, 'get', 'secret/beacon-speaker-secrets', '-n', NAMESPACE), 'no');
  assert.equal(await can(SPEAKER, 'patch', 'services/status', '-n', APP), 'no');
  assert.equal(await can(CONTROLLER, 'patch', 'services/status', '-n', APP), 'yes');
});

test('a speaker on a node named longer than a label value writes its own status objects and no other', async () => {
  // 70 characters: a valid node name (DNS subdomain) that no label value can hold.
  const longNode = `edge-${'rack07-'.repeat(9)}host0042`;
  assert.ok(longNode.length > 63);
  await mustKubectl(
    api,
    ['apply', '-f', '-'],
    json({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'speaker-long', namespace: NAMESPACE },
      spec: {
        nodeName: longNode,
        serviceAccountName: 'beacon-speaker',
        containers: [{ name: 's', image: 'beacon:0.1.0' }],
      },
    }),
  );
  const token = await mustKubectl(api, [
    'create',
    'token',
    'beacon-speaker',
    '-n',
    NAMESPACE,
    '--bound-object-kind=Pod',
    '--bound-object-name=speaker-long',
  ]);
  const kubeconfig = kubeconfigForToken(api, SPEAKER, token.trim(), 'kubeconfig-speaker-long');
  const k = (args: string[], input?: string) => kubectlWith(api, kubeconfig, args, input);
  // The label the speaker writes, as its status writer documents it: the first 50 characters, '-', a hash.
  const label = nodeLabelValue(longNode);
  assert.ok(label.length <= 63 && label.startsWith(longNode.slice(0, 40)));
  for (const [plural, kind, status] of STATUS_KINDS) {
    const own = await k(
      ['create', '-f', '-'],
      statusObject(kind, 'long-web', { ...status, node: longNode }, NAMESPACE, label),
    );
    assert.equal(own.code, 0, `create its own ${kind}: ${own.stderr}`);
    const patched = await k(['label', plural, 'long-web', '-n', NAMESPACE, '--overwrite', 'probe=1']);
    assert.equal(patched.code, 0, `change its own ${kind}: ${patched.stderr}`);
    const stolen = await k(
      ['create', '-f', '-'],
      statusObject(kind, 'long-db', { ...status, node: longNode }, NAMESPACE, 'node-a'),
    );
    assert.notEqual(stolen.code, 0, `a ${kind} labelled as node-a must be refused`);
    assert.match(stolen.stderr, /beacon-speaker-status-objects/);
    const foreign = await k(['delete', plural, 'node-b-web', '-n', NAMESPACE]);
    assert.notEqual(foreign.code, 0, `deleting node-b's ${kind} must be refused`);
    assert.match(foreign.stderr, /beacon-speaker-status-objects/);
    const gone = await k(['delete', plural, 'long-web', '-n', NAMESPACE]);
    assert.equal(gone.code, 0, `delete its own ${kind}: ${gone.stderr}`);
  }
});
