/**
 * Pods as the node sees them: a pod's container cgroup under the node's cgroup root
 * (kubepods/<qos class>/pod<uid>/<container id>, the cgroupfs driver's layout), and its processes, for
 * crashing a container or reading its memory the way the kubelet does.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiServer } from '../apiserver.ts';
import { v1Hierarchy } from './cgroups.ts';
import { mustKubectl } from './demo.ts';
import type { KubeNode } from './node.ts';

export interface PodJson {
  metadata: { name: string; uid: string };
  spec: {
    nodeName: string;
    hostNetwork?: boolean;
    containers: { name: string; image: string }[];
    volumes?: { name: string; projected?: unknown }[];
  };
  status: {
    podIP?: string;
    phase: string;
    containerStatuses?: { name: string; containerID?: string; image: string; ready: boolean }[];
  };
}

export async function listPods(api: ApiServer, namespace: string, selector: string): Promise<PodJson[]> {
  const out = await mustKubectl(api, ['get', 'pods', '-n', namespace, '-l', selector, '-o', 'json']);
  return (JSON.parse(out) as { items: PodJson[] }).items;
}

function findDir(root: string, name: string): string | undefined {
  for (const e of readdirSync(root, { withFileTypes: true })) {
    if (!e.isDirectory()) continue;
    if (e.name === name) return join(root, e.name);
    const deeper = findDir(join(root, e.name), name);
    if (deeper) return deeper;
  }
  return undefined;
}

/** The memory-hierarchy cgroup directory of a pod's first container on its node. */
export function containerCgroup(node: KubeNode, pod: PodJson): string {
  const memory = v1Hierarchy('memory') ?? '/sys/fs/cgroup/memory';
  const podDir = findDir(join(memory, node.cgroupRoot, 'kubepods'), `pod${pod.metadata.uid}`);
  const id = pod.status.containerStatuses?.[0]?.containerID?.replace(/^containerd:\/\//, '');
  if (!podDir || !id) throw new Error(`no cgroup for ${pod.metadata.name} on ${node.name}`);
  return join(podDir, id);
}

/** The processes of a pod's first container (not its sandbox: killing them crashes the container only). */
export function containerPids(node: KubeNode, pod: PodJson): number[] {
  const procs = readFileSync(join(containerCgroup(node, pod), 'cgroup.procs'), 'utf8');
  return procs.split('\n').filter(Boolean).map(Number);
}

/** SIGKILLs a pod's container, as a crash would; the kubelet restarts it. */
export function crashContainer(node: KubeNode, pod: PodJson): void {
  const pids = containerPids(node, pod);
  if (pids.length === 0) throw new Error(`${pod.metadata.name} has no running process on ${node.name}`);
  for (const pid of pids) process.kill(pid, 'SIGKILL');
}
