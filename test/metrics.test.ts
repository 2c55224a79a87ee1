/**
 * What Beacon exports to Prometheus, checked by Prometheus's own promtool: both components' /metrics pass
 * `promtool check metrics`, the chart's alerting rules pass `promtool check rules`, and every query of the
 * shipped Grafana dashboard and of those rules names a metric that Beacon exports.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { parseAllDocuments, stringify } from 'yaml';
import { controllerMetrics } from '../src/controller/metrics.ts';
import { speakerMetrics } from '../src/speaker/metrics.ts';
import { REPO_ROOT } from './harness/binaries.ts';
import { type HelmBinary, helmBinary, runHelm } from './harness/helm.ts';
import { temporaryDirectory } from './harness/interrupt.ts';
import { exportedNames, metricNames } from './harness/promql.ts';
import { promtoolBinary, runPromtool } from './harness/promtool.ts';

const DASHBOARD = join(REPO_ROOT, 'deploy', 'grafana', 'beacon.json');
const CHART = join(REPO_ROOT, 'deploy', 'helm', 'beacon');

let promtool: string;
let helm: HelmBinary;
let dir: string;
let removeDir = () => {};
before(async () => {
  [promtool, helm] = await Promise.all([
    promtoolBinary((l) => process.stderr.write(`[promtool] ${l}\n`)),
    helmBinary((l) => process.stderr.write(`[helm] ${l}\n`)),
  ]);
  ({ path: dir, remove: removeDir } = temporaryDirectory('beacon-metrics-'));
});
after(() => {
  removeDir();
});

/** Both components' registries with every metric given a value, as a running cluster would show them. */
async function exported(): Promise<{ controller: string; speaker: string }> {
  const c = controllerMetrics();
  c.addressesInUse.set({ pool: 'default', family: 'ipv4' }, 3);
  c.addressesAvailable.set({ pool: 'default', family: 'ipv4' }, 13);
  c.allocationFailures.inc({ reason: 'PoolExhausted' });
  c.reconcileDuration.observe(0.004);
  c.writeFailures.inc({ code: '409' });
  c.isLeader.set(1);
  const s = speakerMetrics();
  s.announcedAddresses.set({ protocol: 'l2' }, 1);
  s.announcedAddresses.set({ protocol: 'bgp' }, 2);
  s.bgpSessionsUp.set(1);
  s.bgpSessionUp.set({ peer: 'tor-a' }, 1);
  s.bgpAnnouncedPrefixes.set({ peer: 'tor-a' }, 2);
  s.bgpUpdatesSent.inc({ peer: 'tor-a' }, 4);
  s.bfdSessionUp.set({ peer: 'tor-a' }, 1);
  s.setL2Owned(['192.0.2.10']);
  s.l2RequestsAnswered.inc({ interface: 'eth0' });
  s.gratuitousSent.inc({ interface: 'eth0' });
  s.ownershipChanges.inc({ direction: 'acquired' });
  s.liveSpeakers.set(3);
  s.mayAnnounce.set({ protocol: 'l2' }, 1);
  return { controller: await c.registry.metrics(), speaker: await s.registry.metrics() };
}

test('promtool check metrics passes on both components’ /metrics', async () => {
  for (const [component, text] of Object.entries(await exported())) {
    const r = await runPromtool(promtool, ['check', 'metrics'], text);
    assert.equal(r.code, 0, `${component}: ${r.stdout}${r.stderr}`);
    assert.equal(`${r.stdout}${r.stderr}`.trim(), '', `${component}: no lint findings`);
  }
});

test('both components export beacon_build_info and the standard process metrics, unprefixed', async () => {
  for (const [component, text] of Object.entries(await exported())) {
    assert.match(text, new RegExp(`^beacon_build_info\\{.*component="${component}".*\\} 1$`, 'm'));
    for (const name of [
      'process_cpu_seconds_total',
      'process_resident_memory_bytes',
      'nodejs_heap_size_used_bytes',
    ])
      assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), `${component}: ${name}`);
    assert.doesNotMatch(text, /beacon_(controller|speaker)_process_/, 'no prefixed copies');
  }
});

/** Writes rules as a Prometheus rule file and runs promtool check rules on it. */
async function checkRules(name: string, groups: unknown[]): Promise<void> {
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, stringify({ groups }));
  const r = await runPromtool(promtool, ['check', 'rules', file]);
  assert.equal(r.code, 0, `${name}: ${r.stdout}${r.stderr}`);
}

function unknownMetrics(expr: string, names: Set<string>): string[] {
  return metricNames(expr).filter((n) => !names.has(n));
}

interface Panel {
  title: string;
  targets?: { expr: string }[];
  panels?: Panel[];
}

test('every query of the Grafana dashboard is valid PromQL naming only metrics Beacon exports', async () => {
  const { controller, speaker } = await exported();
  const names = new Set([...exportedNames(controller), ...exportedNames(speaker)]);
  const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Panel[] };
  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const queries = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
  assert.ok(queries.length >= 15, 'the dashboard has queries');
  for (const section of ['Pool usage', 'BGP session up', 'L2 failovers', 'Announced addresses'])
    assert.ok(
      panels.some((p) => p.title === section),
      `a panel ${section}`,
    );
  const unknown = queries.flatMap((q) =>
    unknownMetrics(q.expr, names).map((n) => `${q.panel}: ${n} in ${q.expr}`),
  );
  assert.deepEqual(unknown, []);
  // Grafana's interval variable becomes a fixed range; each query becomes a recording rule promtool parses.
  await checkRules('dashboard', [
    {
      name: 'dashboard',
      rules: queries.map((q, i) => ({
        record: `beacon:dashboard_query_${i}`,
        expr: q.expr.replaceAll('$__rate_interval', '5m'),
      })),
    },
  ]);
});

test("the chart's PrometheusRule passes promtool check rules and alerts only on metrics Beacon exports", async () => {
  const home = mkdtempSync(join(dir, 'helm-'));
  const r = await runHelm(
    helm,
    ['template', 'beacon', CHART, '-n', 'beacon-system', '--set', 'metrics.prometheusRule.enabled=true'],
    home,
  );
  assert.equal(r.code, 0, r.stderr);
  const rule = parseAllDocuments(r.stdout)
    .map(
      (d) => d.toJS() as { kind?: string; spec?: { groups: { rules: { alert: string; expr: string }[] }[] } },
    )
    .find((o) => o?.kind === 'PrometheusRule');
  assert.ok(rule?.spec, 'a PrometheusRule is rendered');
  const alerts = rule.spec.groups.flatMap((g) => g.rules);
  for (const a of ['BeaconBGPSessionDown', 'BeaconPoolNearlyExhausted', 'BeaconNoSpeakerMayAnnounce'])
    assert.ok(
      alerts.some((x) => x.alert === a),
      a,
    );
  await checkRules('prometheus-rule', rule.spec.groups);
  const { controller, speaker } = await exported();
  const names = new Set([...exportedNames(controller), ...exportedNames(speaker)]);
  assert.deepEqual(
    alerts.flatMap((a) => unknownMetrics(a.expr, names).map((n) => `${a.alert}: ${n}`)),
    [],
  );
});
