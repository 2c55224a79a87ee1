import { readFileSync } from 'node:fs';
import { text } from 'node:stream/consumers';
import { parseArgs } from 'node:util';
import { loadClusterAccess } from '../k8s/kubeconfig.ts';
import { ApiError, KubeRest } from '../k8s/rest.ts';
import { convertMetalLB, METALLB_GROUP, METALLB_NAMESPACE } from '../migrate/convert.ts';
import { formatWarning, InputError, parseDocuments, toYaml } from '../migrate/yaml.ts';
import { UsageError } from './args.ts';
import type { Command } from './command.ts';

/**
 * MetalLB's configuration resources with their group, for `kubectl get`: once Beacon's CRDs are installed,
 * the bare plurals resolve to beacon.dev.
 */
export const METALLB_RESOURCES = [
  'ipaddresspools',
  'l2advertisements',
  'bgpadvertisements',
  'bgppeers',
  'bfdprofiles',
  'communities',
]
  .map((plural) => `${plural}.${METALLB_GROUP}`)
  .join(',');

const USAGE = `Usage: beacon migrate [flags] [FILE...]

Reads MetalLB configuration (metallb.io/v1beta1 and v1beta2 objects, or the ConfigMap MetalLB used
before v0.13; multi-document YAML or kubectl's List output) from the files, or from stdin when none is
given or FILE is -, and prints the equivalent beacon.dev/v1alpha1 objects. Every field that cannot be carried over is named in a warning on stderr.

  kubectl get -n metallb-system -o yaml ${METALLB_RESOURCES} \\
    | beacon migrate | kubectl apply -f -

Name MetalLB's resources with their group, as above: once Beacon's CRDs are installed, the short plurals
(ipaddresspools, bgppeers, ...) resolve to beacon.dev and kubectl would print Beacon's objects instead.

Flags:
  --namespace NS         namespace of the Beacon objects (default: beacon-system)
  --from-cluster         read the MetalLB objects, and the ConfigMap config, from the cluster (--kubeconfig)
  --metallb-namespace NS where MetalLB's objects are, with --from-cluster (default: ${METALLB_NAMESPACE})

Exit status: 0 when something was converted (warnings or not), 1 when nothing was, 2 on a usage error.`;

/** MetalLB's configuration kinds, with the versions to try in order (BGPPeer moved to v1beta2). */
const CLUSTER_KINDS: [kind: string, plural: string, versions: string[]][] = [
  ['IPAddressPool', 'ipaddresspools', ['v1beta1']],
  ['L2Advertisement', 'l2advertisements', ['v1beta1']],
  ['BGPAdvertisement', 'bgpadvertisements', ['v1beta1']],
  ['BGPPeer', 'bgppeers', ['v1beta2', 'v1beta1']],
  ['BFDProfile', 'bfdprofiles', ['v1beta1']],
  ['Community', 'communities', ['v1beta1']],
  ['AddressPool', 'addresspools', ['v1beta1', 'v1alpha1']],
];

/** Everything MetalLB is configured with in `namespace`, plus its legacy ConfigMap if there is one. */
async function readCluster(rest: KubeRest, namespace: string): Promise<unknown[]> {
  const found: unknown[] = [];
  for (const [kind, plural, versions] of CLUSTER_KINDS) {
    for (const version of versions) {
      try {
        const list = await rest.get<{ items: Record<string, unknown>[] }>(
          `/apis/${METALLB_GROUP}/${version}/namespaces/${namespace}/${plural}`,
        );
        found.push(...list.items.map((o) => ({ ...o, apiVersion: `${METALLB_GROUP}/${version}`, kind })));
        break;
      } catch (err) {
        // 404: this MetalLB release has no such kind or version.
        if (!(err instanceof ApiError && err.status === 404)) throw err;
      }
    }
  }
  try {
    const cm = await rest.get<Record<string, unknown>>(`/api/v1/namespaces/${namespace}/configmaps/config`);
    found.push({ ...cm, apiVersion: 'v1', kind: 'ConfigMap' });
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 404)) throw err;
  }
  return found;
}

async function readInputs(files: string[]): Promise<unknown[]> {
  const sources = files.length ? files : ['-'];
  const docs: unknown[] = [];
  for (const file of sources) {
    const content = file === '-' ? await text(process.stdin) : readFileSync(file, 'utf8');
    docs.push(...parseDocuments(content, file === '-' ? 'stdin' : file));
  }
  return docs;
}

function parseFlags(args: string[]) {
  try {
    return parseArgs({
      args,
      options: {
        namespace: { type: 'string' },
        'from-cluster': { type: 'boolean' },
        'metallb-namespace': { type: 'string' },
      },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export const migrateCommand: Command = {
  usage: USAGE,
  async run({ common, args }) {
    const { values, positionals } = parseFlags(args);
    if (values['from-cluster'] && positionals.length)
      throw new UsageError('give files or --from-cluster, not both');
    let documents: unknown[];
    try {
      documents = values['from-cluster']
        ? await readCluster(
            new KubeRest(loadClusterAccess(common.kubeconfig), { userAgent: 'beacon-migrate' }),
            values['metallb-namespace'] ?? METALLB_NAMESPACE,
          )
        : await readInputs(positionals);
    } catch (err) {
      if (err instanceof InputError || (err as NodeJS.ErrnoException).code === 'ENOENT') {
        process.stderr.write(`beacon migrate: ${(err as Error).message}\n`);
        return 1;
      }
      throw err;
    }
    const conversion = convertMetalLB(documents, { namespace: values.namespace ?? 'beacon-system' });
    for (const w of conversion.warnings) process.stderr.write(`${formatWarning(w)}\n`);
    process.stdout.write(toYaml(conversion));
    if (!conversion.objects.length) {
      process.stderr.write('beacon migrate: no MetalLB configuration found to convert\n');
      return 1;
    }
    return 0;
  },
};
