/**
 * The real images, as the cluster gets them: Beacon's built from the Dockerfile for linux/amd64 and
 * linux/arm64 (scripts/image), and the test Pods' pause and echo images, each read from its OCI archive and
 * run with podman and runc, the arm64 ones under qemu. scripts/test.ts builds them before the test files
 * start (minutes on a fresh machine, seconds when cached), so here they are found built.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { beaconReference } from '../../scripts/image/beacon.ts';
import { layerMember, type OciArchive, readArchive } from '../../scripts/image/oci-archive.ts';
import { ARCHES, type Arch } from '../../scripts/image/platform.ts';
import { REPO_ROOT } from '../harness/binaries.ts';
import { type TestImages, testImages } from '../harness/images.ts';
import { temporaryDirectory } from '../harness/interrupt.ts';
import { ECHO_PORT, ECHO_REFERENCE } from '../harness/pod-images.ts';
import { PodmanSandbox } from '../harness/podman.ts';
import { waitFor } from '../harness/process.ts';
import { importedPackages } from './runtime-imports.ts';

const run = promisify(execFile);

const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as {
  packages: Record<string, { dev?: boolean }>;
};

/** ELF e_machine values (System V ABI, and its processor supplements). */
const ELF_MACHINE: Record<Arch, number> = { amd64: 62, arm64: 183 };

let images: TestImages;
let podman: PodmanSandbox;
let work: string;
let removeWork = () => {};
const archives = new Map<string, OciArchive>();
const loaded = new Map<string, Promise<string>>();

async function archiveOf(kind: keyof TestImages, arch: Arch): Promise<OciArchive> {
  const path = images[kind][arch].archive;
  if (!archives.has(path)) archives.set(path, await readArchive(path));
  return archives.get(path)!;
}

/** The image's id in the podman sandbox (loaded from its archive once). */
function imageId(kind: keyof TestImages, arch: Arch): Promise<string> {
  const path = images[kind][arch].archive;
  if (!loaded.has(path)) loaded.set(path, podman.load(path));
  return loaded.get(path)!;
}

async function sh(script: string, ...args: string[]): Promise<string> {
  const { stdout } = await run('sh', ['-c', script, 'sh', ...args], { maxBuffer: 256 << 20 });
  return stdout;
}

const listed = new Map<string, Promise<string[][]>>();
const unpacked = new Map<Arch, Promise<string>>();

/** The paths in each layer of an archive's image, without a leading "./", directories ending in "/". */
function layerPaths(kind: keyof TestImages, arch: Arch): Promise<string[][]> {
  const key = `${kind}/${arch}`;
  if (!listed.has(key)) listed.set(key, listLayers(kind, arch));
  return listed.get(key)!;
}

async function listLayers(kind: keyof TestImages, arch: Arch): Promise<string[][]> {
  const a = await archiveOf(kind, arch);
  const path = images[kind][arch].archive;
  const out: string[][] = [];
  for (const layer of a.manifest.layers) {
    const list = await sh('tar -xOf "$1" "$2" | tar -tzf -', path, layerMember(layer));
    out.push(
      list
        .split('\n')
        .filter((l) => l && l !== './')
        .map((l) => l.replace(/^\.\//, '')),
    );
  }
  return out;
}

/** Unpacks the layers of Beacon's image for `arch` that hold /app into a directory; returns its /app. */
function unpackApp(arch: Arch): Promise<string> {
  if (!unpacked.has(arch)) unpacked.set(arch, unpackAppLayers(arch));
  return unpacked.get(arch)!;
}

async function unpackAppLayers(arch: Arch): Promise<string> {
  const dir = join(work, `app-${arch}`);
  mkdirSync(dir, { recursive: true });
  const a = await archiveOf('beacon', arch);
  const paths = await layerPaths('beacon', arch);
  for (const [i, layer] of a.manifest.layers.entries()) {
    if (!paths[i]!.some((p) => p.startsWith('app/'))) continue;
    await sh('tar -xOf "$1" "$2" | tar -xzf - -C "$3"', images.beacon[arch].archive, layerMember(layer), dir);
  }
  return join(dir, 'app');
}

/** Runs an ES module script with the image's Node (as the image's user); returns its last line as JSON. */
async function nodeInImage<T>(image: string, script: string): Promise<T> {
  const r = await podman.runImage(image, ['--input-type=module', '-e', script], {
    runArgs: ['--entrypoint=node'],
  });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as T;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const { port } = srv.address() as { port: number };
  await new Promise((resolve) => srv.close(resolve));
  return port;
}

before(async () => {
  images = await testImages((line) => process.stdout.write(`# ${line}\n`));
  podman = new PodmanSandbox();
  ({ path: work, remove: removeWork } = temporaryDirectory('beacon-image-test-'));
});

after(async () => {
  await podman?.close();
  removeWork();
});

describe("Beacon's image", { timeout: 240_000 }, () => {
  const engines = /^>=\s*(\d+)/.exec(pkg.engines.node)?.[1];

  for (const arch of ARCHES) {
    test(`${arch}: the archive holds ${beaconReference()} for linux/${arch}, non-root, entrypoint bin/beacon`, async () => {
      const a = await archiveOf('beacon', arch);
      assert.equal(a.reference, beaconReference());
      assert.equal(a.config.architecture, arch);
      assert.equal(a.config.os, 'linux');
      assert.deepEqual(a.config.config.Entrypoint, ['/app/bin/beacon']);
      assert.equal(a.config.config.WorkingDir, '/app');
      assert.ok(a.config.config.Env?.includes('NODE_ENV=production'));
      // A numeric uid, so that runAsNonRoot can verify it, and the one the controller Deployment names.
      assert.equal(a.config.config.User, '65532:65532');
      const deployment = parse(readFileSync(join(REPO_ROOT, 'deploy', 'controller.yaml'), 'utf8')) as {
        spec: { template: { spec: { securityContext: { runAsUser: number } } } };
      };
      assert.equal(deployment.spec.template.spec.securityContext.runAsUser, 65532);
    });

    test(`${arch}: layers are Debian, then Node alone, then only /app`, async () => {
      const layers = await layerPaths('beacon', arch);
      assert.ok(layers.length >= 3, `${layers.length} layers`);
      const [debian, node, ...app] = layers as [string[], string[], ...string[][]];
      assert.ok(debian.includes('etc/debian_version') && debian.includes('usr/bin/dpkg'), 'a Debian root');
      assert.match(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8'), /bookworm/);
      assert.deepEqual(node.filter((p) => !p.endsWith('/')).sort(), [
        'usr/local/bin/node',
        'usr/local/share/doc/node/LICENSE',
      ]);
      for (const layer of app) {
        const outside = layer.filter((p) => p !== 'app/' && !p.startsWith('app/'));
        assert.deepEqual(outside, [], 'the Dockerfile adds nothing outside /app');
      }
    });

    test(`${arch}: no build tools, sources or dev packages in the image`, async () => {
      const all = (await layerPaths('beacon', arch)).flat();
      const tools = all.filter((p) =>
        /^usr\/(local\/)?s?bin\/(gcc|g\+\+|cc|c\+\+|cpp|ld|as|make|python3(\.\d+)?|npm|npx|node-gyp|tsc|go)$/.test(
          p,
        ),
      );
      assert.deepEqual(tools, [], 'compilers, interpreters and package managers stay in the build stage');
      assert.deepEqual(
        all.filter((p) => /^usr\/(local\/)?(include|lib\/gcc|lib\/node_modules)\/./.test(p)).slice(0, 5),
        [],
        'no headers, compiler internals or global npm',
      );
      assert.deepEqual(
        all.filter((p) =>
          /^app\/(src|native\/src|scripts|test)\/|^app\/[^/]*\.json$(?<!package\.json)|^app\/(?!node_modules\/).*\.ts$/.test(
            p,
          ),
        ),
        [],
        'no TypeScript sources, build scripts or tsconfig',
      );
      const devOnly = Object.keys(pkg.devDependencies).filter((d) => all.includes(`app/node_modules/${d}/`));
      assert.deepEqual(devOnly, [], 'no dev dependency (typescript, node-gyp, @kubernetes/client-node, ...)');
    });

    test(`${arch}: node_modules holds exactly the lock's runtime packages`, async () => {
      const app = await unpackApp(arch);
      const expected = Object.entries(lock.packages)
        .filter(([path, p]) => path.startsWith('node_modules/') && !p.dev)
        .map(([path]) => path)
        .sort();
      const inImage = filesUnder(join(app, 'node_modules'))
        .filter((f) => f.endsWith('/package.json'))
        .map((f) => f.slice(app.length + 1, -'/package.json'.length))
        // A package's own package.json files below its root (e.g. dist/esm/package.json) are not packages.
        .filter((p) => /^(node_modules\/(@[^/]+\/)?[^/]+)(\/node_modules\/(@[^/]+\/)?[^/]+)*$/.test(p))
        .sort();
      assert.deepEqual(inImage, expected);
    });

    test(`${arch}: the native addon is an ELF object for ${arch}`, async () => {
      const app = await unpackApp(arch);
      const elf = readFileSync(join(app, 'native', 'build', 'Release', 'beacon_native.node'));
      assert.equal(elf.subarray(0, 4).toString('latin1'), '\x7fELF');
      assert.equal(elf[4], 2, 'ELFCLASS64');
      assert.equal(elf[5], 1, 'little-endian');
      assert.equal(elf.readUInt16LE(18), ELF_MACHINE[arch], 'e_machine');
    });

    test(`${arch}: dist/ loads only Node built-ins and runtime dependencies`, async () => {
      const app = await unpackApp(arch);
      const imported = new Map<string, string>();
      for (const f of filesUnder(join(app, 'dist')).filter((x) => x.endsWith('.js')))
        for (const name of importedPackages(readFileSync(f, 'utf8'))) imported.set(name, f.slice(app.length));
      const missing = [...imported].filter(([name]) => !(name in pkg.dependencies));
      assert.deepEqual(missing, [], 'imported at run time but not a runtime dependency');
      assert.ok(
        imported.has('pino') && imported.has('yaml'),
        `the scan sees what dist/ loads: ${[...imported.keys()]}`,
      );
    });

    // Under qemu each start of Node takes tens of seconds; the subcommands' JavaScript is the same on arm64.
    const subcommands = arch === 'amd64' ? ['controller', 'speaker'] : [];
    test(`${arch}: beacon --help${subcommands.map((c) => `, ${c} --help`).join('')} run in the image`, async () => {
      const id = await imageId('beacon', arch);
      const top = await podman.runImage(id, ['--help']);
      assert.equal(top.code, 0, top.stderr);
      assert.match(top.stdout, /^beacon: bare-metal LoadBalancer provider/);
      for (const command of ['controller', 'speaker'])
        assert.match(top.stdout, new RegExp(`^  ${command} `, 'm'));
      for (const command of subcommands) {
        const r = await podman.runImage(id, [command, '--help']);
        assert.equal(r.code, 0, r.stderr);
        assert.match(r.stdout, /Usage: beacon/);
      }
    });

    test(`${arch}: the image's Node is ${pkg.engines.node} for ${arch}, runs as uid 65532 and loads the addon`, async () => {
      const id = await imageId('beacon', arch);
      const script = [
        "const m = await import('/app/dist/native/addon.js');",
        'console.log(JSON.stringify({ v: process.versions.node, arch: process.arch, uid: process.getuid(),',
        '  gid: process.getgid(), addon: m.ADDON_PATH, links: m.native().listLinks().map((l) => l.name) }));',
      ].join('\n');
      const got = await nodeInImage<{
        v: string;
        arch: string;
        uid: number;
        gid: number;
        addon: string;
        links: string[];
      }>(id, script);
      assert.equal(got.v.split('.')[0], engines);
      assert.equal(got.v, pkg.devDependencies.node, 'the Node the tests run');
      assert.equal(got.arch, arch === 'amd64' ? 'x64' : 'arm64');
      assert.deepEqual([got.uid, got.gid], [65532, 65532]);
      assert.equal(got.addon, '/app/native/build/Release/beacon_native.node');
      assert.ok(got.links.includes('lo'), `the addon lists the container's links over netlink: ${got.links}`);
    });
  }

  test('amd64: every dist/ module loads in the image, where no dev dependency exists', async () => {
    const id = await imageId('beacon', 'amd64');
    // The entry point runs the CLI when loaded; every other module only defines things.
    const script = [
      "import { readdirSync } from 'node:fs';",
      "const files = readdirSync('/app/dist', { recursive: true }).filter((f) => f.endsWith('.js') && f !== 'cli/main.js');",
      'const failed = [];',
      "for (const f of files) { try { await import('/app/dist/' + f); } catch (e) { failed.push(f + ': ' + e.message); } }",
      'console.log(JSON.stringify({ count: files.length, failed }));',
      'process.exit(0);',
    ].join('\n');
    const got = await nodeInImage<{ count: number; failed: string[] }>(id, script);
    assert.deepEqual(got.failed, []);
    assert.ok(got.count > 20, `${got.count} modules`);
  });

  test('@kubernetes/client-node is a dev dependency: types only, never in the image', () => {
    assert.ok(!('@kubernetes/client-node' in pkg.dependencies));
    assert.ok('@kubernetes/client-node' in pkg.devDependencies);
    assert.ok(
      !('node' in pkg.dependencies) && 'node' in pkg.devDependencies,
      'Node itself comes from the base',
    );
  });
});

test('the runtime import scan sees value imports and not erased type imports', () => {
  // What tsc emits for `import { KubeConfig } from '@kubernetes/client-node'` used as a value, and for the
  // other forms; `import type` lines never reach the output.
  const js = [
    "import { KubeConfig } from '@kubernetes/client-node';",
    "export { x } from 'ip-address/dist/x.js';",
    "import 'side-effect';",
    "const m = await import('yaml');",
    "import { join } from 'node:path';",
    "import { a } from './local.js';",
    "import fs from 'fs';",
  ].join('\n');
  assert.deepEqual([...importedPackages(js)].sort(), [
    '@kubernetes/client-node',
    'ip-address',
    'side-effect',
    'yaml',
  ]);
});

describe('test Pod images', { timeout: 180_000 }, () => {
  for (const arch of ARCHES) {
    test(`${arch}: pause is Kubernetes' pause.c alone, as uid 65535, and exits 0 on SIGTERM`, async () => {
      const a = await archiveOf('pause', arch);
      assert.equal(a.config.architecture, arch);
      assert.equal(a.config.config.User, '65535:65535');
      assert.deepEqual(a.config.config.Entrypoint, ['/pause']);
      assert.deepEqual((await layerPaths('pause', arch)).flat(), ['pause']);
      const tag = images.pause[arch].reference.split(':').at(-1)!;
      const id = await imageId('pause', arch);
      const v = await podman.runImage(id, ['-v']);
      assert.equal(v.code, 0, v.stderr);
      assert.match(
        v.stdout.trim(),
        new RegExp(`^pause\\.c v${tag.replaceAll('.', '\\.')}-v1\\.\\d+\\.\\d+$`),
      );
      const c = await podman.start(id, []);
      // pause.c installs its handlers, then sleeps in pause(). Signalled before that, PID 1 would ignore
      // SIGTERM. glibc's pause() is the pause syscall on x86_64 (34); arm64 has none, so glibc calls
      // ppoll(NULL, 0, NULL, NULL), which qemu passes on as the host's ppoll (x86_64 271).
      const pid = await podman.pid(c);
      const sleeping = arch === 'amd64' ? /^34 / : /^271 0x0 0x0 0x0 0x0 /;
      await waitFor(
        `pause (${arch}) to wait in pause()`,
        () => sleeping.test(readFileSync(`/proc/${pid}/syscall`, 'utf8')),
        30_000,
      );
      // pause.c's SIGTERM handler exits 0; an ignored signal would end in SIGKILL (137) after the grace period.
      assert.equal(await podman.stop(c, 20), 0);
    });

    test(`${arch}: echo answers with the Pod, namespace, node and client it was given, and stops on SIGTERM`, async () => {
      const a = await archiveOf('echo', arch);
      assert.equal(a.reference, ECHO_REFERENCE);
      assert.equal(a.config.architecture, arch);
      assert.equal(a.config.config.User, '65532:65532');
      assert.ok(a.config.config.Env?.includes(`PORT=${ECHO_PORT}`));
      const id = await imageId('echo', arch);
      const port = await freePort();
      const env = {
        POD_NAME: `echo-${arch}`,
        POD_NAMESPACE: 'tests',
        NODE_NAME: `node-${arch}`,
        POD_IP: '10.244.1.7',
      };
      // The host's network namespace, bound to loopback only: the test talks to it over 127.0.0.1.
      const c = await podman.start(
        id,
        [],
        [
          '--network=host',
          '--env=HOST=127.0.0.1',
          `--env=PORT=${port}`,
          ...Object.entries(env).map(([k, v]) => `--env=${k}=${v}`),
        ],
      );
      try {
        let body: unknown;
        await waitFor(
          `echo (${arch}) to answer on 127.0.0.1:${port}`,
          async () => {
            const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(2_000) });
            body = await res.json();
            return res.ok;
          },
          30_000,
          200,
        );
        assert.deepEqual(body, {
          pod: env.POD_NAME,
          namespace: env.POD_NAMESPACE,
          node: env.NODE_NAME,
          podIP: env.POD_IP,
          client: '127.0.0.1',
        });
        const health = await fetch(`http://127.0.0.1:${port}/healthz`);
        assert.equal(await health.text(), 'ok\n');
      } finally {
        assert.equal(await podman.stop(c, 20), 0, 'a graceful exit on SIGTERM');
      }
    });
  }
});
