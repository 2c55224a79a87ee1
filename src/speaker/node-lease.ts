/**
 * One coordination.k8s.io/v1 Lease per speaker, `beacon-speaker-<node>`: the slow, API-backed half of
 * liveness. Writes are O(nodes): each speaker renews its own Lease every few seconds whatever the number of
 * addresses. Peers' Leases are judged on this process's clock (how long the same renewTime has been seen),
 * so clock skew between nodes does not matter.
 */

import { ApiError, type KubeRest } from '../k8s/rest.ts';
import type { Logger } from '../log.ts';

export const SPEAKER_LEASE_PREFIX = 'beacon-speaker-';
export const SPEAKER_LEASE_LABEL = 'app.kubernetes.io/component';
export const SPEAKER_LEASE_LABEL_VALUE = 'speaker-lease';

export interface SpeakerLease {
  metadata?: { name?: string; resourceVersion?: string; labels?: Record<string, string> };
  spec?: { holderIdentity?: string | null; renewTime?: string | null; leaseDurationSeconds?: number };
}

function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/** Renews this node's Lease; reports success so the membership knows whether the API server is reachable. */
export class NodeLeaseWriter {
  private readonly rest: KubeRest;
  private readonly namespace: string;
  private readonly node: string;
  private readonly durationSec: number;
  private readonly log: Logger;

  constructor(rest: KubeRest, namespace: string, node: string, durationSec: number, log: Logger) {
    this.rest = rest;
    this.namespace = namespace;
    this.node = node;
    this.durationSec = durationSec;
    this.log = log;
  }

  private get name(): string {
    return `${SPEAKER_LEASE_PREFIX}${this.node}`;
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases/${this.name}`;
  }

  /** One renewal (creating the Lease if needed); true when the API server took it. */
  async renew(): Promise<boolean> {
    const now = microTime(new Date());
    const spec = { holderIdentity: this.node, leaseDurationSeconds: this.durationSec, renewTime: now };
    try {
      await this.rest.patch(this.path, 'merge', { spec }, { timeoutMs: 3000 });
      return true;
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        try {
          await this.rest.create(
            `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases`,
            {
              apiVersion: 'coordination.k8s.io/v1',
              kind: 'Lease',
              metadata: { name: this.name, labels: { [SPEAKER_LEASE_LABEL]: SPEAKER_LEASE_LABEL_VALUE } },
              spec: { ...spec, acquireTime: now },
            },
            { timeoutMs: 3000 },
          );
          return true;
        } catch (createErr) {
          this.log.warn({ err: (createErr as Error).message }, 'cannot create speaker lease');
          return false;
        }
      }
      this.log.warn({ err: (err as Error).message }, 'cannot renew speaker lease');
      return false;
    }
  }

  /** Deleted on graceful shutdown so peers need not wait for it to expire. */
  async remove(): Promise<void> {
    await this.rest.delete(this.path, { timeoutMs: 3000 }).catch(() => {});
  }
}

/** Which peers hold a valid Lease, judged by when this process last saw each Lease renewed. */
export class PeerLeases {
  private readonly seen = new Map<string, { renewTime: string; at: number; durationMs: number }>();
  private readonly now: () => number;

  constructor(now: () => number = Date.now) {
    this.now = now;
  }

  observe(lease: SpeakerLease): void {
    const name = lease.metadata?.name ?? '';
    if (!name.startsWith(SPEAKER_LEASE_PREFIX)) return;
    const node = lease.spec?.holderIdentity;
    if (!node) return;
    const renewTime = lease.spec?.renewTime ?? '';
    const prev = this.seen.get(node);
    if (prev?.renewTime === renewTime) return;
    this.seen.set(node, {
      renewTime,
      at: this.now(),
      durationMs: (lease.spec?.leaseDurationSeconds ?? 15) * 1000,
    });
  }

  forget(lease: SpeakerLease): void {
    const node = lease.spec?.holderIdentity;
    if (node) this.seen.delete(node);
  }

  valid(): string[] {
    const t = this.now();
    return [...this.seen].filter(([, s]) => t - s.at <= s.durationMs).map(([n]) => n);
  }
}
