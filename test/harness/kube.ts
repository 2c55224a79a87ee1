/** Small helpers for tests that drive Beacon through a real API server. */

import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Service } from '@kubernetes/client-node';
import { KINDS } from '../../src/api/crds/kinds.ts';
import { Controller, type ControllerOptions } from '../../src/controller/controller.ts';
import { controllerMetrics } from '../../src/controller/metrics.ts';
import type { ClusterAccess } from '../../src/k8s/kubeconfig.ts';
import { ApiError, KubeRest } from '../../src/k8s/rest.ts';
import { createLogger } from '../../src/log.ts';
import type { ApiServer } from './apiserver.ts';
import { waitFor } from './process.ts';

export async function adminRest(api: ApiServer, userAgent = 'beacon-tests'): Promise<KubeRest> {
  return new KubeRest(api.access, { userAgent });
}

export async function ensureNamespace(
  rest: KubeRest,
  name: string,
  labels: Record<string, string> = {},
): Promise<void> {
  try {
    await rest.create('/api/v1/namespaces', {
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name, labels },
    });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 409)) throw err;
  }
}

/** Creates a beacon.dev/v1alpha1 object of any kind (plural looked up in the CRD definitions). */
export async function createBeaconObject(
  rest: KubeRest,
  namespace: string,
  kind: string,
  name: string,
  spec: Record<string, unknown>,
  labels?: Record<string, string>,
): Promise<unknown> {
  const k = KINDS.find((x) => x.kind === kind);
  if (!k) throw new Error(`no beacon.dev kind ${kind}`);
  return rest.create(`/apis/beacon.dev/v1alpha1/namespaces/${namespace}/${k.plural}`, {
    apiVersion: 'beacon.dev/v1alpha1',
    kind,
    metadata: { name, namespace, ...(labels ? { labels } : {}) },
    spec,
  });
}

export async function createPool(
  rest: KubeRest,
  namespace: string,
  name: string,
  spec: Record<string, unknown>,
  labels?: Record<string, string>,
) {
  return createBeaconObject(rest, namespace, 'IPAddressPool', name, spec, labels);
}

export interface ServiceOptions {
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  ports?: { port: number; protocol?: string }[];
  spec?: Record<string, unknown>;
}

export function serviceManifest(
  namespace: string,
  name: string,
  cls: string | undefined,
  o: ServiceOptions = {},
) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace,
      ...(o.annotations ? { annotations: o.annotations } : {}),
      ...(o.labels ? { labels: o.labels } : {}),
    },
    spec: {
      type: 'LoadBalancer',
      ...(cls ? { loadBalancerClass: cls } : {}),
      // No node ports: nothing here routes traffic, and thousands of Services would exhaust the range.
      allocateLoadBalancerNodePorts: false,
      selector: { app: name },
      ports: (o.ports ?? [{ port: 80 }]).map((p) => ({
        name: `p${p.port}-${(p.protocol ?? 'TCP').toLowerCase()}`,
        port: p.port,
        protocol: p.protocol ?? 'TCP',
      })),
      ...o.spec,
    },
  };
}

export async function createService(
  rest: KubeRest,
  namespace: string,
  name: string,
  cls: string | undefined,
  o: ServiceOptions = {},
): Promise<V1Service> {
  return rest.create<V1Service>(
    `/api/v1/namespaces/${namespace}/services`,
    serviceManifest(namespace, name, cls, o),
  );
}

export async function getService(rest: KubeRest, namespace: string, name: string): Promise<V1Service> {
  return rest.get<V1Service>(`/api/v1/namespaces/${namespace}/services/${name}`);
}

export function ingressOf(svc: V1Service): string[] {
  return (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '');
}

/** Waits until the Service's status shows addresses (and `predicate` holds), returning them. */
export async function waitForIngress(
  rest: KubeRest,
  namespace: string,
  name: string,
  predicate: (ips: string[]) => boolean = (ips) => ips.length > 0,
  timeoutMs = 15_000,
): Promise<string[]> {
  let last: string[] = [];
  await waitFor(
    `${namespace}/${name} to get an EXTERNAL-IP`,
    async () => {
      last = ingressOf(await getService(rest, namespace, name));
      return predicate(last);
    },
    timeoutMs,
    50,
    () => `last ingress: ${JSON.stringify(last)}`,
  );
  return last;
}

export interface EventSummary {
  type: string;
  reason: string;
  message: string;
  count: number;
}

export async function eventsFor(rest: KubeRest, namespace: string, name: string): Promise<EventSummary[]> {
  const list = await rest.get<{ items: { type: string; reason: string; message: string; count?: number }[] }>(
    `/api/v1/namespaces/${namespace}/events`,
    { query: { fieldSelector: `involvedObject.name=${name}` } },
  );
  return list.items.map((e) => ({ type: e.type, reason: e.reason, message: e.message, count: e.count ?? 1 }));
}

/** Waits for an Event with this reason on the object, returning it. */
export async function waitForEvent(
  rest: KubeRest,
  namespace: string,
  name: string,
  reason: string,
  timeoutMs = 15_000,
): Promise<EventSummary> {
  let found: EventSummary | undefined;
  let seen: EventSummary[] = [];
  await waitFor(
    `event ${reason} on ${namespace}/${name}`,
    async () => {
      seen = await eventsFor(rest, namespace, name);
      found = seen.find((e) => e.reason === reason);
      return !!found;
    },
    timeoutMs,
    100,
    () => `events: ${JSON.stringify(seen)}`,
  );
  return found!;
}

export interface RunningController {
  controller: Controller;
  stop(): Promise<void>;
}

/**
 * A controller in this process, against the harness's API server (or whatever `access` points at, e.g. a
 * fault proxy); stop() ends it (releasing its Lease). With `waitToLead: false` it returns at once.
 */
export async function startController(
  api: ApiServer,
  opts: Partial<ControllerOptions> & { namespace: string; loadBalancerClass: string },
  how: { access?: ClusterAccess; waitToLead?: boolean } = {},
): Promise<RunningController> {
  const rest = new KubeRest(how.access ?? api.access, { userAgent: 'beacon-controller/test' });
  const abort = new AbortController();
  const controller = new Controller(
    rest,
    {
      identity: `test-${Math.random().toString(36).slice(2, 8)}`,
      concurrency: 32,
      leaseDurationMs: 3000,
      renewDeadlineMs: 2000,
      retryPeriodMs: 300,
      ...opts,
    },
    createLogger('controller', (process.env.BEACON_TEST_LOG_LEVEL as 'info') ?? 'silent'),
    controllerMetrics(),
  );
  const running = controller.run(abort.signal);
  if (how.waitToLead !== false)
    await waitFor('the controller to lead', () => controller.isLeader, 20_000, 20);
  return {
    controller,
    async stop() {
      abort.abort();
      await running;
      await sleep(0);
    },
  };
}
