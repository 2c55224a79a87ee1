/**
 * What a benchmark reports. Each bench file (bench/*.bench.ts) exports `benches`, a list of Bench; the runner
 * (bench/run.ts) runs them, repeats each figure's samples into min/median/max, and writes one JSON file.
 * Benchmarks measure; they never pass or fail on a figure.
 */
export interface Figure {
  /** Stable identifier, e.g. controller.assign.p99. */
  name: string;
  unit: 'ms' | 's' | 'MB' | 'count' | 'per_s' | 'percent' | 'bytes';
  /** One value per run; the runner reports their median as the figure. */
  samples: number[];
  /** What the figure measures, for the human-readable table. */
  description: string;
  /** The aim from DESIGN.md section 8, when there is one, e.g. "< 50 ms". */
  aim?: string;
}

export interface BenchContext {
  /** Progress lines for long benchmarks. */
  log(line: string): void;
  /** Set by --quick: fewer runs and smaller sizes, for a smoke run. */
  quick: boolean;
}

export interface Bench {
  /** Name used with `npm run bench -- --only NAME`. */
  name: string;
  /** Why it may not run here (e.g. needs root), or undefined. */
  unavailable?(): Promise<string | undefined>;
  run(ctx: BenchContext): Promise<Figure[]>;
}

export function median(values: readonly number[]): number {
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** The p-th percentile (0..100) by nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}
