/** The README's first command, end to end: `beacon lab` comes up, both curls answer, a failover happens, and nothing is left behind. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { REPO_ROOT } from './harness/binaries.ts';
import { netnsUnavailable } from './harness/netns.ts';
import { spawnTethered } from './harness/process.ts';

const skip = await netnsUnavailable();

test('beacon lab --failover --exit: EXTERNAL-IPs, curl over L2 and BGP, a failover, a clean teardown', {
  skip,
  timeout: 240_000,
}, async () => {
  const before = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  const lab = spawnTethered('lab', join(REPO_ROOT, 'node_modules', '.bin', 'node'), [
    join(REPO_ROOT, 'src', 'cli', 'main.ts'),
    'lab',
    '--failover',
    '--exit',
  ]);
  const code = await lab.exited;
  const out = lab.tail();
  assert.equal(code, 0, out);
  assert.match(out, /hello-l2\s+LoadBalancer\s+\S+\s+192\.0\.2\.\d+/);
  assert.match(out, /hello-bgp\s+LoadBalancer\s+\S+\s+198\.51\.100\.\d+/);
  assert.match(out, /\(L2, ARP answered by Beacon\)\s+->\s+served by node-\d/);
  assert.match(out, /\(BGP, routed by FRR\)\s+->\s+served by node-\d/);
  assert.match(out, /neighbour entry moved after \d+ ms; curl now -> served by node-\d/);
  const took = /reachable over L2 and BGP ([\d.]+) s after start/.exec(out);
  process.stdout.write(`# lab reachable ${took?.[1]} s after start\n`);
  const after = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  assert.equal(
    after.split('\n').filter((l) => l.includes('-lab-')).length,
    before.split('\n').filter((l) => l.includes('-lab-')).length,
  );
  // Every process the lab started carries its temp dir (beacon-lab-lab-*) in its arguments.
  const leftovers = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes('beacon-lab-lab-'));
  assert.deepEqual(leftovers, []);
});
