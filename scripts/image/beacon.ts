/**
 * Beacon's image: the repository's Dockerfile built with buildah from the local Node bases (node-base.ts),
 * one image per target architecture, each written to an OCI archive. buildah's layer cache (--layers) keeps
 * a second build to the steps whose inputs changed; the build stage's dependency layer is shared by both
 * targets, as it runs on this machine's architecture for either.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BuildContext } from './debian.ts';
import { exec, since } from './exec.ts';
import { nodeImage } from './node-base.ts';
import { writeArchive } from './oci-archive.ts';
import { type Arch, hostArch, IMAGE_CACHE, REPO_ROOT } from './platform.ts';
import { storedImage } from './storage.ts';

/** An image built here: where its archive is and the reference it carries. */
export interface BuiltImage {
  /** The reference inside the archive, which Pods name (e.g. localhost/beacon:0.1.0). */
  reference: string;
  arch: Arch;
  archive: string;
  /** Its name in the local image store (per architecture, so both can be there at once). */
  storeName: string;
  imageId: string;
}

/** The machine's CA bundle, handed to the build for registries behind a TLS-intercepting proxy. */
export const CA_BUNDLE = process.env.BEACON_CA_BUNDLE ?? '/etc/ssl/certs/ca-certificates.crt';

export function beaconVersion(): string {
  return (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

export const beaconReference = (): string => `localhost/beacon:${beaconVersion()}`;

export async function beaconImage(arch: Arch, ctx: BuildContext): Promise<BuiltImage> {
  const buildBase = await nodeImage('build', hostArch(), ctx);
  const runtimeBase = await nodeImage('runtime', arch, ctx);
  const reference = beaconReference();
  const storeName = `${reference}-${arch}`;
  const logFile = join(ctx.logDir, `beacon-${arch}.log`);
  const started = Date.now();
  ctx.log(`building ${reference} for linux/${arch} from the Dockerfile; full output in ${logFile}`);
  const secret = existsSync(CA_BUNDLE) ? [`--secret=id=ca-bundle,src=${CA_BUNDLE}`] : [];
  await exec(
    'buildah',
    [
      'build',
      '--layers',
      // buildah 1.28 otherwise leaves the working container of a stage without instructions (runtime-base).
      '--force-rm',
      '--pull=never',
      // No OCI runtime for RUN steps: chroot isolation needs no cgroup setup (this kind of machine has cgroup
      // v1 without systemd) and the build only runs npm, node-gyp and tsc.
      '--isolation=chroot',
      // The build machine's network and its proxy variables (buildah passes http_proxy & co. by default).
      '--network=host',
      `--platform=linux/${arch}`,
      // buildah 1.28 does not set it (Docker does); the Dockerfile's build stage runs on it.
      `--build-arg=BUILDPLATFORM=linux/${hostArch()}`,
      `--build-arg=BUILD_IMAGE=${buildBase}`,
      `--build-arg=RUNTIME_IMAGE=${runtimeBase}`,
      ...secret,
      `--tag=${storeName}`,
      '--file=Dockerfile',
      '.',
    ],
    {
      cwd: REPO_ROOT,
      log: (l) => ctx.log(`  ${arch}: ${l}`),
      logFile,
      progress: (l) => /^\[\d+\/\d+\] STEP \d+\/\d+: (FROM|RUN|COPY src)|^Error|^error/.test(l),
    },
  );
  const stored = await storedImage(storeName);
  if (!stored) throw new Error(`buildah reported success but ${storeName} is not in the image store`);
  if (stored.architecture !== arch)
    throw new Error(`${storeName} was built for ${stored.architecture}, not ${arch}`);
  const archive = join(IMAGE_CACHE, `beacon-${beaconVersion()}-linux-${arch}.oci.tar`);
  await writeArchive({ id: stored.id, name: storeName }, archive, reference, { log: ctx.log, logFile });
  ctx.log(`${reference} for linux/${arch} ready in ${since(started)}`);
  return { reference, arch, archive, storeName, imageId: stored.id };
}
