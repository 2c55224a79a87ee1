/**
 * The container images the tests use, for both architectures: Beacon's (built from the Dockerfile) and the
 * test Pods' (pause, echo), as OCI archives. scripts/test.ts builds them before the test files start when a
 * selected file imports this module, since a cold build takes minutes; in a test they are then found cached.
 *
 * For the cluster: `(await testImages()).beacon.amd64.archive` is the archive to import into containerd,
 * `.reference` the name Pods give (localhost/beacon:<version>, localhost/beacon-test/pause:<tag>,
 * localhost/beacon-test/echo:v1).
 */
import type { BuiltImage } from '../../scripts/image/beacon.ts';
import { buildImages, type ImageKind } from '../../scripts/image/build.ts';
import type { Log } from '../../scripts/image/exec.ts';
import { ARCHES, type Arch } from '../../scripts/image/platform.ts';

export type TestImages = Record<ImageKind, Record<Arch, BuiltImage>>;

const KINDS: readonly ImageKind[] = ['beacon', 'pause', 'echo'];

let built: Promise<TestImages> | undefined;

export function testImages(log: Log = () => {}): Promise<TestImages> {
  built ??= buildImages({ kinds: KINDS, arches: ARCHES }, log).then((set) => {
    for (const kind of KINDS)
      for (const arch of ARCHES)
        if (!set[kind]?.[arch]) throw new Error(`the ${kind} image for ${arch} was not built`);
    return set as TestImages;
  });
  return built;
}
