/**
 * One coordination.k8s.io/v1 Lease per speaker, `beacon-speaker-<node>`, written only by that node's speaker
 * (RBAC plus the admission policy beacon-leases). It carries what the other speakers need to know about
 * this one for the membership protocol (docs/membership.md), in the annotation beacon.dev/mesh: the
 * generation (one per process start, counted by the Lease itself, so a node whose clock went backwards is
 * never refused), the round and state within it, the address and port its heartbeats come from, and its
 * public keys. The Lease is written when that changes, renewed once a minute otherwise, and more often only
 * while the speaker is short of mesh acknowledgements (the API server then votes for it).
 *
 * Peers read Leases with suspicion: a Lease whose holderIdentity is not the node in its name, or whose
 * fields do not parse, is ignored, and no duration longer than MAX_LEASE_SECONDS is believed.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { ApiError, type KubeRest } from '../k8s/rest.ts';
import type { Logger } from '../log.ts';
import { type PublicKeys, validPublicKeys } from '../mesh/identity.ts';
import type { MemberStatus } from '../mesh/members.ts';

export const SPEAKER_LEASE_PREFIX = 'beacon-speaker-';
export const SPEAKER_LEASE_LABEL = 'app.kubernetes.io/component';
export const SPEAKER_LEASE_LABEL_VALUE = 'speaker-lease';
export const MESH_ANNOTATION = 'beacon.dev/mesh';
/** No Lease is believed for longer than this, whatever it says (a forged 68-year Lease included). */
export const MAX_LEASE_SECONDS = 300;
/** The longest node name whose Lease is simply the prefix and the name (a Lease name is at most 253). */
const LONGEST_PLAIN_NODE = 253 - SPEAKER_LEASE_PREFIX.length;
/** For a longer node name: this many of its first characters, then '-' and a hash of the whole name. */
export const LONG_NODE_PREFIX = 220;

/**
 * The name of `node`'s speaker Lease: `beacon-speaker-<node>`, or for a node name too long for that, the
 * name's first 220 characters, '-' and a hash of the whole name. Which node a Lease is for is always its
 * holderIdentity, and a Lease is believed only under the name this gives for that node.
 */
export function speakerLeaseName(node: string): string {
  if (node.length <= LONGEST_PLAIN_NODE) return `${SPEAKER_LEASE_PREFIX}${node}`;
  const hash = createHash('sha256').update(node).digest('hex').slice(0, 12);
  return `${SPEAKER_LEASE_PREFIX}${node.slice(0, LONG_NODE_PREFIX).replace(/[.-]+$/, '')}-${hash}`;
}

export interface SpeakerLease {
  metadata?: {
    name?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  spec?: {
    holderIdentity?: string | null;
    renewTime?: string | null;
    acquireTime?: string | null;
    leaseDurationSeconds?: number;
  };
}

/** What a speaker publishes about itself. `address` undefined: it cannot take part in the mesh. */
export interface MeshAnnouncement {
  gen: number;
  round: number;
  status: MemberStatus;
  address?: string;
  port: number;
  keys: PublicKeys[];
}

export interface ParsedLease extends MeshAnnouncement {
  node: string;
  durationMs: number;
  renewTime: string;
}

function microTime(d: Date): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

const STATUSES: readonly MemberStatus[] = ['joining', 'alive', 'suspended', 'leaving', 'dead'];

export function encodeAnnouncement(a: MeshAnnouncement): string {
  return JSON.stringify({
    v: 1,
    gen: a.gen,
    round: a.round,
    status: a.status,
    ...(a.address ? { address: a.address } : {}),
    port: a.port,
    keys: a.keys.map((k) => ({ v: k.version, dh: k.dh.toString('base64'), sign: k.sign.toString('base64') })),
  });
}

/** The speaker Lease's content, or why it is not believed. */
export function parseSpeakerLease(lease: SpeakerLease): ParsedLease | { error: string } {
  const name = lease.metadata?.name ?? '';
  const node = lease.spec?.holderIdentity ?? '';
  if (!name.startsWith(SPEAKER_LEASE_PREFIX)) return { error: 'not a speaker Lease' };
  if (!node || name !== speakerLeaseName(node))
    return { error: `holderIdentity "${node}" is not the node the Lease is named after` };
  const raw = lease.metadata?.annotations?.[MESH_ANNOTATION];
  if (!raw) return { error: `no ${MESH_ANNOTATION} annotation` };
  let a: unknown;
  try {
    a = JSON.parse(raw);
  } catch {
    return { error: `${MESH_ANNOTATION} is not JSON` };
  }
  const o = a as Record<string, unknown>;
  const int = (v: unknown, max: number) => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
  if (o.v !== 1) return { error: `${MESH_ANNOTATION}: unknown version` };
  if (!int(o.gen, 0xffffffff) || !int(o.round, 0xffff))
    return { error: `${MESH_ANNOTATION}: bad generation or round` };
  if (!STATUSES.includes(o.status as MemberStatus)) return { error: `${MESH_ANNOTATION}: bad status` };
  if (o.address !== undefined && (typeof o.address !== 'string' || isIP(o.address) === 0))
    return { error: `${MESH_ANNOTATION}: bad address` };
  if (!int(o.port, 65535) || o.port === 0) return { error: `${MESH_ANNOTATION}: bad port` };
  if (!Array.isArray(o.keys) || o.keys.length === 0 || o.keys.length > 2)
    return { error: `${MESH_ANNOTATION}: bad keys` };
  const keys: PublicKeys[] = [];
  for (const k of o.keys as Record<string, unknown>[]) {
    if (!int(k.v, 255) || typeof k.dh !== 'string' || typeof k.sign !== 'string')
      return { error: `${MESH_ANNOTATION}: bad keys` };
    const key = {
      version: k.v as number,
      dh: Buffer.from(k.dh, 'base64'),
      sign: Buffer.from(k.sign, 'base64'),
    };
    if (!validPublicKeys(key)) return { error: `${MESH_ANNOTATION}: bad keys` };
    keys.push(key);
  }
  const seconds = Math.min(Math.max(1, lease.spec?.leaseDurationSeconds ?? 15), MAX_LEASE_SECONDS);
  return {
    node,
    gen: o.gen as number,
    round: o.round as number,
    status: o.status as MemberStatus,
    ...(o.address ? { address: o.address as string } : {}),
    port: o.port as number,
    keys,
    durationMs: seconds * 1000,
    renewTime: lease.spec?.renewTime ?? '',
  };
}

export interface WriteResult {
  ok: boolean;
  /** Local clock when the request was sent: what an acknowledgement of it is worth from. */
  sentAt: number;
}

/** Writes this node's Lease: claims a new generation at start, then publishes state changes and renewals. */
export class NodeLeaseWriter {
  private readonly rest: KubeRest;
  private readonly namespace: string;
  private readonly node: string;
  private readonly log: Logger;
  private readonly now: () => number;
  private resourceVersion: string | undefined;
  private failing = false;
  /** The renewTime of the last successful write: its echo in the watch shows the watch is current. */
  lastRenewTime: string | undefined;

  constructor(
    rest: KubeRest,
    namespace: string,
    node: string,
    log: Logger,
    now: () => number = () => performance.now(),
  ) {
    this.rest = rest;
    this.namespace = namespace;
    this.node = node;
    this.log = log;
    this.now = now;
  }

  get name(): string {
    return speakerLeaseName(this.node);
  }

  private get path(): string {
    return `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases/${this.name}`;
  }

  /**
   * The generation this process runs as: one more than the Lease's, written with a compare-and-swap so two
   * processes for one node never share a generation. Retries until the API server answers.
   */
  async claimGeneration(signal: AbortSignal): Promise<number> {
    let delay = 250;
    for (;;) {
      try {
        let current: SpeakerLease | undefined;
        try {
          current = await this.rest.get<SpeakerLease>(this.path, { timeoutMs: 5000 });
        } catch (err) {
          if (!(err instanceof ApiError && err.status === 404)) throw err;
        }
        const parsed = current ? parseSpeakerLease(current) : undefined;
        const gen = parsed && !('error' in parsed) ? parsed.gen + 1 : 1;
        this.resourceVersion = current?.metadata?.resourceVersion;
        return gen;
      } catch (err) {
        if (signal.aborted) throw err;
        this.log.warn({ err: (err as Error).message, retryInMs: delay }, "cannot read this node's Lease yet");
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
      }
    }
  }

  /**
   * Writes the Lease with `a` and a fresh renewTime. The first write of a generation replaces whatever was
   * there under its resourceVersion (a conflict means another process claimed the node: it is refused).
   */
  async write(
    a: MeshAnnouncement,
    durationSec: number,
    /** Told the renewTime before the request goes out: its echo may come back before the answer does. */
    sending?: (renewTime: string, sentAt: number) => void,
  ): Promise<WriteResult> {
    const sentAt = this.now();
    const now = microTime(new Date());
    sending?.(now, sentAt);
    const body = {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.name,
        labels: { [SPEAKER_LEASE_LABEL]: SPEAKER_LEASE_LABEL_VALUE },
        annotations: { [MESH_ANNOTATION]: encodeAnnouncement(a) },
        ...(this.resourceVersion ? { resourceVersion: this.resourceVersion } : {}),
      },
      spec: {
        holderIdentity: this.node,
        leaseDurationSeconds: durationSec,
        renewTime: now,
        acquireTime: now,
      },
    };
    try {
      const written = this.resourceVersion
        ? await this.rest.replace<SpeakerLease>(this.path, body, { timeoutMs: 3000 })
        : await this.rest.create<SpeakerLease>(
            `/apis/coordination.k8s.io/v1/namespaces/${this.namespace}/leases`,
            body,
            { timeoutMs: 3000 },
          );
      this.resourceVersion = written.metadata?.resourceVersion;
      this.lastRenewTime = written.spec?.renewTime ?? now;
      if (this.failing) this.log.info('speaker Lease written again');
      this.failing = false;
      return { ok: true, sentAt };
    } catch (err) {
      if (err instanceof ApiError && (err.status === 409 || err.status === 404)) {
        // Someone else wrote it (or it was deleted): learn its version and write again next time.
        this.resourceVersion = undefined;
        const fresh = await this.rest
          .get<SpeakerLease>(this.path, { timeoutMs: 3000 })
          .catch(() => undefined);
        this.resourceVersion = fresh?.metadata?.resourceVersion;
      }
      if (!this.failing) this.log.warn({ err: (err as Error).message }, 'cannot write speaker Lease');
      this.failing = true;
      return { ok: false, sentAt };
    }
  }

  /** Deleted on graceful shutdown so peers need not wait for it to expire. */
  async remove(): Promise<void> {
    await this.rest.delete(this.path, { timeoutMs: 3000 }).catch(() => {});
  }
}

/**
 * The other speakers' Leases as this process saw them change: each one's parsed content and when (local
 * clock) its renewTime last moved, so liveness judged from Leases never depends on clock agreement.
 */
export class PeerLeases {
  private readonly seen = new Map<string, { lease: ParsedLease; changedAt: number }>();
  private readonly refused = new Map<string, string>();
  /** Which node each believed Lease is for (a long node name is not in its Lease's name). */
  private readonly nodeOfLease = new Map<string, string>();
  private readonly now: () => number;
  private readonly log: Logger | undefined;

  constructor(now: () => number = () => performance.now(), log?: Logger) {
    this.now = now;
    this.log = log;
  }

  /** Takes in a Lease; returns the node whose entry changed, if any. */
  observe(lease: SpeakerLease): string | undefined {
    const name = lease.metadata?.name ?? '';
    if (!name.startsWith(SPEAKER_LEASE_PREFIX)) return undefined;
    const p = parseSpeakerLease(lease);
    if ('error' in p) {
      if (this.refused.get(name) !== p.error) {
        this.refused.set(name, p.error);
        this.log?.warn({ lease: name, reason: p.error }, 'ignoring a speaker Lease');
      }
      return this.forget(lease);
    }
    if (this.refused.delete(name)) this.log?.info({ lease: name }, 'speaker Lease believed again');
    this.nodeOfLease.set(name, p.node);
    const prev = this.seen.get(p.node);
    if (
      prev &&
      prev.lease.renewTime === p.renewTime &&
      encodeAnnouncement(prev.lease) === encodeAnnouncement(p)
    )
      return undefined;
    this.seen.set(p.node, { lease: p, changedAt: this.now() });
    return p.node;
  }

  forget(lease: SpeakerLease): string | undefined {
    const name = lease.metadata?.name ?? '';
    const node = this.nodeOfLease.get(name);
    if (node === undefined) return undefined;
    this.nodeOfLease.delete(name);
    return this.seen.delete(node) ? node : undefined;
  }

  get(node: string): { lease: ParsedLease; changedAt: number } | undefined {
    return this.seen.get(node);
  }

  all(): IterableIterator<[string, { lease: ParsedLease; changedAt: number }]> {
    return this.seen.entries();
  }

  /**
   * Nodes whose Lease was seen renewed within its duration. Only while this process's own view of the API
   * server is current (`viewFresh`) does a Lease expire: during an API outage, or before our first write
   * came back through the watch, the nodes in `previous` stay.
   */
  fresh(viewFresh: boolean, previous: ReadonlySet<string>): Set<string> {
    const t = this.now();
    const out = new Set<string>();
    for (const [node, s] of this.seen) {
      if (t - s.changedAt <= s.lease.durationMs || (!viewFresh && previous.has(node))) out.add(node);
    }
    return out;
  }
}
