/**
 * Leader election against the real API server, with one candidate behind the fault proxy: when its
 * requests or its answers are slow, it stops leading before the other may take over, so the two never lead
 * at once; and a process acting as leader on a Lease older than its duration reports itself unhealthy.
 */
import assert from 'node:assert/strict';
import { after, afterEach, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { LeaderElector } from '../../src/k8s/lease.ts';
import { KubeRest } from '../../src/k8s/rest.ts';
import { type ApiServer, startApiServer } from '../harness/apiserver.ts';
import { type FaultProxy, startFaultProxy } from '../harness/fault-proxy.ts';
import { adminRest, ensureNamespace } from '../harness/kube.ts';
import { waitFor } from '../harness/process.ts';

let api: ApiServer;
let proxy: FaultProxy;
const stops: (() => Promise<void>)[] = [];
const NS = 'election';
const TIMING = { leaseDurationMs: 2000, renewDeadlineMs: 1200, retryPeriodMs: 200 };

before(async () => {
  api = await startApiServer();
  await ensureNamespace(await adminRest(api), NS);
  proxy = await startFaultProxy(api);
});
afterEach(async () => {
  proxy.clear();
  for (const stop of stops.splice(0)) await stop();
});
after(async () => {
  await proxy?.stop();
  await api?.stop();
});

interface Candidate {
  elector: LeaderElector;
  terms: AbortSignal[];
  started: number;
  stopped: number;
}

function candidate(identity: string, lease: string, via: 'proxy' | 'direct', now?: () => number): Candidate {
  const rest = new KubeRest(via === 'proxy' ? proxy.access : api.access, { userAgent: `test/${identity}` });
  const elector = new LeaderElector(
    rest,
    { namespace: NS, name: lease, identity, ...TIMING, ...(now ? { now } : {}) },
    pino({ level: 'silent' }),
  );
  const c: Candidate = { elector, terms: [], started: 0, stopped: 0 };
  const abort = new AbortController();
  const running = elector.run(abort.signal, {
    onStarted: (term) => {
      c.terms.push(term);
      c.started++;
    },
    onStopped: () => {
      c.stopped++;
    },
  });
  stops.push(async () => {
    abort.abort();
    await running;
  });
  return c;
}

/** Samples both candidates every few milliseconds; resolves with the instants both claimed to lead. */
function watchForTwoLeaders(a: Candidate, b: Candidate): { stop(): Promise<number[]> } {
  const both: number[] = [];
  let on = true;
  const done = (async () => {
    while (on) {
      if (a.elector.isLeader && b.elector.isLeader) both.push(Date.now());
      await sleep(5);
    }
  })();
  return {
    async stop() {
      on = false;
      await done;
      return both;
    },
  };
}

for (const [what, fault, lease] of [
  // Each of a's requests reaches the API server 1.1 s after it was sent (more than half the renew
  // deadline: a GET and a PUT together would outlast it); the answer comes at once.
  ['requests held 1.1 s on their way', { requestMs: 1100 }, 'slow-requests'],
  // a's renewals reach the server at once and are applied, but a hears of them too late to count.
  ['answers held 1.5 s (longer than the renew deadline)', { responseMs: 1500 }, 'slow-answers'],
] as const)
  test(`${what}: the holder steps down, the standby takes over, never two leaders`, {
    timeout: 60_000,
  }, async () => {
    const a = candidate('a', lease, 'proxy');
    await waitFor('a to lead', () => a.elector.isLeader, 15_000, 20);
    const b = candidate('b', lease, 'direct');
    const sampler = watchForTwoLeaders(a, b);
    proxy.add({ path: /\/leases\//, fault: { kind: 'delay', ...fault } });
    await waitFor('b to take over', () => b.elector.isLeader, 30_000, 20);
    await sleep(3000);
    assert.deepEqual(await sampler.stop(), [], 'both led at these instants');
    assert.ok(a.terms[0]?.aborted, "a's term (and the work it started) was cancelled");
    assert.equal(a.elector.isLeader, false);
  });

test('acting as leader on a Lease older than its duration is reported for /healthz', {
  timeout: 60_000,
}, async () => {
  let skew = 0;
  const a = candidate('a', 'stale', 'direct', () => Date.now() + skew);
  await waitFor('a to lead', () => a.elector.isLeader, 15_000, 20);
  assert.equal(a.elector.staleLeadership(), undefined);
  // As after an event-loop stall: the clock has moved on and the term's timer has not yet fired.
  skew = TIMING.leaseDurationMs + 500;
  assert.equal(a.elector.isLeader, false, 'no writes on a term that ran out');
  assert.match(a.elector.staleLeadership() ?? '', /acting as leader on a Lease last renewed \d+ ms ago/);
  // Once the term's end is handled, the process no longer acts as leader, and is healthy again.
  await waitFor('the term to end', () => a.stopped === 1, 10_000, 10);
  assert.equal(a.elector.staleLeadership(), undefined);
});
