/**
 * The binaries of a real cluster beyond the API server: kube-controller-manager, kube-scheduler, kubelet and
 * kube-proxy from the Kubernetes module pinned in ../go/go.mod (the same release as the API server), and the
 * node's container runtime, containerd 2 with its runc shim and ctr plus runc, from ../runtime/go.mod. Built
 * once and cached under .cache/kube/ like the API server (a cold build of all of them takes about 4 minutes
 * on 2 cores). The CNI plugins are Debian's containernetworking-plugins.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import {
  CACHE_ROOT,
  cachedBuild,
  goBuild,
  type KubeBinaries,
  kubeBinaries,
  pinnedVersions,
  requiredVersion,
  versionLdflags,
} from '../binaries.ts';

const KUBE_MODULE_DIR = join(import.meta.dirname, '..', 'go');
const RUNTIME_MODULE_DIR = join(import.meta.dirname, '..', 'runtime');
/** Where Debian's containernetworking-plugins puts bridge, host-local, loopback, portmap. */
export const CNI_BIN_DIR = '/usr/lib/cni';

export interface ClusterBinaries extends KubeBinaries {
  kubeControllerManager: string;
  kubeScheduler: string;
  kubelet: string;
  kubeProxy: string;
  containerd: string;
  /** containerd finds its shim by name on PATH: this directory goes first on containerd's PATH. */
  runtimeDir: string;
  ctr: string;
  runc: string;
  containerdVersion: string;
  runcVersion: string;
}

export function pinnedRuntimeVersions(): { containerd: string; runc: string } {
  return {
    containerd: requiredVersion(RUNTIME_MODULE_DIR, 'github.com/containerd/containerd/v2'),
    runc: requiredVersion(RUNTIME_MODULE_DIR, 'github.com/opencontainers/runc'),
  };
}

/** Why the cluster cannot be built here (a missing Debian package), or undefined. */
export function clusterToolsMissing(): string | undefined {
  for (const plugin of ['bridge', 'host-local', 'loopback', 'portmap']) {
    if (!existsSync(join(CNI_BIN_DIR, plugin))) {
      return `the CNI plugin ${plugin} is missing from ${CNI_BIN_DIR}: install Debian's containernetworking-plugins (scripts/setup.sh does)`;
    }
  }
  return undefined;
}

/** Returns the cached cluster binaries, building what is missing first (minutes, with progress lines). */
export async function clusterBinaries(log: (line: string) => void = () => {}): Promise<ClusterBinaries> {
  const api = await kubeBinaries(log);
  const k8s = pinnedVersions().kubernetes;
  const rt = pinnedRuntimeVersions();
  const nodeDir = join(CACHE_ROOT, `cluster-kubernetes-${k8s}`);
  const nodeTargets = ['kube-controller-manager', 'kube-scheduler', 'kubelet', 'kube-proxy'];
  await cachedBuild(nodeDir, nodeTargets, async (tmp) => {
    for (const name of nodeTargets) {
      await goBuild({
        moduleDir: KUBE_MODULE_DIR,
        pkg: `k8s.io/kubernetes/cmd/${name}`,
        out: join(tmp, name),
        ldflags: versionLdflags(k8s),
        log,
      });
    }
  });
  const runtimeDir = join(CACHE_ROOT, `runtime-containerd-${rt.containerd}_runc-${rt.runc}`);
  await cachedBuild(runtimeDir, ['containerd', 'containerd-shim-runc-v2', 'ctr', 'runc'], async (tmp) => {
    const containerdLdflags = `-s -w -X github.com/containerd/containerd/v2/version.Version=${rt.containerd}`;
    for (const name of ['containerd', 'containerd-shim-runc-v2', 'ctr']) {
      await goBuild({
        moduleDir: RUNTIME_MODULE_DIR,
        pkg: `github.com/containerd/containerd/v2/cmd/${name}`,
        out: join(tmp, name),
        ldflags: containerdLdflags,
        // btrfs snapshots need cgo and libbtrfs; the nodes use overlayfs.
        tags: ['no_btrfs'],
        log,
      });
    }
    // runc's nsenter is C (cgo), and seccomp needs libseccomp: the speaker asks for RuntimeDefault.
    await goBuild({
      moduleDir: RUNTIME_MODULE_DIR,
      pkg: 'github.com/opencontainers/runc',
      out: join(tmp, 'runc'),
      ldflags: `-s -w -X main.version=${rt.runc.replace(/^v/, '')}`,
      cgo: true,
      tags: ['seccomp'],
      log,
    });
  });
  return {
    ...api,
    kubeControllerManager: join(nodeDir, 'kube-controller-manager'),
    kubeScheduler: join(nodeDir, 'kube-scheduler'),
    kubelet: join(nodeDir, 'kubelet'),
    kubeProxy: join(nodeDir, 'kube-proxy'),
    containerd: join(runtimeDir, 'containerd'),
    runtimeDir,
    ctr: join(runtimeDir, 'ctr'),
    runc: join(runtimeDir, 'runc'),
    containerdVersion: rt.containerd,
    runcVersion: rt.runc,
  };
}
