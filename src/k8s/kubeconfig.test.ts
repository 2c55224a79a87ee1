import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { parseKubeconfig } from './kubeconfig.ts';

const config = (user: string) => `apiVersion: v1
kind: Config
current-context: c
contexts: [{name: c, context: {cluster: k, user: u}}]
clusters: [{name: k, cluster: {server: "https://127.0.0.1:6443", certificate-authority-data: ${Buffer.from('CA').toString('base64')}}}]
users: [{name: u, user: ${user}}]
`;

test('reads server, CA data and a static token from the current context', () => {
  const a = parseKubeconfig(config('{token: abc}'), '/x/kubeconfig');
  assert.equal(a.server, 'https://127.0.0.1:6443');
  assert.equal(a.ca?.toString(), 'CA');
  assert.equal(a.token?.(), 'abc');
});

test('reads client certificate files relative to the kubeconfig', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kc-'));
  writeFileSync(join(dir, 'c.crt'), 'CERT');
  writeFileSync(join(dir, 'c.key'), 'KEY');
  const a = parseKubeconfig(
    config('{client-certificate: c.crt, client-key: c.key}'),
    join(dir, 'kubeconfig'),
  );
  assert.equal(a.cert?.toString(), 'CERT');
  assert.equal(a.key?.toString(), 'KEY');
});

test('exec plugins and a missing context are refused with a clear message', () => {
  assert.throws(() => parseKubeconfig(config('{exec: {command: aws}}'), 'kc'), /exec plugin/);
  assert.throws(
    () => parseKubeconfig('current-context: nope\ncontexts: []\n', 'kc'),
    /current-context "nope"/,
  );
});
