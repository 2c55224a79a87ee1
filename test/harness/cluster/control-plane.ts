/**
 * The control plane of a test cluster, in a network namespace of its own on the lab bridge, as a
 * control-plane node would be: etcd on its loopback, kube-apiserver on CONTROL_PLANE_IP:6443 (the address
 * the `kubernetes` Service's endpoints name, so pods reach it through kube-proxy exactly as in production),
 * kube-controller-manager and kube-scheduler, each with its own client certificate. Authorization is
 * Node,RBAC with the NodeRestriction admission plugin, as kubeadm sets it up.
 *
 * The test process (in the host's namespace, which gets no interface) reaches the API server through a
 * forwarder: 127.0.0.1:PORT on the host, a Unix socket, and a small process in the namespace.
 */
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseKubeconfig } from '../../../src/k8s/kubeconfig.ts';
import {
  type ApiServer,
  httpsGet,
  kubeconfigYaml,
  kubectlRunner,
  serviceAccountKubeconfigMaker,
} from '../apiserver.ts';
import { REPO_ROOT } from '../binaries.ts';
import type { Netns } from '../netns.ts';
import { forwardingServer } from '../pipe.ts';
import { type TetheredProcess, waitFor } from '../process.ts';
import type { ClusterBinaries } from './binaries.ts';
import type { Pki } from './pki.ts';

export const API_PORT = 6443;
export const SERVICE_CIDR = '10.96.0.0/16';
/** The first address of SERVICE_CIDR: the `kubernetes` Service, which the serving certificate names. */
export const KUBERNETES_SERVICE_IP = '10.96.0.1';

export interface ControlPlane {
  api: ApiServer;
  processes: TetheredProcess[];
  stop(graceMs?: number): Promise<void>;
}

/** Signs a client certificate and writes a kubeconfig using it (dir/NAME.kubeconfig) for `server`. */
export async function writeClientKubeconfig(
  pki: Pki,
  server: string,
  dir: string,
  name: string,
  commonName: string,
  groups: string[],
): Promise<string> {
  const pair = await pki.client(name, commonName, groups);
  const path = join(dir, `${name}.kubeconfig`);
  writeFileSync(path, kubeconfigYaml(server, pki.caPem, commonName, pair), { mode: 0o600 });
  return path;
}

/** 127.0.0.1:PORT on the host, carried over a Unix socket to a forwarder inside `ns`. */
async function forwardIntoNamespace(
  ns: Netns,
  dir: string,
  target: string,
): Promise<{ port: number; close(): Promise<void> }> {
  const socketPath = join(dir, 'api-forward.sock');
  const inside = ns.spawn('api-forward', join(REPO_ROOT, 'node_modules', '.bin', 'node'), [
    join(REPO_ROOT, 'test', 'harness', 'forward.ts'),
    `unix:${socketPath}`,
    `tcp:${target}`,
  ]);
  await waitFor(
    'the API forwarder',
    () => inside.tail().includes('listening'),
    10_000,
    20,
    () => inside.tail(),
  );
  const { server, close } = forwardingServer({ path: socketPath });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (!addr || typeof addr === 'string') throw new Error('the API forwarder has no port');
  return { port: addr.port, close };
}

export async function startControlPlane(opts: {
  ns: Netns;
  ip: string;
  dir: string;
  pki: Pki;
  binaries: ClusterBinaries;
  podCidr: string;
  log: (line: string) => void;
}): Promise<ControlPlane> {
  const { ns, ip, dir, pki, binaries: bins } = opts;
  mkdirSync(dir, { recursive: true });
  const processes: TetheredProcess[] = [];
  const spawn = (name: string, cmd: string, args: string[]) => {
    const p = ns.spawn(name, cmd, args, { logFile: join(dir, `${name}.log`) });
    processes.push(p);
    return p;
  };
  const local = `https://127.0.0.1:${API_PORT}`;
  opts.log('control plane: etcd');
  const etcd = spawn('etcd', bins.etcd, [
    '--name=control-plane',
    `--data-dir=${join(dir, 'etcd')}`,
    '--listen-client-urls=http://127.0.0.1:2379',
    '--advertise-client-urls=http://127.0.0.1:2379',
    '--listen-peer-urls=http://127.0.0.1:2380',
    '--initial-advertise-peer-urls=http://127.0.0.1:2380',
    '--initial-cluster=control-plane=http://127.0.0.1:2380',
    // Test data is thrown away after each run; durability costs seconds.
    '--unsafe-no-fsync',
    '--log-level=warn',
  ]);
  await waitFor(
    'etcd to accept clients',
    async () => (await ns.exec('curl', ['-sf', 'http://127.0.0.1:2379/health'], 2000)).code === 0,
    30_000,
    100,
    () => etcd.tail(),
  );

  const adminToken = randomBytes(24).toString('hex');
  writeFileSync(join(dir, 'tokens.csv'), `${adminToken},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const saKey = join(dir, 'sa.key');
  writeFileSync(saKey, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  const serving = await pki.server(
    'apiserver',
    'kube-apiserver',
    [ip, KUBERNETES_SERVICE_IP, '127.0.0.1'],
    [
      'localhost',
      'kubernetes',
      'kubernetes.default',
      'kubernetes.default.svc',
      'kubernetes.default.svc.cluster.local',
    ],
  );
  const kubeletClient = await pki.client('apiserver-kubelet-client', 'kube-apiserver-kubelet-client', [
    'system:masters',
  ]);

  opts.log('control plane: kube-apiserver');
  const apiserverArgs = [
    '--etcd-servers=http://127.0.0.1:2379',
    '--bind-address=0.0.0.0',
    `--advertise-address=${ip}`,
    `--secure-port=${API_PORT}`,
    `--tls-cert-file=${serving.cert}`,
    `--tls-private-key-file=${serving.key}`,
    `--client-ca-file=${pki.ca.cert}`,
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    `--token-auth-file=${join(dir, 'tokens.csv')}`,
    `--service-account-key-file=${join(dir, 'sa.pub')}`,
    `--service-account-signing-key-file=${saKey}`,
    '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    `--kubelet-client-certificate=${kubeletClient.cert}`,
    `--kubelet-client-key=${kubeletClient.key}`,
    '--kubelet-preferred-address-types=InternalIP',
    '--allow-privileged=true',
    '--profiling=false',
    '--v=0',
  ];
  const forward = await forwardIntoNamespace(ns, dir, `127.0.0.1:${API_PORT}`);
  const url = `https://127.0.0.1:${forward.port}`;
  const startApiserver = async (): Promise<TetheredProcess> => {
    const p = spawn('kube-apiserver', bins.kubeApiserver, apiserverArgs);
    await waitFor(
      'kube-apiserver /readyz',
      async () => {
        if (p.hasExited()) throw new Error(`kube-apiserver exited:\n${p.tail()}`);
        return (await httpsGet(`${url}/readyz`, pki.caPem, adminToken)) === 'ok';
      },
      60_000,
      150,
      () => p.tail(),
    );
    return p;
  };
  let apiserver = await startApiserver();

  opts.log('control plane: kube-controller-manager, kube-scheduler');
  const kcmConfig = await writeClientKubeconfig(
    pki,
    local,
    dir,
    'kube-controller-manager',
    'system:kube-controller-manager',
    [],
  );
  spawn('kube-controller-manager', bins.kubeControllerManager, [
    `--kubeconfig=${kcmConfig}`,
    `--authentication-kubeconfig=${kcmConfig}`,
    `--authorization-kubeconfig=${kcmConfig}`,
    '--bind-address=127.0.0.1',
    `--root-ca-file=${pki.ca.cert}`,
    `--service-account-private-key-file=${saKey}`,
    '--use-service-account-credentials=true',
    `--cluster-signing-cert-file=${pki.ca.cert}`,
    `--cluster-signing-key-file=${pki.ca.key}`,
    `--cluster-cidr=${opts.podCidr}`,
    `--service-cluster-ip-range=${SERVICE_CIDR}`,
    // Pod CIDRs are fixed per node by the harness (see node.ts), as a static route table needs.
    '--allocate-node-cidrs=false',
    '--leader-elect=false',
    '--profiling=false',
  ]);
  const schedConfig = await writeClientKubeconfig(
    pki,
    local,
    dir,
    'kube-scheduler',
    'system:kube-scheduler',
    [],
  );
  spawn('kube-scheduler', bins.kubeScheduler, [
    `--kubeconfig=${schedConfig}`,
    `--authentication-kubeconfig=${schedConfig}`,
    `--authorization-kubeconfig=${schedConfig}`,
    '--bind-address=127.0.0.1',
    '--leader-elect=false',
    '--profiling=false',
  ]);

  const kubeconfigPath = join(dir, 'admin.kubeconfig');
  writeFileSync(kubeconfigPath, kubeconfigYaml(url, pki.caPem, 'admin', adminToken), { mode: 0o600 });
  const kubectl = kubectlRunner(bins.kubectl, kubeconfigPath);
  let stopped = false;
  const api: ApiServer = {
    url,
    kubeconfigPath,
    access: parseKubeconfig(readFileSync(kubeconfigPath, 'utf8'), kubeconfigPath),
    adminToken,
    binaries: bins,
    startSeconds: 0,
    kubectl,
    serviceAccountKubeconfig: serviceAccountKubeconfigMaker(kubectl, url, pki.caPem, dir),
    servingCertPath: serving.cert,
    servingKeyPath: serving.key,
    async restart() {
      await apiserver.stop(5000);
      processes.splice(processes.indexOf(apiserver), 1);
      apiserver = await startApiserver();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await forward.close();
    },
  };
  return {
    api,
    processes,
    /** Closes the forwarder and stops the processes (SIGTERM, SIGKILL after `graceMs`). */
    async stop(graceMs = 2000) {
      await api.stop();
      await Promise.all(processes.map((p) => p.stop(graceMs)));
    },
  };
}
