/**
 * A requester flooding the responder with questions about one address gets the burst and then the
 * per-question rate (20, then 10/s), is reported once a second, and other requesters are still answered
 * at once.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DEFAULT_LIMITS } from '../../src/l2/port.ts';
import { netnsUnavailable } from '../harness/netns.ts';
import { addonUnavailable } from '../harness/preconditions.ts';
import { waitFor } from '../harness/process.ts';
import {
  CLIENT_MAC,
  capture,
  createL2Lab,
  NODE_BIN,
  NODE1_MAC,
  parseCapture,
  startBeaconL2,
} from './l2-lab.ts';

const skip = (await netnsUnavailable()) ?? addonUnavailable();
const OWNED = '192.0.2.100';
const FLOOD_PER_S = 2_000;
const FLOOD_SECONDS = 3;

test('a flood from one requester is answered at the rate limit; other requesters are not held back', {
  skip,
  timeout: 60_000,
}, async () => {
  const l2 = await createL2Lab('flood');
  after(() => l2.cleanup());
  const speaker = await startBeaconL2(l2, l2.node1, 'node1', ['--interface', 'eth0', '--address', OWNED]);
  const answers = await capture(
    l2,
    l2.client,
    'answers',
    `arp and ether src ${NODE1_MAC} and ether dst ${CLIENT_MAC}`,
  );
  const targets = join(l2.dir, 'targets.json');
  writeFileSync(targets, JSON.stringify([OWNED]));
  const flood = l2.client.exec(
    NODE_BIN,
    [
      join(import.meta.dirname, 'load-generator.ts'),
      'eth0',
      '192.0.2.1',
      '2001:db8::1',
      String(FLOOD_PER_S),
      String(FLOOD_SECONDS),
      targets,
    ],
    30_000,
  );
  // While the flood runs, another host asks and is answered.
  await waitFor(
    'the flood to be rate-limited',
    () => speaker.events('rate-limited').length > 0,
    10_000,
    50,
    speaker.output,
  );
  const other = await l2.node2.exec('arping', ['-c', '1', '-W', '1', '-i', 'eth0', OWNED]);
  assert.equal(other.code, 0, other.stdout);
  const sent = JSON.parse((await flood).stdout) as { sent: number; seconds: number };
  // The responder reports what the limiter withheld and what the kernel dropped once a second.
  await new Promise((r) => setTimeout(r, 1500));
  const replies = parseCapture(await answers.stop()).length;

  const { burst, perSecond } = DEFAULT_LIMITS.perQuestion;
  const allowed = burst + perSecond * sent.seconds;
  assert.ok(sent.sent > 10 * allowed, `the flood was a flood: ${sent.sent} questions`);
  assert.ok(replies >= burst, `the burst is answered: ${replies}`);
  // One more second of refill for timing slack at either end.
  assert.ok(
    replies <= allowed + perSecond,
    `${replies} answers to ${sent.sent} questions; the limit allows ${allowed}`,
  );
  const reports = speaker.events('rate-limited');
  const dropped = reports.reduce((n, r) => n + Number(r.dropped), 0);
  assert.ok(reports.every((r) => r['requester-mac'] === CLIENT_MAC && r['last-address'] === OWNED));
  assert.ok(
    reports.length <= FLOOD_SECONDS + 2,
    `reported once a second, not per frame: ${reports.length} reports`,
  );
  // Every question is answered, withheld by the limiter, or dropped by the kernel before the responder
  // read it (a busy machine; reported as overrun): none goes unaccounted for.
  const overrun = speaker.events('overrun').reduce((n, r) => n + Number(r.dropped), 0);
  assert.ok(
    dropped + overrun >= sent.sent - allowed - perSecond,
    `${dropped} withheld and ${overrun} dropped by the kernel of ${sent.sent}`,
  );
  assert.equal(speaker.process.hasExited(), false);
});
