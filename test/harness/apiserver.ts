/**
 * A real etcd + kube-apiserver on 127.0.0.1 for one test file, on free ports, in a temporary directory that
 * is removed on stop. RBAC authorization is on; the tests act as `admin` (group system:masters) through a
 * static token, and service-account tokens are signed so that components can be tested under their own
 * ServiceAccounts.
 */
import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { type ClusterAccess, parseKubeconfig } from '../../src/k8s/kubeconfig.ts';
import { type KubeBinaries, kubeBinaries } from './binaries.ts';
import { temporaryDirectory } from './interrupt.ts';
import { endInput, spawnTethered, type TetheredProcess, waitFor } from './process.ts';

/** GET with a bearer token against a server whose certificate `ca` signed; resolves with the body. */
export function httpsGet(url: string, ca: string, token: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: { authorization: `Bearer ${token}` }, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve(body.trim()));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

export interface ApiServer {
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** A kubeconfig file for the admin identity. */
  readonly kubeconfigPath: string;
  /** The same, parsed, for Beacon's own API client. */
  readonly access: ClusterAccess;
  readonly adminToken: string;
  readonly binaries: KubeBinaries;
  /** Seconds from the call to a ready server, binaries already built. */
  readonly startSeconds: number;
  /**
   * Runs the harness's kubectl as admin; never throws for a non-zero exit. An abort kills it (a non-zero
   * exit), so that nothing keeps talking to a cluster that is being torn down.
   */
  kubectl(args: string[], input?: string, signal?: AbortSignal): Promise<KubectlResult>;
  /** A kubeconfig file that authenticates as a ServiceAccount (through the TokenRequest API). */
  serviceAccountKubeconfig(namespace: string, name: string): Promise<string>;
  /** The serving certificate (chain) and key, for a proxy that must look like this server to clients. */
  readonly servingCertPath: string;
  readonly servingKeyPath: string;
  /**
   * Stops kube-apiserver (SIGTERM, as a rolling upgrade does) and starts it again on the same port, with the
   * same certificates and etcd, resolving once it is ready: watches break and caches are rebuilt.
   */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export interface ApiServerOptions {
  /** Progress lines, e.g. while the binaries are built for the first time. */
  log?: (line: string) => void;
  /** Extra kube-apiserver flags. */
  extraArgs?: string[];
}

export async function freePort(): Promise<number> {
  // Drawn below the kernel's ephemeral ports (32768-60999): a port found free there and released can be
  // taken by any outgoing connection of the test files running beside this one before its user binds it
  // (a stress run lost an API server that way).
  for (let attempt = 1; ; attempt++) {
    const port = 15_000 + Math.floor(Math.random() * 17_000);
    try {
      await new Promise<void>((resolve, reject) => {
        const srv = createServer();
        srv.unref();
        srv.once('error', reject);
        srv.listen(port, '127.0.0.1', () => srv.close(() => resolve()));
      });
      return port;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 50) throw err;
    }
  }
}

/** A kubeconfig for one identity: a bearer token, or a client certificate and key (file paths). */
export function kubeconfigYaml(
  url: string,
  caPem: string,
  user: string,
  credential: string | { cert: string; key: string },
): string {
  const ca = Buffer.from(caPem).toString('base64');
  const auth =
    typeof credential === 'string'
      ? `    token: ${credential}`
      : `    client-certificate: ${credential.cert}\n    client-key: ${credential.key}`;
  return `apiVersion: v1
kind: Config
clusters:
- name: harness
  cluster:
    server: ${url}
    certificate-authority-data: ${ca}
users:
- name: ${user}
  user:
${auth}
contexts:
- name: harness
  context:
    cluster: harness
    user: ${user}
    namespace: default
current-context: harness
`;
}

export type KubectlResult = { code: number; stdout: string; stderr: string };

/** Runs kubectl with this kubeconfig; never throws for a non-zero exit. */
export function kubectlRunner(
  kubectlPath: string,
  kubeconfigPath: string,
): (args: string[], input?: string, signal?: AbortSignal) => Promise<KubectlResult> {
  return (args, input, signal) =>
    new Promise<KubectlResult>((resolve) => {
      const child = execFile(
        kubectlPath,
        [`--kubeconfig=${kubeconfigPath}`, ...args],
        { maxBuffer: 64 * 1024 * 1024, timeout: 60_000, killSignal: 'SIGKILL', ...(signal && { signal }) },
        (err, stdout, stderr) => {
          const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
          resolve({ code, stdout, stderr });
        },
      );
      endInput(child, input);
    });
}

/** `serviceAccountKubeconfig` of an ApiServer: a TokenRequest through kubectl, written next to `dir`'s files. */
export function serviceAccountKubeconfigMaker(
  kubectl: (args: string[]) => Promise<KubectlResult>,
  url: string,
  caPem: string,
  dir: string,
): (namespace: string, name: string) => Promise<string> {
  return async (namespace, name) => {
    const res = await kubectl(['create', 'token', name, '-n', namespace, '--duration=1h']);
    if (res.code !== 0) throw new Error(`cannot get a token for ${namespace}/${name}: ${res.stderr}`);
    const path = join(dir, `kubeconfig-${namespace}-${name}`);
    writeFileSync(
      path,
      kubeconfigYaml(url, caPem, `system:serviceaccount:${namespace}:${name}`, res.stdout.trim()),
      { mode: 0o600 },
    );
    return path;
  };
}

export async function startApiServer(opts: ApiServerOptions = {}): Promise<ApiServer> {
  const log = opts.log ?? (() => {});
  const binaries = await kubeBinaries(log);
  const started = Date.now();
  // etcd and the API server die with this process (pdeathsig); their data directory would stay.
  const { path: dir, remove: removeDir } = temporaryDirectory('beacon-apiserver-');
  const processes: TetheredProcess[] = [];
  const cleanup = async () => {
    for (const p of processes.reverse()) await p.stop();
    removeDir();
  };
  try {
    const [etcdClient, etcdPeer] = [await freePort(), await freePort()];
    let securePort = await freePort();
    const etcd = spawnTethered(
      'etcd',
      binaries.etcd,
      [
        `--name=harness`,
        `--data-dir=${join(dir, 'etcd')}`,
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`,
        `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=harness=http://127.0.0.1:${etcdPeer}`,
        // Test data is thrown away after each run; durability costs seconds per test file.
        '--unsafe-no-fsync',
        '--log-level=warn',
      ],
      { logFile: join(dir, 'etcd.log') },
    );
    processes.push(etcd);

    const adminToken = randomBytes(24).toString('hex');
    writeFileSync(join(dir, 'tokens.csv'), `${adminToken},admin,admin-uid,"system:masters"\n`, {
      mode: 0o600,
    });
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(join(dir, 'sa.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    writeFileSync(join(dir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));

    await waitFor(
      'etcd to accept clients',
      async () => (await fetch(`http://127.0.0.1:${etcdClient}/health`)).ok,
      30_000,
      100,
      () => etcd.tail(),
    );

    const apiserverArgs = [
      `--etcd-servers=http://127.0.0.1:${etcdClient}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--cert-dir=${join(dir, 'certs')}`,
      '--authorization-mode=RBAC',
      `--token-auth-file=${join(dir, 'tokens.csv')}`,
      `--service-account-key-file=${join(dir, 'sa.pub')}`,
      `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      // Only bookkeeping: no traffic is ever sent to these ranges.
      '--service-cluster-ip-range=10.96.0.0/16,fd00:10:96::/108',
      // LoadBalancer Services get node ports; the default range (2,768 ports) is too small for the
      // 5,000-Service benchmark.
      '--service-node-port-range=20000-65000',
      '--allow-privileged=true',
      '--profiling=false',
      '--max-requests-inflight=1000',
      '--max-mutating-requests-inflight=500',
      '--v=0',
      ...(opts.extraArgs ?? []),
    ];
    let url = `https://127.0.0.1:${securePort}`;
    let caPem = '';
    const startApiserverProcess = async (mayMove: boolean): Promise<TetheredProcess> => {
      for (let attempt = 1; ; attempt++) {
        const p = spawnTethered(
          'kube-apiserver',
          binaries.kubeApiserver,
          [...apiserverArgs, `--secure-port=${securePort}`],
          {
            logFile: join(dir, 'kube-apiserver.log'),
          },
        );
        processes.push(p);
        let exited = false;
        await waitFor(
          'kube-apiserver /readyz',
          async () => {
            // An exit ends the wait at once (the check's errors only mean "not yet").
            if (p.hasExited()) {
              exited = true;
              return true;
            }
            caPem ||= readFileSync(join(dir, 'certs', 'apiserver.crt'), 'utf8');
            return (await httpsGet(`${url}/readyz`, caPem, adminToken)) === 'ok';
          },
          60_000,
          150,
          () => p.tail(),
        );
        if (!exited) return p;
        // Its port taken between the check and the bind: another one, before anyone has the URL (a restart
        // keeps the port its clients know).
        if (!mayMove || !/address already in use/.test(p.tail()) || attempt >= 3)
          throw new Error(`kube-apiserver exited:\n${p.tail()}`);
        securePort = await freePort();
        url = `https://127.0.0.1:${securePort}`;
      }
    };
    let apiserver = await startApiserverProcess(true);

    const kubeconfigPath = join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfigYaml(url, caPem, 'admin', adminToken), { mode: 0o600 });
    const access = parseKubeconfig(readFileSync(kubeconfigPath, 'utf8'), kubeconfigPath);

    const kubectl = kubectlRunner(binaries.kubectl, kubeconfigPath);

    let stopped = false;
    return {
      url,
      kubeconfigPath,
      access,
      adminToken,
      binaries,
      startSeconds: (Date.now() - started) / 1000,
      kubectl,
      servingCertPath: join(dir, 'certs', 'apiserver.crt'),
      servingKeyPath: join(dir, 'certs', 'apiserver.key'),
      async restart() {
        await apiserver.stop(5000);
        processes.splice(processes.indexOf(apiserver), 1);
        apiserver = await startApiserverProcess(false);
      },
      serviceAccountKubeconfig: serviceAccountKubeconfigMaker(kubectl, url, caPem, dir),
      async stop() {
        if (stopped) return;
        stopped = true;
        await cleanup();
      },
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}
