/**
 * The answer watch the scale bench measures with: asked addresses are stamped when a neighbour answers the
 * client's ARP request or Neighbor Solicitation, never when nobody holds them, and an answer from before
 * the time an address was asked from does not count. The answers come from a real kernel in a namespace
 * of its own.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { AnswerWatch, parseAnswerLine } from './answer-watch.ts';
import { NetLab, type Netns, netnsUnavailable } from './netns.ts';
import { waitFor } from './process.ts';

const skip = await netnsUnavailable();
const CLIENT = { ipv4: '192.0.2.100', ipv6: '2001:db8::100' };

let lab: NetLab;
let holder: Netns;
let watch: AnswerWatch;
before(async () => {
  if (skip) return;
  lab = await NetLab.create('answers');
  const br = await lab.addBridge();
  const client = await lab.addNamespace('client');
  holder = await lab.addNamespace('holder');
  await lab.attach(client, br, { ifname: 'eth0', addresses: [`${CLIENT.ipv4}/24`, `${CLIENT.ipv6}/64`] });
  await lab.attach(holder, br, { ifname: 'eth0', addresses: ['192.0.2.7/24', '2001:db8::7/64'] });
  watch = await AnswerWatch.start(client, 'eth0', CLIENT);
});
after(async () => {
  await watch?.stop();
  await lab?.cleanup();
});

test('held addresses of both families are answered, and an address nobody holds is not', {
  skip,
  timeout: 30_000,
}, async () => {
  const asked = Date.now();
  for (const a of ['192.0.2.7', '2001:DB8:0::7', '192.0.2.8', '2001:db8::8']) watch.ask(a);
  await waitFor(
    'both held addresses answered',
    () => watch.answeredAt('192.0.2.7') !== undefined && watch.answeredAt('2001:db8::7') !== undefined,
    20_000,
    50,
    () => watch.failure() ?? '',
  );
  for (const a of ['192.0.2.7', '2001:db8::7']) {
    const at = watch.answeredAt(a)!;
    assert.ok(at >= asked && at <= Date.now(), `${a} answered at ${at}, asked at ${asked}`);
  }
  // Asked every 200 ms for as long as it took the others: a holder would have answered by now.
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal(watch.answeredAt('192.0.2.8'), undefined);
  assert.equal(watch.answeredAt('2001:db8::8'), undefined);
});

test('an address that appears later is answered from then on; asking from a later time starts over', {
  skip,
  timeout: 30_000,
}, async () => {
  watch.ask('192.0.2.9');
  await new Promise((r) => setTimeout(r, 600));
  assert.equal(watch.answeredAt('192.0.2.9'), undefined);
  const added = Date.now();
  await holder.addAddress('eth0', '192.0.2.9/24');
  await waitFor('192.0.2.9 answered', () => watch.answeredAt('192.0.2.9') !== undefined, 20_000, 50);
  assert.ok(watch.answeredAt('192.0.2.9')! >= added);

  const first = watch.answeredAt('192.0.2.7')!;
  const again = Date.now() + 1;
  watch.ask('192.0.2.7', again);
  assert.equal(watch.answeredAt('192.0.2.7'), undefined);
  await waitFor('192.0.2.7 answered again', () => watch.answeredAt('192.0.2.7') !== undefined, 20_000, 50);
  assert.ok(watch.answeredAt('192.0.2.7')! >= again && first < again);
});

test('tcpdump lines: ARP replies and Neighbor Advertisements, with their capture time', () => {
  assert.deepEqual(
    parseAnswerLine('1733500000.123456 ARP, Reply 198.18.0.5 is-at 02:00:00:00:00:0b, length 28'),
    { at: 1733500000123, address: '198.18.0.5' },
  );
  assert.deepEqual(
    parseAnswerLine(
      '1733500000.5 IP6 2001:db8:ffff::5 > 2001:db8::100: ICMP6, neighbor advertisement, tgt is 2001:db8:ffff::5, length 32',
    ),
    { at: 1733500000500, address: '2001:db8:ffff::5' },
  );
  assert.equal(
    parseAnswerLine('1733500000.5 ARP, Request who-has 198.18.0.5 tell 192.0.2.100, length 28'),
    undefined,
  );
});
