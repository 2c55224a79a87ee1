/**
 * The README's first command, end to end: `npm run lab` builds a real cluster, installs Beacon with Helm,
 * and a client reaches demo pods over L2 and BGP; a failover happens; and however the lab is stopped
 * (Ctrl-C on `npm run lab | tee`, which kills tee with it; SIGTERM in the middle of the start; SIGHUP as
 * a closed terminal sends it) everything it made is gone: network namespaces, cgroups, processes, mounts
 * and temporary directories. The teardown's duration is reported, not asserted.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { REPO_ROOT } from './harness/binaries.ts';
import { clusterToolsMissing } from './harness/cluster/binaries.ts';
import { cgroupHierarchies } from './harness/cluster/cgroups.ts';
import { netnsUnavailable } from './harness/netns.ts';
import { pidAlive, waitFor } from './harness/process.ts';

const skip = (await netnsUnavailable()) ?? clusterToolsMissing();
const NODE = join(REPO_ROOT, 'node_modules', '.bin', 'node');

/** Everything a lab of process `pid` could leave: every name it makes carries its pid. */
function leftovers(pid: number): string[] {
  const out: string[] = [];
  const namespaces = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const l of namespaces.split('\n'))
    if (l.startsWith(`bcn${pid}-`)) out.push(`namespace ${l.split(' ')[0]}`);
  for (const h of cgroupHierarchies()) {
    for (const d of readdirSync(h)) if (d.startsWith(`bcn${pid}-`)) out.push(`cgroup ${join(h, d)}`);
  }
  for (const d of readdirSync(tmpdir())) {
    if (d.startsWith(`beacon-cluster-${pid}-`) || d.startsWith(`beacon-frr-${pid}-`)) out.push(`dir ${d}`);
  }
  for (const l of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (l.includes(`beacon-cluster-${pid}-`)) out.push(`mount ${l}`);
  }
  const ps = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  for (const l of ps.split('\n')) if (l.includes(`beacon-cluster-${pid}-`)) out.push(`process ${l.trim()}`);
  return out;
}

/** The pid of the lab's own Node process in process group `pgid` (npm and sh run it as a grandchild). */
function labPid(pgid: number): number | undefined {
  const ps = execFileSync('ps', ['-eo', 'pid,pgid,args'], { encoding: 'utf8' });
  for (const l of ps.split('\n')) {
    const m = /^\s*(\d+)\s+(\d+)\s+(.*)$/.exec(l);
    if (
      m &&
      Number(m[2]) === pgid &&
      /\bnode\b.*src\/cli\/main\.ts lab\b/.test(m[3]!) &&
      !m[3]!.startsWith('sh ')
    )
      return Number(m[1]);
  }
  return undefined;
}

interface Run {
  child: ChildProcess;
  output(): string;
}

/** Starts a command in a process group of its own, as a terminal's foreground job is. */
function startJob(command: string, args: string[]): Run {
  let out = '';
  const child = spawn(command, args, { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout?.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  child.stderr?.on('data', (c: Buffer) => {
    out += c.toString('utf8');
  });
  return { child, output: () => out };
}

/** The processes below `pid`, one line each with how long they have run: what a lab that does not exit waits for. */
function processTree(pid: number): string {
  const rows = execFileSync('ps', ['-eo', 'pid=,ppid=,etimes=,args='], { encoding: 'utf8' })
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\d+)\s+(\d+)\s+(.*)$/.exec(l))
    .filter((m) => m !== null);
  const below = new Set([pid]);
  const lines: string[] = [];
  for (let grew = true; grew; ) {
    grew = false;
    for (const m of rows)
      if (below.has(Number(m[2])) && !below.has(Number(m[1]))) {
        below.add(Number(m[1]));
        lines.push(`${m[1]} (parent ${m[2]}, ${m[3]} s): ${m[4]!.slice(0, 200)}`);
        grew = true;
      }
  }
  return lines.length ? lines.join('\n') : '(no child process)';
}

/**
 * Sends `signal` (to the lab or its whole group), then `again` a moment later when given (a user pressing
 * Ctrl-C once more), waits for the lab to exit, and returns the seconds it took.
 */
async function stopLab(
  pid: number,
  signal: NodeJS.Signals,
  target: number,
  again?: NodeJS.Signals,
  output: () => string = () => '',
): Promise<number> {
  const sent = Date.now();
  process.kill(target, signal);
  if (again) {
    await sleep(200);
    process.kill(target, again);
  }
  await waitFor(
    `the lab (pid ${pid}) to exit after ${signal}`,
    () => !pidAlive(pid),
    60_000,
    50,
    () => `--- its output ---\n${output().slice(-6000)}\n--- its processes ---\n${processTree(pid)}`,
  );
  return (Date.now() - sent) / 1000;
}

test('npm run lab -- --failover 2>&1 | tee lab.log, then Ctrl-C: EXTERNAL-IPs, curl over L2 and BGP, a failover, nothing left', {
  skip,
  timeout: 600_000,
}, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'beacon-labtest-'));
  const logPath = join(dir, 'lab.log');
  const job = startJob('sh', ['-c', `npm run lab -- --failover 2>&1 | tee ${logPath}`]);
  const pgid = job.child.pid!;
  let pid: number | undefined;
  try {
    const log = () => {
      try {
        return readFileSync(logPath, 'utf8');
      } catch {
        return '';
      }
    };
    await waitFor(
      'the lab to be running',
      () => log().includes('press Ctrl-C') || job.child.exitCode !== null,
      540_000,
      500,
      log,
    );
    const out = log();
    pid = labPid(pgid);
    assert.ok(pid, `the lab's process in group ${pgid}:\n${out}`);
    assert.match(out, /hello-l2\s+LoadBalancer\s+\S+\s+192\.0\.2\.\d+/);
    assert.match(out, /hello-bgp\s+LoadBalancer\s+\S+\s+198\.51\.100\.\d+/);
    assert.match(out, /beacon-speaker-\S+\s+1\/1\s+Running.*node-1/);
    assert.match(
      out,
      /\(L2: ARP answered by Beacon on node-\d, then kube-proxy\)\s+->\s+pod hello-\S+ on node node-\d/,
    );
    assert.match(out, /\(BGP: routed by FRR, then kube-proxy\)\s+->\s+pod hello-\S+ on node node-\d/);
    assert.match(
      out,
      /neighbour entry moved to node-\d after \d+ ms; curl now -> pod hello-\S+ on node node-\d/,
    );
    const took = /reachable over L2 and BGP ([\d.]+) s after start/.exec(out);
    process.stdout.write(`# figure lab reachable ${took?.[1]} s after start\n`);

    // The terminal sends SIGINT to the whole foreground job: npm, sh, tee and the lab. tee dies at once,
    // so the lab's output has nowhere to go during its teardown.
    const seconds = await stopLab(pid, 'SIGINT', -pgid, undefined, log);
    process.stdout.write(
      `# figure lab teardown after Ctrl-C on npm run lab | tee: ${seconds.toFixed(1)} s\n`,
    );
    assert.deepEqual(leftovers(pid), []);
  } finally {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // already gone
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const [signal, again, when, marker] of [
  ['SIGTERM', undefined, 'in the middle of the cluster start', 'control plane: kube-controller-manager'],
  ['SIGHUP', 'SIGINT', 'while it runs, then Ctrl-C during the teardown', 'press Ctrl-C'],
] as const) {
  test(`${signal} ${when}: the lab says what it waits for and leaves nothing behind`, {
    skip,
    timeout: 600_000,
  }, async () => {
    const job = startJob(NODE, [join(REPO_ROOT, 'src', 'cli', 'main.ts'), 'lab']);
    const pid = job.child.pid!;
    try {
      await waitFor(
        `the lab to reach "${marker}"`,
        () => job.output().includes(marker),
        540_000,
        100,
        job.output,
      );
      const seconds = await stopLab(pid, signal, pid, again, job.output);
      await waitFor('the exit status', () => job.child.exitCode !== null, 10_000, 20);
      process.stdout.write(`# figure lab teardown after ${signal} ${when}: ${seconds.toFixed(1)} s\n`);
      const out = job.output().slice(job.output().indexOf(marker));
      assert.match(out, /tearing down/);
      if (signal === 'SIGTERM') {
        assert.match(out, /interrupted at/);
        assert.match(out, /tearing down: the cluster start removes what it had made/);
        assert.equal(job.child.exitCode, 130);
      } else {
        assert.match(out, /killing the pods and runtimes of 3 nodes/);
        assert.match(out, /torn down in [\d.]+ s/);
        assert.equal(job.child.exitCode, 0);
      }
      assert.deepEqual(leftovers(pid), []);
    } finally {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  });
}
