/**
 * The chaos run (chaos/run.ts): its checkers catch what they claim to catch, and a 60-second run on the
 * 3-node lab (controller replicas and speakers SIGKILLed, links cut, Services churned) ends with
 * `N passed, 0 failed`.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import { AssignmentTracker, type Violation } from '../chaos/assignments.ts';
import { type Episode, parseArpLine, TwoAnswererDetector } from '../chaos/l2-answers.ts';
import { REPO_ROOT } from './harness/binaries.ts';
import { removeOnInterrupt, waitForExitSync } from './harness/interrupt.ts';
import { netnsUnavailable } from './harness/netns.ts';

function svc(
  name: string,
  opts: { ip?: string; key?: string; port?: number; type?: string; requested?: string } = {},
): V1Service {
  return {
    metadata: {
      name,
      namespace: 'app',
      uid: `uid-${name}`,
      annotations: {
        ...(opts.key ? { 'beacon.dev/allow-shared-ip': opts.key } : {}),
        ...(opts.requested ? { 'beacon.dev/load-balancer-ips': opts.requested } : {}),
      },
    },
    spec: { type: opts.type ?? 'LoadBalancer', ports: [{ port: opts.port ?? 80, protocol: 'TCP' }] },
    status: { loadBalancer: { ingress: opts.ip ? [{ ip: opts.ip }] : [] } },
  };
}

function tracker(): { t: AssignmentTracker; seen: Violation[] } {
  const seen: Violation[] = [];
  return { t: new AssignmentTracker({ lagMs: 2000, reactMs: 8000, report: (v) => seen.push(v) }), seen };
}

test('a move without a change of the request is a violation; one after a change is not', () => {
  const { t, seen } = tracker();
  t.observe(svc('a'), 0);
  t.observe(svc('a', { ip: '192.0.2.1' }), 100);
  t.observe(svc('a', { ip: '192.0.2.2' }), 10_000);
  assert.equal(seen.length, 1);
  assert.equal(seen[0]!.invariant, 'moved');
  assert.match(seen[0]!.message, /app\/a moved from 192.0.2.1 to 192.0.2.2/);

  t.observe(svc('a', { ip: '192.0.2.2', requested: '192.0.2.9' }), 20_000);
  t.observe(svc('a', { ip: '192.0.2.9', requested: '192.0.2.9' }), 20_050);
  // Losing the address after switching to ClusterIP is asked for too.
  t.observe(svc('a', { ip: '192.0.2.9', requested: '192.0.2.9', type: 'ClusterIP' }), 30_000);
  assert.equal(seen.length, 1);
  assert.deepEqual(t.counts, { passed: 2, failed: 1 });
});

test('an address written just after a request change counts as produced by the earlier request', () => {
  const { t, seen } = tracker();
  t.observe(svc('a', { ip: '192.0.2.1' }), 0);
  t.observe(svc('a', { ip: '192.0.2.1', requested: '192.0.2.5' }), 5_000);
  t.observe(svc('a', { ip: '192.0.2.1', requested: '192.0.2.6' }), 5_010);
  // The controller computed .5 from the first change; it lands on the object with the second.
  t.observe(svc('a', { ip: '192.0.2.5', requested: '192.0.2.6' }), 5_020);
  t.observe(svc('a', { ip: '192.0.2.6', requested: '192.0.2.6' }), 5_040);
  assert.equal(seen.length, 0);
});

test('two Services on one address need one valid key, judged by the requests they got it under', () => {
  const { t, seen } = tracker();
  const a = svc('a', { ip: '192.0.2.1', key: 'k', port: 80 });
  const b = svc('b', { ip: '192.0.2.1', key: 'k', port: 443 });
  t.observe(a, 0);
  t.observe(b, 0);
  t.checkSnapshot([a, b], 1000);
  assert.equal(seen.length, 0);
  // b changes its key: until the controller moves it, the pair is justified by b's earlier request.
  const b2 = svc('b', { ip: '192.0.2.1', key: 'other', port: 443 });
  t.observe(b2, 5000);
  t.checkSnapshot([a, b2], 5001);
  assert.equal(seen.length, 0);
  // A clash of ports was never valid, and neither was a holder without a key.
  const c = svc('c', { ip: '192.0.2.7', key: 'k', port: 80 });
  const d = svc('d', { ip: '192.0.2.7', key: 'k', port: 80 });
  const e = svc('e', { ip: '192.0.2.8' });
  const f = svc('f', { ip: '192.0.2.8', key: 'k', port: 81 });
  for (const s of [c, d, e, f]) t.observe(s, 6000);
  t.checkSnapshot([a, b2, c, d, e, f], 7000);
  assert.deepEqual(
    seen.map((v) => v.message),
    [
      '192.0.2.7 is held by 2 Services without a valid sharing key and disjoint ports',
      '192.0.2.8 is held by 2 Services without a valid sharing key and disjoint ports',
    ],
  );
  // A ClusterIP Service with a stale status holds nothing.
  const g = svc('g', { ip: '192.0.2.1', type: 'ClusterIP' });
  t.checkSnapshot([a, b, g], 8000);
  assert.equal(seen.length, 2);
});

test('a Service whose new key or ports break a shared address must leave it within reactMs', () => {
  const { t, seen } = tracker();
  const a = svc('a', { ip: '192.0.2.1', key: 'k', port: 80 });
  const b = svc('b', { ip: '192.0.2.1', key: 'k', port: 443 });
  const c = svc('c', { ip: '192.0.2.1', key: 'k', port: 8080 });
  for (const s of [a, b, c]) t.observe(s, 0);
  t.checkSnapshot([a, b, c], 60_000);
  assert.equal(seen.length, 0, 'held an hour under unchanged valid terms');
  // At 100 s b takes a's port and c another key, and both stay on the address.
  const b2 = svc('b', { ip: '192.0.2.1', key: 'k', port: 80 });
  const c2 = svc('c', { ip: '192.0.2.1', key: 'other', port: 8080 });
  t.observe(b2, 100_000);
  t.observe(c2, 100_000);
  t.checkSnapshot([a, b2, c2], 107_000);
  assert.equal(seen.length, 0, 'within reactMs the earlier requests still vouch');
  t.checkSnapshot([a, b2, c2], 108_500);
  assert.deepEqual(
    seen.map((v) => [v.invariant, v.message]),
    [['shared', '192.0.2.1 is held by 3 Services without a valid sharing key and disjoint ports']],
  );
  assert.match(seen[0]!.evidence, /app\/b key="k" ports=80\/TCP.*app\/c key="other"/);
  // b and c leave (their move is a change they asked for): a alone is fine.
  t.observe(svc('b', { ip: '192.0.2.2', key: 'k', port: 80 }), 109_000);
  t.observe(svc('c', { ip: '192.0.2.3', key: 'other', port: 8080 }), 109_000);
  t.checkSnapshot([a], 110_000);
  assert.equal(seen.length, 1);
  assert.deepEqual(t.counts.failed, 1);
});

const CLIENT = '192.0.2.100';
const at = (ms: number) => (ms / 1000).toFixed(6);
const request = (ms: number, ip: string) =>
  `${at(ms)} 02:00:00:00:00:64 > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 42: Request who-has ${ip} tell ${CLIENT}, length 28`;
const reply = (ms: number, ip: string, mac: string) =>
  `${at(ms)} ${mac} > 02:00:00:00:00:64, ethertype ARP (0x0806), length 42: Reply ${ip} is-at ${mac}, length 28`;
const garp = (ms: number, ip: string, mac: string) =>
  `${at(ms)} ${mac} > ff:ff:ff:ff:ff:ff, ethertype ARP (0x0806), length 58: Request who-has ${ip} (ff:ff:ff:ff:ff:ff) tell ${ip}, length 44`;

test('tcpdump lines parse into requests, replies and gratuitous claims', () => {
  assert.deepEqual(parseArpLine(reply(1_000_500, '192.0.2.200', '02:00:00:00:00:01')), {
    at: 1_000_500,
    sourceMac: '02:00:00:00:00:01',
    kind: 'reply',
    senderIp: '192.0.2.200',
    isAt: '02:00:00:00:00:01',
  });
  assert.equal(parseArpLine(garp(5, '192.0.2.9', '02:00:00:00:00:01'))?.targetIp, '192.0.2.9');
  assert.equal(parseArpLine('listening on br0, link-type EN10MB (Ethernet)'), undefined);
});

test('two MACs answering one address: the overlap is measured from the frames, and single answers pass', () => {
  const episodes: Episode[] = [];
  const d = new TwoAnswererDetector({
    proberIp: CLIENT,
    inPool: (a) => a.startsWith('192.0.2.2'),
    onEpisode: (e) => episodes.push(e),
  });
  const [m1, m2] = ['02:00:00:00:00:01', '02:00:00:00:00:02'];
  const lines: string[] = [];
  for (let t = 0; t < 3000; t += 200) {
    lines.push(request(t, '192.0.2.200'));
    // m2 takes over at 1050 (gratuitous), and m1 goes on answering until 1600.
    if (t < 1600) lines.push(reply(t + 1, '192.0.2.200', m1));
    if (t === 1000) lines.push(garp(t + 50, '192.0.2.200', m2));
    if (t > 1000) lines.push(reply(t + 2, '192.0.2.200', m2));
  }
  lines.push(request(3000, '192.0.2.200'));
  // An address outside the pool is not probed or judged.
  lines.push(reply(3001, '198.51.100.1', m1));
  for (const l of lines) d.add(parseArpLine(l)!);
  d.flush();
  assert.equal(episodes.length, 1);
  const e = episodes[0]!;
  assert.equal(e.address, '192.0.2.200');
  assert.deepEqual(e.macs.sort(), [m1, m2]);
  // m2 first at 1050, m1 last at 1401: 351 ms together; the doubled rounds ran 1000..1600.
  assert.equal(e.windowMs, 351);
  assert.deepEqual([e.from, e.to], [1000, 1600]);
  assert.equal(d.stats.rounds, 15);
  assert.equal(d.stats.singleOrNone, 12);
  assert.deepEqual(d.roundsSince('192.0.2.200', 2000), [[m2], [m2], [m2], [m2], [m2]]);
});

const skip = await netnsUnavailable();

test('npm run chaos -- --duration 60: every invariant holds under faults', {
  skip,
  timeout: 300_000,
}, async () => {
  const child = spawn(
    join(REPO_ROOT, 'node_modules', '.bin', 'node'),
    [join(REPO_ROOT, 'chaos', 'run.ts'), '--duration', '60', '--seed', '8'],
    { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  child.stderr.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  // Interrupted, this process ends without its after hooks: the chaos run must tear its own lab down first.
  const withdraw = removeOnInterrupt('npm run chaos and its lab', () => {
    child.kill('SIGTERM');
    if (child.pid !== undefined && !waitForExitSync(child.pid, 30_000)) child.kill('SIGKILL');
  });
  const timer = setTimeout(() => child.kill('SIGTERM'), 280_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)));
  clearTimeout(timer);
  withdraw();
  const summary = /^(\d+) passed, (\d+) failed$/m.exec(out);
  assert.ok(summary, `no summary line:\n${out.slice(-4000)}`);
  assert.equal(summary[2], '0', out.slice(-6000));
  assert.equal(code, 0, out.slice(-4000));
  assert.ok(Number(summary[1]) > 1000, `only ${summary[1]} checks ran`);
  // The faults really happened.
  const faults = /controller kills=(\d+) speaker kills=(\d+) link cuts=(\d+)/.exec(out);
  assert.ok(
    faults?.slice(1).every((n) => Number(n) > 0),
    out.slice(-4000),
  );
  process.stdout.write(
    `# ${out
      .split('\n')
      .filter((l) => /^(faults|l2|settle):/.test(l))
      .join('\n# ')}\n`,
  );
});
