// `scripts/build-image.sh [--arch amd64,arm64] [--pod-images] [--refresh-base]`: builds Beacon's container image
// from the Dockerfile with buildah, on bases made here from Debian's packages (no registry), and writes one
// OCI archive per architecture under .cache/images/. --pod-images also builds the test Pods' images (pause,
// echo); --refresh-base makes the Debian bases again, to take in Debian's updates. docs/image.md has the rest.
import { parseArgs } from 'node:util';
import { buildImages, type ImageKind } from './image/build.ts';
import { readArchive } from './image/oci-archive.ts';
import { ARCHES, type Arch, isArch } from './image/platform.ts';

const { values } = parseArgs({
  options: {
    arch: { type: 'string', default: ARCHES.join(',') },
    'pod-images': { type: 'boolean', default: false },
    'refresh-base': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});
if (values.help) {
  process.stdout.write(
    'Usage: scripts/build-image.sh [--arch amd64,arm64] [--pod-images] [--refresh-base]\n' +
      'Builds localhost/beacon:<version> for each architecture into .cache/images/beacon-<version>-linux-<arch>.oci.tar\n',
  );
  process.exit(0);
}
const arches = values.arch.split(',').map((a) => a.trim());
const unknown = arches.filter((a) => !isArch(a));
if (unknown.length) {
  process.stderr.write(
    `build-image: unknown architecture ${unknown.join(', ')} (known: ${ARCHES.join(', ')})\n`,
  );
  process.exit(2);
}
const kinds: ImageKind[] = values['pod-images'] ? ['beacon', 'pause', 'echo'] : ['beacon'];

const mb = (n: number) => `${(n / 1e6).toFixed(1)} MB`;
try {
  const set = await buildImages(
    { kinds, arches: arches as Arch[], refreshBase: values['refresh-base'] },
    (line) => process.stdout.write(`[image] ${line}\n`),
  );
  process.stdout.write('\nreference  arch  compressed  archive\n');
  for (const byArch of Object.values(set)) {
    for (const img of Object.values(byArch)) {
      const a = await readArchive(img.archive);
      const compressed = a.manifest.layers.reduce((n, l) => n + l.size, 0);
      process.stdout.write(`${img.reference}  ${img.arch}  ${mb(compressed)}  ${img.archive}\n`);
    }
  }
} catch (err) {
  process.stderr.write(`build-image: ${(err as Error).message}\n`);
  process.exit(1);
}
