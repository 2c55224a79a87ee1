/**
 * The decoder against the UPDATE error decision table (update-errors.ts), row by row. The expected verdicts
 * are the table's, written from the RFCs; this file only reads the decoder's answer and compares.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeMessage } from '../../src/bgp/codec/decode.ts';
import type { CodecContext, UpdateMessage } from '../../src/bgp/codec/messages.ts';
import { formatPrefix } from '../../src/bgp/codec/prefix.ts';
import { type SessionKind, UPDATE_ERROR_CASES } from './update-errors.ts';

const CONTEXT: Record<SessionKind, CodecContext> = {
  ebgp: { fourOctetAs: true, ibgp: false },
  ibgp: { fourOctetAs: true, ibgp: true },
  'ebgp-2-octet': { fourOctetAs: false, ibgp: false },
};

function announced(u: UpdateMessage): string[] {
  return [...u.nlri, ...(u.attributes.mpReach?.nlri ?? [])].map(formatPrefix);
}

function withdrawn(u: UpdateMessage): string[] {
  return [...u.withdrawn, ...(u.attributes.mpUnreach?.withdrawn ?? [])].map(formatPrefix);
}

describe('UPDATE error handling, attribute by attribute (RFC 4271 6.3 as revised by RFC 7606)', () => {
  for (const c of UPDATE_ERROR_CASES) {
    test(`${c.name}: ${c.expect.verdict} (${c.rfc})`, () => {
      const d = decodeMessage(c.update, CONTEXT[c.session]);
      const e = c.expect;
      if (e.verdict === 'session-reset') {
        assert.ok(!d.ok, 'the session must be reset');
        assert.equal(`${d.error.code}/${d.error.subcode}`, e.notification, d.error.reason);
        return;
      }
      assert.ok(d.ok, d.ok ? '' : `reset with ${d.error.code}/${d.error.subcode}: ${d.error.reason}`);
      const u = d.value;
      assert.equal(u.type, 'update');
      if (u.type !== 'update') return;
      if (e.verdict === 'treat-as-withdraw') {
        assert.ok(u.treatAsWithdraw?.length, 'the UPDATE must be treated as a withdrawal');
        assert.deepEqual(announced(u), [], 'nothing announced');
        assert.deepEqual(withdrawn(u).sort(), [...e.withdrawn].sort());
        return;
      }
      assert.equal(u.treatAsWithdraw, undefined, JSON.stringify(u.treatAsWithdraw));
      assert.deepEqual(announced(u), e.announced);
      const discarded = (u.attributes.discarded ?? []).map((x) => x.type);
      assert.deepEqual(discarded, e.verdict === 'attribute-discard' ? e.discarded : []);
    });
  }
});
