/**
 * Reads what a Service asks of Beacon: whether Beacon serves it at all, the addresses, pool and sharing key
 * it requests (Beacon's annotations, and MetalLB's for users moving over), and its families.
 */
import type { V1Service } from '@kubernetes/client-node';
import { canonicalAddress } from '../ipam/address.ts';
import type { Family, ServiceRequest, SharingRequest } from '../ipam/types.ts';

export const ANNOTATION = {
  loadBalancerIPs: 'beacon.dev/load-balancer-ips',
  addressPool: 'beacon.dev/address-pool',
  allowSharedIP: 'beacon.dev/allow-shared-ip',
  /** Written by the controller: the pool the Service's addresses came from. */
  allocatedFromPool: 'beacon.dev/ip-allocated-from-pool',
  /**
   * Written by the controller: the sharing terms (key, ports, policy, selector) the addresses were assigned
   * under, as JSON. A new leader restores shared addresses under these terms, not the current annotations.
   */
  allocatedSharing: 'beacon.dev/ip-allocated-sharing',
} as const;

/** Annotation names accepted for each setting, Beacon's own first. */
const ALIASES: Record<'loadBalancerIPs' | 'addressPool' | 'allowSharedIP', readonly string[]> = {
  loadBalancerIPs: [
    ANNOTATION.loadBalancerIPs,
    'metallb.io/loadBalancerIPs',
    'metallb.universe.tf/loadBalancerIPs',
  ],
  addressPool: [ANNOTATION.addressPool, 'metallb.io/address-pool', 'metallb.universe.tf/address-pool'],
  allowSharedIP: [
    ANNOTATION.allowSharedIP,
    'metallb.io/allow-shared-ip',
    'metallb.universe.tf/allow-shared-ip',
  ],
};

export function serviceKey(svc: V1Service): string {
  return `${svc.metadata?.namespace}/${svc.metadata?.name}`;
}

export {
  DEFAULT_LOAD_BALANCER_CLASS,
  servedByBeacon as isServedByBeacon,
} from '../api/load-balancer-class.ts';

/** The first annotation of the setting's aliases that has a value, with the name it was found under. */
function annotationEntry(
  svc: V1Service,
  setting: keyof typeof ALIASES,
): { name: string; value: string } | undefined {
  const a = svc.metadata?.annotations ?? {};
  for (const name of ALIASES[setting]) {
    const value = a[name]?.trim();
    if (value) return { name, value };
  }
  return undefined;
}

function annotation(svc: V1Service, setting: keyof typeof ALIASES): string | undefined {
  return annotationEntry(svc, setting)?.value;
}

/**
 * Why spec.loadBalancerIP contradicts the addresses annotation, or undefined when either is unset or the
 * field names one of the annotated addresses. MetalLB refuses the two together; Beacon refuses them only
 * when they disagree, because silently dropping one of two addresses a user asked for hides the mistake.
 */
function contradiction(
  svc: V1Service,
  annotated: { name: string; addresses: readonly string[] },
): string | undefined {
  const field = svc.spec?.loadBalancerIP?.trim();
  if (!field) return undefined;
  const same = (x: string) => (canonicalAddress(x) ?? x) === (canonicalAddress(field) ?? field);
  if (annotated.addresses.some(same)) return undefined;
  return `${serviceKey(svc)} asks for ${field} in spec.loadBalancerIP but for ${annotated.addresses.join(', ')} in the annotation ${annotated.name}; remove one, or make them agree`;
}

function familyOf(family: string): Family | undefined {
  if (family === 'IPv4') return 4;
  if (family === 'IPv6') return 6;
  return undefined;
}

/** The addresses in status.loadBalancer.ingress, in order. */
export function ingressAddresses(svc: V1Service): string[] {
  return (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((ip): ip is string => !!ip);
}

export function requestFor(
  svc: V1Service,
  namespaceLabels: Readonly<Record<string, string>>,
): ServiceRequest {
  const spec = svc.spec ?? {};
  const requested = annotationEntry(svc, 'loadBalancerIPs');
  // Empty entries stay, so that the allocator refuses them: "1.2.3.4," is a mistake, not a wish.
  const annotated = requested && {
    name: requested.name,
    addresses: requested.value.split(',').map((s) => s.trim()),
  };
  const requestedAddresses = annotated
    ? annotated.addresses
    : spec.loadBalancerIP
      ? [spec.loadBalancerIP.trim()]
      : [];
  const problem = annotated && contradiction(svc, annotated);
  const families = (spec.ipFamilies ?? ['IPv4']).map(familyOf).filter((f): f is Family => f !== undefined);
  const policy = spec.ipFamilyPolicy ?? 'SingleStack';
  const shareKey = annotation(svc, 'allowSharedIP');
  const pool = annotation(svc, 'addressPool');
  const request: ServiceRequest = {
    key: serviceKey(svc),
    namespace: svc.metadata?.namespace ?? 'default',
    namespaceLabels,
    serviceLabels: svc.metadata?.labels ?? {},
    families: policy === 'SingleStack' ? families.slice(0, 1) : families,
    requireAllFamilies: policy !== 'PreferDualStack',
    requestedAddresses,
  };
  if (pool) request.pool = pool;
  if (problem) request.problem = problem;
  if (shareKey) {
    request.sharing = {
      key: shareKey,
      ports: (spec.ports ?? []).map((p) => ({ port: p.port, protocol: p.protocol ?? 'TCP' })),
      trafficPolicy: spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster',
      ...(spec.selector ? { podSelector: spec.selector } : {}),
    };
  }
  return request;
}

/** The sharing terms to record with an assignment (the value of ANNOTATION.allocatedSharing), or null. */
export function termsRecord(sharing: SharingRequest | undefined): string | null {
  return sharing ? JSON.stringify(sharing) : null;
}

/**
 * The request a Service's current addresses were assigned under: its current request, with the sharing
 * terms recorded at assignment when there is a readable record. A Service whose sharing key or ports
 * changed while no controller led still holds its address under the old terms; restoring it under the new
 * ones would let it take the address from the Services it legitimately shares with.
 */
export function requestAtAssignment(
  svc: V1Service,
  namespaceLabels: Readonly<Record<string, string>>,
): ServiceRequest {
  const request = requestFor(svc, namespaceLabels);
  const recorded = svc.metadata?.annotations?.[ANNOTATION.allocatedSharing];
  if (recorded === undefined) return request;
  const sharing = parseSharing(recorded);
  if (sharing === undefined) return request;
  const { sharing: _current, ...rest } = request;
  return sharing ? { ...rest, sharing } : rest;
}

/** A recorded SharingRequest; null for "no sharing" (empty), undefined when unreadable. */
function parseSharing(text: string): SharingRequest | null | undefined {
  if (text.trim() === '') return null;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!v || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  const ports = o.ports;
  if (
    typeof o.key !== 'string' ||
    (o.trafficPolicy !== 'Cluster' && o.trafficPolicy !== 'Local') ||
    !Array.isArray(ports) ||
    !ports.every(
      (p) => p && typeof p === 'object' && typeof p.port === 'number' && typeof p.protocol === 'string',
    )
  )
    return undefined;
  const selector = o.podSelector;
  const validSelector =
    selector &&
    typeof selector === 'object' &&
    Object.values(selector as Record<string, unknown>).every((x) => typeof x === 'string');
  return {
    key: o.key,
    ports: ports.map((p: { port: number; protocol: string }) => ({ port: p.port, protocol: p.protocol })),
    trafficPolicy: o.trafficPolicy,
    ...(validSelector ? { podSelector: selector as Record<string, string> } : {}),
  };
}
