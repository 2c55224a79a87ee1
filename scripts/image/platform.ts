/**
 * The architectures images are built for, under the names each tool uses for them: OCI and Debian say amd64 and
 * arm64, Node says x64 and arm64, GNU triplets name Debian's cross compilers, qemu names its emulators.
 */
import { join } from 'node:path';

export const ARCHES = ['amd64', 'arm64'] as const;
export type Arch = (typeof ARCHES)[number];

export const REPO_ROOT = join(import.meta.dirname, '..', '..');
/** Base root file systems, npm packs, logs and the OCI archives; BEACON_IMAGE_CACHE moves it. */
export const IMAGE_CACHE = process.env.BEACON_IMAGE_CACHE ?? join(REPO_ROOT, '.cache', 'images');

const NODE_ARCH: Record<Arch, string> = { amd64: 'x64', arm64: 'arm64' };
const GNU_TRIPLET: Record<Arch, string> = { amd64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };
const QEMU_NAME: Record<Arch, string> = { amd64: 'x86_64', arm64: 'aarch64' };

export function isArch(s: string): s is Arch {
  return (ARCHES as readonly string[]).includes(s);
}

/** This machine's architecture: the build platform, whose base image runs the build stage natively. */
export function hostArch(): Arch {
  const found = ARCHES.find((a) => NODE_ARCH[a] === process.arch);
  if (!found) throw new Error(`images are built on amd64 or arm64 machines, not ${process.arch}`);
  return found;
}

export const nodeArch = (a: Arch): string => NODE_ARCH[a];
export const gnuTriplet = (a: Arch): string => GNU_TRIPLET[a];
export const qemuName = (a: Arch): string => QEMU_NAME[a];
/** Debian's package of the C/C++ cross compilers that target `a` (the package name spells _ as -). */
export const crossCompilerPackages = (a: Arch): string[] => {
  const t = GNU_TRIPLET[a].replaceAll('_', '-');
  return [`gcc-${t}`, `g++-${t}`];
};
