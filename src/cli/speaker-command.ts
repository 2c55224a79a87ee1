import { setFlagsFromString } from 'node:v8';
import { DEFAULT_LOAD_BALANCER_CLASS } from '../api/load-balancer-class.ts';
import { KubeRest } from '../k8s/rest.ts';
import { runServingMetrics } from '../metrics/server.ts';
import { speakerMetrics } from '../speaker/metrics.ts';
import { Speaker } from '../speaker/speaker.ts';
import { BUILD } from '../version.ts';
import { clusterAccess, parseStringFlags, positiveNumber, UsageError } from './args.ts';
import type { Command } from './command.ts';

const USAGE = `Usage: beacon speaker --node NAME [flags]

Runs on every node (DaemonSet, host network). Answers ARP/NDP for the addresses this node owns (L2 mode)
and announces routes to the BGP peers that select this node (BGP mode). Needs CAP_NET_RAW for L2.

Flags:
  --node NAME                this node's name (default: $NODE_NAME)
  --namespace NS             namespace of Beacon's configuration and the speakers' Leases
                             (default: $POD_NAMESPACE, else beacon-system)
  --load-balancer-class C    announce Services of this spec.loadBalancerClass (default: ${DEFAULT_LOAD_BALANCER_CLASS}),
                             and Services without a class unless --class-only is given
  --class-only               announce only Services of --load-balancer-class (as the controller's flag)
  --mesh-port PORT           UDP port of the membership mesh between speakers (default: 7946)
  --mesh-interval MS         heartbeat interval to each ring neighbour (default: 100)
  --dead-after MS            a neighbour silent this long is suspected; a quorum of suspicions declares
                             it dead (default: 400, at least three intervals)
  --exclude-interfaces LIST  comma-separated name patterns never used for L2 unless an L2Advertisement
                             names them (default: veth*,cali*,flannel*,cni*,docker*,...)
  plus the common flags: --kubeconfig, --log-level, --metrics-addr

Each speaker makes its own keys at start and publishes them in its Lease beacon-speaker-<node>; no shared
secret is needed. SIGUSR2 rotates this speaker's keys (docs/membership.md).`;

function port(flag: string, value: string | undefined, fallback: number): number {
  const n = positiveNumber(flag, value, fallback);
  if (!Number.isInteger(n) || n > 65535)
    throw new UsageError(`${flag} must be a port, 1..65535, got "${value}"`);
  return n;
}

export const speakerCommand: Command = {
  usage: USAGE,
  async run({ common, args, log, signal }) {
    // Most of a speaker's heap traffic is short-lived (watch events, status writes); V8's memory-saving
    // mode collects it sooner and hands freed pages back instead of pooling them. Measured with 10,000
    // addresses: resident memory 144 MB median instead of 183 MB (bench/speaker.bench.ts). It is set here
    // rather than on the command line because NODE_OPTIONS refuses V8 flags other than the heap caps.
    setFlagsFromString('--optimize-for-size');
    const values = parseStringFlags(
      args,
      [
        'node',
        'namespace',
        'load-balancer-class',
        'mesh-port',
        'mesh-interval',
        'dead-after',
        'exclude-interfaces',
      ],
      ['class-only'],
    );
    const node = values.node ?? process.env.NODE_NAME;
    if (!node) throw new UsageError('--node (or $NODE_NAME) is required');
    const namespace = values.namespace ?? process.env.POD_NAMESPACE ?? 'beacon-system';
    const exclude = values['exclude-interfaces']
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    // Every flag is checked before the cluster is contacted, so a mistake is one line, not a crash.
    const options = {
      node,
      namespace,
      loadBalancerClass: values['load-balancer-class'] ?? DEFAULT_LOAD_BALANCER_CLASS,
      classOnly: values['class-only'],
      meshPort: port('--mesh-port', values['mesh-port'], 7946),
      meshIntervalMs: positiveNumber('--mesh-interval', values['mesh-interval'], 100),
      deadAfterMs: positiveNumber('--dead-after', values['dead-after'], 400),
      ...(exclude ? { excludeInterfaces: exclude } : {}),
    };
    const access = clusterAccess(common);
    log.info(
      {
        ...BUILD,
        kubeconfig: access.source,
        namespace,
        node,
        loadBalancerClass: options.loadBalancerClass,
        classOnly: options.classOnly,
      },
      'starting speaker',
    );
    const rest = new KubeRest(access, { userAgent: `beacon-speaker/${node}` });
    const metrics = speakerMetrics();
    const speaker = new Speaker(rest, options, log, metrics);
    await runServingMetrics(common.metricsAddr, metrics.registry, speaker, signal, log);
    return 0;
  },
};
