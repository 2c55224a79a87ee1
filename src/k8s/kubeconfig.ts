import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

/**
 * The kubeconfig a component uses: --kubeconfig (or $KUBECONFIG) when given, else the in-cluster service
 * account when running in a Pod, else ~/.kube/config. Says which one it took, for the start-up log line.
 */
export function loadKubeConfig(path: string | undefined): { kc: KubeConfig; source: string } {
  const kc = new KubeConfig();
  if (path) {
    if (!existsSync(path)) throw new Error(`kubeconfig ${path} does not exist`);
    kc.loadFromFile(path);
    return { kc, source: path };
  }
  if (process.env.KUBERNETES_SERVICE_HOST) {
    kc.loadFromCluster();
    return { kc, source: 'in-cluster service account' };
  }
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) {
    kc.loadFromFile(home);
    return { kc, source: home };
  }
  throw new Error('no kubeconfig: pass --kubeconfig, set KUBECONFIG, or run inside a cluster');
}
