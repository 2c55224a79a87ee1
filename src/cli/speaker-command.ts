import { setFlagsFromString } from 'node:v8';
import { DEFAULT_LOAD_BALANCER_CLASS } from '../controller/service-request.ts';
import { loadClusterAccess } from '../k8s/kubeconfig.ts';
import { KubeRest } from '../k8s/rest.ts';
import { runServingMetrics } from '../metrics/server.ts';
import { speakerMetrics } from '../speaker/metrics.ts';
import { Speaker } from '../speaker/speaker.ts';
import { parseStringFlags, positiveNumber, UsageError } from './args.ts';
import type { Command } from './command.ts';

const USAGE = `Usage: beacon speaker --node NAME [flags]

Runs on every node (DaemonSet, host network). Answers ARP/NDP for the addresses this node owns (L2 mode)
and announces routes to the BGP peers that select this node (BGP mode). Needs CAP_NET_RAW for L2.

Flags:
  --node NAME                this node's name (default: $NODE_NAME)
  --namespace NS             namespace of Beacon's configuration and the speakers' Leases
                             (default: $POD_NAMESPACE, else beacon-system)
  --load-balancer-class C    also announce Services of this class (default: ${DEFAULT_LOAD_BALANCER_CLASS})
  --mesh-port PORT           UDP port of the membership mesh between speakers (default: 7946)
  --mesh-interval MS         heartbeat interval to each ring neighbour (default: 100)
  --dead-after MS            a neighbour silent this long is suspected; a quorum of suspicions declares
                             it dead (default: 400, at least three intervals)
  --exclude-interfaces LIST  comma-separated name patterns never used for L2 unless an L2Advertisement
                             names them (default: veth*,cali*,flannel*,cni*,docker*,...)
  plus the common flags: --kubeconfig, --log-level, --metrics-addr

Each speaker makes its own keys at start and publishes them in its Lease beacon-speaker-<node>; no shared
secret is needed. SIGUSR2 rotates this speaker's keys (docs/membership.md).`;

export const speakerCommand: Command = {
  name: 'speaker',
  summary: "announce this node's share of the addresses over L2 (ARP/NDP) and BGP",
  usage: USAGE,
  async run({ common, args, log, signal }) {
    // Most of a speaker's heap traffic is short-lived (watch events, status writes); V8's memory-saving
    // mode collects it sooner and hands freed pages back instead of pooling them. Measured with 10,000
    // addresses: resident memory 144 MB median instead of 183 MB (bench/speaker.bench.ts). It is set here
    // rather than on the command line because NODE_OPTIONS refuses V8 flags other than the heap caps.
    setFlagsFromString('--optimize-for-size');
    const values = parseStringFlags(args, [
      'node',
      'namespace',
      'load-balancer-class',
      'mesh-port',
      'mesh-interval',
      'dead-after',
      'exclude-interfaces',
    ]);
    const node = values.node ?? process.env.NODE_NAME;
    if (!node) throw new UsageError('--node (or $NODE_NAME) is required');
    const namespace = values.namespace ?? process.env.POD_NAMESPACE ?? 'beacon-system';
    const access = loadClusterAccess(common.kubeconfig);
    const rest = new KubeRest(access, { userAgent: `beacon-speaker/${node}` });
    const metrics = speakerMetrics();
    const exclude = values['exclude-interfaces']
      ?.split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const speaker = new Speaker(
      rest,
      {
        node,
        namespace,
        loadBalancerClass: values['load-balancer-class'] ?? DEFAULT_LOAD_BALANCER_CLASS,
        meshPort: positiveNumber('--mesh-port', values['mesh-port'], 7946),
        meshIntervalMs: positiveNumber('--mesh-interval', values['mesh-interval'], 100),
        deadAfterMs: positiveNumber('--dead-after', values['dead-after'], 400),
        ...(exclude ? { excludeInterfaces: exclude } : {}),
      },
      log,
      metrics,
    );
    log.info({ kubeconfig: access.source, namespace, node }, 'starting speaker');
    await runServingMetrics(common.metricsAddr, metrics.registry, speaker, signal, log);
    return 0;
  },
};
