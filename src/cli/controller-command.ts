import { hostname } from 'node:os';
import { DEFAULT_LOAD_BALANCER_CLASS } from '../api/load-balancer-class.ts';
import { Controller } from '../controller/controller.ts';
import { controllerMetrics } from '../controller/metrics.ts';
import { KubeRest } from '../k8s/rest.ts';
import { runServingMetrics } from '../metrics/server.ts';
import { BUILD } from '../version.ts';
import { clusterAccess, parseStringFlags, positiveNumber } from './args.ts';
import type { Command } from './command.ts';

const USAGE = `Usage: beacon controller [flags]

Assigns addresses from IPAddressPools to LoadBalancer Services. Run two replicas: one leads (a Lease), the
other takes over within seconds if the leader dies.

Flags:
  --namespace NS             namespace of pools, advertisements and the leader Lease
                             (default: $POD_NAMESPACE, else beacon-system)
  --load-balancer-class C    serve Services of this spec.loadBalancerClass (default: ${DEFAULT_LOAD_BALANCER_CLASS}),
                             and Services without a class unless --class-only is given
  --class-only               serve only Services of --load-balancer-class, leaving Services without a
                             class to another provider (MetalLB, Cilium, kube-vip) beside Beacon
  --identity NAME            this replica's name in the Lease (default: $POD_NAME, else host-pid)
  --concurrency N            Services written in parallel (default: 32)
  --lease-duration SECONDS   leader Lease duration (default: 6)
  plus the common flags: --kubeconfig, --log-level, --metrics-addr`;

export const controllerCommand: Command = {
  usage: USAGE,
  async run({ common, args, log, signal }) {
    const values = parseStringFlags(
      args,
      ['namespace', 'load-balancer-class', 'identity', 'concurrency', 'lease-duration'],
      ['class-only'],
    );
    const leaseSeconds = positiveNumber('--lease-duration', values['lease-duration'], 6);
    const concurrency = positiveNumber('--concurrency', values.concurrency, 32);
    const identity = values.identity ?? process.env.POD_NAME ?? `${hostname()}-${process.pid}`;
    const namespace = values.namespace ?? process.env.POD_NAMESPACE ?? 'beacon-system';
    const loadBalancerClass = values['load-balancer-class'] ?? DEFAULT_LOAD_BALANCER_CLASS;
    const classOnly = values['class-only'];
    const access = clusterAccess(common);
    // Not bound to every line: the Lease's lines carry the identity already (no key twice in a line), and
    // each replica's log is its own Pod's.
    log.info(
      { ...BUILD, identity, kubeconfig: access.source, namespace, loadBalancerClass, classOnly },
      'starting controller',
    );
    const rest = new KubeRest(access, { userAgent: `beacon-controller/${identity}` });
    const metrics = controllerMetrics();
    const controller = new Controller(
      rest,
      {
        namespace,
        identity,
        loadBalancerClass,
        classOnly,
        concurrency,
        leaseDurationMs: leaseSeconds * 1000,
        renewDeadlineMs: leaseSeconds * 666,
        retryPeriodMs: Math.max(200, leaseSeconds * 166),
      },
      log,
      metrics,
    );
    await runServingMetrics(common.metricsAddr, metrics.registry, controller, signal, log);
    return 0;
  },
};
