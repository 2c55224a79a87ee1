/**
 * The two base images the Dockerfile builds from, made locally: Debian (debian.ts) plus Node from the `node`
 * package's node-linux-<arch> (node-dist.ts), laid out as the official Node images lay it out (/usr/local), so
 * the Dockerfile reads the same with either. The runtime base gets only bin/node; the build base also gets
 * Node's headers (for node-gyp) and npm. Node is a layer of its own on top of Debian's, so a Node update
 * leaves the Debian layer, the larger one, as it was.
 */
import { cpSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type BuildContext, debianImage, type Flavour, IMAGE_PATH } from './debian.ts';
import { exec } from './exec.ts';
import { nodePackage, npmPackage, unpacked } from './node-dist.ts';
import { type Arch, IMAGE_CACHE } from './platform.ts';
import { recipeHash } from './recipe.ts';
import { current, RECIPE_LABEL } from './storage.ts';

export function nodeImageName(flavour: Flavour, arch: Arch): string {
  const version = nodePackage(arch).version;
  return `localhost/beacon-base/node:${version}-bookworm${flavour === 'runtime' ? '-slim' : ''}-${arch}`;
}

/** Lays out /usr/local for the image in `root`. */
async function stage(flavour: Flavour, arch: Arch, root: string, ctx: BuildContext, logFile: string) {
  const node = await unpacked(nodePackage(arch), ctx.log, logFile);
  const local = join(root, 'usr', 'local');
  mkdirSync(join(local, 'bin'), { recursive: true });
  cpSync(join(node, 'bin', 'node'), join(local, 'bin', 'node'));
  mkdirSync(join(local, 'share', 'doc', 'node'), { recursive: true });
  cpSync(join(node, 'LICENSE'), join(local, 'share', 'doc', 'node', 'LICENSE'));
  if (flavour === 'runtime') return;
  cpSync(join(node, 'include', 'node'), join(local, 'include', 'node'), { recursive: true });
  const npm = await unpacked(npmPackage(), ctx.log, logFile);
  cpSync(npm, join(local, 'lib', 'node_modules', 'npm'), { recursive: true, verbatimSymlinks: true });
  symlinkSync('../lib/node_modules/npm/bin/npm-cli.js', join(local, 'bin', 'npm'));
  symlinkSync('../lib/node_modules/npm/bin/npx-cli.js', join(local, 'bin', 'npx'));
}

/** Makes (or finds) the Node base image of `flavour` for `arch` and returns its name. */
export async function nodeImage(flavour: Flavour, arch: Arch, ctx: BuildContext): Promise<string> {
  const debian = await debianImage(flavour, arch, ctx);
  const node = nodePackage(arch);
  const npm = flavour === 'build' ? npmPackage() : undefined;
  const recipe = recipeHash({ debian: debian.recipe, node, npm, layout: 2 });
  const name = nodeImageName(flavour, arch);
  if (await current(name, recipe)) return name;

  const logFile = join(ctx.logDir, `node-${flavour}-${arch}.log`);
  const work = join(IMAGE_CACHE, 'staging', `node-${flavour}-${arch}-${process.pid}`);
  rmSync(work, { recursive: true, force: true });
  try {
    const root = join(work, 'root');
    await stage(flavour, arch, root, ctx, logFile);
    const layer = join(work, 'node.tar');
    await exec('tar', ['--numeric-owner', '--owner=0', '--group=0', '-C', root, '-cf', layer, '.'], {
      log: ctx.log,
      logFile,
    });
    ctx.log(`adding Node ${node.version} to ${debian.name} as ${name}`);
    const opts = { log: ctx.log, logFile };
    const c = (await exec('buildah', ['from', '--pull=never', `--arch=${arch}`, debian.name], opts)).trim();
    try {
      await exec('buildah', ['add', '--quiet', c, layer, '/'], opts);
      await exec(
        'buildah',
        [
          'config',
          `--label=${RECIPE_LABEL}=${recipe}`,
          `--env=PATH=${IMAGE_PATH}`,
          '--cmd=["node"]',
          `--created-by=Node ${node.version} (${node.name})${npm ? ` and npm ${npm.version}` : ''}`,
          c,
        ],
        opts,
      );
      await exec('buildah', ['commit', '--quiet', c, name], opts);
    } finally {
      await exec('buildah', ['rm', c], opts).catch(() => {});
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return name;
}
