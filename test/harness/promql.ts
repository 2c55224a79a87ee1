/**
 * The metric names a PromQL expression reads, for tests that check a dashboard's or an alert's queries
 * against the metrics Beacon exports. Deliberately small: strings, label matchers, ranges, numbers and
 * label lists are removed, and what is left that is neither a function, an aggregation nor a keyword is
 * a metric name. The expressions' syntax is checked by promtool separately.
 */
const KEYWORDS = new Set(['and', 'or', 'unless', 'bool', 'offset', 'inf', 'nan', 'Inf', 'NaN']);

export function metricNames(expr: string): string[] {
  let s = expr.replace(/"(?:[^"\\]|\\.)*"/g, '""');
  s = s.replace(/\{[^}]*\}/g, ' ');
  s = s.replace(/\[[^\]]*\]/g, ' ');
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  // Numbers and durations (0.99, 1e3, 5m), but not the digits inside a name (p99).
  s = s.replace(
    /(?<![A-Za-z0-9_:.])[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?(ms|s|m|h|d|w|y)?(?![A-Za-z0-9_:])/g,
    ' ',
  );
  const names = new Set<string>();
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const after = s.slice(m.index + m[0].length).trimStart();
    if (after.startsWith('(') || KEYWORDS.has(m[0])) continue;
    names.add(m[0]);
  }
  return [...names];
}

/** Every sample name a /metrics text can hold: each `# TYPE` line's name, with a histogram's series. */
export function exportedNames(metricsText: string): Set<string> {
  const names = new Set<string>();
  for (const m of metricsText.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    const [, name, type] = m as unknown as [string, string, string];
    names.add(name);
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(`${name}${s}`);
    if (type === 'summary') for (const s of ['_sum', '_count']) names.add(`${name}${s}`);
  }
  return names;
}
