/**
 * The order of a key rotation (docs/membership.md, "Keys"), shared by the speaker and the simulation. A
 * peer addresses this node under the first key its Lease names and accepts the sender's key by version, so:
 * the new key is first published second (peers learn it, still address the old one); after useAfterMs this
 * node sends and signs with it and publishes it first (peers address it from when their watch shows that);
 * the old key goes only once that Lease was accepted dropAfterMs ago and no peer has addressed this node
 * under the old key for unusedForMs. Dropping it on a timer alone refused every datagram of a peer whose
 * watch was slow: no acknowledgements, the fence closed, and the node's addresses went unanswered and moved.
 */
import type { KeyPairs } from './identity.ts';
import type { MeshNode } from './node.ts';

export const ROTATION = {
  /** From the new key's first publication (second in the Lease) to sending with it. */
  useAfterMs: 2000,
  /** From the acceptance of the Lease that names it first to dropping the old key, at the earliest. */
  dropAfterMs: 10_000,
  /** And no peer addressed this node under the old key for this long. */
  unusedForMs: 2000,
  /** How often a pending drop is looked at again. */
  recheckMs: 1000,
} as const;

/** The keys this node's Lease names in each phase, in the order peers read them. */
export function rotationKeys(phase: 'announce' | 'use' | 'done', old: KeyPairs, next: KeyPairs): KeyPairs[] {
  switch (phase) {
    case 'announce':
      return [old, next];
    case 'use':
      return [next, old];
    case 'done':
      return [next];
  }
}

/** Whether the old key may go now: the Lease naming the new key first was accepted at `acceptedAt`. */
export function mayDropOldKey(mesh: MeshNode, old: KeyPairs, acceptedAt: number, now: number): boolean {
  return (
    now - acceptedAt >= ROTATION.dropAfterMs &&
    now - mesh.keyLastUsedAt(old.public.version) >= ROTATION.unusedForMs
  );
}
