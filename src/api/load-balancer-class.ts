/**
 * Which Services are Beacon's, the one rule the controller (which assigns) and the speaker (which
 * announces) must agree on: a Service of type LoadBalancer whose spec.loadBalancerClass is Beacon's class,
 * or that has no class at all unless Beacon runs class-only. Class-only lets Beacon run beside another
 * provider (MetalLB, Cilium LB-IPAM, kube-vip) that keeps the class-less Services.
 */
export const DEFAULT_LOAD_BALANCER_CLASS = 'beacon.dev/lb';

export interface ClassRule {
  /** The spec.loadBalancerClass Beacon serves. */
  loadBalancerClass: string;
  /** Serve only Services of that class; leave class-less ones to another provider. */
  classOnly?: boolean;
}

interface ServiceLike {
  spec?: { type?: string; loadBalancerClass?: string | null };
}

export function servedByBeacon(svc: ServiceLike, rule: ClassRule): boolean {
  if (svc.spec?.type !== 'LoadBalancer') return false;
  const cls = svc.spec.loadBalancerClass;
  if (cls === undefined || cls === null || cls === '') return !rule.classOnly;
  return cls === rule.loadBalancerClass;
}
