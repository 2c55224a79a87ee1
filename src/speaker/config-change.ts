/**
 * Whether an update of an object the speaker reads as configuration can change what it does. Every such
 * change makes the catalog describe every address again, so an update that cannot must not count: the
 * controller rewrites each IPAddressPool's status (its counts) about once a second while Services come and
 * go, and in a burst of 1,000 Services those rewrites were the speakers' largest single cost.
 */
import type { V1Node } from '@kubernetes/client-node';
import type { KubeObject } from '../k8s/informer.ts';

function sameLabels(a: Record<string, string> = {}, b: Record<string, string> = {}): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && a[k] === b[k]);
}

/**
 * A custom resource (pool, advertisement, peer, BFD profile, community): the speaker reads its name, labels
 * (advertisements select pools by label) and spec. The API server increments metadata.generation on every
 * change outside metadata and status, and never for a write to the status subresource; labels are metadata.
 * An object without a generation on either side is taken as changed.
 */
export function customResourceUpdateMatters(obj: KubeObject, old: KubeObject | undefined): boolean {
  const now = obj.metadata?.generation;
  const before = old?.metadata?.generation;
  if (now === undefined || before === undefined || now !== before) return true;
  return !sameLabels(obj.metadata?.labels, old?.metadata?.labels);
}

/** A Node, as the speaker keeps it (slimNode): its labels, addresses and NetworkUnavailable condition. */
export function nodeUpdateMatters(obj: V1Node, old: V1Node | undefined): boolean {
  if (!old || !sameLabels(obj.metadata?.labels, old.metadata?.labels)) return true;
  const read = (n: V1Node) =>
    JSON.stringify([
      (n.status?.addresses ?? []).map((a) => [a.type, a.address]),
      (n.status?.conditions ?? []).map((c) => [c.type, c.status]),
    ]);
  return read(obj) !== read(old);
}
