/**
 * What a Service asks for, read independently of the controller's own parser: the chaos checker judges the
 * controller, so it must not share the code it judges. Only the parts that may justify an address change or
 * a shared address are read.
 */
import type { V1Service } from '@kubernetes/client-node';

export const SERVED_CLASS = 'beacon.dev/lb';

const LB_IPS = [
  'beacon.dev/load-balancer-ips',
  'metallb.io/loadBalancerIPs',
  'metallb.universe.tf/loadBalancerIPs',
];
const SHARE = [
  'beacon.dev/allow-shared-ip',
  'metallb.io/allow-shared-ip',
  'metallb.universe.tf/allow-shared-ip',
];
const POOL = ['beacon.dev/address-pool', 'metallb.io/address-pool', 'metallb.universe.tf/address-pool'];

export interface Request {
  /** type LoadBalancer with no class or Beacon's class. */
  served: boolean;
  requested: string[];
  shareKey: string;
  pool: string;
  /** "port/PROTOCOL", sorted. */
  ports: string[];
  policy: 'Cluster' | 'Local';
  selector: string;
  families: string;
}

function first(annotations: Record<string, string>, names: string[]): string {
  for (const n of names) {
    const v = annotations[n]?.trim();
    if (v) return v;
  }
  return '';
}

export function requestOf(svc: V1Service): Request {
  const spec = svc.spec ?? {};
  const a = svc.metadata?.annotations ?? {};
  const cls = spec.loadBalancerClass;
  const ips = first(a, LB_IPS);
  return {
    served: spec.type === 'LoadBalancer' && (!cls || cls === SERVED_CLASS),
    requested: ips
      ? ips
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : spec.loadBalancerIP
        ? [spec.loadBalancerIP]
        : [],
    shareKey: first(a, SHARE),
    pool: first(a, POOL),
    ports: (spec.ports ?? []).map((p) => `${p.port}/${(p.protocol ?? 'TCP').toUpperCase()}`).sort(),
    policy: spec.externalTrafficPolicy === 'Local' ? 'Local' : 'Cluster',
    selector: JSON.stringify(Object.entries(spec.selector ?? {}).sort()),
    families: `${(spec.ipFamilies ?? []).join(',')}/${spec.ipFamilyPolicy ?? ''}`,
  };
}

export function fingerprint(r: Request): string {
  return JSON.stringify(r);
}

/** status.loadBalancer.ingress as one comparable string ('' for none). */
export function addressesOf(svc: V1Service): string[] {
  return (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip ?? '').filter(Boolean);
}

/**
 * Whether two Services may hold one address (README, "Sharing one address"): the same non-empty key, no
 * port and protocol used by both, the same traffic policy, and for Local equal pod selectors.
 */
export function mayShare(a: Request, b: Request): boolean {
  if (!a.shareKey || a.shareKey !== b.shareKey) return false;
  if (a.policy !== b.policy) return false;
  if (a.policy === 'Local' && a.selector !== b.selector) return false;
  return !a.ports.some((p) => b.ports.includes(p));
}

/** Whether some choice of one request per holder lets every pair share (holders with several candidates). */
export function someValidSharing(candidates: readonly (readonly Request[])[]): boolean {
  const choose = (i: number, chosen: Request[]): boolean => {
    if (i === candidates.length) return true;
    for (const r of candidates[i]!) {
      if (chosen.every((c) => mayShare(c, r)) && choose(i + 1, [...chosen, r])) return true;
    }
    return false;
  };
  return choose(0, []);
}
