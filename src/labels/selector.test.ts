import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatSelector, matchesSelector, selectorsAllow } from './selector.ts';

const labels = { app: 'web', tier: 'front', env: 'prod' };

test('an empty selector matches everything, even no labels', () => {
  assert.equal(matchesSelector({}, labels), true);
  assert.equal(matchesSelector({}, {}), true);
  assert.equal(matchesSelector({ matchLabels: {}, matchExpressions: [] }, {}), true);
});

test('matchLabels needs every pair with the same value', () => {
  assert.equal(matchesSelector({ matchLabels: { app: 'web' } }, labels), true);
  assert.equal(matchesSelector({ matchLabels: { app: 'web', tier: 'front' } }, labels), true);
  assert.equal(matchesSelector({ matchLabels: { app: 'api' } }, labels), false);
  assert.equal(matchesSelector({ matchLabels: { missing: '' } }, labels), false);
  // An inherited property is not a label.
  assert.equal(matchesSelector({ matchLabels: { toString: 'x' } }, {}), false);
});

test('In needs the key with one of the values', () => {
  const sel = { matchExpressions: [{ key: 'env', operator: 'In' as const, values: ['prod', 'staging'] }] };
  assert.equal(matchesSelector(sel, labels), true);
  assert.equal(matchesSelector(sel, { env: 'dev' }), false);
  assert.equal(matchesSelector(sel, {}), false);
});

test('NotIn is satisfied by a missing key, as in Kubernetes', () => {
  const sel = { matchExpressions: [{ key: 'env', operator: 'NotIn' as const, values: ['prod'] }] };
  assert.equal(matchesSelector(sel, labels), false);
  assert.equal(matchesSelector(sel, { env: 'dev' }), true);
  assert.equal(matchesSelector(sel, {}), true);
});

test('Exists and DoesNotExist look only at the key', () => {
  const exists = { matchExpressions: [{ key: 'tier', operator: 'Exists' as const }] };
  const absent = { matchExpressions: [{ key: 'tier', operator: 'DoesNotExist' as const }] };
  assert.equal(matchesSelector(exists, labels), true);
  assert.equal(matchesSelector(exists, { tier: '' }), true);
  assert.equal(matchesSelector(exists, {}), false);
  assert.equal(matchesSelector(absent, labels), false);
  assert.equal(matchesSelector(absent, {}), true);
});

test('matchLabels and every expression must all hold', () => {
  const sel = {
    matchLabels: { app: 'web' },
    matchExpressions: [
      { key: 'env', operator: 'In' as const, values: ['prod'] },
      { key: 'canary', operator: 'DoesNotExist' as const },
    ],
  };
  assert.equal(matchesSelector(sel, labels), true);
  assert.equal(matchesSelector(sel, { ...labels, canary: 'yes' }), false);
  assert.equal(matchesSelector(sel, { ...labels, app: 'api' }), false);
});

test('an operator the schema does not know matches nothing', () => {
  const sel = { matchExpressions: [{ key: 'app', operator: 'Gt' as unknown as 'In', values: ['1'] }] };
  assert.equal(matchesSelector(sel, labels), false);
});

test('a list of selectors: empty places no restriction, otherwise any one may match', () => {
  assert.equal(selectorsAllow(undefined, {}), true);
  assert.equal(selectorsAllow([], {}), true);
  assert.equal(
    selectorsAllow([{ matchLabels: { app: 'api' } }, { matchLabels: { app: 'web' } }], labels),
    true,
  );
  assert.equal(selectorsAllow([{ matchLabels: { app: 'api' } }], labels), false);
});

test('selectors read back in kubectl style for messages', () => {
  assert.equal(formatSelector({}), 'everything');
  assert.equal(
    formatSelector({
      matchLabels: { app: 'web' },
      matchExpressions: [
        { key: 'env', operator: 'In', values: ['prod', 'staging'] },
        { key: 'zone', operator: 'NotIn', values: ['a'] },
        { key: 'tier', operator: 'Exists' },
        { key: 'canary', operator: 'DoesNotExist' },
      ],
    }),
    'app=web,env in (prod,staging),zone notin (a),tier,!canary',
  );
});
