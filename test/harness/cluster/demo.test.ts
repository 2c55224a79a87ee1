/** The client-side timing the cluster tests assert with: outages from overlapping requests. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { longestOutage, parseAnswer, parseSamples } from './demo.ts';

const ok = '{"pod":"web-1","namespace":"shop","node":"node-2","podIP":"10.244.2.3","client":"192.0.2.12"}';

test('a lone failed request among answered ones is an outage of one interval, not of its timeout', () => {
  // Requests start every 50 ms; the one started at 1050 timed out, the one started at 1100 was answered.
  const lines = [`1000 ok ${ok}`, `1100 ok ${ok}`, `1050 fail timeout`, `1150 ok ${ok}`].join('\n');
  assert.deepEqual(longestOutage(parseSamples(lines)), { ms: 50, from: 1050, failed: 1 });
});

test('the longest run of failures is timed from its first failure to the next answer', () => {
  const lines = [
    `0 ok ${ok}`,
    '50 fail connect ECONNREFUSED',
    `100 ok ${ok}`,
    '150 fail timeout',
    '200 fail timeout',
    '250 fail timeout',
    `300 ok ${ok}`,
  ].join('\n');
  assert.deepEqual(longestOutage(parseSamples(lines)), { ms: 150, from: 150, failed: 3 });
  assert.deepEqual(longestOutage(parseSamples(`0 ok ${ok}\n50 ok ${ok}`)), { ms: 0, from: 0, failed: 0 });
});

test("the echo server's answer is read from its JSON; anything else is no answer", () => {
  assert.deepEqual(parseAnswer(ok), {
    pod: 'web-1',
    node: 'node-2',
    podIP: '10.244.2.3',
    client: '192.0.2.12',
  });
  assert.equal(parseAnswer('<html>502 Bad Gateway</html>'), undefined);
  assert.equal(parseAnswer('{"pod":"web-1"}'), undefined);
  assert.equal(parseSamples(`12 ok ${ok}`)[0]?.answer?.node, 'node-2');
});
