/**
 * The images the cluster tests run as Pods, built here and written as OCI archives like Beacon's own:
 * - pause: Kubernetes' own pause.c (build/pause/linux in the k8s.io/kubernetes module that the harness
 *   already pins and downloads from the Go module proxy), compiled static with Debian's gcc as Kubernetes'
 *   Makefile does (-Os -static), in an image with nothing else, like registry.k8s.io/pause.
 * - echo: test/images/echo, a static Go HTTP server that names the Pod and node that answered.
 * Both are single static binaries on an empty base: a few hundred KB and a few MB.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BuiltImage } from '../../scripts/image/beacon.ts';
import type { BuildContext } from '../../scripts/image/debian.ts';
import { exec } from '../../scripts/image/exec.ts';
import { writeArchive } from '../../scripts/image/oci-archive.ts';
import {
  type Arch,
  crossCompilerPackages,
  gnuTriplet,
  hostArch,
  IMAGE_CACHE,
  REPO_ROOT,
} from '../../scripts/image/platform.ts';
import { recipeHash } from '../../scripts/image/recipe.ts';
import { current, RECIPE_LABEL, storedImage } from '../../scripts/image/storage.ts';
import { requiredVersion } from './binaries.ts';

const run = promisify(execFile);
const HARNESS_MODULE = join(import.meta.dirname, 'go');
const ECHO_MODULE = join(REPO_ROOT, 'test', 'images', 'echo');

export const ECHO_REFERENCE = 'localhost/beacon-test/echo:v1';
export const ECHO_PORT = 8080;

interface ScratchImage {
  reference: string;
  arch: Arch;
  /** The binary's name: it becomes `/<name>`, the entrypoint. */
  name: string;
  user: string;
  env?: string[];
  ports?: string[];
  recipe: string;
}

const sha256 = (data: string | Buffer) => createHash('sha256').update(data).digest('hex');

/**
 * An image of one static binary on an empty base, written to an OCI archive. `compile(dir)` writes the
 * binary into dir and returns its path; it runs only when the stored image is not of this recipe.
 */
async function scratchImage(
  img: ScratchImage,
  compile: (dir: string) => Promise<string>,
  ctx: BuildContext,
  logFile: string,
): Promise<BuiltImage> {
  const storeName = `${img.reference}-${img.arch}`;
  const opts = { log: ctx.log, logFile };
  let stored = await current(storeName, img.recipe);
  if (!stored) {
    ctx.log(`building ${img.reference} for linux/${img.arch}`);
    const dir = join(IMAGE_CACHE, 'staging', `${img.name}-${img.arch}-${process.pid}`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const c = (await exec('buildah', ['from', `--arch=${img.arch}`, 'scratch'], opts)).trim();
    try {
      const binary = await compile(dir);
      await exec('buildah', ['copy', '--quiet', '--chmod=0755', c, binary, `/${img.name}`], opts);
      await exec(
        'buildah',
        [
          'config',
          `--arch=${img.arch}`,
          '--os=linux',
          `--entrypoint=["/${img.name}"]`,
          '--cmd=',
          `--user=${img.user}`,
          `--label=${RECIPE_LABEL}=${img.recipe}`,
          ...(img.env ?? []).map((e) => `--env=${e}`),
          ...(img.ports ?? []).map((p) => `--port=${p}`),
          c,
        ],
        opts,
      );
      await exec('buildah', ['commit', '--quiet', c, storeName], opts);
    } finally {
      await exec('buildah', ['rm', c], opts).catch(() => {});
      rmSync(dir, { recursive: true, force: true });
    }
    stored = await storedImage(storeName);
    if (!stored) throw new Error(`${storeName} is not in the image store after its commit`);
  }
  const file = img.reference.split('/').pop()!.replace(':', '-');
  const archive = join(IMAGE_CACHE, `${file}-linux-${img.arch}.oci.tar`);
  await writeArchive({ id: stored.id, name: storeName }, archive, img.reference, opts);
  return { reference: img.reference, arch: img.arch, archive, storeName, imageId: stored.id };
}

async function compilerVersion(cc: string): Promise<string> {
  const { stdout } = await run(cc, ['--version']);
  return stdout.split('\n')[0] ?? cc;
}

/** pause.c and its release tag, from the k8s.io/kubernetes module the harness pins. */
async function pauseSource(): Promise<{ file: string; tag: string; kubernetes: string }> {
  const kubernetes = requiredVersion(HARNESS_MODULE, 'k8s.io/kubernetes');
  const { stdout } = await run('go', ['mod', 'download', '-json', `k8s.io/kubernetes@${kubernetes}`], {
    cwd: HARNESS_MODULE,
    env: { GOTOOLCHAIN: 'auto', ...process.env },
    maxBuffer: 16 << 20,
  });
  const dir = (JSON.parse(stdout) as { Dir: string }).Dir;
  const makefile = readFileSync(join(dir, 'build', 'pause', 'Makefile'), 'utf8');
  const tag = /^TAG \?= (\S+)$/m.exec(makefile)?.[1];
  if (!tag) throw new Error(`no TAG in ${join(dir, 'build', 'pause', 'Makefile')}`);
  return { file: join(dir, 'build', 'pause', 'linux', 'pause.c'), tag, kubernetes };
}

export async function pauseImage(arch: Arch, ctx: BuildContext): Promise<BuiltImage> {
  const logFile = join(ctx.logDir, `pause-${arch}.log`);
  const src = await pauseSource();
  const cross = arch === hostArch() ? '' : `${gnuTriplet(arch)}-`;
  const cc = `${cross}gcc`;
  // Kubernetes' build/pause/Makefile: CFLAGS = -Os -Wall -Werror -static -DVERSION=v$(TAG)-$(REV).
  const flags = ['-Os', '-Wall', '-Werror', '-static', `-DVERSION=v${src.tag}-${src.kubernetes}`];
  const recipe = recipeHash({
    source: sha256(readFileSync(src.file)),
    flags,
    cc: await compilerVersion(cc).catch(() => {
      throw new Error(`${cc} is missing: apt-get install ${cross ? crossCompilerPackages(arch)[0] : 'gcc'}`);
    }),
  });
  return scratchImage(
    {
      reference: `localhost/beacon-test/pause:${src.tag}`,
      arch,
      name: 'pause',
      // registry.k8s.io/pause runs as 65535:65535.
      user: '65535:65535',
      recipe,
    },
    async (dir) => {
      const binary = join(dir, 'pause');
      await exec(cc, [...flags, '-o', binary, src.file], { log: ctx.log, logFile });
      await exec(`${cross}strip`, [binary], { log: ctx.log, logFile });
      return binary;
    },
    ctx,
    logFile,
  );
}

export async function echoImage(arch: Arch, ctx: BuildContext): Promise<BuiltImage> {
  const logFile = join(ctx.logDir, `echo-${arch}.log`);
  const env = { GOTOOLCHAIN: 'auto', ...process.env, CGO_ENABLED: '0', GOOS: 'linux', GOARCH: arch };
  const { stdout: goVersion } = await run('go', ['version'], { cwd: ECHO_MODULE, env });
  const recipe = recipeHash({
    main: sha256(readFileSync(join(ECHO_MODULE, 'main.go'))),
    mod: sha256(readFileSync(join(ECHO_MODULE, 'go.mod'))),
    go: goVersion.trim(),
  });
  return scratchImage(
    {
      reference: ECHO_REFERENCE,
      arch,
      name: 'echo',
      user: '65532:65532',
      env: [`PORT=${ECHO_PORT}`],
      ports: [`${ECHO_PORT}/tcp`],
      recipe,
    },
    async (dir) => {
      const binary = join(dir, 'echo');
      await exec('go', ['build', '-trimpath', '-buildvcs=false', '-ldflags=-s -w', '-o', binary, '.'], {
        cwd: ECHO_MODULE,
        env,
        log: ctx.log,
        logFile,
      });
      return binary;
    },
    ctx,
    logFile,
  );
}
