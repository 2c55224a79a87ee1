/**
 * BFD over real loopback UDP on fake time. Each side's transport counts the packets it sends to a listening
 * peer and the packets it receives, so a test can move the fake clock one step and then wait (in real time)
 * until every packet sent so far has arrived. Time moves only when the test says, and no detection timer can
 * expire because a loaded machine was slow to deliver a packet: what the tests assert is behaviour on the
 * protocol's own clock (RFC 5880), never elapsed milliseconds.
 */
import { createSocket } from 'node:dgram';
import type { Logger } from 'pino';
import { type BfdLink, type BfdTransport, UdpBfdTransport } from '../../src/bfd/transport.ts';
import type { FakeClock } from '../../src/time/clock.ts';

/**
 * A UDP port free on 127.0.0.1 (and so, on Linux, on the rest of 127/8) right now, drawn from 10000-29999:
 * below the kernel's ephemeral ports (32768-60999) and BFD's source ports (49152-65535), which the other
 * test files running beside this one take at random.
 */
export async function freeUdpPort(): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * 20_000);
    const s = createSocket('udp4');
    try {
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(port, '127.0.0.1', () => resolve());
      });
      return port;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EADDRINUSE' || attempt >= 20) throw err;
    } finally {
      s.close();
    }
  }
}

export class CountingTransport implements BfdTransport {
  private readonly inner: BfdTransport;
  private readonly clock: FakeClock;
  private peer: CountingTransport | undefined;
  private isOpen = false;
  sent = 0;
  received = 0;
  /** Fake time of the last packet received. */
  lastReceivedAt = Number.NaN;
  /** A cut link: packets are dropped before they leave. */
  muted = false;

  constructor(inner: BfdTransport, clock: FakeClock) {
    this.inner = inner;
    this.clock = clock;
  }

  /** The two ends of one session: each counts only what it sends while the other listens. */
  static pair(a: CountingTransport, b: CountingTransport): void {
    a.peer = b;
    b.peer = a;
  }

  /** The link is open: packets sent to it are expected to arrive. */
  get listening(): boolean {
    return this.isOpen;
  }

  allocateDiscriminator(): number {
    return this.inner.allocateDiscriminator();
  }

  async open(...[endpoint, discriminator, receive]: Parameters<BfdTransport['open']>): Promise<BfdLink> {
    const link = await this.inner.open(endpoint, discriminator, (p) => {
      this.received++;
      this.lastReceivedAt = this.clock.now();
      receive(p);
    });
    this.isOpen = true;
    return {
      send: (bytes) => {
        if (this.muted) return;
        if (this.peer?.listening) this.sent++;
        link.send(bytes);
      },
      close: async () => {
        this.isOpen = false;
        await link.close();
      },
    };
  }

  /**
   * Every packet either side sent has arrived at the other. Once either side closed its link, packets still
   * in flight may be lost with the socket, and nothing more is expected.
   */
  settledWith(other: CountingTransport): boolean {
    if (!this.isOpen || !other.isOpen) return true;
    return this.sent === other.received && other.sent === this.received;
  }
}

/** Waits in real time until packets sent on every pair have arrived. */
export async function settle(pairs: readonly [CountingTransport, CountingTransport][]): Promise<void> {
  // Always let I/O run once, so that sockets being opened or packets already queued get their turn.
  await new Promise((r) => setImmediate(r));
  const deadline = AbortSignal.timeout(10_000);
  while (!pairs.every(([a, b]) => a.settledWith(b))) {
    if (deadline.aborted)
      throw new Error(
        `BFD packets not delivered on loopback: ${pairs.map(([a, b]) => `${a.sent}->${b.received}, ${b.sent}->${a.received}`).join('; ')}`,
      );
    await new Promise((r) => setTimeout(r, 1));
  }
}

/**
 * Advances fake time in `stepMs` steps, letting each step's packets arrive before the next, until `done`
 * holds; throws if it does not within `limitMs` of fake time.
 */
export async function advanceUntil(
  clock: FakeClock,
  pairs: readonly [CountingTransport, CountingTransport][],
  what: string,
  done: () => boolean,
  limitMs: number,
  stepMs = 5,
): Promise<void> {
  await settle(pairs);
  const until = clock.now() + limitMs;
  while (!done()) {
    if (clock.now() >= until) throw new Error(`${what}: not within ${limitMs} ms of BFD time`);
    clock.advance(stepMs);
    await settle(pairs);
  }
}

/** Advances fake time by `ms`, step by step, with every packet delivered between steps. */
export function runFor(
  clock: FakeClock,
  pairs: readonly [CountingTransport, CountingTransport][],
  ms: number,
  stepMs = 5,
): Promise<void> {
  const end = clock.now() + ms;
  return advanceUntil(clock, pairs, 'running', () => clock.now() >= end, ms + stepMs, stepMs);
}

/**
 * BFD transports for 127.0.0.1 and 127.0.0.2 on one port, counting, paired. The port is held from the start
 * (a registration on each side binds its receive socket for the rest of the process): a port found free and
 * released would be open to a race with the other test files running beside this one, whose BFD source
 * ports and the kernel's ephemeral ports (32768-60999) it would otherwise share. It is drawn below both.
 */
export async function loopbackTransports(clock: FakeClock, log: Logger) {
  for (let attempt = 1; ; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * 20_000);
    const inner = (ipv4: string) => new UdpBfdTransport({ log, port, listenAddress: { ipv4 } });
    const a = inner('127.0.0.1');
    const b = inner('127.0.0.2');
    const held: BfdLink[] = [];
    try {
      // Registered for a peer that never sends (127.0.0.3): packets of the sessions under test, which a
      // transport matches by their source until discriminators are known, still reach those sessions.
      for (const [t, local] of [
        [a, '127.0.0.1'],
        [b, '127.0.0.2'],
      ] as const)
        held.push(
          await t.open(
            { localAddress: local, peerAddress: '127.0.0.3' },
            t.allocateDiscriminator(),
            () => {},
          ),
        );
    } catch (err) {
      for (const l of held) await l.close();
      if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 20) continue;
      throw err;
    }
    const ta = new CountingTransport(a, clock);
    const tb = new CountingTransport(b, clock);
    CountingTransport.pair(ta, tb);
    const pairs: [CountingTransport, CountingTransport][] = [[ta, tb]];
    return { ta, tb, pairs };
  }
}
