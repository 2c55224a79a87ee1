/**
 * The Dockerfile cannot be built here (no Docker engine), so this checks what can be checked without one:
 * the Node major of the base images against package.json's engines; that .dockerignore lets through every
 * path the Dockerfile copies from the context; and a simulated build that follows the Dockerfile's own
 * COPY instructions from a context filtered by .dockerignore, compiles the addon and the TypeScript in it,
 * lays out the final stage, and runs its ENTRYPOINT. Only `npm install` and `npm prune` are not re-run
 * (no registry access, and node_modules is shared with the working tree): node_modules is linked in, and
 * a separate test proves that dist/ imports only runtime dependencies, which is what the prune keeps.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { REPO_ROOT } from '../harness/binaries.ts';
import { type Copy, dockerignored, execForm, parseCopy, parseDockerfile, type Stage } from './dockerfile.ts';

const run = promisify(execFile);
const NODE = join(REPO_ROOT, 'node_modules', '.bin', 'node');

const dockerfile = readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8');
const dockerignore = readFileSync(join(REPO_ROOT, '.dockerignore'), 'utf8');
const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  engines: { node: string };
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const stages = parseDockerfile(dockerfile);
const finalStage = stages.at(-1)!;
const copies = (s: Stage): Copy[] =>
  s.instructions.filter((i) => i.keyword === 'COPY').map((i) => parseCopy(i.args));

function filesUnder(path: string): string[] {
  if (!statSync(path).isDirectory()) return [path];
  return readdirSync(path, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'beacon-image-'));
});
after(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

test('the base images are Node of the major in package.json engines; the final one is slim', () => {
  const engines = /^>=\s*(\d+)/.exec(pkg.engines.node);
  assert.ok(engines, `engines.node "${pkg.engines.node}" is not of the form >=N`);
  assert.ok(stages.length >= 2, 'a multi-stage build');
  for (const s of stages) {
    const m = /^node:(\d+)(?:[.-]|$)/.exec(s.image);
    assert.ok(m, `${s.image} is not an official node image with a major version tag`);
    assert.equal(m[1], engines[1], `${s.image} does not match engines.node ${pkg.engines.node}`);
  }
  assert.match(finalStage.image, /-slim$/, 'the final stage is the slim image');
});

test('the final stage installs nothing and carries no build tools', () => {
  assert.deepEqual(
    finalStage.instructions.filter((i) => i.keyword === 'RUN').map((i) => i.args),
    [],
    'no RUN in the final stage: the slim image has no compilers, and nothing is added',
  );
  for (const c of copies(finalStage)) {
    for (const src of c.sources) {
      assert.doesNotMatch(src, /native\/(src|binding\.gyp)|\/src$|tsconfig|scripts/, `${src} is build input`);
      if (c.from === undefined) continue;
      assert.equal(c.from, stages[0]!.name, 'the final stage copies from the build stage');
    }
  }
});

test('the final stage runs as a non-root uid, the one the controller Deployment names', () => {
  const user = finalStage.instructions.filter((i) => i.keyword === 'USER').at(-1)?.args;
  assert.ok(user, 'a USER instruction in the final stage');
  const uid = Number(user.split(':')[0]);
  assert.ok(
    Number.isInteger(uid) && uid > 0,
    `USER ${user} is a numeric non-root uid (runAsNonRoot can verify it)`,
  );
  const deployment = parse(readFileSync(join(REPO_ROOT, 'deploy', 'controller.yaml'), 'utf8')) as {
    spec: { template: { spec: { securityContext: { runAsUser: number } } } };
  };
  assert.equal(deployment.spec.template.spec.securityContext.runAsUser, uid);
});

test('.dockerignore rules follow Docker semantics on known cases', () => {
  const rules = '*\n!src\nsrc/**/*.test.ts\n!keep/**\n';
  assert.equal(dockerignored(rules, 'node_modules/x/index.js'), true);
  assert.equal(dockerignored(rules, 'src/cli/main.ts'), false);
  assert.equal(dockerignored(rules, 'src/cli/main.test.ts'), true);
  assert.equal(dockerignored(rules, 'src/a.test.ts'), true, '**/ matches zero directories');
  assert.equal(dockerignored(rules, 'keep/deep/file'), false);
  assert.equal(dockerignored(rules, 'README.md'), true);
});

test('every path the Dockerfile copies from the build context exists and is not .dockerignored', () => {
  const problems: string[] = [];
  for (const s of stages) {
    for (const c of copies(s).filter((x) => x.from === undefined)) {
      for (const src of c.sources) {
        const abs = join(REPO_ROOT, src);
        if (!existsSync(abs)) {
          problems.push(`${src} does not exist`);
          continue;
        }
        if (dockerignored(dockerignore, src)) problems.push(`${src} is excluded by .dockerignore`);
        for (const f of filesUnder(abs)) {
          const rel = relative(REPO_ROOT, f);
          // Tests are the only thing a copied directory may leave behind.
          if (dockerignored(dockerignore, rel) && !rel.endsWith('.test.ts'))
            problems.push(`${rel} is excluded`);
        }
      }
    }
  }
  assert.deepEqual(problems, []);
});

/** `dest` inside the stage root, relative destinations taken from the WORKDIR. */
function stagePath(root: string, workdir: string, dest: string): string {
  return join(root, dest.startsWith('/') ? dest : join(workdir, dest));
}

/** Copies like Docker: a directory's contents into dest, a file to dest (or into it when dest ends in /). */
function dockerCopy(from: string, dest: string, filter: (src: string) => boolean): void {
  if (statSync(from).isDirectory()) {
    cpSync(from, dest, { recursive: true, verbatimSymlinks: true, filter });
  } else {
    const target = dest.endsWith('/') ? join(dest, from.split('/').pop()!) : dest;
    mkdirSync(dirname(target), { recursive: true });
    cpSync(from, target, { verbatimSymlinks: true });
  }
}

/** Simulates each RUN of the build stage; a RUN this test does not know fails it, so it must be taught. */
async function simulateRun(command: string, app: string): Promise<void> {
  const env = { ...process.env, PATH: `${join(app, 'node_modules', '.bin')}:${process.env.PATH}` };
  if (/^npm install\b/.test(command)) {
    // Not re-run (no registry here, and the tree is shared): the working tree's node_modules stands in.
    // Its install step, the native build, does run, from what the Dockerfile copied.
    symlinkSync(join(REPO_ROOT, 'node_modules'), join(app, 'node_modules'));
    const headers = join(REPO_ROOT, '.cache', 'node-headers', `v${pkg.devDependencies.node}`);
    const [cmd, ...args] = pkg.scripts.install!.split(' ');
    assert.equal(cmd, 'node');
    await run(NODE, args, {
      cwd: app,
      env: existsSync(headers) ? { ...env, BEACON_NODEDIR: headers } : env,
      maxBuffer: 16 * 1024 * 1024,
    });
  } else if (command === 'npm run build') {
    assert.ok(pkg.scripts.build, 'package.json has a build script');
    await run('sh', ['-c', pkg.scripts.build], { cwd: app, env, maxBuffer: 16 * 1024 * 1024 });
  } else if (/^npm prune --omit=dev\b/.test(command)) {
    // Not run on the shared node_modules; see 'dist/ imports only runtime dependencies'.
  } else {
    assert.fail(`this test does not know how to simulate RUN ${command}; teach simulateRun`);
  }
}

/** Builds every stage into work/<stage>/ following the Dockerfile; returns the final stage's root. */
async function simulatedBuild(): Promise<string> {
  const context = join(work, 'context');
  for (const c of stages.flatMap(copies).filter((x) => x.from === undefined)) {
    for (const src of c.sources) {
      dockerCopy(join(REPO_ROOT, src), join(context, src), (p) => {
        const rel = relative(REPO_ROOT, p);
        return rel === '' || !dockerignored(dockerignore, rel);
      });
    }
  }
  const roots = new Map<string, string>();
  let root = '';
  for (const [n, s] of stages.entries()) {
    root = join(work, `stage-${n}`);
    if (s.name) roots.set(s.name, root);
    let workdir = '/';
    for (const i of s.instructions) {
      if (i.keyword === 'WORKDIR') {
        workdir = i.args;
        mkdirSync(join(root, workdir), { recursive: true });
      } else if (i.keyword === 'COPY') {
        const c = parseCopy(i.args);
        const fromRoot = c.from === undefined ? context : roots.get(c.from);
        assert.ok(fromRoot, `COPY --from=${c.from}: no such stage`);
        for (const src of c.sources) {
          const from = join(fromRoot, src);
          assert.ok(
            existsSync(from),
            `line ${i.line}: COPY source ${src} does not exist at that point of the build`,
          );
          dockerCopy(from, stagePath(root, workdir, c.dest), () => true);
        }
      } else if (i.keyword === 'RUN') {
        await simulateRun(i.args, join(root, workdir));
      }
    }
  }
  return root;
}

let image: string | undefined;
async function builtImage(): Promise<string> {
  image ??= await simulatedBuild();
  return image;
}

test("a simulated build of the image's layout succeeds, and its ENTRYPOINT is the built beacon", {
  timeout: 120_000,
}, async () => {
  const root = await builtImage();
  const entrypoint = execForm(finalStage.instructions.find((i) => i.keyword === 'ENTRYPOINT')!.args);
  assert.deepEqual(entrypoint, ['/app/bin/beacon']);
  const bin = join(root, entrypoint[0]!);
  assert.equal(readFileSync(bin, 'utf8'), readFileSync(join(REPO_ROOT, 'bin', 'beacon'), 'utf8'));
  assert.ok(
    !existsSync(join(root, 'app', 'src')),
    'no TypeScript sources in the image, so bin/beacon runs dist/',
  );
  assert.ok(existsSync(join(root, 'app', 'dist', 'cli', 'main.js')));
  const { stdout } = await run(bin, ['--help'], { env: { ...process.env, KUBECONFIG: '' } });
  assert.match(stdout, /^beacon: bare-metal LoadBalancer provider/);
  for (const command of ['controller', 'speaker']) assert.match(stdout, new RegExp(`^  ${command} `, 'm'));
});

test('node dist/cli/main.js runs the emitted JavaScript (--help of beacon, controller and speaker)', {
  timeout: 120_000,
}, async () => {
  const app = join(await builtImage(), 'app');
  for (const args of [['--help'], ['controller', '--help'], ['speaker', '--help']]) {
    const { stdout } = await run(NODE, ['dist/cli/main.js', ...args], { cwd: app });
    assert.match(stdout, /Usage: beacon/, args.join(' '));
  }
  // No .ts specifier survived the build: Node without type stripping could not load it.
  const js = filesUnder(join(app, 'dist')).filter((f) => f.endsWith('.js'));
  assert.ok(js.length > 20);
  for (const f of js) assert.doesNotMatch(readFileSync(f, 'utf8'), /from '\.{1,2}\/[^']*\.ts'/, f);
});

test('the native addon built in the simulated image loads from dist/ and lists links', {
  timeout: 120_000,
}, async () => {
  const app = join(await builtImage(), 'app');
  const env = { ...process.env };
  delete env.BEACON_NATIVE_ADDON;
  const { stdout } = await run(
    NODE,
    [
      '--input-type=module',
      '-e',
      "const m = await import('./dist/native/addon.js'); console.log(m.ADDON_PATH); console.log(m.native().listLinks().length);",
    ],
    { cwd: app, env },
  );
  const [path, links] = stdout.trim().split('\n');
  assert.equal(path, join(app, 'native', 'build', 'Release', 'beacon_native.node'));
  assert.ok(Number(links) >= 1, 'at least the loopback link');
});

test('dist/ imports only Node built-ins and runtime dependencies, which npm prune --omit=dev keeps', {
  timeout: 120_000,
}, async () => {
  const app = join(await builtImage(), 'app');
  const builtins = new Set(builtinModules);
  const missing = new Set<string>();
  const seen = new Set<string>();
  for (const f of filesUnder(join(app, 'dist')).filter((x) => x.endsWith('.js'))) {
    const text = readFileSync(f, 'utf8');
    const specifiers = [
      ...text.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s*'([^']+)'/gm),
      ...text.matchAll(/^\s*import\s*'([^']+)'/gm),
      ...text.matchAll(/\bimport\(\s*'([^']+)'\s*\)/g),
    ].map((m) => m[1]!);
    for (const spec of specifiers) {
      if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec)) continue;
      const name = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
      seen.add(name);
      if (!(name in pkg.dependencies)) missing.add(`${name} (${relative(app, f)})`);
    }
  }
  assert.deepEqual([...missing], []);
  assert.ok(seen.has('pino') && seen.has('yaml'), `the scan sees the packages dist/ uses: ${[...seen]}`);
  assert.ok('node' in pkg.devDependencies && !('node' in pkg.dependencies), 'the node package is dev-only');
});
