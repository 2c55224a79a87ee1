/**
 * One worker node of a test cluster: a network namespace on the lab bridge and a mount namespace of its
 * own, in which containerd 2 (with runc and Debian's CNI plugins), the kubelet and kube-proxy run as
 * they do on a real node. Pods get addresses from the node's own /24 (CNI bridge + host-local), routed
 * between nodes by static routes, like a flat L3 pod network.
 *
 * Everything the node writes at run time (containerd's images and containers, the kubelet's root, pod logs,
 * CNI state, shim sockets under /run/containerd) lives on tmpfs mounts inside the node's mount namespace,
 * so they vanish with its last process and nothing is left on the host's filesystem; pod processes are
 * found and killed through the node's cgroup subtree (see cgroups.ts). Read a node's files from the
 * host through /proc/<holder pid>/root/.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { Bridge, NetLab, Netns } from '../netns.ts';
import { spawnTethered, type TetheredProcess, waitFor } from '../process.ts';
import { type ClusterBinaries, CNI_BIN_DIR } from './binaries.ts';
import { createCgroupRoot, removeCgroupRoot } from './cgroups.ts';

const run = promisify(execFile);

export type ProxyMode = 'iptables' | 'nftables';

const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface NodeOptions {
  lab: NetLab;
  bridge: Bridge;
  name: string;
  ip: string;
  podCidr: string;
  /** Other nodes' pod CIDRs and where they live. */
  podRoutes: { cidr: string; via: string }[];
  serviceCidr: string;
  clusterCidr: string;
  /** The cluster's CA (kubelet client authentication). */
  caCert: string;
  kubeletKubeconfig: string;
  proxyKubeconfig: string;
  proxyMode: ProxyMode;
  /** The sandbox (pause) image, imported from a local archive like every image: never pulled. */
  sandboxImage: string;
  /** The OCI platform to import images for (this machine's). */
  platform: string;
  /** A unique cgroup subtree name, carrying the test process id (see cgroups.ts). */
  cgroupRoot: string;
  dir: string;
  binaries: ClusterBinaries;
}

export class KubeNode {
  readonly name: string;
  readonly ip: string;
  readonly podCidr: string;
  readonly ns: Netns;
  readonly mac: string;
  /** Index of its port on the bridge, to cut its link from the switch side. */
  readonly port: number;
  readonly cgroupRoot: string;
  /** Host-side directory of its configs and logs. */
  readonly dir: string;
  /** Its tmpfs, as seen from inside its mount namespace. */
  readonly stateDir: string;
  proxyMode: ProxyMode;
  private readonly opts: NodeOptions;
  private readonly holder: TetheredProcess;
  private containerd: TetheredProcess | undefined;
  private kubelet: TetheredProcess | undefined;
  private kubeProxy: TetheredProcess | undefined;

  private constructor(opts: NodeOptions, ns: Netns, mac: string, port: number, holder: TetheredProcess) {
    this.opts = opts;
    this.name = opts.name;
    this.ip = opts.ip;
    this.podCidr = opts.podCidr;
    this.ns = ns;
    this.mac = mac;
    this.port = port;
    this.cgroupRoot = opts.cgroupRoot;
    this.dir = opts.dir;
    this.stateDir = join(opts.dir, 'state');
    this.proxyMode = opts.proxyMode;
    this.holder = holder;
  }

  /** The holder's pid: `nsenter -t PID -m -n` enters the node. */
  get pid(): number {
    const pid = this.holder.child.pid;
    if (pid === undefined) throw new Error(`${this.name} has no namespace holder`);
    return pid;
  }

  /** A path inside the node's mount namespace, readable from the host. */
  hostPath(path: string): string {
    return join('/proc', String(this.pid), 'root', path);
  }

  static async start(opts: NodeOptions): Promise<KubeNode> {
    const { lab, bridge, name } = opts;
    mkdirSync(join(opts.dir, 'state'), { recursive: true });
    mkdirSync(join(opts.dir, 'cgroup-hold'), { recursive: true });
    const ns = await lab.addNamespace(name.replace(/^node-/, 'n'));
    const port = bridge.ports;
    await lab.attach(ns, bridge, { ifname: 'eth0', addresses: [`${opts.ip}/24`] });
    const mac = await ns.mac('eth0');
    await ns.must('sysctl', [
      '-qw',
      'net.ipv4.ip_forward=1',
      // Bridged pod traffic must pass kube-proxy's rules (br_netfilter), e.g. a pod reaching a Service
      // whose endpoint is on its own node.
      'net.bridge.bridge-nf-call-iptables=1',
    ]);
    for (const r of opts.podRoutes) await ns.must('ip', ['route', 'add', r.cidr, 'via', r.via]);
    // Cluster IPs are translated by kube-proxy on the way out; the kernel only needs a route to start from.
    await ns.must('ip', ['route', 'add', opts.serviceCidr, 'dev', 'eth0']);
    createCgroupRoot(opts.cgroupRoot);

    // The holder makes the node's mount namespace: sysfs of its network namespace (with the host's
    // cgroup hierarchies moved over it), and tmpfs for everything the node writes.
    const state = join(opts.dir, 'state');
    const hold = join(opts.dir, 'cgroup-hold');
    const script = [
      'set -e',
      `mount --rbind /sys/fs/cgroup ${hold}`,
      'umount -l /sys',
      'mount -t sysfs sysfs /sys',
      `mount --move ${hold} /sys/fs/cgroup`,
      `mount -t tmpfs -o mode=0755 tmpfs ${state}`,
      'mount -t tmpfs -o mode=0755 tmpfs /run/containerd',
      'mount -t tmpfs -o mode=0755 tmpfs /var/lib/cni',
      'echo ready',
      'exec sleep infinity',
    ].join('\n');
    mkdirSync('/run/containerd', { recursive: true });
    mkdirSync('/var/lib/cni', { recursive: true });
    const holder = spawnTethered(`${ns.name}/holder`, 'nsenter', [
      `--net=/run/netns/${ns.name}`,
      'unshare',
      '--mount',
      '--propagation',
      'private',
      '--',
      'sh',
      '-c',
      script,
    ]);
    lab.track(holder);
    await waitFor(
      `${name}'s mount namespace`,
      () => holder.tail().includes('ready'),
      10_000,
      20,
      () => {
        return holder.tail();
      },
    );
    const node = new KubeNode(opts, ns, mac, port, holder);
    await node.startRuntime();
    return node;
  }

  /** Runs a process inside the node (its network and mount namespaces); stopped with the lab. */
  spawn(label: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): TetheredProcess {
    const p = spawnTethered(
      `${this.name}/${label}`,
      'nsenter',
      ['-t', String(this.pid), '-m', '-n', '--', cmd, ...args],
      { logFile: join(this.dir, `${label}.log`), env: { PATH: SYSTEM_PATH, ...env } },
    );
    this.opts.lab.track(p);
    return p;
  }

  /** Runs a command inside the node and waits for it; throws with its stderr when it fails. */
  async run(cmd: string, args: string[], timeoutMs = 60_000, signal?: AbortSignal): Promise<string> {
    signal?.throwIfAborted();
    const p = spawnTethered(
      `${this.name}/${cmd}`,
      'nsenter',
      ['-t', String(this.pid), '-m', '-n', '--', cmd, ...args],
      {
        env: { PATH: SYSTEM_PATH },
      },
    );
    const kill = () => p.child.kill('SIGKILL');
    const timer = setTimeout(kill, timeoutMs);
    signal?.addEventListener('abort', kill, { once: true });
    const code = await p.exited;
    clearTimeout(timer);
    signal?.removeEventListener('abort', kill);
    signal?.throwIfAborted();
    if (code !== 0) throw new Error(`[${this.name}] ${cmd} ${args.join(' ')} exited ${code}: ${p.tail()}`);
    return p.tail();
  }

  private get socket(): string {
    return join(this.stateDir, 'containerd.sock');
  }

  private async startRuntime(): Promise<void> {
    const { binaries: bins } = this.opts;
    const cniDir = join(this.dir, 'cni');
    mkdirSync(cniDir, { recursive: true });
    writeFileSync(
      join(cniDir, '10-beacon-test.conflist'),
      JSON.stringify(
        {
          cniVersion: '1.0.0',
          name: 'beacon-test',
          plugins: [
            {
              type: 'bridge',
              bridge: 'cni0',
              isGateway: true,
              // Pod addresses are routed, not hidden: other nodes and the control plane route them back.
              ipMasq: false,
              hairpinMode: true,
              ipam: {
                type: 'host-local',
                ranges: [[{ subnet: this.podCidr }]],
                routes: [{ dst: '0.0.0.0/0' }],
                dataDir: join(this.stateDir, 'cni-ipam'),
              },
            },
            { type: 'portmap', capabilities: { portMappings: true } },
          ],
        },
        null,
        2,
      ),
    );
    const config = join(this.dir, 'containerd.toml');
    writeFileSync(
      config,
      `version = 3
root = "${join(this.stateDir, 'containerd', 'root')}"
state = "${join(this.stateDir, 'containerd', 'state')}"
# NRI's socket, tracing and the snapshotters the node does not use would be shared with other nodes
# or need kernel features this machine may not have.
disabled_plugins = [
  "io.containerd.nri.v1.nri",
  "io.containerd.internal.v1.tracing",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.snapshotter.v1.blockfile",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.erofs",
  "io.containerd.differ.v1.erofs",
]

[grpc]
  address = "${this.socket}"

[plugins.'io.containerd.internal.v1.opt']
  path = "${join(this.stateDir, 'opt')}"

[plugins.'io.containerd.cri.v1.images']
  snapshotter = "overlayfs"
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = "${this.opts.sandboxImage}"

[plugins.'io.containerd.cri.v1.runtime']
  # Pod network namespaces as files in the node's tmpfs, not in the host's /run/netns.
  netns_mounts_under_state_dir = true
  # The test machine may lack CAP_SYS_RESOURCE (a container or VM sandbox); then no process may lower
  # its oom_score_adj, and the kubelet's -998 for sandboxes would fail every pod: clamp to containerd's own.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = "runc"
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = "${bins.runc}"
        SystemdCgroup = false
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = ["${CNI_BIN_DIR}"]
    conf_dir = "${cniDir}"
    max_conf_num = 1
`,
    );
    this.containerd = this.spawn('containerd', bins.containerd, ['--config', config], {
      PATH: `${bins.runtimeDir}:${SYSTEM_PATH}`,
    });
    await waitFor(
      `containerd on ${this.name}`,
      () => {
        if (this.containerd?.hasExited()) throw new Error(`containerd exited:\n${this.containerd.tail()}`);
        return this.containerd?.tail().includes('containerd successfully booted') ?? false;
      },
      30_000,
      50,
      () => this.containerd?.tail() ?? '',
    );
  }

  /**
   * `ctr images import` of OCI archives into the node's runtime (the CRI's k8s.io namespace). An abort
   * kills the import under way: loading images can take most of a cluster start on a busy machine.
   */
  async importImages(archives: string[], signal?: AbortSignal): Promise<void> {
    for (const a of archives) {
      await this.run(
        this.opts.binaries.ctr,
        [
          `--address=${this.socket}`,
          '--namespace=k8s.io',
          'images',
          'import',
          `--platform=${this.opts.platform}`,
          a,
        ],
        60_000,
        signal,
      );
    }
  }

  /** Gives an imported image a second name, as a registry would serve one image under two tags. */
  async tagImage(source: string, target: string): Promise<void> {
    await this.run(this.opts.binaries.ctr, [
      `--address=${this.socket}`,
      '--namespace=k8s.io',
      'images',
      'tag',
      '--force',
      source,
      target,
    ]);
  }

  async startKubelet(): Promise<void> {
    const o = this.opts;
    const config = join(this.dir, 'kubelet.yaml');
    writeFileSync(
      config,
      `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine runs cgroup v1 and its PID 1 is not systemd.
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: /${o.cgroupRoot}
cgroupsPerQOS: true
containerRuntimeEndpoint: unix://${this.socket}
address: ${this.ip}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: { enabled: false }
  webhook: { enabled: true }
  x509: { clientCAFile: ${o.caCert} }
authorization: { mode: Webhook }
clusterDomain: cluster.local
podLogsDir: ${join(this.stateDir, 'pod-logs')}
failSwapOn: false
# The nodes share one machine's disk and memory: evict only when it is really short.
evictionHard: { memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1% }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
nodeStatusUpdateFrequency: 10s
shutdownGracePeriod: 0s
`,
    );
    this.kubelet = this.spawn('kubelet', o.binaries.kubelet, [
      `--config=${config}`,
      `--kubeconfig=${o.kubeletKubeconfig}`,
      `--root-dir=${join(this.stateDir, 'kubelet')}`,
      `--cert-dir=${join(this.stateDir, 'kubelet', 'pki')}`,
      `--hostname-override=${this.name}`,
      `--node-ip=${this.ip}`,
    ]);
  }

  /** Starts kube-proxy in `mode`; switching modes restarts it, and the new mode clears the old one's rules. */
  async startKubeProxy(mode: ProxyMode = this.proxyMode): Promise<void> {
    await this.kubeProxy?.stop(5000);
    this.proxyMode = mode;
    const o = this.opts;
    const config = join(this.dir, `kube-proxy-${mode}.yaml`);
    writeFileSync(
      config,
      `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: { kubeconfig: ${o.proxyKubeconfig} }
hostnameOverride: ${this.name}
mode: ${mode}
clusterCIDR: ${o.clusterCidr}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# nf_conntrack_max is the host's, not the node's: leave it alone.
conntrack: { maxPerCore: 0, min: 0 }
`,
    );
    this.kubeProxy = this.spawn(`kube-proxy-${mode}`, o.binaries.kubeProxy, [`--config=${config}`]);
    const proxy = this.kubeProxy;
    // /healthz answers before the first sync; the mode's own table or chain appears with it.
    const rulesProbe: [string, string[]] =
      mode === 'nftables'
        ? ['nft', ['list', 'table', 'ip', 'kube-proxy']]
        : ['iptables', ['-w', '5', '-t', 'nat', '-S', 'KUBE-SERVICES']];
    await waitFor(
      `kube-proxy (${mode}) on ${this.name} to write its rules`,
      async () => {
        if (proxy.hasExited()) throw new Error(`kube-proxy exited:\n${proxy.tail()}`);
        const health = await this.ns.exec('curl', ['-sf', 'http://127.0.0.1:10256/healthz'], 2000);
        return health.code === 0 && (await this.ns.exec(...rulesProbe)).code === 0;
      },
      60_000,
      200,
      () => proxy.tail(),
    );
  }

  /**
   * The node is lost: its link goes down (a powered-off machine stops forwarding with whatever rules its
   * kernel held) and its kubelet, kube-proxy, runtime and every pod are killed.
   */
  async lose(): Promise<void> {
    await this.opts.lab.setBridgePort(this.opts.bridge, this.port, 'down');
    for (const p of [this.kubelet, this.kubeProxy, this.containerd]) p?.child.kill('SIGKILL');
    await removeCgroupRoot(this.opts.cgroupRoot);
    // The shims and hostNetwork pods; the holder stays, keeping the namespaces for the lab's cleanup.
    const { stdout } = await run('ip', ['netns', 'pids', this.ns.name]);
    for (const pid of stdout.split(/\s+/).filter(Boolean).map(Number)) {
      if (pid === this.pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
  }

  /** Kills every pod (through the cgroup subtree) and every node process; the lab deletes the namespace. */
  async stop(): Promise<void> {
    for (const p of [this.kubelet, this.kubeProxy, this.containerd]) p?.child.kill('SIGKILL');
    await removeCgroupRoot(this.opts.cgroupRoot);
  }
}
