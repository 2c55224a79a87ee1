/**
 * The rules for several Services on one address: the same sharing key, no port used twice with the same
 * protocol, the same externalTrafficPolicy, and for Local the same pods (the address is announced only
 * from nodes with ready endpoints, which must be the same nodes for every Service on it).
 */
import type { Refusal, SharingRequest } from './types.ts';

export interface Holder {
  service: string;
  sharing: SharingRequest | undefined;
}

/**
 * Why `service` (with `sharing`) may not join the holders of `address`, or undefined when it may. Holders
 * are checked in name order so the same state always yields the same message.
 */
export function sharingRefusal(
  address: string,
  service: string,
  sharing: SharingRequest | undefined,
  holders: readonly Holder[],
): Refusal | undefined {
  const others = holders
    .filter((h) => h.service !== service)
    .sort((a, b) => (a.service < b.service ? -1 : 1));
  for (const other of others) {
    const refusal = pairRefusal(address, service, sharing, other);
    if (refusal) return refusal;
  }
  return undefined;
}

function pairRefusal(
  address: string,
  service: string,
  mine: SharingRequest | undefined,
  other: Holder,
): Refusal | undefined {
  const theirs = other.sharing;
  const inUse = (why: string): Refusal => ({
    reason: 'AddressInUse',
    message: `${address} is already used by ${other.service}${why}`,
    address,
    services: [other.service],
  });
  const conflict = (why: string): Refusal => ({
    reason: 'SharingConflict',
    message: `${service} cannot share ${address} with ${other.service}: ${why}`,
    address,
    services: [other.service],
  });
  if (!theirs) return inUse(', which does not allow sharing it (no allow-shared-ip key)');
  if (!mine) {
    return inUse(
      `; to share it, give ${service} the same allow-shared-ip key as ${other.service} ("${theirs.key}")`,
    );
  }
  if (mine.key !== theirs.key) {
    return inUse(` under sharing key "${theirs.key}", and ${service} has key "${mine.key}"`);
  }
  if (mine.trafficPolicy !== theirs.trafficPolicy) {
    return conflict(
      `${other.service} has externalTrafficPolicy ${theirs.trafficPolicy} and ${service} has ${mine.trafficPolicy}; Services sharing an address need the same policy`,
    );
  }
  if (mine.trafficPolicy === 'Local' && !sameSelector(mine.podSelector, theirs.podSelector)) {
    return conflict(
      `with externalTrafficPolicy Local both must select the same pods, but ${other.service} selects ${formatLabels(theirs.podSelector)} and ${service} selects ${formatLabels(mine.podSelector)}`,
    );
  }
  const taken = new Set(theirs.ports.map(portKey));
  const clash = mine.ports.find((p) => taken.has(portKey(p)));
  if (clash) {
    return conflict(`both use port ${clash.port}/${clash.protocol.toUpperCase()}`);
  }
  return undefined;
}

function portKey(p: { port: number; protocol: string }): string {
  return `${p.port}/${p.protocol.toUpperCase()}`;
}

function sameSelector(
  a: Readonly<Record<string, string>> | undefined,
  b: Readonly<Record<string, string>> | undefined,
): boolean {
  const ea = Object.entries(a ?? {});
  const eb = b ?? {};
  return ea.length === Object.keys(eb).length && ea.every(([k, v]) => Object.hasOwn(eb, k) && eb[k] === v);
}

function formatLabels(labels: Readonly<Record<string, string>> | undefined): string {
  const entries = Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1));
  return entries.length ? entries.map(([k, v]) => `${k}=${v}`).join(',') : 'no pods (no selector)';
}
