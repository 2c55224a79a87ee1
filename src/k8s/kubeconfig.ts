/**
 * Where and how to reach the API server: from --kubeconfig (or $KUBECONFIG), else the in-cluster service
 * account, else ~/.kube/config. Read without @kubernetes/client-node at run time: importing that package
 * costs about 85 MB of resident memory, more than the whole speaker is allowed.
 */
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join } from 'node:path';
import { parse } from 'yaml';

export interface ClusterAccess {
  server: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  insecureSkipTLSVerify: boolean;
  /** The bearer token, read again on every call: service-account tokens are rotated on disk. */
  token?: () => string;
  /** Where this came from, for the start-up log line. */
  source: string;
}

interface NamedCluster {
  name: string;
  cluster: {
    server: string;
    'certificate-authority'?: string;
    'certificate-authority-data'?: string;
    'insecure-skip-tls-verify'?: boolean;
  };
}
interface NamedUser {
  name: string;
  user: {
    token?: string;
    tokenFile?: string;
    'client-certificate'?: string;
    'client-certificate-data'?: string;
    'client-key'?: string;
    'client-key-data'?: string;
    exec?: unknown;
    'auth-provider'?: unknown;
  };
}
interface KubeconfigFile {
  'current-context'?: string;
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  clusters?: NamedCluster[];
  users?: NamedUser[];
}

const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/** A token file read at most every few seconds, so that rotation is picked up without a read per request. */
function tokenFromFile(path: string): () => string {
  let cached = '';
  let readAt = 0;
  return () => {
    if (Date.now() - readAt > 5000) {
      cached = readFileSync(path, 'utf8').trim();
      readAt = Date.now();
    }
    return cached;
  };
}

function fileOrData(base: string, file: string | undefined, data: string | undefined): Buffer | undefined {
  if (data) return Buffer.from(data, 'base64');
  if (file) return readFileSync(isAbsolute(file) ? file : join(base, file));
  return undefined;
}

export function parseKubeconfig(text: string, path: string): ClusterAccess {
  const cfg = (parse(text) ?? {}) as KubeconfigFile;
  const ctxName = cfg['current-context'];
  const ctx = cfg.contexts?.find((c) => c.name === ctxName)?.context;
  if (!ctx)
    throw new Error(`kubeconfig ${path}: current-context "${ctxName ?? ''}" is not among its contexts`);
  const cluster = cfg.clusters?.find((c) => c.name === ctx.cluster)?.cluster;
  if (!cluster?.server) throw new Error(`kubeconfig ${path}: cluster "${ctx.cluster}" has no server`);
  const user = cfg.users?.find((u) => u.name === ctx.user)?.user ?? {};
  if (user.exec || user['auth-provider']) {
    throw new Error(
      `kubeconfig ${path}: user "${ctx.user}" authenticates through an exec plugin or auth provider, which Beacon does not run; use a token or client certificate`,
    );
  }
  const base = dirname(path);
  const access: ClusterAccess = {
    server: cluster.server,
    insecureSkipTLSVerify: cluster['insecure-skip-tls-verify'] === true,
    source: path,
  };
  const ca = fileOrData(base, cluster['certificate-authority'], cluster['certificate-authority-data']);
  const cert = fileOrData(base, user['client-certificate'], user['client-certificate-data']);
  const key = fileOrData(base, user['client-key'], user['client-key-data']);
  if (ca) access.ca = ca;
  if (cert) access.cert = cert;
  if (key) access.key = key;
  if (user.token) {
    const token = user.token;
    access.token = () => token;
  } else if (user.tokenFile) {
    access.token = tokenFromFile(isAbsolute(user.tokenFile) ? user.tokenFile : join(base, user.tokenFile));
  }
  return access;
}

export function inClusterAccess(): ClusterAccess {
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('not running in a cluster (KUBERNETES_SERVICE_HOST is unset)');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(join(SERVICE_ACCOUNT_DIR, 'ca.crt')),
    token: tokenFromFile(join(SERVICE_ACCOUNT_DIR, 'token')),
    insecureSkipTLSVerify: false,
    source: 'in-cluster service account',
  };
}

export function loadClusterAccess(path: string | undefined): ClusterAccess {
  if (path) {
    if (!existsSync(path)) throw new Error(`kubeconfig ${path} does not exist`);
    return parseKubeconfig(readFileSync(path, 'utf8'), path);
  }
  if (process.env.KUBERNETES_SERVICE_HOST) return inClusterAccess();
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return parseKubeconfig(readFileSync(home, 'utf8'), home);
  throw new Error('no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run inside a cluster');
}
