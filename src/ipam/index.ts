/**
 * Beacon's IP address management: a pure allocator with no Kubernetes imports.
 *
 * How the controller uses it:
 *
 * ```ts
 * const allocator = new Allocator();
 * // 1. Pools first. Rejected pools come back in `errors`; held addresses that lie in no pool in
 * //    `outOfPool` (kept, never dropped: warn about them).
 * const { errors, outOfPool } = allocator.setPools(pools);
 * // 2. On start, before assigning anything: every Service's addresses from its status.
 * //    `conflicts` lists addresses another Service restored first (it keeps them).
 * const { assignment, outOfPool, conflicts } = allocator.restore(request, statusAddresses);
 * // 3. Then, for every Service (again whenever it or the pools change):
 * const result = allocator.assign(request);
 * if (result.ok) {
 *   // result.assignment.addresses: [{ address, family, pool }]; result.changed: write status?
 *   // result.unassigned: PreferDualStack families left without an address, with why.
 * } else {
 *   // result.refusal: { reason, message } for a Warning Event; the Service keeps what it had, less
 *   // result.lost: addresses its new sharing terms may no longer share (it gave them up; write its status).
 * }
 * // 4. When a Service is deleted or stops being ours:
 * allocator.release('namespace/name');
 * // Pool status and conditions:
 * allocator.poolStats('pool-name'); // { ipv4: { total, assigned, available }, ipv6: ... } as bigints
 * allocator.overlappingPools();      // [{ a, b, range }] for an Overlapping condition
 * // Lookups:
 * allocator.assignmentOf('namespace/name'); // what a Service holds, or undefined
 * allocator.servicesAt('192.168.1.10');     // who holds an address (several when shared)
 * allocator.outOfPool();                    // held addresses in no pool, with their Services
 * allocator.poolNames();                    // pools in the order they are tried
 * ```
 *
 * Calling `assign` again with an unchanged request returns the same addresses (`changed: false`). An
 * address moves only when the Service names a different address, switches its pool annotation to a pool
 * the address is not in, or changes its sharing terms so it clashes with its co-holders; if the new
 * assignment cannot be made, the old one stays, unless the Service may no longer share it: then it is
 * given up (never two holders without a valid sharing key and disjoint ports). Pool changes and restarts
 * never move an address.
 *
 * Refusal reasons (Event reasons): PoolExhausted, AddressInUse, AddressNotInPool, SharingConflict,
 * UnknownPool, PoolNotAllowed, NoPoolForFamily, InvalidRequest.
 */
export { canonicalAddress, type Family, familyName, parseAddress } from './address.ts';
export { Allocator } from './allocator.ts';
export type {
  AssignedAddress,
  Assignment,
  AssignResult,
  FamilyStats,
  OutOfPoolAddress,
  PoolError,
  PoolInput,
  PoolOverlap,
  PoolStats,
  Refusal,
  RefusalReason,
  RestoreResult,
  ServiceAllocation,
  ServicePort,
  ServiceRequest,
  SetPoolsResult,
  SharingRequest,
} from './types.ts';
