/**
 * The cgroup v1 subtree a test node's kubelet puts its pods under (its `cgroupRoot`). Pod processes are
 * children of containerd's shims, which outlive the test process by design, so the harness finds and kills
 * them through their cgroups: every process in the subtree, in every hierarchy, then the directories.
 * The subtree's name carries the test process id, so a later run removes what a killed run left.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { blockFor } from '../interrupt.ts';
import { pidAlive } from '../process.ts';

/** Mount points of the cgroup hierarchies (v1 controllers, the named systemd one, and cgroup2). */
export function cgroupHierarchies(): string[] {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  const out: string[] = [];
  for (const line of mounts) {
    const [pre, post] = line.split(' - ');
    const fstype = post?.split(' ')[0];
    if (fstype === 'cgroup' || fstype === 'cgroup2') out.push(pre!.split(' ')[4]!);
  }
  return out;
}

/** The mount point of the v1 hierarchy holding `controller`, if there is one. */
export function v1Hierarchy(controller: string): string | undefined {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n');
  for (const line of mounts) {
    const [pre, post] = line.split(' - ');
    const [fstype, , options] = post?.split(' ') ?? [];
    if (fstype === 'cgroup' && options?.split(',').includes(controller)) return pre!.split(' ')[4]!;
  }
  return undefined;
}

/** Makes /NAME in every hierarchy; a cpuset child starts with no CPUs, so it gets its parent's. */
export function createCgroupRoot(name: string): void {
  for (const h of cgroupHierarchies()) {
    const dir = join(h, name);
    mkdirSync(dir, { recursive: true });
    if (existsSync(join(dir, 'cpuset.cpus'))) {
      for (const f of ['cpuset.cpus', 'cpuset.mems']) {
        writeFileSync(join(dir, f), readFileSync(join(h, f), 'utf8').trim() || '0');
      }
    }
  }
}

function subtree(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out = [dir];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) out.push(...subtree(join(dir, e.name)));
  }
  return out;
}

function pidsIn(dirs: string[]): number[] {
  const pids = new Set<number>();
  for (const d of dirs) {
    try {
      for (const p of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p));
    } catch {
      // removed meanwhile
    }
  }
  return [...pids];
}

/**
 * One pass at removing /NAME: kills every process still in its subtree, in every hierarchy, or once none
 * is left removes the directories, deepest first. True when nothing is left; throws past `deadline`.
 */
function removeCgroupRootPass(name: string, deadline: number): boolean {
  const dirs = () => cgroupHierarchies().flatMap((h) => subtree(join(h, name)));
  const pids = pidsIn(dirs());
  if (pids.length > 0) {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (Date.now() > deadline) throw new Error(`processes ${pids.join(' ')} in cgroup ${name} did not die`);
    return false;
  }
  const left = dirs().sort((a, b) => b.length - a.length);
  if (left.length === 0) return true;
  for (const d of left) {
    try {
      rmdirSync(d);
    } catch {
      // a dying process may hold it for a moment
    }
  }
  if (Date.now() > deadline) throw new Error(`cgroups ${left.join(' ')} could not be removed`);
  return false;
}

/** Kills every process under /NAME in every hierarchy and removes the directories, deepest first. */
export async function removeCgroupRoot(name: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!removeCgroupRootPass(name, deadline)) await sleep(50);
}

/**
 * removeCgroupRoot for an interrupted process, which has no time for anything asynchronous
 * (../interrupt.ts): the same passes, waiting by blocking.
 */
export function removeCgroupRootSync(name: string, timeoutMs = 5000): void {
  const deadline = Date.now() + timeoutMs;
  while (!removeCgroupRootPass(name, deadline)) blockFor(50);
}

/** Cgroup roots named PREFIX<pid>-... whose process no longer exists: what a killed test run left. */
export async function removeStaleCgroupRoots(prefix: string): Promise<void> {
  const names = new Set<string>();
  for (const h of cgroupHierarchies()) {
    let entries: string[] = [];
    try {
      entries = readdirSync(h);
    } catch {
      continue;
    }
    for (const e of entries) {
      const m = new RegExp(`^${prefix}(\\d+)-`).exec(e);
      if (m && !pidAlive(Number(m[1]))) names.add(e);
    }
  }
  for (const n of names) await removeCgroupRoot(n);
}

/** A cgroup v1 memory controller's figures for a container, in bytes. */
export interface CgroupMemory {
  /** memory.usage_in_bytes: what the kubelet's working set starts from (it subtracts inactive_file). */
  usage: number;
  /** usage minus total_inactive_file: the kubelet's and `kubectl top`'s "working set". */
  workingSet: number;
  /** total_rss: anonymous memory. */
  rss: number;
}

export function cgroupMemory(path: string): CgroupMemory {
  const dir = join(v1Hierarchy('memory') ?? '/sys/fs/cgroup/memory', path);
  const usage = Number(readFileSync(join(dir, 'memory.usage_in_bytes'), 'utf8'));
  const stat = new Map(
    readFileSync(join(dir, 'memory.stat'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((l) => {
        const [k, v] = l.split(' ');
        return [k!, Number(v)] as const;
      }),
  );
  const inactiveFile = stat.get('total_inactive_file') ?? 0;
  return { usage, workingSet: Math.max(0, usage - inactiveFile), rss: stat.get('total_rss') ?? 0 };
}
