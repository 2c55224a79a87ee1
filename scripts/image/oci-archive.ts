/**
 * OCI archives (image-layout tarballs) are what leaves the build: containerd imports them (`ctr images
 * import`), podman runs them, any registry client pushes them. One archive per image and architecture; its
 * index names the image (org.opencontainers.image.ref.name) with the reference Pods use. An archive is
 * rewritten only when the image it holds changed, recorded in a stamp beside it.
 */
import { execFile } from 'node:child_process';
import { existsSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { exec, type Log } from './exec.ts';

const run = promisify(execFile);

export interface ArchiveStamp {
  /** The reference inside the archive, e.g. localhost/beacon:0.1.0. */
  reference: string;
  imageId: string;
}

/** Writes `image` from the local store to `archive` unless the archive already holds it. */
export async function writeArchive(
  image: { id: string; name: string },
  archive: string,
  reference: string,
  opts: { log: Log; logFile: string },
): Promise<void> {
  const stampFile = `${archive}.stamp.json`;
  const want: ArchiveStamp = { reference, imageId: image.id };
  if (existsSync(archive) && existsSync(stampFile)) {
    const have = JSON.parse(readFileSync(stampFile, 'utf8')) as ArchiveStamp;
    if (have.reference === want.reference && have.imageId === want.imageId) return;
  }
  const partial = `${archive}.partial-${process.pid}`;
  rmSync(partial, { force: true });
  rmSync(stampFile, { force: true });
  opts.log(`writing ${archive} (${reference})`);
  try {
    await exec('buildah', ['push', '--quiet', image.id, `oci-archive:${partial}:${reference}`], opts);
  } catch (err) {
    rmSync(partial, { force: true });
    throw err;
  }
  renameSync(partial, archive);
  writeFileSync(stampFile, `${JSON.stringify(want, null, 2)}\n`);
}

export interface OciDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface OciImageConfig {
  architecture: string;
  os: string;
  config: {
    User?: string;
    Entrypoint?: string[];
    Cmd?: string[];
    Env?: string[];
    WorkingDir?: string;
    Labels?: Record<string, string>;
  };
  rootfs: { type: string; diff_ids: string[] };
  history?: { created_by?: string; empty_layer?: boolean }[];
}

export interface OciArchive {
  reference: string | undefined;
  manifest: { layers: OciDescriptor[]; config: OciDescriptor };
  config: OciImageConfig;
  /** Bytes of the archive file. */
  size: number;
}

async function member(archive: string, path: string): Promise<string> {
  const { stdout } = await run('tar', ['-xOf', archive, path], { maxBuffer: 64 << 20 });
  return stdout;
}

const blob = (digest: string) => `blobs/${digest.replace(':', '/')}`;

/** Reads the index, the (single) manifest and the image config of an OCI archive. */
export async function readArchive(archive: string): Promise<OciArchive> {
  const index = JSON.parse(await member(archive, 'index.json')) as { manifests: OciDescriptor[] };
  if (index.manifests.length !== 1)
    throw new Error(`${archive}: ${index.manifests.length} manifests in its index, expected 1`);
  const top = index.manifests[0]!;
  const manifest = JSON.parse(await member(archive, blob(top.digest))) as OciArchive['manifest'];
  const config = JSON.parse(await member(archive, blob(manifest.config.digest))) as OciImageConfig;
  return {
    reference: top.annotations?.['org.opencontainers.image.ref.name'],
    manifest,
    config,
    size: statSync(archive).size,
  };
}

/** The path of a layer's blob inside the archive, for `tar -xOf archive <path>`. */
export const layerMember = (layer: OciDescriptor): string => blob(layer.digest);
