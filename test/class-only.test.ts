/**
 * Beacon beside MetalLB, against a real API server: a class-only controller leaves Services without a
 * class (MetalLB's, with MetalLB's annotations and status) exactly as they are, serves Services of its
 * class, and docs/migrate.md's commands move one Service over with its address, traffic policy and source
 * ranges. The commands are taken from the document and run by bash with kubectl, as a user would.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { after, before, test } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import type { KubeRest } from '../src/k8s/rest.ts';
import { type ApiServer, startApiServer } from './harness/apiserver.ts';
import { REPO_ROOT } from './harness/binaries.ts';
import { installCrds } from './harness/crds.ts';
import {
  adminRest,
  createPool,
  ensureNamespace,
  eventsFor,
  ingressOf,
  type RunningController,
  startController,
  waitForIngress,
} from './harness/kube.ts';
import { waitFor } from './harness/process.ts';

const BEACON_NS = 'beacon-system';
const APP = 'shop';
const CLASS = 'beacon.dev/lb';

let api: ApiServer;
let rest: KubeRest;
let controller: RunningController;

/** A Service as MetalLB left it: no class, MetalLB's annotations, the address MetalLB wrote in status. */
async function metallbService(name: string, ip: string | undefined, spec: Record<string, unknown> = {}) {
  await rest.create(`/api/v1/namespaces/${APP}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: APP,
      annotations: ip ? { 'metallb.io/ip-allocated-from-pool': 'metallb-pool' } : {},
    },
    spec: { type: 'LoadBalancer', ports: [{ port: 80 }], selector: { app: name }, ...spec },
  });
  if (ip)
    await rest.patch(`/api/v1/namespaces/${APP}/services/${name}/status`, 'merge', {
      status: { loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] } },
    });
}

const service = (name: string) => rest.get<V1Service>(`/api/v1/namespaces/${APP}/services/${name}`);

before(async () => {
  api = await startApiServer();
  await installCrds(api);
  rest = await adminRest(api);
  await ensureNamespace(rest, BEACON_NS);
  await ensureNamespace(rest, APP);
  // MetalLB's range, which Beacon hands out only on request, and a range of Beacon's own.
  await createPool(rest, BEACON_NS, 'from-metallb', { addresses: ['192.0.2.0/28'], autoAssign: false });
  await createPool(rest, BEACON_NS, 'beacon-new', { addresses: ['198.51.100.0/28'] });
  await metallbService('web', '192.0.2.5', {
    externalTrafficPolicy: 'Local',
    loadBalancerSourceRanges: ['10.0.0.0/8'],
  });
  await metallbService('api', '192.0.2.6');
  await metallbService('pending', undefined);
  controller = await startController(api, {
    namespace: BEACON_NS,
    loadBalancerClass: CLASS,
    classOnly: true,
  });
});
after(async () => {
  await controller?.stop();
  await api?.stop();
});

test("class-only: Services of Beacon's class are served; MetalLB's are left exactly as they are", {
  timeout: 60_000,
}, async () => {
  const before = Object.fromEntries(
    await Promise.all(['web', 'api', 'pending'].map(async (n) => [n, await service(n)] as const)),
  );
  await rest.create(`/api/v1/namespaces/${APP}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'fresh', namespace: APP },
    spec: { type: 'LoadBalancer', loadBalancerClass: CLASS, ports: [{ port: 80 }] },
  });
  let fresh: string[] = [];
  await waitFor(
    'fresh to get an address',
    async () => {
      fresh = ingressOf(await service('fresh'));
      return fresh.length > 0;
    },
    20_000,
    50,
  );
  assert.match(fresh[0]!, /^198\.51\.100\./, 'from the auto-assign pool, never from MetalLB’s range');
  // Every Service was reconciled when the controller took the lead; let it finish what it queued.
  await controller.controller.idle();
  for (const name of ['web', 'api', 'pending']) {
    const now = await service(name);
    assert.deepEqual(now.status, before[name]!.status, `${name}: status untouched`);
    assert.deepEqual(now.metadata?.annotations, before[name]!.metadata?.annotations, `${name}: annotations`);
    assert.equal(
      now.metadata?.resourceVersion,
      before[name]!.metadata?.resourceVersion,
      `${name}: not written`,
    );
    assert.deepEqual(await eventsFor(rest, APP, name), [], `${name}: no Event from Beacon`);
  }
});

/** The block of docs/migrate.md that moves one Service. */
function moveCommands(): string {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'migrate.md'), 'utf8');
  const block = [...doc.matchAll(/```sh\n([\s\S]*?)```/g)]
    .map((m) => m[1]!)
    .find((b) => b.includes('beacon.dev/load-balancer-ips') && b.includes('loadBalancerClass'));
  assert.ok(block, 'docs/migrate.md shows how to move one Service');
  return block;
}

function bash(script: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'bash',
      ['-euo', 'pipefail', '-c', script],
      {
        timeout: 60_000,
        env: {
          PATH: `${dirname(api.binaries.kubectl)}:${process.env.PATH ?? '/usr/bin:/bin'}`,
          KUBECONFIG: api.kubeconfigPath,
          HOME: dirname(api.kubeconfigPath),
        },
      },
      (err, stdout, stderr) =>
        resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

test("docs/migrate.md's commands move a Service to Beacon with its address, policy and source ranges", {
  timeout: 60_000,
}, async () => {
  // The shortcut a user tries first is refused by the API server, as the document says.
  const direct = await api.kubectl([
    'patch',
    'service',
    'api',
    '-n',
    APP,
    '--type=merge',
    '-p',
    JSON.stringify({ spec: { loadBalancerClass: CLASS } }),
  ]);
  assert.notEqual(direct.code, 0);
  assert.match(
    direct.stderr,
    /spec\.loadBalancerClass: Invalid value: "beacon\.dev\/lb": may not change once set/,
  );

  const apiBefore = await service('api');
  const r = await bash(moveCommands());
  assert.equal(r.code, 0, `the document's commands failed:\n${r.stderr}`);
  let web: V1Service | undefined;
  await waitFor(
    'web to have its address again, from Beacon',
    async () => {
      web = await service('web');
      return ingressOf(web).join() === '192.0.2.5';
    },
    20_000,
    50,
    () => JSON.stringify(web?.status),
  );
  assert.equal(web!.spec?.loadBalancerClass, CLASS);
  assert.equal(web!.spec?.externalTrafficPolicy, 'Local');
  assert.deepEqual(web!.spec?.loadBalancerSourceRanges, ['10.0.0.0/8']);
  assert.equal(web!.metadata?.annotations?.['beacon.dev/ip-allocated-from-pool'], 'from-metallb');
  assert.ok((await eventsFor(rest, APP, 'web')).some((e) => e.reason === 'IPAllocated'));
  assert.match(r.stdout, /web\s+LoadBalancer\s+\S+\s+192\.0\.2\.5\s/, 'the last command shows the address');
  // The Service still with MetalLB is as it was.
  await controller.controller.idle();
  const apiAfter = await service('api');
  assert.equal(apiAfter.metadata?.resourceVersion, apiBefore.metadata?.resourceVersion);
});

test("a Service of Beacon's class asking for an address MetalLB's Service shows gets it only once MetalLB's lets go", {
  timeout: 60_000,
}, async () => {
  // MetalLB's `api` shows 192.0.2.6 (see before()); `twin` asks Beacon for the same address.
  await rest.create(`/api/v1/namespaces/${APP}/services`, {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'twin', namespace: APP, annotations: { 'beacon.dev/load-balancer-ips': '192.0.2.6' } },
    spec: { type: 'LoadBalancer', loadBalancerClass: CLASS, ports: [{ port: 80 }] },
  });
  await waitFor(
    'twin to be refused the address MetalLB holds',
    async () =>
      (await eventsFor(rest, APP, 'twin')).some(
        (e) => e.reason === 'AddressInUse' && e.message.includes(`${APP}/api`),
      ),
    20_000,
    50,
  );
  assert.deepEqual(ingressOf(await service('twin')), []);
  assert.deepEqual(ingressOf(await service('api')), ['192.0.2.6'], "MetalLB's Service keeps its address");
  // MetalLB releases it (its Service's status is cleared): now Beacon may hand it out.
  await rest.patch(`/api/v1/namespaces/${APP}/services/api/status`, 'merge', {
    status: { loadBalancer: { ingress: null } },
  });
  assert.deepEqual(await waitForIngress(rest, APP, 'twin', undefined, 20_000), ['192.0.2.6']);
});
