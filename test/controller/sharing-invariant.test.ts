/**
 * Never two holders of an address without a valid sharing key and disjoint ports (issue 13, item 1): five
 * Services share key k1 on the only address of a full pool, 100 ports each. One takes the ports of
 * another, one changes its key: those two give the address up (nothing else is free) with a Warning Event
 * saying why, and the three others keep it: after the change, after a controller restart, when Services
 * change their terms while no controller leads (the next leader's rebuild applies the same rule), and
 * after every pool is deleted.
 *
 * Whether two Services may share is judged by chaos/requests.ts, which reads Services independently of the
 * controller's own parser.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import { mayShare, requestOf } from '../../chaos/requests.ts';
import type { KubeRest } from '../../src/k8s/rest.ts';
import { type ApiServer, startApiServer } from '../harness/apiserver.ts';
import { installCrds } from '../harness/crds.ts';
import {
  adminRest,
  createPool,
  createService,
  ensureNamespace,
  eventsFor,
  ingressOf,
  type RunningController,
  startController,
  waitForIngress,
} from '../harness/kube.ts';
import { waitFor } from '../harness/process.ts';

let api: ApiServer;
let rest: KubeRest;
before(async () => {
  api = await startApiServer();
  await installCrds(api);
  rest = await adminRest(api);
});
after(() => api?.stop());

const [CONFIG, NS, CLS] = ['share-cfg', 'share-app', 'beacon.dev/share'];
const SHARE = 'beacon.dev/allow-shared-ip';
const ADDRESS = '192.0.2.10';
const NAMES = ['s1', 's2', 's3', 's4', 's5'];
const path = (name: string) => `/api/v1/namespaces/${NS}/services/${name}`;
const portsFrom = (first: number) =>
  Array.from({ length: 100 }, (_, i) => ({ name: `p${first + i}`, port: first + i, protocol: 'TCP' }));

async function services(): Promise<Map<string, V1Service>> {
  const list = await rest.get<{ items: V1Service[] }>(`/api/v1/namespaces/${NS}/services`);
  return new Map(list.items.map((s) => [s.metadata!.name!, s]));
}

/** Every pair of Services on one address may share it, as the API server shows them now. */
async function assertInvariant(when: string): Promise<void> {
  const all = [...(await services()).values()];
  for (const a of all)
    for (const b of all) {
      if (a === b || !ingressOf(a).some((ip) => ingressOf(b).includes(ip))) continue;
      assert.ok(
        mayShare(requestOf(a), requestOf(b)),
        `${when}: ${a.metadata!.name} and ${b.metadata!.name} hold ${ingressOf(a)} together without a valid sharing key and disjoint ports`,
      );
    }
}

async function holders(): Promise<string[]> {
  const all = await services();
  return NAMES.filter((n) => ingressOf(all.get(n)!).includes(ADDRESS));
}

async function waitForHolders(expected: string[], what: string): Promise<void> {
  let last: string[] = [];
  await waitFor(
    what,
    async () => {
      last = await holders();
      return JSON.stringify(last) === JSON.stringify(expected);
    },
    20_000,
    100,
    () => `holders of ${ADDRESS}: ${last.join(', ')}`,
  );
}

async function warning(name: string, pattern: RegExp): Promise<void> {
  let seen: string[] = [];
  await waitFor(
    `a Warning Event on ${name} matching ${pattern}`,
    async () => {
      seen = (await eventsFor(rest, NS, name)).filter((e) => e.type === 'Warning').map((e) => e.message);
      return seen.some((m) => pattern.test(m));
    },
    15_000,
    100,
    () => `warnings: ${JSON.stringify(seen)}`,
  );
}

test('the Service that broke the sharing terms gives the address up; the others keep it, across restarts and pool deletion', {
  timeout: 180_000,
}, async () => {
  await ensureNamespace(rest, CONFIG);
  await ensureNamespace(rest, NS);
  await createPool(rest, CONFIG, 'one', { addresses: [`${ADDRESS}/32`] });
  let ctl: RunningController | undefined = await startController(api, {
    namespace: CONFIG,
    loadBalancerClass: CLS,
  });
  try {
    for (const [i, name] of NAMES.entries()) {
      await createService(rest, NS, name, CLS, {
        annotations: { [SHARE]: 'k1' },
        ports: portsFrom(1000 * (i + 1)),
      });
      assert.deepEqual(await waitForIngress(rest, NS, name), [ADDRESS]);
    }
    await assertInvariant('five Services on one key');

    // s2 takes s1's ports; s3 takes another key. The pool has nothing else to give.
    await rest.patch(path('s2'), 'merge', { spec: { ports: portsFrom(1000) } });
    await rest.patch(path('s3'), 'merge', { metadata: { annotations: { [SHARE]: 'other' } } });
    await waitForHolders(['s1', 's4', 's5'], 's2 and s3 to give the address up');
    await assertInvariant('after the changes');
    await warning('s2', /s2 gives up 192\.0\.2\.10: .*both use port 1000\/TCP/);
    await warning('s3', /s3 gives up 192\.0\.2\.10: .*has key "other"/);
    await ctl.controller.idle();

    // A new leader rebuilds the same table.
    await ctl.stop();
    ctl = await startController(api, { namespace: CONFIG, loadBalancerClass: CLS, identity: 'second' });
    await ctl.controller.idle();
    assert.deepEqual(await holders(), ['s1', 's4', 's5']);
    await assertInvariant('after a restart');

    // While no controller leads: s4 takes s5's ports, and s2's status is given the address by hand (as a
    // restore from backup or another tool might). The rebuild restores the Services that kept their
    // terms first, so s2 and s4, whose holding breaks the terms, are the ones to give it up.
    await ctl.stop();
    ctl = undefined;
    await rest.patch(path('s4'), 'merge', { spec: { ports: portsFrom(5000) } });
    await rest.patch(`${path('s2')}/status`, 'merge', {
      status: { loadBalancer: { ingress: [{ ip: ADDRESS, ipMode: 'VIP' }] } },
    });
    ctl = await startController(api, { namespace: CONFIG, loadBalancerClass: CLS, identity: 'third' });
    await waitForHolders(['s1', 's5'], 's2 and s4 to give the address up after the rebuild');
    await assertInvariant('after the rebuild');
    await warning('s4', /s4 gives up 192\.0\.2\.10: .*both use port 5000\/TCP/);

    // Every pool deleted: the holders keep the address (with a warning), and the next change that breaks
    // the terms still makes its Service leave.
    await rest.delete(`/apis/beacon.dev/v1alpha1/namespaces/${CONFIG}/ipaddresspools/one`);
    await warning('s1', /keeps 192\.0\.2\.10, which is no longer in any IPAddressPool/);
    assert.deepEqual(await holders(), ['s1', 's5']);
    await rest.patch(path('s5'), 'merge', { metadata: { annotations: { [SHARE]: 'another' } } });
    await waitForHolders(['s1'], 's5 to give the address up with no pool left');
    await assertInvariant('after the pools were deleted');
    await warning('s5', /s5 gives up 192\.0\.2\.10/);
    await ctl.controller.idle();
    assert.deepEqual(ingressOf((await services()).get('s1')!), [ADDRESS], 's1 never asked, and kept it');
  } finally {
    await ctl?.stop();
  }
});
