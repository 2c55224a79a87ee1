import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exportedNames, metricNames } from './promql.ts';

test('metricNames reads the metrics of an expression, not its functions, labels or keywords', () => {
  assert.deepEqual(
    metricNames(
      'histogram_quantile(0.99, sum by (le) (rate(a_bucket{job="x"}[5m]))) > 1e3 and on (instance) (b == 1)',
    ).sort(),
    ['a_bucket', 'b'],
  );
  assert.deepEqual(metricNames('max by (protocol) (c{protocol=~"l2|bgp"}) offset 5m unless d'), ['c', 'd']);
});

test('exportedNames expands histograms into their series', () => {
  const names = exportedNames('# HELP h x\n# TYPE h histogram\n# TYPE g gauge\ng 1\n');
  assert.deepEqual([...names].sort(), ['g', 'h', 'h_bucket', 'h_count', 'h_sum']);
});
