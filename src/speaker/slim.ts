/**
 * What the speaker keeps of the objects it caches: exactly the fields plan.ts and the speaker read. With
 * thousands of Services and EndpointSlices, the full objects would be most of the speaker's memory.
 */
import type { V1EndpointSlice, V1Node, V1ObjectMeta, V1Service } from '@kubernetes/client-node';
import { POOL_ANNOTATION } from './catalog.ts';

function meta(m: V1ObjectMeta | undefined, labels: Record<string, string> | undefined): V1ObjectMeta {
  return {
    name: m?.name,
    namespace: m?.namespace,
    resourceVersion: m?.resourceVersion,
    ...(labels ? { labels } : {}),
  };
}

export function slimService(s: V1Service): V1Service {
  const pool = s.metadata?.annotations?.[POOL_ANNOTATION];
  return {
    metadata: {
      ...meta(s.metadata, undefined),
      ...(pool ? { annotations: { [POOL_ANNOTATION]: pool } } : {}),
    },
    spec: {
      type: s.spec?.type,
      loadBalancerClass: s.spec?.loadBalancerClass,
      externalTrafficPolicy: s.spec?.externalTrafficPolicy,
    },
    status: { loadBalancer: { ingress: (s.status?.loadBalancer?.ingress ?? []).map((i) => ({ ip: i.ip })) } },
  };
}

export function slimEndpointSlice(e: V1EndpointSlice): V1EndpointSlice {
  const service = e.metadata?.labels?.['kubernetes.io/service-name'];
  return {
    addressType: e.addressType,
    metadata: meta(e.metadata, service ? { 'kubernetes.io/service-name': service } : {}),
    // Addresses are not needed: only which nodes have a ready or serving endpoint.
    endpoints: (e.endpoints ?? []).map((ep) => ({
      addresses: [],
      nodeName: ep.nodeName,
      conditions: ep.conditions,
    })),
  };
}

export function slimNode(n: V1Node): V1Node {
  return {
    metadata: meta(n.metadata, n.metadata?.labels ?? {}),
    status: {
      addresses: n.status?.addresses,
      conditions: (n.status?.conditions ?? [])
        .filter((c) => c.type === 'NetworkUnavailable')
        .map((c) => ({ type: c.type, status: c.status })),
    },
  };
}
