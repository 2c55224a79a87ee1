/**
 * The faults of issue 11 on the wire: three `beacon speaker`s in node namespaces against the real API
 * server, a client asking every address over ARP about seven times a second (below the per-question rate limit), and a capture on the switch that
 * sees every answer. Each fault is judged from that capture alone: how long two nodes answered one address
 * (at most 150 ms), how long an address went unanswered while a node that can serve it was up (at most
 * 1 s), and whether any address moved without a failure.
 */
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, test } from 'node:test';
import { BEACON_NS, ClusterLab, type LabNode, setEndpoints } from '../harness/cluster-lab.ts';
import {
  createBeaconObject,
  createPool,
  createService,
  ensureNamespace,
  type RunningController,
  startController,
  waitForIngress,
} from '../harness/kube.ts';
import { type L2Watch, watchL2Answers } from '../harness/l2-watch.ts';
import { netnsUnavailable } from '../harness/netns.ts';
import { waitFor } from '../harness/process.ts';

const skip = await netnsUnavailable();
const POOL = ['192.0.2.200', '192.0.2.211'];
const SERVICES = Array.from({ length: 12 }, (_, i) => `web-${i}`);
const TWO_ANSWERERS_MAX_MS = 150;
const UNANSWERED_MAX_MS = 1000;
const PROBE_PERIOD_MS = 150;
/** Debian's libfaketime: the restarted speaker's clocks run 30 minutes behind. */
const FAKETIME_LIBRARY = `/usr/lib/${process.arch === 'arm64' ? 'aarch64' : 'x86_64'}-linux-gnu/faketime/libfaketime.so.1`;
let lab: ClusterLab;
let controller: RunningController;
let watch: L2Watch;

function speakerArgs(): string[] {
  return [`--log-level=${process.env.BEACON_FAULTS_LOG_LEVEL ?? 'info'}`];
}

before(
  async () => {
    if (skip) return;
    lab = await ClusterLab.start({ tag: 'faults', nodes: 3 });
    await createPool(lab.rest, BEACON_NS, 'l2', { addresses: [`${POOL[0]}-${POOL[1]}`] });
    await createBeaconObject(lab.rest, BEACON_NS, 'L2Advertisement', 'all', { ipAddressPools: ['l2'] });
    // What an install from before per-node keys left behind: the shared heartbeat key.
    await lab.rest.create(`/api/v1/namespaces/${BEACON_NS}/secrets`, {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'beacon-speaker-secrets' },
      data: { 'heartbeat-key': Buffer.alloc(32, 7).toString('base64') },
    });
    controller = await startController(lab.api, { namespace: BEACON_NS, loadBalancerClass: 'beacon.dev/lb' });
    await ensureNamespace(lab.rest, 'shop');
    for (const s of SERVICES) {
      await createService(lab.rest, 'shop', s, undefined);
      await setEndpoints(
        lab.rest,
        'shop',
        s,
        lab.nodes.map((n) => n.name),
      );
      await waitForIngress(lab.rest, 'shop', s);
    }
    for (const n of lab.nodes) lab.startSpeaker(n, speakerArgs());
    await lab.waitForSpeakersSynced();
    watch = await watchL2Answers(lab, POOL[0]!, POOL[1]!, PROBE_PERIOD_MS);
  },
  { timeout: 180_000 },
);

after(async () => {
  await watch?.stop();
  await controller?.stop();
  await lab?.stop();
});

const addresses = () => {
  const out: string[] = [];
  for (let i = 200; i <= 211; i++) out.push(`192.0.2.${i}`);
  return out;
};

/** The single answerer of each address in the latest rounds, once every address has exactly one. */
async function settledOwners(): Promise<Map<string, string>> {
  let owners = new Map<string, string>();
  // What each address's latest rounds looked like, for the failure message.
  const describe = () =>
    addresses()
      .map((a) => {
        const rounds = watch.detector.roundsSince(a, Date.now() - 1500);
        return `${a}: ${rounds.map((r) => (r.length ? r.join('+') : 'none')).join(' ')}`;
      })
      .join('\n');
  await waitFor(
    'every address answered by exactly one node',
    () => {
      const since = Date.now() - 1500;
      owners = new Map();
      for (const a of addresses()) {
        const rounds = watch.detector.roundsSince(a, since);
        if (rounds.length < 3 || rounds.some((r) => r.length !== 1)) return false;
        const macs = new Set(rounds.map((r) => r[0]));
        if (macs.size !== 1) return false;
        owners.set(a, rounds[0]![0]!);
      }
      return true;
    },
    30_000,
    200,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; the last rounds:\n${describe()}`);
  });
  return owners;
}

/** What the capture saw from `since`: the longest two-answerer window and the longest run without an answer. */
function judged(since: number): { doubleMs: number; gapMs: number; moved: string[] } {
  const doubles = watch.episodes.filter((e) => e.to >= since).map((e) => e.windowMs);
  const gaps = watch.detector.gaps.filter((g) => g.from >= since).map((g) => g.ms);
  const macs = new Map<string, Set<string>>();
  for (const x of watch.detector.answers) {
    if (x.at < since) continue;
    if (!macs.has(x.address)) macs.set(x.address, new Set());
    macs.get(x.address)!.add(x.mac);
  }
  const moved = [...macs].filter(([, m]) => m.size > 1).map(([a]) => a);
  return { doubleMs: Math.max(0, ...doubles), gapMs: Math.max(0, ...gaps), moved };
}

function assertQuiet(
  label: string,
  j: { doubleMs: number; gapMs: number; moved: string[] },
  allowMoves = false,
): void {
  process.stdout.write(
    `# ${label}: longest two-answerer window ${j.doubleMs} ms, longest unanswered ${j.gapMs} ms, ${j.moved.length} moved\n`,
  );
  assert.ok(
    j.doubleMs <= TWO_ANSWERERS_MAX_MS,
    `${label}: two nodes answered one address for ${j.doubleMs} ms`,
  );
  assert.ok(j.gapMs <= UNANSWERED_MAX_MS, `${label}: an address went unanswered for ${j.gapMs} ms`);
  if (!allowMoves) assert.deepEqual(j.moved, [], `${label}: addresses moved without a failure`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('deleting, re-creating and re-keying the old heartbeat Secret changes nothing (items 1 and 2)', {
  skip,
  timeout: 120_000,
}, async () => {
  await settledOwners();
  const since = Date.now();
  const path = `/api/v1/namespaces/${BEACON_NS}/secrets/beacon-speaker-secrets`;
  await lab.rest.delete(path);
  await sleep(3000);
  await lab.rest.create(`/api/v1/namespaces/${BEACON_NS}/secrets`, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'beacon-speaker-secrets' },
    data: { 'heartbeat-key': Buffer.alloc(32, 9).toString('base64') },
  });
  await sleep(3000);
  await lab.rest.patch(path, 'merge', { data: { 'heartbeat-key': Buffer.alloc(32, 11).toString('base64') } });
  await sleep(3000);
  assertQuiet('Secret deleted, re-created, re-keyed', judged(since));
});

test('each speaker rotates its own keys (SIGUSR2) in turn: nothing moves, nobody answers twice (item 2)', {
  skip,
  timeout: 120_000,
}, async () => {
  await settledOwners();
  const since = Date.now();
  for (const n of lab.nodes) {
    n.speaker!.child.kill('SIGUSR2');
    await sleep(4000);
  }
  // The old keys are dropped ten seconds after the switch.
  await sleep(10_000);
  for (const n of lab.nodes) assert.match(lab.speakerLog(n), /mesh key rotation complete/);
  assertQuiet('key rotations', judged(since));
});

test('a one-way cut, node-2 to node-1 blackholed for 10 s: every address keeps its answerer (item 3)', {
  skip,
  timeout: 120_000,
}, async () => {
  await settledOwners();
  const [n1, n2] = lab.nodes as [LabNode, LabNode, LabNode];
  const since = Date.now();
  await n2.ns.must('ip', ['route', 'add', 'blackhole', `${n1.ip}/32`]);
  try {
    await sleep(10_000);
  } finally {
    await n2.ns.must('ip', ['route', 'del', 'blackhole', `${n1.ip}/32`]);
  }
  await sleep(2000);
  assertQuiet('one-way cut', judged(since));
});

test('forged datagrams: a leaving heartbeat under the old shared key, and one claiming node-2 from the client (item 5)', {
  skip,
  timeout: 120_000,
}, async () => {
  await settledOwners();
  const since = Date.now();
  const [, n2] = lab.nodes as [LabNode, LabNode, LabNode];
  // The old format: "BCN1" | type 2 (leaving) | epoch 2^63-1 | seq | name | no peers | HMAC under the
  // shared key, which any node could read.
  const name = Buffer.from(n2.name);
  const head = Buffer.alloc(22);
  head.write('BCN1');
  head.writeUInt8(2, 4);
  head.writeBigUInt64BE(2n ** 63n - 1n, 5);
  head.writeBigUInt64BE(1n, 13);
  head.writeUInt8(name.length, 21);
  const body = Buffer.concat([head, name, Buffer.alloc(2)]);
  // Under whatever key the old Secret holds now (the tests above may have re-keyed it).
  const secret = await lab.rest.get<{ data: Record<string, string> }>(
    `/api/v1/namespaces/${BEACON_NS}/secrets/beacon-speaker-secrets`,
  );
  const sharedKey = Buffer.from(secret.data['heartbeat-key']!, 'base64');
  const oldForm = Buffer.concat([body, createHmac('sha256', sharedKey).update(body).digest()]);
  // The new format, naming node-2 as sender and each node as receiver, with a MAC under no real key.
  const newForm = Buffer.alloc(120, 1);
  newForm.write('BCN2');
  newForm.writeUInt8(2, 4);
  for (const target of lab.nodes) {
    if (target === n2) continue;
    for (const datagram of [oldForm, newForm]) {
      await lab.client.must('node', ['-e', sendUdp(target.ip, 7946, datagram, 20)]);
    }
  }
  await sleep(6000);
  assertQuiet('forged datagrams', judged(since));
});

/** A one-line Node program sending `data` to ip:port `count` times (run in the client namespace). */
function sendUdp(ip: string, port: number, data: Buffer, count: number): string {
  return `const s=require('dgram').createSocket('udp4');const b=Buffer.from('${data.toString('base64')}','base64');let n=${count};const go=()=>{if(n--<=0)return s.close();s.send(b,${port},'${ip}',go)};go();`;
}

test('65,000-byte datagrams with the magic bytes, flooded at port 7946, change nothing (item 7)', {
  skip,
  timeout: 120_000,
}, async () => {
  await settledOwners();
  const since = Date.now();
  const big = Buffer.alloc(65_000, 0x41);
  big.write('BCN2');
  const alsoOld = Buffer.from(big);
  alsoOld.write('BCN1');
  const floods = lab.nodes.flatMap((t) => [
    lab.client.must('node', ['-e', sendUdp(t.ip, 7946, big, 3000)]),
    lab.client.must('node', ['-e', sendUdp(t.ip, 7946, alsoOld, 3000)]),
  ]);
  await Promise.all(floods);
  await sleep(3000);
  assertQuiet('flood', judged(since));
});

for (const stallMs of [600, 2000]) {
  test(`SIGSTOP of one speaker for ${stallMs} ms: never two answerers (item 7)`, {
    skip,
    timeout: 120_000,
  }, async () => {
    await settledOwners();
    const victim = lab.nodes[1]!;
    const since = Date.now();
    victim.speaker!.child.kill('SIGSTOP');
    await sleep(stallMs);
    victim.speaker!.child.kill('SIGCONT');
    await sleep(4000);
    // A stall this long is a failure from the others' side: moving its addresses is right, answering
    // twice is not.
    assertQuiet(`SIGSTOP ${stallMs} ms`, judged(since), true);
    await settledOwners();
  });
}

test('a speaker restarted with its clock 30 minutes behind is taken back at once (item 6)', {
  skip,
  timeout: 120_000,
}, async () => {
  const before = await settledOwners();
  const victim = lab.nodes[2]!;
  victim.speaker!.child.kill('SIGKILL');
  await victim.speaker!.exited;
  await sleep(1500);
  const since = Date.now();
  lab.startSpeaker(victim, speakerArgs(), false, { FAKETIME: '-30m', LD_PRELOAD: FAKETIME_LIBRARY });
  await lab.waitForSpeakersSynced([victim]);
  await waitFor(
    'the restarted node to answer its addresses again',
    () => {
      const recent = Date.now() - 400;
      return [...before].every(([a, mac]) =>
        watch.detector.roundsSince(a, recent).every((r) => r.length === 1 && r[0] === mac),
      );
    },
    15_000,
    200,
  );
  assertQuiet('restart with the clock behind', judged(since), true);
  // Taken back into the mesh, not only by its Lease: killed again, its addresses are answered by another
  // node within the mesh's failure detection (under a second), where a node whose heartbeats its peers
  // refuse is found dead only when its Lease expires (seconds).
  await sleep(2000);
  await settledOwners();
  const killedAt = Date.now();
  victim.speaker!.child.kill('SIGKILL');
  await victim.speaker!.exited;
  await sleep(3000);
  assertQuiet('the restarted node killed again', judged(killedAt), true);
  lab.startSpeaker(victim, speakerArgs());
  await lab.waitForSpeakersSynced([victim]);
  await settledOwners();
});

test('one node cut off from the mesh falls back to its Lease: every address keeps one answerer throughout (item 4)', {
  skip,
  timeout: 180_000,
}, async () => {
  await settledOwners();
  const victim = lab.nodes[2]!;
  const since = Date.now();
  // Only what the speakers log from here on counts.
  const marks = new Map(lab.nodes.map((n) => [n, lab.speakerLog(n).length]));
  const logSince = (n: (typeof lab.nodes)[number]) => lab.speakerLog(n).slice(marks.get(n));
  await victim.ns.must('iptables', ['-A', 'INPUT', '-p', 'udp', '--dport', '7946', '-j', 'DROP']);
  try {
    await waitFor(
      `${victim.name} on its Lease alone`,
      () => logSince(victim).includes('membership through the Lease alone'),
      40_000,
      200,
    );
    // The others now see a peer judged by its Lease. They used to stop answering every address until
    // their next renewal of a minute-long cycle came due; they must go on answering, and renew faster.
    await sleep(12_000);
    for (const n of lab.nodes.filter((x) => x !== victim))
      assert.ok(
        logSince(n).includes("a speaker on its Lease alone counts on this node's Lease"),
        `${n.name} noticed the peer on its Lease alone`,
      );
    assertQuiet('one node on its Lease alone', judged(since), true);
  } finally {
    await victim.ns.must('iptables', ['-D', 'INPUT', '-p', 'udp', '--dport', '7946', '-j', 'DROP']);
  }
  // Standing by, it offers itself to the mesh again 20 s after it fell back (not five minutes), and gets in.
  const healed = Date.now();
  try {
    await waitFor(
      `${victim.name} back in the mesh`,
      () => logSince(victim).includes('back in the mesh'),
      40_000,
      200,
    );
  } catch (err) {
    // The tests after this one need it in the mesh.
    await victim.speaker?.stop();
    lab.startSpeaker(victim, speakerArgs());
    await lab.waitForSpeakersSynced([victim]);
    throw err;
  }
  // Back in the mesh, the victim is judged by heartbeats again: the others go back to five-minute Leases.
  // They must write one before their last 6 s Lease runs out; left to the minute-long renewal cycle, each
  // took the others off its ring when their Leases ran out, and answered for every address.
  await settledOwners();
  for (const n of lab.nodes.filter((x) => x !== victim))
    await waitFor(
      `${n.name} sees no speaker on its Lease alone`,
      () => logSince(n).includes("no speaker on its Lease alone counts on this node's Lease any more"),
      10_000,
      200,
    );
  await waitFor(
    'every speaker back on five-minute Leases',
    async () => {
      const durations = await speakerLeaseDurations();
      return durations.length === lab.nodes.length && durations.every((d) => d === 300);
    },
    20_000,
    500,
  );
  await sleep(10_000);
  assertQuiet('after the node on its Lease alone rejoined the mesh', judged(healed), true);
});

/** leaseDurationSeconds of each speaker's Lease, as the API server holds it now. */
async function speakerLeaseDurations(): Promise<number[]> {
  const list = await lab.rest.get<{ items: { spec?: { leaseDurationSeconds?: number } }[] }>(
    `/apis/coordination.k8s.io/v1/namespaces/${BEACON_NS}/leases?labelSelector=${encodeURIComponent('app.kubernetes.io/component=speaker-lease')}`,
  );
  return list.items.map((l) => l.spec?.leaseDurationSeconds ?? 0);
}

test('mesh blocked everywhere, then the API server down: nobody answers twice (item 4)', {
  skip,
  timeout: 180_000,
}, async () => {
  await settledOwners();
  const since = Date.now();
  for (const n of lab.nodes)
    await n.ns.must('iptables', ['-A', 'INPUT', '-p', 'udp', '--dport', '7946', '-j', 'DROP']);
  try {
    // Without heartbeats the speakers fall back to their Leases (about ten seconds); the last one left
    // in the mesh is alone there and judged by its Lease as well.
    await sleep(15_000);
    // Worth knowing when it fails, not asserted: what is asserted is who answers.
    const leaseOnly = lab.nodes.filter((n) =>
      lab.speakerLog(n).includes('membership through the Lease alone'),
    );
    process.stdout.write(`# mesh blocked: ${leaseOnly.length} speaker(s) judged by their Leases alone\n`);
    lab.apiBridge.setDown(true);
    try {
      await sleep(20_000);
    } finally {
      lab.apiBridge.setDown(false);
    }
    await sleep(8000);
  } finally {
    for (const n of lab.nodes)
      await n.ns.must('iptables', ['-D', 'INPUT', '-p', 'udp', '--dport', '7946', '-j', 'DROP']);
  }
  const j = judged(since);
  process.stdout.write(`# mesh blocked, API down: longest two-answerer window ${j.doubleMs} ms\n`);
  assert.ok(j.doubleMs <= TWO_ANSWERERS_MAX_MS, `two nodes answered one address for ${j.doubleMs} ms`);
  await settledOwners();
});

test('a node without an address, on its Lease alone, then the API server down for 25 s: nobody answers twice (item 4)', {
  skip,
  timeout: 180_000,
}, async () => {
  await settledOwners();
  const victim = lab.nodes[2]!;
  const statusPath = `/api/v1/nodes/${victim.name}/status`;
  const addresses = (withIps: boolean) => ({
    status: {
      addresses: [
        ...(withIps
          ? [
              { type: 'InternalIP', address: victim.ip },
              { type: 'InternalIP', address: victim.ip6 },
            ]
          : []),
        { type: 'Hostname', address: victim.name },
      ],
    },
  });
  await victim.speaker!.stop();
  try {
    // No InternalIP or ExternalIP: the speaker cannot take part in the mesh and runs on its Lease alone.
    await lab.rest.patch(statusPath, 'merge', addresses(false));
    lab.startSpeaker(victim, speakerArgs());
    await lab.waitForSpeakersSynced([victim]);
    await waitFor(
      'the addressless node on its Lease alone',
      () => lab.speakerLog(victim).includes('has no InternalIP'),
      15_000,
      100,
    );
    await sleep(6000);
    const since = Date.now();
    // Longer than the Lease-only duration (6 s) and than the 15 s after which the old code let Leases
    // age out during an outage, each speaker then answering every address alone.
    lab.apiBridge.setDown(true);
    try {
      await sleep(25_000);
    } finally {
      lab.apiBridge.setDown(false);
    }
    await sleep(8000);
    const j = judged(since);
    process.stdout.write(`# addressless node, API down: longest two-answerer window ${j.doubleMs} ms\n`);
    assert.ok(j.doubleMs <= TWO_ANSWERERS_MAX_MS, `two nodes answered one address for ${j.doubleMs} ms`);
  } finally {
    await victim.speaker?.stop();
    await lab.rest.patch(statusPath, 'merge', addresses(true));
    lab.startSpeaker(victim, speakerArgs());
    await lab.waitForSpeakersSynced([victim]);
  }
  await settledOwners();
});
