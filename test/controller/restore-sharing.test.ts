/**
 * A shared address survives a leader change even when one of its Services changed its sharing terms while
 * no leader ran: the Service that changed moves, the others keep the address. Found by `npm run chaos`:
 * the new leader rebuilt its table from the current annotations, so whichever Service came first in the
 * list kept the address, and an innocent Service moved.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { KubeRest } from '../../src/k8s/rest.ts';
import { type ApiServer, startApiServer } from '../harness/apiserver.ts';
import { installCrds } from '../harness/crds.ts';
import {
  adminRest,
  createPool,
  createService,
  ensureNamespace,
  getService,
  ingressOf,
  startController,
  waitForIngress,
} from '../harness/kube.ts';

let api: ApiServer;
let rest: KubeRest;
before(async () => {
  api = await startApiServer();
  await installCrds(api);
  rest = await adminRest(api);
});
after(() => api?.stop());

const [CONFIG, NS, CLS] = ['restore-cfg', 'restore-app', 'beacon.dev/restore'];
const SHARE = 'beacon.dev/allow-shared-ip';

test('a Service that changed its key or ports while no leader ran moves; its partner keeps the address', {
  timeout: 90_000,
}, async () => {
  await ensureNamespace(rest, CONFIG);
  await ensureNamespace(rest, NS);
  await createPool(rest, CONFIG, 'pool', { addresses: ['192.0.2.0/28'] });
  let ctl = await startController(api, { namespace: CONFIG, loadBalancerClass: CLS });
  // "a" and "c" come first in the list the next leader rebuilds from: they are the ones that change.
  await createService(rest, NS, 'a', CLS, { annotations: { [SHARE]: 'red' }, ports: [{ port: 80 }] });
  await waitForIngress(rest, NS, 'a');
  await createService(rest, NS, 'b', CLS, { annotations: { [SHARE]: 'red' }, ports: [{ port: 443 }] });
  await createService(rest, NS, 'c', CLS, { annotations: { [SHARE]: 'green' }, ports: [{ port: 80 }] });
  await waitForIngress(rest, NS, 'c');
  await createService(rest, NS, 'd', CLS, { annotations: { [SHARE]: 'green' }, ports: [{ port: 443 }] });
  const [b] = await waitForIngress(rest, NS, 'b');
  const [d] = await waitForIngress(rest, NS, 'd');
  assert.deepEqual(ingressOf(await getService(rest, NS, 'a')), [b], 'a and b share');
  assert.deepEqual(ingressOf(await getService(rest, NS, 'c')), [d], 'c and d share');
  await ctl.controller.idle();
  await ctl.stop();

  // While no controller leads: a takes another key, c a port d already uses.
  const path = (n: string) => `/api/v1/namespaces/${NS}/services/${n}`;
  await rest.patch(path('a'), 'merge', { metadata: { annotations: { [SHARE]: 'blue' } } });
  await rest.patch(path('c'), 'json', [{ op: 'replace', path: '/spec/ports/0/port', value: 443 }]);

  ctl = await startController(api, { namespace: CONFIG, loadBalancerClass: CLS, identity: 'next' });
  try {
    const [a] = await waitForIngress(rest, NS, 'a', (ips) => ips.length === 1 && ips[0] !== b);
    const [c] = await waitForIngress(rest, NS, 'c', (ips) => ips.length === 1 && ips[0] !== d);
    await ctl.controller.idle();
    assert.deepEqual(ingressOf(await getService(rest, NS, 'b')), [b], 'b did not ask, and kept its address');
    assert.deepEqual(ingressOf(await getService(rest, NS, 'd')), [d], 'd did not ask, and kept its address');
    assert.notEqual(a, c);
  } finally {
    await ctl.stop();
  }
});
