/**
 * The images a test cluster's nodes import, all built on this machine from Debian's packages and the
 * repository (scripts/build-image.sh; nothing is pulled): the sandbox (pause) image, the echo server the
 * demo pods run, and Beacon itself, for this machine's architecture.
 */
import { buildImages } from '../../../scripts/image/build.ts';
import { type Arch, hostArch } from '../../../scripts/image/platform.ts';
import { ECHO_PORT } from '../pod-images.ts';

export interface ClusterImage {
  /** The OCI archive to import. */
  archive: string;
  /** The name the runtime knows it by after import, which Pods give. */
  ref: string;
}

export interface ClusterImages {
  arch: Arch;
  pause: ClusterImage;
  /** The echo server: answers with its pod's and node's names on `port`, and /healthz. */
  demo: ClusterImage & { port: number };
  /** Beacon's image, and its reference split as the Helm chart's values take it. */
  beacon: ClusterImage & { repository: string; tag: string };
  /** Every archive, for KubeCluster.start. */
  archives: string[];
}

/** Builds the images for this machine's architecture, or finds them cached (a cold build takes minutes). */
export async function clusterImages(log: (line: string) => void = () => {}): Promise<ClusterImages> {
  const arch = hostArch();
  const set = await buildImages({ kinds: ['beacon', 'pause', 'echo'], arches: [arch] }, log);
  const pick = (kind: 'beacon' | 'pause' | 'echo'): ClusterImage => {
    const img = set[kind]?.[arch];
    if (!img) throw new Error(`the ${kind} image for ${arch} was not built`);
    return { archive: img.archive, ref: img.reference };
  };
  const beacon = pick('beacon');
  const split = /^(.+):([^:/]+)$/.exec(beacon.ref);
  if (!split) throw new Error(`Beacon's image reference ${beacon.ref} has no tag`);
  const pause = pick('pause');
  const demo = { ...pick('echo'), port: ECHO_PORT };
  return {
    arch,
    pause,
    demo,
    beacon: { ...beacon, repository: split[1]!, tag: split[2]! },
    archives: [pause.archive, demo.archive, beacon.archive],
  };
}
