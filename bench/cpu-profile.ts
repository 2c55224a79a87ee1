/**
 * Where a speaker's CPU went, from the V8 CPU profiles `BEACON_BENCH_CPU_PROF=DIR npm run bench -- --only
 * bgp-service` writes:
 *
 *   node bench/cpu-profile.ts DIR            every profile, per phase of DIR/phases.json
 *   node bench/cpu-profile.ts FILE.cpuprofile [FROM_US TO_US]
 *
 * Each sample is charged to the Beacon module nearest to it on its stack (a JSON.parse called by the
 * informer is the informer's; a request made by the status writer is the status writer's, not the HTTP
 * client's), then the modules are grouped into the parts the performance notes talk about.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Beacon modules (path under dist/ or src/, without extension) to the part they belong to. */
const PARTS: [RegExp, string][] = [
  [/^speaker\/status-writer$|^k8s\/events$/, 'status writes'],
  [/^k8s\/informer$|^speaker\/slim$/, 'informer (watch lines, decoding, cache)'],
  [
    /^speaker\/(catalog|bgp-applier|bgp-announcer|speaker|l2-applier|ownership|handover|rendezvous|peer-secrets)$|^l2\//,
    'plan (catalog, appliers, announcer)',
  ],
  [/^bgp\//, 'BGP speaker (RIB, UPDATE building, sessions)'],
  [/^mesh\/|^speaker\/(membership|node-lease)$|^k8s\/lease$/, 'membership (mesh, Lease)'],
  [/^metrics\/|^speaker\/metrics$/, 'metrics'],
  [/^log$/, 'logging'],
];
/** Helpers every part uses: a sample in them is charged to the module that called them. */
const SHARED = /^k8s\/(rest|backoff)$|^time\//;

function moduleOf(url: string): string | undefined {
  const m = /\/(?:dist|src)\/(.+)\.(?:js|ts)$/.exec(url);
  return m?.[1];
}

function partOf(stack: ProfileNode[]): string {
  const leaf = stack[0]!.callFrame.functionName;
  if (leaf === '(garbage collector)') return 'garbage collection';
  if (leaf === '(idle)') return 'idle';
  if (leaf === '(program)') return 'V8/Node outside JavaScript';
  for (const n of stack) {
    const url = n.callFrame.url;
    if (/node_modules\/(pino|sonic-boom|thread-stream)/.test(url)) return 'logging';
    const mod = moduleOf(url);
    if (!mod || SHARED.test(mod)) continue;
    for (const [re, part] of PARTS) if (re.test(mod)) return part;
    return `other Beacon (${mod})`;
  }
  return 'Node internals outside Beacon code (TLS, HTTP parsing, timers)';
}

export interface Breakdown {
  cpuMs: number;
  parts: Map<string, number>;
  selfTop: [string, number][];
}

export function breakdown(p: CpuProfile, fromUs = -Infinity, toUs = Infinity): Breakdown {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, ProfileNode>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n);
  const partCache = new Map<number, string>();
  const parts = new Map<string, number>();
  const self = new Map<string, number>();
  let t = p.startTime;
  let cpuMs = 0;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i]!;
    // A sample stands for the time until the next one.
    const dt = (p.timeDeltas[i + 1] ?? 0) / 1000;
    if (t < fromUs || t > toUs) continue;
    const id = p.samples[i]!;
    let part = partCache.get(id);
    if (!part) {
      const stack: ProfileNode[] = [];
      for (let n = byId.get(id); n; n = parent.get(n.id)) stack.push(n);
      part = partOf(stack);
      partCache.set(id, part);
    }
    parts.set(part, (parts.get(part) ?? 0) + dt);
    if (part === 'idle') continue;
    cpuMs += dt;
    const f = byId.get(id)!.callFrame;
    const name = `${f.functionName || '(anonymous)'} ${moduleOf(f.url) ?? f.url.replace(/^.*node_modules\//, '')}:${f.lineNumber + 1}`;
    self.set(name, (self.get(name) ?? 0) + dt);
  }
  const selfTop = [...self].sort((a, b) => b[1] - a[1]).slice(0, 15);
  return { cpuMs, parts, selfTop };
}

function print(title: string, b: Breakdown, seconds: number): void {
  process.stdout.write(
    `\n## ${title}: ${b.cpuMs.toFixed(0)} ms of CPU in ${seconds.toFixed(1)} s (${(b.cpuMs / seconds).toFixed(1)} ms/s)\n`,
  );
  for (const [part, ms] of [...b.parts].sort((a, c) => c[1] - a[1])) {
    if (part === 'idle') continue;
    process.stdout.write(
      `  ${part.padEnd(64)} ${ms.toFixed(0).padStart(7)} ms  ${((100 * ms) / b.cpuMs).toFixed(1).padStart(5)} %\n`,
    );
  }
  process.stdout.write('  top functions by self time:\n');
  for (const [name, ms] of b.selfTop) process.stdout.write(`    ${ms.toFixed(0).padStart(6)} ms  ${name}\n`);
}

if (import.meta.main) {
  const [target, from, to] = process.argv.slice(2);
  if (!target) {
    process.stderr.write('usage: node bench/cpu-profile.ts DIR | FILE.cpuprofile [FROM_US TO_US]\n');
    process.exit(2);
  }
  if (statSync(target).isDirectory()) {
    const phases = JSON.parse(readFileSync(join(target, 'phases.json'), 'utf8')) as Record<string, number>;
    for (const file of readdirSync(target).filter((f) => f.endsWith('.cpuprofile'))) {
      const p = JSON.parse(readFileSync(join(target, file), 'utf8')) as CpuProfile;
      process.stdout.write(`\n# ${file}\n`);
      for (const phase of ['burst', 'steady']) {
        const a = phases[`${phase}StartUs`];
        const b = phases[`${phase}EndUs`];
        if (a === undefined || b === undefined) continue;
        print(phase, breakdown(p, a, b), (b - a) / 1e6);
      }
    }
  } else {
    const p = JSON.parse(readFileSync(target, 'utf8')) as CpuProfile;
    const a = from ? Number(from) : p.startTime;
    const b = to ? Number(to) : p.endTime;
    print(target, breakdown(p, a, b), (b - a) / 1e6);
  }
}
