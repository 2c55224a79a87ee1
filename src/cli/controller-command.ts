import { hostname } from 'node:os';
import { Controller } from '../controller/controller.ts';
import { controllerMetrics } from '../controller/metrics.ts';
import { DEFAULT_LOAD_BALANCER_CLASS } from '../controller/service-request.ts';
import { loadClusterAccess } from '../k8s/kubeconfig.ts';
import { KubeRest } from '../k8s/rest.ts';
import { runServingMetrics } from '../metrics/server.ts';
import { parseStringFlags, positiveNumber } from './args.ts';
import type { Command } from './command.ts';

const USAGE = `Usage: beacon controller [flags]

Assigns addresses from IPAddressPools to LoadBalancer Services. Run two replicas: one leads (a Lease), the
other takes over within seconds if the leader dies.

Flags:
  --namespace NS             namespace of pools, advertisements and the leader Lease
                             (default: $POD_NAMESPACE, else beacon-system)
  --load-balancer-class C    also serve Services of this loadBalancerClass (default: ${DEFAULT_LOAD_BALANCER_CLASS});
                             Services without a class are always served
  --identity NAME            this replica's name in the Lease (default: $POD_NAME, else host-pid)
  --concurrency N            Services written in parallel (default: 32)
  --lease-duration SECONDS   leader Lease duration (default: 6)
  plus the common flags: --kubeconfig, --log-level, --metrics-addr`;

export const controllerCommand: Command = {
  name: 'controller',
  summary: 'assign addresses from IPAddressPools to LoadBalancer Services (leader-elected)',
  usage: USAGE,
  async run({ common, args, log, signal }) {
    const values = parseStringFlags(args, [
      'namespace',
      'load-balancer-class',
      'identity',
      'concurrency',
      'lease-duration',
    ]);
    const leaseSeconds = positiveNumber('--lease-duration', values['lease-duration'], 6);
    const identity = values.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
    const namespace = values.namespace ?? process.env.POD_NAMESPACE ?? 'beacon-system';
    const access = loadClusterAccess(common.kubeconfig);
    const rest = new KubeRest(access, { userAgent: `beacon-controller/${identity}` });
    const metrics = controllerMetrics();
    const controller = new Controller(
      rest,
      {
        namespace,
        identity,
        loadBalancerClass: values['load-balancer-class'] ?? DEFAULT_LOAD_BALANCER_CLASS,
        concurrency: positiveNumber('--concurrency', values.concurrency, 32),
        leaseDurationMs: leaseSeconds * 1000,
        renewDeadlineMs: leaseSeconds * 666,
        retryPeriodMs: Math.max(200, leaseSeconds * 166),
      },
      log.child({ node: hostname(), identity }),
      metrics,
    );
    log.info({ kubeconfig: access.source, namespace, identity }, 'starting controller');
    await runServingMetrics(common.metricsAddr, metrics.registry, controller, signal, log);
    return 0;
  },
};
