// `npm run chaos [-- --duration SECONDS] [--seed N] [--services N]`: Beacon under faults on a 3-node lab.
// Churns Services while SIGKILLing and restarting two controller replicas and the speakers and cutting
// nodes' links, checks the invariants all along (see chaos/assignments.ts and chaos/l2-answers.ts), then
// stops the faults and checks that everything settles. Prints every violation with its evidence and ends
// with `N passed, M failed`; exits 1 when M > 0. Needs root (network namespaces). The seed fixes the
// sequence of actions; their timing, and so the exact outcome, depends on the machine.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseArgs } from 'node:util';
import type { V1Service } from '@kubernetes/client-node';
import { Informer } from '../src/k8s/informer.ts';
import { createLogger } from '../src/log.ts';
import { REPO_ROOT } from '../test/harness/binaries.ts';
import { BEACON_NS, CLIENT_IP, ClusterLab } from '../test/harness/cluster-lab.ts';
import { programTearsDownOnSignal } from '../test/harness/interrupt.ts';
import { createPool, ensureNamespace, eventsFor } from '../test/harness/kube.ts';
import { netnsUnavailable } from '../test/harness/netns.ts';
import { startCapture } from '../test/harness/tcpdump.ts';
import { AssignmentTracker, iso, type Violation } from './assignments.ts';
import { Churn } from './churn.ts';
import { Faults } from './faults.ts';
import { type Episode, parseArpLine, TwoAnswererDetector } from './l2-answers.ts';
import { seeded } from './random.ts';
import { addressesOf, mayShare, requestOf } from './requests.ts';

const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '300' },
    seed: { type: 'string' },
    services: { type: 'string', default: '20' },
    verbose: { type: 'boolean', default: false },
  },
});
const durationS = Number(values.duration);
const seed = values.seed === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(values.seed);
const maxServices = Number(values.services);
if (!(durationS > 0) || !Number.isInteger(seed) || !(maxServices >= 4)) {
  process.stderr.write('usage: chaos/run.ts [--duration SECONDS] [--seed N] [--services N>=4] [--verbose]\n');
  process.exit(2);
}
const why = await netnsUnavailable();
if (why) {
  process.stderr.write(`chaos: ${why}\n`);
  process.exit(2);
}

const APP_NS = 'chaos';
const POOL_FIRST = 192 * 2 ** 24 + 2 * 256 + 200;
const POOL = Array.from({ length: 51 }, (_, i) => `192.0.2.${200 + i}`);
/** Two answerers for longer than this is a violation, whatever the fault (docs/membership.md). */
const TWO_ANSWERERS_MAX_MS = 150;
/** Every Service that can have an address must have one this soon after the faults stop. */
const SETTLE_MAX_MS = 15_000;
/** An answer for an address no Service held this shortly before (speakers lag behind deletions). */
const UNOWNED_GRACE_MS = 3000;
const PROBE_PERIOD_MS = 200;

const started = Date.now();
const say = (line: string) => process.stdout.write(`${line}\n`);
const stamp = () => `+${((Date.now() - started) / 1000).toFixed(1)}s`;
const detail = (line: string) => {
  if (values.verbose) say(`${stamp()} ${line}`);
};

function printViolation(v: Violation): void {
  say(`VIOLATION [${v.invariant}] ${iso(v.at)}: ${v.message}\n  evidence: ${v.evidence}`);
}

/**
 * How long a Service whose new request breaks the terms of a shared address may keep it: a controller
 * failover (2 s Lease, a standby polling every 333 ms, a fresh list) plus a reconcile, with room to spare.
 */
const SHARING_REACT_MS = 8000;
const tracker = new AssignmentTracker({ lagMs: 2000, reactMs: SHARING_REACT_MS, report: printViolation });
const dir = mkdtempSync(join(tmpdir(), 'beacon-chaos-'));
const abort = new AbortController();
let interrupted = false;
// The teardown at the end runs on these signals too, in order: no removal on interrupt is registered.
programTearsDownOnSignal();
for (const sig of ['SIGINT', 'SIGTERM'] as const)
  process.on(sig, () => {
    interrupted = true;
    say(`${sig}: stopping the faults and cleaning up`);
  });

say(`chaos seed=${seed} duration=${durationS}s services<=${maxServices} logs=${dir}`);
const lab = await ClusterLab.start({ tag: 'chaos', nodes: 3, log: (l) => say(`${stamp()} [lab] ${l}`) });
const faults = new Faults(lab, dir, (l) => say(`${stamp()} [fault] ${l}`));
const macName = new Map(lab.nodes.map((n) => [n.mac, n.name]));
const named = (macs: readonly string[]) => macs.map((m) => macName.get(m) ?? m).join('+');
const ipNumber = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);

const detector = new TwoAnswererDetector({
  proberIp: CLIENT_IP,
  inPool: (a) => ipNumber(a) - POOL_FIRST >= 0 && ipNumber(a) - POOL_FIRST < POOL.length,
  onEpisode: (e: Episode) => {
    const line = `${e.address} answered by ${named(e.macs)} together for ${e.windowMs} ms (doubled probe rounds span ${e.to - e.from} ms)`;
    if (e.windowMs <= TWO_ANSWERERS_MAX_MS) {
      tracker.counts.passed++;
      detail(`[l2] ${line}`);
      return;
    }
    tracker.fail({
      invariant: 'two-answerers',
      at: e.from,
      message: `${line}; limit ${TWO_ANSWERERS_MAX_MS} ms`,
      evidence: `capture on ${lab.bridge.name}: ${[...e.seen].map(([m, w]) => `${macName.get(m) ?? m} (${m}) answered ${iso(w.first)} .. ${iso(w.last)}`).join('; ')}`,
    });
  },
});

let exitCode = 1;
const informerAbort = new AbortController();
try {
  const rest = lab.rest;
  await createPool(rest, BEACON_NS, 'chaos', { addresses: [`${POOL[0]}-${POOL.at(-1)}`] });
  await rest.create(`/apis/beacon.dev/v1alpha1/namespaces/${BEACON_NS}/l2advertisements`, {
    apiVersion: 'beacon.dev/v1alpha1',
    kind: 'L2Advertisement',
    metadata: { name: 'chaos' },
    spec: { ipAddressPools: ['chaos'] },
  });
  await ensureNamespace(rest, APP_NS);

  // Every Service event, as the watch delivers it: the moves are judged from these.
  const services = new Informer<V1Service>(
    rest,
    { group: '', version: 'v1', plural: 'services' },
    createLogger('chaos', 'silent'),
    { namespace: APP_NS },
  );
  services.on('add', (s) => tracker.observe(s, Date.now()));
  services.on('update', (s) => tracker.observe(s, Date.now()));
  services.on('delete', (s) => tracker.forget(s, Date.now()));
  await services.start(informerAbort.signal);

  // The capture on the switch: every ARP frame any port sends.
  await startCapture(
    lab.bridge.switchNs,
    'capture',
    ['-i', lab.bridge.name, '-n', '-e', '-tt', 'arp'],
    (l) => {
      const f = parseArpLine(l);
      if (f) detector.add(f);
    },
  );
  lab.client.spawn('prober', join(REPO_ROOT, 'node_modules', '.bin', 'node'), [
    join(REPO_ROOT, 'chaos', 'arp-prober.ts'),
    'eth0',
    CLIENT_IP,
    POOL[0]!,
    POOL.at(-1)!,
    String(PROBE_PERIOD_MS),
  ]);

  for (const r of faults.controllers) faults.startController(r);
  for (const n of lab.nodes) faults.startSpeaker(n);
  await Promise.all(lab.nodes.map((n) => faults.waitSynced(n)));
  const rand = (k: number) => seeded((seed * 7919 + k) >>> 0);
  const churn = new Churn({
    rest,
    namespace: APP_NS,
    nodes: lab.nodes.map((n) => n.name),
    rand: rand(1),
    pool: POOL,
    max: maxServices,
    log: (l) => detail(`[churn] ${l}`),
  });
  for (let i = 0; i < maxServices / 2; i++) await churn.create();
  say(`${stamp()} ${churn.size} Services created; faults start, for ${durationS} s`);

  // The snapshot check runs all along, every second, on one consistent LIST.
  let checking = true;
  const snapshots = (async () => {
    while (checking) {
      try {
        const list = await rest.get<{ items: V1Service[] }>(`/api/v1/namespaces/${APP_NS}/services`);
        tracker.checkSnapshot(list.items, Date.now());
      } catch (err) {
        detail(`[check] LIST failed: ${(err as Error).message}`);
      }
      await sleep(1000);
    }
  })();

  faults.start({
    controllers: rand(2),
    speakers: rand(3),
    partitions: rand(4),
    oneWay: rand(6),
    stalls: rand(7),
    keys: rand(8),
  });
  const churnRand = rand(5);
  const deadline = Date.now() + durationS * 1000;
  while (Date.now() < deadline && !interrupted) {
    await churn.step();
    await sleep(churnRand.int(100, 600));
  }
  const faultsStopped = Date.now();
  say(`${stamp()} faults stop; bringing every replica, speaker and link back`);
  await faults.stop();

  // Settle: every Service that can have an address has one.
  const settle = await settleAddresses(faultsStopped);
  // ... and in L2 each held address is answered by exactly one node.
  await settleL2(settle.held);
  checking = false;
  await snapshots;
  detector.flush();
  tracker.counts.passed += detector.stats.singleOrNone;
  checkUnownedAnswers();

  const c = churn.counts;
  const f = faults.counts;
  const longest = detector.stats.longest;
  say(
    `faults: controller kills=${f.controllerKills} speaker kills=${f.speakerKills} link cuts=${f.partitions} ` +
      `one-way cuts=${f.oneWayCuts} stalls=${f.stalls} key rotations=${f.keyRotations} Secret deletions=${f.secretDeletions}; ` +
      `churn: create=${c.create} delete=${c.delete} type=${c.type} ip=${c.ip} key=${c.key} ports=${c.ports} refused-by-api=${c.refused}`,
  );
  say(
    `l2: probe rounds=${detector.stats.rounds} two-answerer episodes=${detector.stats.episodes} ` +
      `longest two-answerer window=${longest ? `${longest.windowMs} ms (${longest.address}, ${named(longest.macs)}, at ${iso(longest.from)})` : '0 ms (none seen)'} ` +
      `(probe period ${PROBE_PERIOD_MS} ms)`,
  );
  say(
    `settle: ${settle.ms === undefined ? 'NOT settled' : `all addressable Services addressed ${settle.ms} ms after the faults stopped`}`,
  );
  exitCode = tracker.counts.failed > 0 ? 1 : 0;
  say(`${tracker.counts.passed} passed, ${tracker.counts.failed} failed`);
} catch (err) {
  say(`chaos: the run itself failed: ${(err as Error).stack ?? err}`);
  exitCode = 2;
} finally {
  informerAbort.abort();
  abort.abort();
  await faults.shutdown().catch(() => {});
  await lab.stop().catch((err: Error) => say(`cleanup: ${err.message}`));
  if (exitCode === 0) rmSync(dir, { recursive: true, force: true });
  else say(`logs kept in ${dir}`);
}
process.exit(exitCode);

/** Services that should have an address but may not: the address they request is held incompatibly. */
function contested(s: V1Service, all: readonly V1Service[]): V1Service | undefined {
  const r = requestOf(s);
  if (r.requested.length === 0) return undefined;
  return all.find(
    (o) =>
      o !== s &&
      requestOf(o).served &&
      addressesOf(o).some((a) => r.requested.includes(a)) &&
      !mayShare(r, requestOf(o)),
  );
}

async function settleAddresses(since: number): Promise<{ ms: number | undefined; held: string[] }> {
  let missing: V1Service[] = [];
  let list: V1Service[] = [];
  for (;;) {
    list = (await lab.rest.get<{ items: V1Service[] }>(`/api/v1/namespaces/${APP_NS}/services`)).items;
    const served = list.filter((s) => requestOf(s).served);
    missing = served.filter((s) => addressesOf(s).length === 0 && !contested(s, list));
    if (missing.length === 0) break;
    if (Date.now() - since > SETTLE_MAX_MS) break;
    await sleep(250);
  }
  const ms = missing.length === 0 ? Date.now() - since : undefined;
  tracker.checkSnapshot(list, Date.now());
  for (const s of list.filter((x) => requestOf(x).served)) {
    if (!missing.includes(s)) {
      tracker.counts.passed++;
      continue;
    }
    const events = await eventsFor(lab.rest, APP_NS, s.metadata!.name!);
    tracker.fail({
      invariant: 'settle',
      at: Date.now(),
      message: `${APP_NS}/${s.metadata!.name} has no address ${SETTLE_MAX_MS} ms after the faults stopped`,
      evidence: `request ${JSON.stringify(requestOf(s))}; events: ${events.map((e) => `${e.type} ${e.reason} x${e.count}: ${e.message}`).join(' | ') || 'none'}`,
    });
  }
  const held = [...new Set(list.filter((s) => requestOf(s).served).flatMap(addressesOf))].sort();
  return { ms, held };
}

/** Within SETTLE_MAX_MS, two seconds in which each held address is answered by one and the same node. */
async function settleL2(held: readonly string[]): Promise<void> {
  const startedAt = Date.now();
  let bad: string[] = [];
  for (;;) {
    const from = Date.now();
    await sleep(2000);
    bad = [];
    for (const a of held) {
      const rounds = detector.roundsSince(a, from);
      const macs = new Set(rounds.flat());
      const unanswered = rounds.filter((r) => r.length === 0).length;
      if (rounds.length === 0 || macs.size !== 1 || unanswered > 1 || ![...macs].every((m) => macName.has(m)))
        bad.push(
          `${a}: ${rounds.length} rounds, answerers ${named([...macs]) || 'none'}, ${unanswered} unanswered`,
        );
    }
    if (bad.length === 0 || Date.now() - startedAt > SETTLE_MAX_MS) break;
  }
  if (bad.length === 0) {
    tracker.counts.passed += held.length;
    say(`${stamp()} settled: every one of ${held.length} held addresses answered by exactly one node`);
    return;
  }
  for (const b of bad)
    tracker.fail({
      invariant: 'l2-settle',
      at: Date.now(),
      message: `after the faults stopped, a held address is not answered by exactly one node`,
      evidence: b,
    });
}

/** Answers on the wire for an address no Service held at the time (within the grace). */
function checkUnownedAnswers(): void {
  const seen = new Map<string, { count: number; first: number; macs: Set<string> }>();
  const buckets = new Set<string>();
  for (const a of detector.answers) {
    const bucket = `${a.address}@${Math.floor(a.at / 1000)}`;
    const ok = tracker.timeline.heldDuring(a.address, a.at - UNOWNED_GRACE_MS, a.at + 1000);
    if (ok) {
      buckets.add(bucket);
      continue;
    }
    const s = seen.get(a.address) ?? { count: 0, first: a.at, macs: new Set<string>() };
    s.count++;
    s.macs.add(a.mac);
    seen.set(a.address, s);
  }
  tracker.counts.passed += buckets.size;
  for (const [address, s] of seen)
    tracker.fail({
      invariant: 'unowned-answer',
      at: s.first,
      message: `${address} was answered while no Service held it (within ${UNOWNED_GRACE_MS} ms)`,
      evidence: `${s.count} answers from ${named([...s.macs])}, first at ${iso(s.first)}`,
    });
}
