/**
 * Makes the harness's API server (on the host's 127.0.0.1) reachable from inside test namespaces, which
 * have loopbacks of their own and no route to the host: a Unix socket, owned by this process, forwards to
 * the API server, and a small forwarder in each namespace listens on its 127.0.0.1:6443 and connects to
 * that socket. Beacon in the namespace then uses an ordinary kubeconfig for https://127.0.0.1:6443, for
 * which the API server's certificate is valid. No interface is created in the host namespace.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ApiServer } from './apiserver.ts';
import { REPO_ROOT } from './binaries.ts';
import type { Netns } from './netns.ts';
import { forwardingServer } from './pipe.ts';
import { waitFor } from './process.ts';

export const IN_NAMESPACE_API_PORT = 6443;

export interface ApiBridge {
  /** A kubeconfig that works from inside any namespace this bridge was opened into. */
  kubeconfigPath: string;
  /** Starts the forwarder in `ns`; it is stopped with the namespace's lab. */
  openInto(ns: Netns): Promise<void>;
  /**
   * An API server outage as the namespaces see it: while down, every connection through the bridge is
   * cut and new ones are refused at once; back up, connections work again.
   */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

export async function bridgeApiServer(api: ApiServer, dir: string): Promise<ApiBridge> {
  const socketPath = join(dir, `api-${process.pid}.sock`);
  rmSync(socketPath, { force: true });
  const port = Number(new URL(api.url).port);
  const { server, setDown, close } = forwardingServer({ host: '127.0.0.1', port });
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
  const kubeconfigPath = join(dir, 'kubeconfig-in-namespace');
  writeFileSync(
    kubeconfigPath,
    readFileSync(api.kubeconfigPath, 'utf8').replace(api.url, `https://127.0.0.1:${IN_NAMESPACE_API_PORT}`),
    { mode: 0o600 },
  );
  return {
    kubeconfigPath,
    setDown,
    async openInto(ns: Netns) {
      const p = ns.spawn('api-bridge', join(REPO_ROOT, 'node_modules', '.bin', 'node'), [
        join(REPO_ROOT, 'test', 'harness', 'forward.ts'),
        `tcp:127.0.0.1:${IN_NAMESPACE_API_PORT}`,
        `unix:${socketPath}`,
      ]);
      await waitFor(
        `the API bridge in ${ns.name}`,
        () => p.tail().includes('listening'),
        10_000,
        20,
        () => p.tail(),
      );
    },
    async close() {
      await close();
      rmSync(socketPath, { force: true });
    },
  };
}
