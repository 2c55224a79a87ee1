/** The allocator's public vocabulary: what the controller passes in and what it gets back. */
import type { LabelSelector } from '../api/crds/common.ts';
import type { Family } from './address.ts';

export type { Family } from './address.ts';

/** An IPAddressPool as the allocator needs it (its name and spec, defaults applied). */
export interface PoolInput {
  name: string;
  /** CIDRs and inclusive `a-b` ranges, IPv4 and IPv6 mixed. */
  addresses: readonly string[];
  autoAssign: boolean;
  avoidBuggyIPs: boolean;
  serviceAllocation?: ServiceAllocation;
}

export interface ServiceAllocation {
  /** Lower is tried first; pools without a priority come after every pool with one. */
  priority?: number;
  namespaces?: readonly string[];
  namespaceSelectors?: readonly LabelSelector[];
  serviceSelectors?: readonly LabelSelector[];
}

export interface ServicePort {
  port: number;
  /** TCP, UDP or SCTP; compared without regard to case. */
  protocol: string;
}

/** What a Service that allows sharing its address (allow-shared-ip annotation) brings to the table. */
export interface SharingRequest {
  key: string;
  ports: readonly ServicePort[];
  trafficPolicy: 'Cluster' | 'Local';
  /** The Service's pod selector; Services with policy Local share an address only with equal selectors. */
  podSelector?: Readonly<Record<string, string>>;
}

/** Everything about a Service that decides its addresses. */
export interface ServiceRequest {
  /** "namespace/name"; identifies the Service in every message. */
  key: string;
  namespace: string;
  namespaceLabels: Readonly<Record<string, string>>;
  serviceLabels: Readonly<Record<string, string>>;
  /** Families in the Service's order (spec.ipFamilies); an address is assigned per family. */
  families: readonly Family[];
  /**
   * True for SingleStack and RequireDualStack: every family in `families` must get an address or the
   * request is refused. False for PreferDualStack: as many families as possible, at least one.
   */
  requireAllFamilies: boolean;
  /** spec.loadBalancerIP or the load-balancer-ips annotation: at most one per family. */
  requestedAddresses: readonly string[];
  /**
   * Why what the Service asks contradicts itself (e.g. spec.loadBalancerIP names an address its annotation
   * does not), found while reading it; the request is refused as InvalidRequest with this message.
   */
  problem?: string;
  /** The address-pool annotation. */
  pool?: string;
  sharing?: SharingRequest;
}

export interface AssignedAddress {
  /** Canonical text (RFC 5952 for IPv6). */
  address: string;
  family: Family;
  /** The pool the address lies in, or undefined when it lies in no pool (kept, never dropped). */
  pool: string | undefined;
}

export interface Assignment {
  service: string;
  /** In the order of the request's families. */
  addresses: AssignedAddress[];
  /** The sharing terms the addresses are held under (the controller records them on the Service). */
  sharing?: SharingRequest;
}

/** Every way a request can be refused; the controller uses these as Event reasons. */
export type RefusalReason =
  | 'PoolExhausted'
  | 'AddressInUse'
  | 'AddressNotInPool'
  | 'SharingConflict'
  | 'UnknownPool'
  | 'PoolNotAllowed'
  | 'NoPoolForFamily'
  | 'InvalidRequest';

export interface Refusal {
  reason: RefusalReason;
  /** One sentence a person can act on, naming the Service, address, pool or other Service involved. */
  message: string;
  family?: Family;
  /** The address concerned, when there is one. */
  address?: string;
  /** The other Services involved (AddressInUse, SharingConflict). */
  services?: string[];
  /** The pools involved (PoolExhausted: the pools tried). */
  pools?: string[];
}

export type AssignResult =
  | {
      ok: true;
      assignment: Assignment;
      /** Whether the addresses differ from what the Service held before this call. */
      changed: boolean;
      /**
       * Families of a PreferDualStack request that got no address, and why. Empty when every family
       * was assigned.
       */
      unassigned: Refusal[];
    }
  | {
      ok: false;
      refusal: Refusal;
      /**
       * What the Service still holds: what it had, less `lost`. Everyone else's addresses are untouched.
       */
      assignment: Assignment | undefined;
      /**
       * Addresses the Service gave up because its new request may not share them with their other
       * holders (another key, a port they use, ...), and why: it broke the terms, so it leaves.
       */
      lost: Refusal[];
    };

export interface RestoreResult {
  /** What the Service now holds, or undefined when nothing could be restored. */
  assignment: Assignment | undefined;
  /** Restored addresses that lie in no pool: kept, so the controller can warn about them. */
  outOfPool: string[];
  /** Addresses that were not restored (taken by an incompatible Service first, unparseable, ...). */
  conflicts: Refusal[];
}

export interface PoolError {
  pool: string;
  message: string;
}

export interface OutOfPoolAddress {
  address: string;
  family: Family;
  services: string[];
}

export interface SetPoolsResult {
  /** Pools that were rejected as a whole, and why; their addresses are not handed out. */
  errors: PoolError[];
  /** Every held address that now lies in no pool (kept; the controller should warn). */
  outOfPool: OutOfPoolAddress[];
}

export interface FamilyStats {
  /** Addresses the pool can hand out (buggy ones excluded when the pool avoids them). */
  total: bigint;
  /** Held addresses inside the pool's ranges (an address in two overlapping pools counts in both). */
  assigned: bigint;
  /** Addresses the pool can still hand out. */
  available: bigint;
}

export interface PoolStats {
  pool: string;
  ipv4: FamilyStats;
  ipv6: FamilyStats;
}

export interface PoolOverlap {
  /** The two pools, `a` before `b` by name. */
  a: string;
  b: string;
  /** The shared addresses as a CIDR, a single address or `first-last`. */
  range: string;
}
