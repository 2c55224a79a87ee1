import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeMessage } from '../../src/bgp/codec/decode.ts';
import { corpus, fuzz } from './fuzz.ts';

test('the fuzz corpus is valid to begin with', () => {
  for (const m of corpus())
    assert.ok(decodeMessage(m, { fourOctetAs: true }).ok || decodeMessage(m, { fourOctetAs: false }).ok);
});

test('20,000 seeded random and mutated inputs: no exception from the decoder or the FSM receive path', () => {
  const r = fuzz(0x5eed, 20_000);
  assert.equal(r.inputs, 20_000);
  assert.equal(r.sessionInputs, 5_000);
  // The mutations must reach deep: valid messages, and errors from every family of NOTIFICATION codes.
  assert.ok(r.decoded > 1_000, `only ${r.decoded} inputs decoded`);
  assert.ok(r.treatedAsWithdraw > 0, 'no input was treated as a withdrawal (RFC 7606)');
  for (const key of ['1/1', '1/2', '1/3', '2/0', '3/1', '3/4', '3/5', '3/9', '3/10', '3/11'])
    assert.ok((r.errors[key] ?? 0) > 0, `no input produced ${key}: ${JSON.stringify(r.errors)}`);
  assert.ok(r.sessionsDropped > 0 && r.sessionsDropped < r.sessionInputs);
});
