/**
 * A cluster start that is aborted while its onApiServer hook is still at work (the lab's `helm install`
 * and `kubectl apply` when Ctrl-C comes) stops the hook's commands and waits for the hook before it tears
 * the cluster down. Otherwise a kubectl or helm outlives the cluster: it keeps the interrupted process
 * alive (kubectl's own timeout is 60 s, helm's 120 s), talking to an API server that is gone, or to
 * whatever listens on its forwarded port next. A stress run saw a lab still running 60 s after SIGTERM in
 * the middle of its start; this is the likeliest way (that run kept no output to tell).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubectlResult } from '../harness/apiserver.ts';
import { clusterToolsMissing } from '../harness/cluster/binaries.ts';
import { clusterImages } from '../harness/cluster/images.ts';
import { KubeCluster } from '../harness/cluster/kube-cluster.ts';
import { netnsUnavailable } from '../harness/netns.ts';

const skip = (await netnsUnavailable()) ?? clusterToolsMissing();

/** This process's network namespaces that are still there. */
function namespacesLeft(): string[] {
  return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.startsWith(`bcn${process.pid}-`));
}

/** Command lines of running processes that contain `text` and a path of this process's cluster. */
function clusterProcessesWith(text: string): string[] {
  return execFileSync('ps', ['-eo', 'args='], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.includes(text) && l.includes(`beacon-cluster-${process.pid}-`));
}

test("an aborted start stops the hook's kubectl and waits for the hook before it tears down", {
  skip,
  timeout: 300_000,
}, async () => {
  const images = await clusterImages();
  const abort = new AbortController();
  let hookResult: KubectlResult | undefined;
  let hookEndedAt: number | undefined;
  const starting = KubeCluster.start({
    tag: 'abort',
    nodes: 1,
    images: [images.pause.archive],
    sandboxImage: images.pause.ref,
    signal: abort.signal,
    onApiServer: async (api, signal) => {
      // A watch never ends by itself: only the hook's signal ends it before kubectl's own timeout.
      const watching = api.kubectl(['get', 'namespaces', '--watch'], undefined, signal);
      abort.abort();
      hookResult = await watching;
      // Then a wait that no teardown cuts short (a helm install between its requests, a kubectl in its
      // retry back-off): the hook ends this early only because its signal was aborted.
      await sleep(120_000, undefined, { signal }).catch(() => {});
      hookEndedAt = Date.now();
    },
  });
  await assert.rejects(starting);
  const rejectedAt = Date.now();
  assert.ok(
    hookEndedAt !== undefined,
    'the hook had ended when start() rejected: it was told to stop, and waited for',
  );
  assert.ok(hookEndedAt <= rejectedAt);
  assert.notEqual(hookResult?.code, 0, 'the watch was stopped, not finished');
  assert.deepEqual(
    clusterProcessesWith('get namespaces --watch'),
    [],
    'no kubectl of the hook outlives the start',
  );
  assert.deepEqual(namespacesLeft(), [], 'the aborted start removed its namespaces');
});

test('a start aborted while the nodes import their images rejects, with nothing left behind', {
  skip,
  timeout: 300_000,
}, async () => {
  const images = await clusterImages();
  const abort = new AbortController();
  const starting = KubeCluster.start({
    tag: 'abortimg',
    nodes: 2,
    images: images.archives,
    sandboxImage: images.pause.ref,
    signal: abort.signal,
    // The nodes import every image while etcd and the API server start.
    log: (line) => {
      if (line.startsWith('control plane: kube-apiserver')) abort.abort();
    },
  });
  await assert.rejects(starting);
  assert.deepEqual(namespacesLeft(), [], 'the aborted start removed its namespaces');
  assert.deepEqual(clusterProcessesWith('images import'), [], 'no image import outlives the start');
});
