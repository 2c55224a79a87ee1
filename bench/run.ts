// `npm run bench [-- --only NAME] [--quick]`: runs every bench/*.bench.ts and writes
// bench/results/latest.json (every figure with its runs) and a table on stdout.
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { type Bench, type Figure, median } from './figures.ts';

const { values } = parseArgs({
  options: { only: { type: 'string', multiple: true }, quick: { type: 'boolean', default: false } },
});
const dir = import.meta.dirname;
const benches: Bench[] = [];
for (const file of readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort()) {
  const mod = (await import(join(dir, file))) as { benches: Bench[] };
  benches.push(...mod.benches);
}
const selected = values.only?.length ? benches.filter((b) => values.only!.includes(b.name)) : benches;
if (values.only?.length && selected.length === 0) {
  process.stderr.write(
    `no benchmark named ${values.only.join(', ')}; have: ${benches.map((b) => b.name).join(', ')}\n`,
  );
  process.exit(2);
}

interface Result {
  bench: string;
  name: string;
  unit: Figure['unit'];
  value: number;
  runs: number;
  min: number;
  median: number;
  max: number;
  samples: number[];
  description: string;
  aim?: string;
}
const results: Result[] = [];
const skipped: { bench: string; reason: string }[] = [];
for (const b of selected) {
  const why = await b.unavailable?.();
  if (why) {
    skipped.push({ bench: b.name, reason: why });
    process.stdout.write(`[${b.name}] skipped: ${why}\n`);
    continue;
  }
  const started = Date.now();
  process.stdout.write(`[${b.name}] running\n`);
  const figures = await b.run({
    quick: values.quick,
    log: (l) => process.stdout.write(`[${b.name}] ${l}\n`),
  });
  for (const f of figures) {
    const m = median(f.samples);
    results.push({
      bench: b.name,
      name: f.name,
      unit: f.unit,
      value: m,
      runs: f.samples.length,
      min: Math.min(...f.samples),
      median: m,
      max: Math.max(...f.samples),
      samples: f.samples,
      description: f.description,
      ...(f.aim ? { aim: f.aim } : {}),
    });
  }
  process.stdout.write(`[${b.name}] done in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}

const report = {
  date: new Date().toISOString(),
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    node: process.version,
  },
  quick: values.quick,
  results,
  skipped,
};
mkdirSync(join(dir, 'results'), { recursive: true });
const out = join(dir, 'results', 'latest.json');
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
const fmt = (n: number) => (Number.isInteger(n) ? String(n) : n.toPrecision(4));
const rows = results.map((r) => [
  r.name,
  `${fmt(r.median)} ${r.unit}`,
  `${fmt(r.min)}..${fmt(r.max)}`,
  String(r.runs),
  r.aim ?? '',
]);
const head = ['figure', 'median', 'min..max', 'runs', 'aim'];
const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
for (const r of [head, ...rows])
  process.stdout.write(`${r.map((c, i) => c.padEnd(widths[i]!)).join('  ')}\n`);
process.stdout.write(`\nwrote ${out}\n`);
