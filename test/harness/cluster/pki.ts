/**
 * The cluster's certificates, made with the openssl CLI the way kubeadm lays them out: one CA that signs the
 * API server's serving certificate and every client certificate (kubelets as system:node:NAME in group
 * system:nodes, kube-proxy, the controller manager, the scheduler, the API server's own client for kubelets,
 * and an admin in system:masters). EC P-256 keys: generating them takes milliseconds.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface CertPair {
  cert: string;
  key: string;
}

export interface Pki {
  dir: string;
  ca: CertPair;
  /** The CA certificate's PEM text. */
  caPem: string;
  /** Signs a client certificate: CN is the user name, O the groups. */
  client(name: string, commonName: string, groups: string[]): Promise<CertPair>;
  /** Signs a serving certificate for these IP addresses and DNS names. */
  server(name: string, commonName: string, ips: string[], dnsNames: string[]): Promise<CertPair>;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run('openssl', args);
  } catch (err) {
    const e = err as Error & { stderr?: string };
    throw new Error(`openssl ${args[0]} failed: ${e.stderr ?? e.message}`);
  }
}

const EC_KEY = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** Distinguished names are written as /CN=.../O=...; a slash or backslash in a value would end it early. */
function dn(commonName: string, groups: string[]): string {
  for (const v of [commonName, ...groups]) {
    if (/[/\\]/.test(v)) throw new Error(`certificate subject value ${JSON.stringify(v)} contains / or \\`);
  }
  return `/CN=${commonName}${groups.map((g) => `/O=${g}`).join('')}`;
}

export async function createPki(dir: string): Promise<Pki> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const ca: CertPair = { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
  await openssl([
    'req',
    '-x509',
    ...EC_KEY,
    '-keyout',
    ca.key,
    '-out',
    ca.cert,
    '-days',
    '2',
    '-subj',
    '/CN=beacon-test-cluster-ca',
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign,digitalSignature',
  ]);
  const sign = async (name: string, subject: string, extensions: string[]): Promise<CertPair> => {
    const pair = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) };
    await openssl([
      'req',
      '-x509',
      ...EC_KEY,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-keyout',
      pair.key,
      '-out',
      pair.cert,
      '-days',
      '2',
      '-subj',
      subject,
      '-addext',
      'basicConstraints=critical,CA:FALSE',
      '-addext',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      ...extensions.flatMap((e) => ['-addext', e]),
    ]);
    return pair;
  };
  return {
    dir,
    ca,
    caPem: readFileSync(ca.cert, 'utf8'),
    client: (name, commonName, groups) => sign(name, dn(commonName, groups), ['extendedKeyUsage=clientAuth']),
    server: (name, commonName, ips, dnsNames) =>
      sign(name, dn(commonName, []), [
        'extendedKeyUsage=serverAuth',
        `subjectAltName=${[...ips.map((i) => `IP:${i}`), ...dnsNames.map((d) => `DNS:${d}`)].join(',')}`,
      ]),
  };
}
