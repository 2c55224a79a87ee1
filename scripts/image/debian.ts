/**
 * Debian bookworm root file systems made on this machine from Debian's packages with mmdebstrap, imported into
 * the local image store: the stand-ins for the `debian:bookworm-slim` and `buildpack-deps` bases that a
 * registry would serve. `runtime` is minbase (what Node needs: glibc, libstdc++, a shell for bin/beacon);
 * `build` adds what node-gyp needs and the cross compiler for the other architecture.
 *
 * mmdebstrap rather than debootstrap: it writes the tarball directly, resolves with apt (one pass, parallel
 * downloads) and installs a foreign architecture through qemu by itself. The `merged-usr` hook lays out /usr
 * the way bookworm's debootstrap does without installing the `usrmerge` package, which would pull in perl.
 * Documentation, manuals and translations are left out as Debian's own slim images do; copyright files stay.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ensureEmulation } from './binfmt.ts';
import { exec, type Log, since } from './exec.ts';
import { type Arch, crossCompilerPackages, hostArch, IMAGE_CACHE } from './platform.ts';
import { recipeHash } from './recipe.ts';
import { current, RECIPE_LABEL } from './storage.ts';

export type Flavour = 'runtime' | 'build';

const SUITE = 'bookworm';
const MIRROR = process.env.BEACON_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
const SECURITY_MIRROR = process.env.BEACON_DEBIAN_SECURITY_MIRROR ?? 'http://deb.debian.org/debian-security';
export const IMAGE_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const DPKG_FILTERS = [
  'path-exclude=/usr/share/doc/*',
  'path-include=/usr/share/doc/*/copyright',
  'path-exclude=/usr/share/man/*',
  'path-exclude=/usr/share/info/*',
  'path-exclude=/usr/share/locale/*',
];

export interface BuildContext {
  log: Log;
  /** Directory for the tools' full output. */
  logDir: string;
  /** Make the Debian root file systems again even when cached (to take in Debian's updates). */
  refreshBase?: boolean;
}

function packages(flavour: Flavour, arch: Arch): string[] {
  if (flavour === 'runtime') return [];
  // The build stage runs on this machine's architecture and cross-compiles for the other one.
  const other = arch === 'amd64' ? 'arm64' : 'amd64';
  return ['ca-certificates', 'python3', 'make', 'g++', ...crossCompilerPackages(other)];
}

function mmdebstrapArgs(flavour: Flavour, arch: Arch): string[] {
  const include = packages(flavour, arch);
  return [
    '--variant=minbase',
    '--mode=root',
    `--architectures=${arch}`,
    '--format=tar',
    '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
    ...DPKG_FILTERS.map((f) => `--dpkgopt=${f}`),
    ...(include.length ? [`--include=${include.join(',')}`] : []),
    SUITE,
  ];
}

function sources(): string[] {
  return [
    `deb ${MIRROR} ${SUITE} main`,
    `deb ${MIRROR} ${SUITE}-updates main`,
    `deb ${SECURITY_MIRROR} ${SUITE}-security main`,
  ];
}

export function debianImageName(flavour: Flavour, arch: Arch): string {
  return `localhost/beacon-base/debian:${SUITE}-${flavour}-${arch}`;
}

/** Makes (or finds) the Debian base image and returns its name and recipe hash. */
export async function debianImage(
  flavour: Flavour,
  arch: Arch,
  ctx: BuildContext,
): Promise<{ name: string; recipe: string }> {
  if (flavour === 'build' && arch !== hostArch())
    throw new Error(`the build base is made for this machine's architecture (${hostArch()}), not ${arch}`);
  const recipe = recipeHash({ args: mmdebstrapArgs(flavour, arch), sources: sources() });
  const name = debianImageName(flavour, arch);
  const logFile = join(ctx.logDir, `debian-${flavour}-${arch}.log`);
  if (!ctx.refreshBase && (await current(name, recipe))) return { name, recipe };

  const dir = join(IMAGE_CACHE, 'base');
  mkdirSync(dir, { recursive: true });
  const stem = `debian-${SUITE}-${flavour}-${arch}`;
  const tarball = join(dir, `${stem}-${recipe}.tar`);
  if (ctx.refreshBase || !existsSync(tarball)) {
    await ensureEmulation(arch, ctx.log, logFile);
    const started = Date.now();
    ctx.log(`making Debian ${SUITE} (${flavour}, ${arch}) with mmdebstrap; full output in ${logFile}`);
    const partial = `${tarball}.partial-${process.pid}`;
    try {
      await exec('mmdebstrap', [...mmdebstrapArgs(flavour, arch), partial, ...sources()], {
        log: (l) => ctx.log(`  ${l}`),
        logFile,
        // mmdebstrap's phases ("I: installing remaining packages inside the chroot...") are its progress.
        progress: (l) => /^I: (downloading|extracting|installing|running|creating|success)/.test(l),
        env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      });
    } catch (err) {
      rmSync(partial, { force: true });
      throw err;
    }
    renameSync(partial, tarball);
    ctx.log(`made Debian ${SUITE} (${flavour}, ${arch}) in ${since(started)}`);
  }
  // Earlier recipes' tarballs are of no further use.
  for (const f of readdirSync(dir))
    if (f.startsWith(`${stem}-`) && f !== `${stem}-${recipe}.tar`) rmSync(join(dir, f), { force: true });

  ctx.log(`importing ${tarball} as ${name}`);
  await exec(
    'podman',
    [
      'import',
      '--quiet',
      `--arch=${arch}`,
      '--os=linux',
      `--change=LABEL ${RECIPE_LABEL}=${recipe}`,
      `--change=ENV PATH=${IMAGE_PATH}`,
      '--change=CMD ["bash"]',
      `--message=mmdebstrap ${mmdebstrapArgs(flavour, arch).join(' ')}`,
      tarball,
      name,
    ],
    { log: ctx.log, logFile },
  );
  return { name, recipe };
}
