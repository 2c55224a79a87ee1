// The skip policy of `npm test`: under CI=true a test that did not run (skipped, todo) fails the run unless
// the allow-list names it, and an allow-list entry that matched nothing fails it too, so the list stays
// short and true. scripts/skip-reporter.ts records what was skipped; this module reads the allow-list and
// judges. Outside CI the skips are only listed.
//
// The allow-list (test/skip-allow-list.txt) is a series of entries separated by blank lines, each four
// `key: value` lines: `file` (relative to the repository root), `test` (the names of the enclosing suites
// and the test, joined by " > "), `reason` (the skip message, exactly: the same test skipping for another
// reason is not covered) and `why` (why this skip is acceptable). A line starting with whitespace continues
// the value above it; a line starting with `#` is a comment.
import { existsSync, readFileSync } from 'node:fs';

export interface SkipRecord {
  kind: 'skip' | 'todo';
  file: string;
  test: string;
  /** The message given with skip or todo; '' when there was none. */
  reason: string;
}

export interface AllowEntry {
  file: string;
  test: string;
  reason: string;
  why: string;
  /** Line of the entry's first key in the allow-list, for messages. */
  line: number;
}

export interface RunRecords {
  /** Every test file that reported at least one test. */
  files: Set<string>;
  skips: SkipRecord[];
}

export class AllowListError extends Error {}

const KEYS = ['file', 'test', 'reason', 'why'] as const;
type Key = (typeof KEYS)[number];

/** Parses the allow-list; throws AllowListError naming the line for anything it cannot read. */
export function parseAllowList(text: string, source: string): AllowEntry[] {
  const entries: AllowEntry[] = [];
  const seen = new Set<string>();
  let fields: Partial<Record<Key, string>> = {};
  let first = 0;
  let last: Key | undefined;
  const fail = (line: number, message: string): never => {
    throw new AllowListError(`${source}:${line}: ${message}`);
  };
  const close = () => {
    if (!first) return;
    const missing = KEYS.filter((k) => !fields[k]);
    if (missing.length) fail(first, `entry lacks ${missing.map((k) => `"${k}:"`).join(', ')}`);
    const entry = { ...(fields as Record<Key, string>), line: first };
    const key = matchKey(entry);
    if (seen.has(key)) fail(first, `the same file, test and reason are listed twice`);
    seen.add(key);
    entries.push(entry);
    fields = {};
    first = 0;
    last = undefined;
  };
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const raw = lines[i]!.replace(/\r$/, '');
    if (raw.startsWith('#')) continue;
    if (!raw.trim()) {
      close();
      continue;
    }
    if (/^\s/.test(raw)) {
      if (!last) fail(n, 'a continuation line (starting with whitespace) must follow a "key: value" line');
      fields[last!] = `${fields[last!]} ${raw.trim()}`;
      continue;
    }
    const m = /^([a-z]+):(.*)$/.exec(raw);
    if (!m || !(KEYS as readonly string[]).includes(m[1]!))
      fail(n, `expected one of ${KEYS.map((k) => `"${k}:"`).join(', ')}, found "${raw.slice(0, 60)}"`);
    const key = m![1] as Key;
    if (fields[key] !== undefined)
      fail(n, `"${key}:" given twice in one entry (separate entries by a blank line)`);
    fields[key] = m![2]!.trim();
    if (!first) first = n;
    last = key;
  }
  close();
  return entries;
}

/** Reads the reporter's JSON lines. */
export function readRunRecords(text: string): RunRecords {
  const files = new Set<string>();
  const skips: SkipRecord[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const r = JSON.parse(line) as SkipRecord | { kind: 'file'; file: string };
    if (r.kind === 'file') files.add(r.file);
    else skips.push(r);
  }
  return { files, skips };
}

function matchKey(r: { file: string; test: string; reason: string }): string {
  return JSON.stringify([r.file, r.test, r.reason]);
}

export interface Verdict {
  allowed: SkipRecord[];
  unlisted: SkipRecord[];
  /** Entries that matched no skip although their file ran, or whose file no longer exists. */
  stale: AllowEntry[];
}

/**
 * Sorts the run's skips into allowed and unlisted, and finds entries that no longer match anything. An
 * entry for a file that exists but was not selected in this run is left alone.
 */
export function judgeSkips(
  run: RunRecords,
  entries: AllowEntry[],
  fileExists: (path: string) => boolean,
): Verdict {
  const byKey = new Map(entries.map((e) => [matchKey(e), e]));
  const used = new Set<AllowEntry>();
  const allowed: SkipRecord[] = [];
  const unlisted: SkipRecord[] = [];
  for (const s of run.skips) {
    const entry = s.reason ? byKey.get(matchKey(s)) : undefined;
    if (entry) {
      used.add(entry);
      allowed.push(s);
    } else unlisted.push(s);
  }
  const stale = entries.filter((e) => !used.has(e) && (run.files.has(e.file) || !fileExists(e.file)));
  return { allowed, unlisted, stale };
}

function asEntry(s: SkipRecord): string {
  const reason = s.reason || '(no reason given: a skip needs one before it can be listed)';
  return `file: ${s.file}\ntest: ${s.test}\nreason: ${reason}\n`;
}

/** What `npm test` prints after the run, and whether the policy fails it. */
export function skipReport(
  verdict: Verdict,
  opts: { ci: boolean; allowListPath: string },
): { failed: boolean; text: string } {
  const { allowed, unlisted, stale } = verdict;
  const out: string[] = [];
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  if (!opts.ci) {
    if (allowed.length + unlisted.length) {
      out.push(
        `ℹ ${count(allowed.length + unlisted.length, 'test')} did not run (under CI=true those not on ${opts.allowListPath} fail the run):`,
      );
      for (const s of [...allowed, ...unlisted])
        out.push(`  ${s.file}: ${s.test} (${s.kind}: ${s.reason || 'no reason'})`);
    }
    return { failed: false, text: out.length ? `${out.join('\n')}\n` : '' };
  }
  if (allowed.length) {
    out.push(`ℹ ${count(allowed.length, 'allow-listed skip')} (${opts.allowListPath}):`);
    for (const s of allowed) out.push(`  ${s.file}: ${s.test} (${s.reason})`);
  }
  if (unlisted.length) {
    out.push(
      `✖ ${count(unlisted.length, 'test')} did not run and ${unlisted.length === 1 ? 'is' : 'are'} not on the allow-list ${opts.allowListPath}; under CI=true each fails the run. Make ${unlisted.length === 1 ? 'it' : 'them'} run, or list ${unlisted.length === 1 ? 'it' : 'them'} with a "why:":`,
    );
    for (const s of unlisted) out.push('', `# ${s.kind}`, asEntry(s).trimEnd());
    out.push('');
  }
  if (stale.length) {
    out.push(
      `✖ ${count(stale.length, 'allow-list entry')} of ${opts.allowListPath} matched no skipped test; remove ${stale.length === 1 ? 'it' : 'them'} so the list stays short:`,
    );
    for (const e of stale) out.push(`  line ${e.line}: ${e.file}: ${e.test} (${e.reason})`);
  }
  return { failed: unlisted.length + stale.length > 0, text: out.length ? `${out.join('\n')}\n` : '' };
}

/** Where the allow-list lives, relative to the repository root the runner is started in. */
export const ALLOW_LIST = 'test/skip-allow-list.txt';

/**
 * Judges one `node --test` run, started in the repository root, from the file the skip reporter wrote; for
 * scripts/test.ts. No allow-list file allows nothing.
 */
export function enforceSkipPolicy(recordsPath: string, ci: boolean): { failed: boolean; text: string } {
  let entries: AllowEntry[];
  try {
    entries = parseAllowList(existsSync(ALLOW_LIST) ? readFileSync(ALLOW_LIST, 'utf8') : '', ALLOW_LIST);
  } catch (err) {
    if (!(err instanceof AllowListError)) throw err;
    return { failed: true, text: `✖ ${err.message}\n` };
  }
  // No records: the runner died before any file reported; its own exit status says so.
  const records = existsSync(recordsPath) ? readFileSync(recordsPath, 'utf8') : '';
  const verdict = judgeSkips(readRunRecords(records), entries, existsSync);
  return skipReport(verdict, { ci, allowListPath: ALLOW_LIST });
}
