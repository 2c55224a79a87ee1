/**
 * One speaker on its Lease alone beside seven in the mesh: only the speakers that would be its ring
 * neighbours (two on either side of its place: docs/membership.md, "When the mesh cannot work") renew
 * their Leases every 2 s for 6 s; the other three keep five-minute Leases. Before, every speaker did, and one
 * node with UDP blocked cost the API server a write every 2 s from every node. Real speaker memberships on
 * loopback addresses against a real API server.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Informer } from '../../src/k8s/informer.ts';
import type { KubeRest } from '../../src/k8s/rest.ts';
import { createLogger } from '../../src/log.ts';
import { SpeakerMembership } from '../../src/speaker/membership.ts';
import {
  SPEAKER_LEASE_LABEL,
  SPEAKER_LEASE_LABEL_VALUE,
  type SpeakerLease,
} from '../../src/speaker/node-lease.ts';
import { type ApiServer, freePort, startApiServer } from '../harness/apiserver.ts';
import { adminRest, ensureNamespace } from '../harness/kube.ts';
import { waitFor } from '../harness/process.ts';

const NS = 'beacon-system';
const MESH_NODES = 7;
const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${NS}/leases`;
let api: ApiServer;
let rest: KubeRest;
const stop = new AbortController();
const members: SpeakerMembership[] = [];

before(
  async () => {
    api = await startApiServer();
    rest = await adminRest(api);
    await ensureNamespace(rest, NS);
  },
  { timeout: 180_000 },
);

after(async () => {
  for (const m of members) m.stop();
  stop.abort();
  await api?.stop();
});

/** leaseDurationSeconds of each speaker's Lease, by node, as the API server holds it now. */
async function durations(): Promise<Map<string, number>> {
  const list = await rest.get<{ items: SpeakerLease[] }>(
    `${LEASES}?labelSelector=${encodeURIComponent(`${SPEAKER_LEASE_LABEL}=${SPEAKER_LEASE_LABEL_VALUE}`)}`,
  );
  return new Map(list.items.map((l) => [l.spec?.holderIdentity ?? '', l.spec?.leaseDurationSeconds ?? 0]));
}

test('one speaker on its Lease alone: its four would-be neighbours renew every 2 s, the other mesh speakers do not', {
  timeout: 120_000,
}, async () => {
  const log = createLogger('speaker', 'warn');
  const port = await freePort();
  const leases = new Informer<SpeakerLease>(
    rest,
    { group: 'coordination.k8s.io', version: 'v1', plural: 'leases' },
    log,
    { namespace: NS, labelSelector: `${SPEAKER_LEASE_LABEL}=${SPEAKER_LEASE_LABEL_VALUE}` },
  );
  const names = Array.from({ length: MESH_NODES + 1 }, (_, i) => `node-${i + 1}`);
  for (const node of names)
    members.push(
      new SpeakerMembership(
        rest,
        { node, namespace: NS, meshPort: port, intervalMs: 100, deadAfterMs: 400, onChange: () => {} },
        log.child({ node }),
      ),
    );
  leases.on('add', (l) => {
    for (const m of members) m.observeLease(l);
  });
  leases.on('update', (l) => {
    for (const m of members) m.observeLease(l);
  });
  leases.on('delete', (l) => {
    for (const m of members) m.forgetLease(l);
  });
  for (const m of members) await m.prepare(stop.signal);
  await leases.start(stop.signal);
  // Each mesh speaker on an address of its own (127.0.0.0/8 is all loopback); the last has none, as a
  // node without an InternalIP, and so runs on its Lease alone.
  for (const [i, m] of members.entries()) await m.start(i < MESH_NODES ? `127.0.0.${i + 11}` : undefined);
  const leaseOnly = names[MESH_NODES]!;

  let last = new Map<string, number>();
  const settled = () => {
    const short = names.filter((n) => n !== leaseOnly && last.get(n) === 6);
    const long = names.filter((n) => n !== leaseOnly && last.get(n) === 300);
    return last.get(leaseOnly) === 6 && short.length === 4 && long.length === MESH_NODES - 4;
  };
  await waitFor(
    'four mesh speakers on 6 s Leases, the other three on five-minute ones',
    async () => {
      last = await durations();
      return settled();
    },
    60_000,
    500,
    () => JSON.stringify([...last]),
  );
  // And it stays so: the others are not drawn into 2 s renewals later.
  for (let i = 0; i < 4; i++) {
    await new Promise((r) => setTimeout(r, 1000));
    last = await durations();
    assert.ok(settled(), JSON.stringify([...last]));
  }
});
