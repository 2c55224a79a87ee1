import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CommunityResolver } from './communities.ts';
import type { Community } from './types.ts';

const community = (name: string, entries: [string, string][]): Community => ({
  apiVersion: 'beacon.dev/v1alpha1',
  kind: 'Community',
  metadata: { name, namespace: 'beacon-system' },
  spec: { communities: entries.map(([n, value]) => ({ name: n, value })) },
});

test('well-known names resolve to their registered values, in any case and with _ or -', () => {
  const r = new CommunityResolver([]);
  // Values from the IANA registry: RFC 1997 (0xFFFFFF01-03), RFC 3765 (0xFFFFFF04), RFC 7999
  // (0xFFFF029A), RFC 8326 (0xFFFF0000).
  const expected: [string, string][] = [
    ['NO_EXPORT', '65535:65281'],
    ['no-export', '65535:65281'],
    ['No_Export', '65535:65281'],
    ['NO_ADVERTISE', '65535:65282'],
    ['no-export-subconfed', '65535:65283'],
    ['NO_EXPORT_SUBCONFED', '65535:65283'],
    ['NOPEER', '65535:65284'],
    ['no-peer', '65535:65284'],
    ['BLACKHOLE', '65535:666'],
    ['blackhole', '65535:666'],
    ['GRACEFUL_SHUTDOWN', '65535:0'],
    ['graceful-shutdown', '65535:0'],
  ];
  for (const [name, value] of expected) assert.deepEqual(r.resolve(name), { ok: true, value }, name);
});

test('literals stay as written; Community names resolve; an unknown name is refused with a reason', () => {
  const r = new CommunityResolver([community('tags', [['edge', '64512:7']])]);
  assert.deepEqual(r.resolve('64512:100'), { ok: true, value: '64512:100' });
  assert.deepEqual(r.resolve('large:64512:1:2'), { ok: true, value: 'large:64512:1:2' });
  // What the CRD refuses, should an older object still hold it, is refused here too.
  assert.equal(r.resolve('65536:1').ok, false);
  assert.equal(r.resolve('large:1:2').ok, false);
  assert.deepEqual(r.resolve('edge'), { ok: true, value: '64512:7' });
  const bad = r.resolve('NO_EXPRT');
  assert.equal(bad.ok, false);
  assert.match(
    !bad.ok ? bad.reason : '',
    /"NO_EXPRT" is neither defined by a Community object nor a well-known/,
  );
  // Aliases are names of the user's choosing: matched exactly, unlike the well-known ones.
  assert.equal(r.resolve('EDGE').ok, false);
  assert.deepEqual(r.resolveAll(['edge', 'no-export', 'nope', '64512:7']), {
    values: ['64512:7', '65535:65281'],
    problems: [
      'community name "nope" is neither defined by a Community object nor a well-known name (graceful-shutdown, blackhole, no-export, no-advertise, no-export-subconfed, no-peer, nopeer)',
    ],
  });
});

test('a name two Community objects define differently is refused; defined alike, it resolves', () => {
  const r = new CommunityResolver([
    community('a', [['edge', '64512:7']]),
    community('b', [['edge', '64512:8']]),
    community('c', [['core', '64512:9']]),
    community('d', [['core', '64512:9']]),
  ]);
  const edge = r.resolve('edge');
  assert.equal(edge.ok, false);
  assert.match(!edge.ok ? edge.reason : '', /defined differently .*64512:7 in a; 64512:8 in b/);
  assert.deepEqual(r.resolve('core'), { ok: true, value: '64512:9' });
});

test('a Community entry named like a well-known community is what it names', () => {
  // MetalLB's documentation defines NO_ADVERTISE this way; the CRD makes sure the value is the right one.
  const r = new CommunityResolver([community('metallb', [['NO_ADVERTISE', '65535:65282']])]);
  assert.deepEqual(r.resolve('NO_ADVERTISE'), { ok: true, value: '65535:65282' });
});
