/** The announcer's schedule and the rate limiter, on Node's mock timers and a hand-driven clock. */
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { formatMac, ipv6Bytes, parseMac } from './addresses.ts';
import { Announcer, announcementFrames, GRATUITOUS_SCHEDULE_MS } from './announcer.ts';
import { decodeArpFrame } from './arp.ts';
import { decodeNeighborAdvertisement } from './ndp.ts';
import { RateLimiter } from './rate-limit.ts';

test('the burst runs at 0, 1.1, 2.2, 3.3 and 4.4 s, the first round before start() returns', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const announcer = new Announcer();
    const seen: { at: number; round: string }[] = [];
    let clock = 0;
    announcer.start('eth0/192.0.2.10', (r) => seen.push({ at: clock, round: `${r.round}/${r.rounds}` }));
    assert.deepEqual(seen, [{ at: 0, round: '1/5' }]);
    for (let i = 0; i < 5000; i += 100) {
      clock += 100;
      mock.timers.tick(100);
    }
    assert.deepEqual(seen, [
      { at: 0, round: '1/5' },
      { at: 1100, round: '2/5' },
      { at: 2200, round: '3/5' },
      { at: 3300, round: '4/5' },
      { at: 4400, round: '5/5' },
    ]);
    assert.deepEqual(
      seen.map((s) => s.at),
      GRATUITOUS_SCHEDULE_MS,
    );
    assert.deepEqual(announcer.active(), [], 'finished bursts are forgotten');
  } finally {
    mock.timers.reset();
  }
});

test('each round is at its offset, and stop() cancels the rest at once', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const announcer = new Announcer();
    const at: number[] = [];
    let clock = 0;
    announcer.start('k', () => at.push(clock));
    for (let i = 0; i < 2300; i++) {
      clock++;
      mock.timers.tick(1);
    }
    assert.deepEqual(at, [0, 1100, 2200]);
    announcer.stop('k');
    mock.timers.tick(10_000);
    assert.deepEqual(at, [0, 1100, 2200]);
    assert.deepEqual(announcer.active(), []);
  } finally {
    mock.timers.reset();
  }
});

test('a round that stops its own burst cancels the later rounds', () => {
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    const announcer = new Announcer();
    let rounds = 0;
    announcer.start('k', () => {
      rounds++;
      announcer.stop('k');
    });
    mock.timers.tick(10_000);
    assert.equal(rounds, 1);
  } finally {
    mock.timers.reset();
  }
});

test('one round: a gratuitous ARP request and reply for IPv4, one unsolicited NA for IPv6', () => {
  const mac = parseMac('02:00:00:00:01:01');
  const v4 = announcementFrames('192.0.2.10', mac, undefined).map((f) => decodeArpFrame(f)!);
  assert.deepEqual(
    v4.map((f) => f.arp.operation),
    [1, 2],
  );
  for (const f of v4) {
    assert.deepEqual(f.arp.senderIp, f.arp.targetIp);
    assert.equal(formatMac(f.destination), 'ff:ff:ff:ff:ff:ff');
  }
  const [na] = announcementFrames('2001:db8::10', mac, ipv6Bytes('fe80::1')).map(
    (f) => decodeNeighborAdvertisement(f)!,
  );
  assert.deepEqual(na!.source, ipv6Bytes('fe80::1'));
  assert.equal(na!.message.override, true);
  // Without a link-local address, the address itself is the source.
  const [fallback] = announcementFrames('2001:db8::10', mac, undefined).map(
    (f) => decodeNeighborAdvertisement(f)!,
  );
  assert.deepEqual(fallback!.source, ipv6Bytes('2001:db8::10'));
});

test('rate limiter: a burst passes, then the refill rate; keys are independent', () => {
  let t = 0;
  const limiter = new RateLimiter({ perSecond: 10, burst: 3 }, 100, () => t);
  assert.deepEqual(
    [1, 2, 3, 4].map(() => limiter.allow('a')),
    [true, true, true, false],
  );
  assert.equal(limiter.allow('b'), true, 'another key has its own bucket');
  t += 100; // one token back
  assert.deepEqual([limiter.allow('a'), limiter.allow('a')], [true, false]);
  t += 10_000; // never more than the burst
  assert.deepEqual(
    [1, 2, 3, 4].map(() => limiter.allow('a')),
    [true, true, true, false],
  );
});

test('rate limiter: keys are bounded, idle ones forgotten first', () => {
  let t = 0;
  const limiter = new RateLimiter({ perSecond: 1, burst: 1 }, 3, () => t);
  limiter.allow('busy');
  t += 500;
  limiter.allow('x');
  limiter.allow('y');
  t += 600; // 'busy' refilled (idle for 1.1 s); x and y not yet
  limiter.allow('z');
  assert.equal(limiter.size, 3);
  assert.equal(limiter.allow('x'), false, "x's bucket survived the eviction, still empty");
});
