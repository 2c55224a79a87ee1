/**
 * The shared setting of the hostile-input tests that go through the API server: a real API server, a pool,
 * a `beacon controller` process (so "keeps serving" means the process lives and still assigns), and a few
 * Services already holding addresses that nothing hostile may change.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { KubeRest } from '../../src/k8s/rest.ts';
import { type ApiServer, startApiServer } from '../harness/apiserver.ts';
import { REPO_ROOT } from '../harness/binaries.ts';
import { installCrds } from '../harness/crds.ts';
import {
  adminRest,
  createPool,
  createService,
  ensureNamespace,
  getService,
  ingressOf,
  waitForIngress,
} from '../harness/kube.ts';
import { spawnTethered, type TetheredProcess, waitFor } from '../harness/process.ts';

export const CONFIG = 'beacon-system';
export const APP = 'hostile';
export const POOL = ['192.0.2.0/28', '2001:db8::/124'];

export interface Setting {
  api: ApiServer;
  rest: KubeRest;
  controller: TetheredProcess;
  /** The Services assigned before anything hostile happened, and their addresses. */
  baseline: Map<string, string[]>;
  stop(): Promise<void>;
}

export async function startSetting(): Promise<Setting> {
  const api = await startApiServer();
  try {
    await installCrds(api);
    const rest = await adminRest(api);
    await ensureNamespace(rest, CONFIG);
    await ensureNamespace(rest, APP);
    await createPool(rest, CONFIG, 'main', { addresses: POOL });
    const controller = spawnTethered('controller', join(REPO_ROOT, 'node_modules', '.bin', 'node'), [
      join(REPO_ROOT, 'src', 'cli', 'main.ts'),
      'controller',
      `--kubeconfig=${api.kubeconfigPath}`,
      `--namespace=${CONFIG}`,
      '--lease-duration=2',
      '--log-level=info',
    ]);
    await waitFor(
      'the controller to lead',
      () => controller.tail().includes('became leader'),
      30_000,
      50,
      () => controller.tail(),
    );
    const baseline = new Map<string, string[]>();
    for (const name of ['keep-1', 'keep-2', 'keep-3']) {
      await createService(rest, APP, name, undefined);
      baseline.set(name, await waitForIngress(rest, APP, name));
    }
    return {
      api,
      rest,
      controller,
      baseline,
      async stop() {
        await controller.stop();
        await api.stop();
      },
    };
  } catch (err) {
    await api.stop();
    throw err;
  }
}

/** The controller still runs, nothing assigned before moved, and a new Service still gets an address. */
export async function assertStillServing(s: Setting, probe: string): Promise<void> {
  assert.equal(s.controller.hasExited(), false, `the controller exited:\n${s.controller.tail()}`);
  for (const [name, ips] of s.baseline)
    assert.deepEqual(ingressOf(await getService(s.rest, APP, name)), ips, `${name} kept its address`);
  await createService(s.rest, APP, probe, undefined);
  await waitForIngress(s.rest, APP, probe);
}
