/**
 * Fuzzing of the decoder and of the FSM's receive path with random bytes and mutated valid messages.
 * Shared by the unit tests (a short seeded run) and bench/bgp-fuzz.ts (millions of inputs). Every input
 * must give a message or a WireError; an exception is a bug and is re-thrown with the input that caused it.
 */
import { isDeepStrictEqual } from 'node:util';
import { decodeMessage } from '../../src/bgp/codec/decode.ts';
import {
  encodeEndOfRib,
  encodeKeepalive,
  encodeMessage,
  encodeNotification,
  encodeOpen,
  encodeRouteRefresh,
  encodeUpdate,
} from '../../src/bgp/codec/encode.ts';
import type { BgpMessage, CodecContext, UpdateMessage } from '../../src/bgp/codec/messages.ts';
import { type Prefix, parsePrefix } from '../../src/bgp/codec/prefix.ts';
import { BgpFsm, type FsmHost } from '../../src/bgp/fsm/fsm.ts';
import { FakeClock } from '../../src/time/clock.ts';

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const p = (text: string) => parsePrefix(text) as Prefix;
const FOUR: CodecContext = { fourOctetAs: true };
const TWO: CodecContext = { fourOctetAs: false };

/** Valid messages of every kind, including what routers send that Beacon does not interpret. */
export function corpus(): Uint8Array[] {
  const v4: Omit<UpdateMessage, 'type'> = {
    withdrawn: [p('192.0.2.0/24')],
    attributes: {
      origin: 0,
      asPath: [
        { type: 2, asns: [65000, 4200000000] },
        { type: 1, asns: [1, 2] },
      ],
      nextHop: '192.0.2.1',
      med: 5,
      localPref: 100,
      atomicAggregate: true,
      aggregator: { asn: 65000, address: '192.0.2.9' },
      communities: [0xfde90064, 0xffffff01],
      largeCommunities: [[4200000000, 1, 2]],
      other: [{ flags: 0xc0, type: 16, value: Uint8Array.of(0, 2, 0xfd, 0xe9, 0, 0, 0, 1) }],
    },
    nlri: [p('198.51.100.7/32'), p('203.0.113.0/25'), p('10.0.0.0/8')],
  };
  const v6: Omit<UpdateMessage, 'type'> = {
    withdrawn: [],
    attributes: {
      origin: 2,
      asPath: [{ type: 2, asns: [65001] }],
      mpReach: {
        afi: 2,
        safi: 1,
        nextHops: ['2001:db8::1', 'fe80::1'],
        nlri: [p('2001:db8:1::5/128'), p('2001:db8::/32')],
      },
      as4Path: [{ type: 2, asns: [4200000001] }],
    },
    nlri: [],
  };
  const unreach: Omit<UpdateMessage, 'type'> = {
    withdrawn: [],
    attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: [p('2001:db8:1::5/128')] } },
    nlri: [],
  };
  const foreign: Omit<UpdateMessage, 'type'> = {
    withdrawn: [],
    attributes: {
      origin: 0,
      asPath: [],
      mpReach: { afi: 25, safi: 70, nextHops: [], nlri: [], opaqueNlri: Uint8Array.of(1, 2, 3, 4) },
      other: [{ flags: 0xe0, type: 99, value: Uint8Array.of(9, 9) }],
    },
    nlri: [],
  };
  return [
    encodeKeepalive(),
    encodeOpen({
      myAs: 23456,
      holdTime: 90,
      bgpId: '192.0.2.1',
      capabilities: [
        { kind: 'multiprotocol', afi: 1, safi: 1 },
        { kind: 'multiprotocol', afi: 2, safi: 1 },
        { kind: 'route-refresh' },
        { kind: 'four-octet-as', asn: 4200000000 },
        {
          kind: 'graceful-restart',
          restarting: true,
          notification: true,
          restartTime: 120,
          families: [{ afi: 1, safi: 1, forwardingPreserved: true }],
        },
        { kind: 'unknown', code: 69, value: Uint8Array.of(0, 1, 1, 1) },
        { kind: 'unknown', code: 73, value: Uint8Array.of(2, 0x72, 0x31, 0) },
      ],
    }),
    encodeUpdate(v4, FOUR),
    encodeUpdate(v4, TWO),
    encodeUpdate(v6, FOUR),
    encodeUpdate(unreach, FOUR),
    encodeUpdate(foreign, FOUR),
    encodeEndOfRib(1, 1),
    encodeEndOfRib(2, 1),
    encodeNotification({ code: 6, subcode: 2, data: Uint8Array.of(3, 0x61, 0x62, 0x63) }),
    encodeNotification({ code: 3, subcode: 5, data: Uint8Array.of(0x40, 1, 2, 0, 0) }),
    encodeRouteRefresh(2, 1),
  ];
}

const INTERESTING = [
  0, 1, 2, 3, 4, 0x0f, 0x10, 0x1f, 0x20, 0x21, 0x3f, 0x40, 0x7f, 0x80, 0x81, 0xc0, 0xe0, 0xfe, 0xff,
];

/** One mutation of a valid message: flips, interesting bytes, cuts, growth, splices; length often fixed up. */
function mutate(rand: () => number, base: Uint8Array, other: Uint8Array): Uint8Array {
  let b: Uint8Array = base.slice();
  const pick = (n: number) => Math.floor(rand() * n);
  const rounds = 1 + pick(4);
  for (let r = 0; r < rounds; r++) {
    switch (pick(7)) {
      case 0: {
        const i = pick(b.length);
        b[i]! ^= 1 << pick(8);
        break;
      }
      case 1:
        b[19 + pick(Math.max(1, b.length - 19))] = INTERESTING[pick(INTERESTING.length)]!;
        break;
      case 2:
        b = b.subarray(0, pick(b.length + 1)).slice();
        break;
      case 3: {
        const extra = new Uint8Array(1 + pick(40));
        for (let i = 0; i < extra.length; i++) extra[i] = pick(256);
        const at = pick(b.length + 1);
        const out = new Uint8Array(b.length + extra.length);
        out.set(b.subarray(0, at), 0);
        out.set(extra, at);
        out.set(b.subarray(at), at + extra.length);
        b = out;
        break;
      }
      case 4: {
        const from = pick(other.length);
        const chunk = other.subarray(from, from + 1 + pick(32));
        const at = 19 + pick(Math.max(1, b.length - 19));
        const out = new Uint8Array(Math.max(b.length, at + chunk.length));
        out.set(b, 0);
        out.set(chunk, at);
        b = out;
        break;
      }
      case 5: {
        // Scramble a 2-octet length inside the body (withdrawn or attribute lengths, parameter lengths).
        const i = 19 + pick(Math.max(1, b.length - 20));
        b[i] = pick(3) === 0 ? pick(256) : 0;
        b[i + 1] = pick(256);
        break;
      }
      default:
        b[pick(b.length)] = pick(256);
    }
  }
  // Most of the time keep the header's length consistent, so that mutations reach the body parsers.
  if (b.length >= 19 && rand() < 0.8) {
    b[16] = (b.length >> 8) & 0xff;
    b[17] = b.length & 0xff;
    if (rand() < 0.9) b.fill(0xff, 0, 16);
  }
  return b;
}

function randomBytes(rand: () => number): Uint8Array {
  const n = Math.floor(rand() * 64);
  const b = new Uint8Array(n < 19 ? n : n);
  for (let i = 0; i < b.length; i++) b[i] = Math.floor(rand() * 256);
  if (b.length >= 19 && rand() < 0.7) {
    b.fill(0xff, 0, 16);
    b[16] = 0;
    b[17] = b.length;
    b[18] = 1 + Math.floor(rand() * 5);
  }
  return b;
}

/** A do-nothing host: the fuzzer drives only the FSM's receive path (framer, decoder, state handling). */
class QuietHost implements FsmHost {
  sent = 0;
  connect(): void {}
  disconnect(): void {}
  send(): void {
    this.sent++;
  }
  transition(): void {}
  openReceived(): boolean {
    return true;
  }
  established(): void {}
  update(): void {}
  routeRefresh(): void {}
  notificationSent(): void {}
  notificationReceived(): void {}
  notificationMalformed(): void {}
}

function establishedFsm(clock: FakeClock, host: QuietHost): BgpFsm {
  const fsm = new BgpFsm(host, {
    open: {
      localAs: 65001,
      peerAs: 65002,
      routerId: '192.0.2.1',
      holdTimeSec: 90,
      families: ['ipv4', 'ipv6'],
    },
    clock,
    passive: false,
    autoRestart: false,
  });
  fsm.start();
  fsm.tcpConnected();
  fsm.receive(
    encodeOpen({
      myAs: 65002,
      holdTime: 90,
      bgpId: '192.0.2.2',
      capabilities: [{ kind: 'four-octet-as', asn: 65002 }],
    }),
  );
  fsm.receive(encodeKeepalive());
  return fsm;
}

export interface FuzzReport {
  inputs: number;
  decoded: number;
  /** Decoded UPDATEs that RFC 7606 turned into withdrawals. */
  treatedAsWithdraw: number;
  errors: Record<string, number>;
  sessionInputs: number;
  sessionsDropped: number;
  roundTrips: number;
}

export class FuzzFailure extends Error {
  readonly input: Uint8Array;
  constructor(message: string, input: Uint8Array, cause: unknown) {
    super(`${message} on input ${Buffer.from(input).toString('hex')}`, { cause });
    this.input = input;
  }
}

function withoutDiscarded(m: BgpMessage): BgpMessage {
  if (m.type !== 'update' || !m.attributes.discarded) return m;
  const { discarded: _, ...attributes } = m.attributes;
  return { ...m, attributes };
}

function nextInput(rand: () => number, base: readonly Uint8Array[]): Uint8Array {
  return rand() < 0.15
    ? randomBytes(rand)
    : mutate(rand, base[Math.floor(rand() * base.length)]!, base[Math.floor(rand() * base.length)]!);
}

/**
 * The fuzz inputs alone (random bytes and mutated valid messages), for feeding a real session over TCP.
 * The same seed gives the same inputs on every machine.
 */
export function* fuzzInputs(seed: number, count: number): Generator<Uint8Array> {
  const rand = prng(seed);
  const base = corpus();
  for (let n = 0; n < count; n++) yield nextInput(rand, base);
}

/**
 * Runs `count` inputs from `seed`. Each is decoded in both AS-size contexts; every valid message is encoded
 * again and must decode to the same thing; every 4th input also goes through an Established FSM's receive
 * path, split at a random point, as if it came off a socket.
 */
export function fuzz(seed: number, count: number): FuzzReport {
  const rand = prng(seed);
  const base = corpus();
  const report: FuzzReport = {
    inputs: 0,
    decoded: 0,
    treatedAsWithdraw: 0,
    errors: {},
    sessionInputs: 0,
    sessionsDropped: 0,
    roundTrips: 0,
  };
  const clock = new FakeClock();
  const host = new QuietHost();
  let fsm = establishedFsm(clock, host);
  for (let n = 0; n < count; n++) {
    const input = nextInput(rand, base);
    report.inputs++;
    for (const ctx of [FOUR, TWO]) {
      let result: ReturnType<typeof decodeMessage>;
      try {
        result = decodeMessage(input, ctx);
      } catch (err) {
        throw new FuzzFailure('decoder threw', input, err);
      }
      if (!result.ok) {
        const key = `${result.error.code}/${result.error.subcode}`;
        if (result.error.code < 1 || result.error.code > 7)
          throw new FuzzFailure(`bad error code ${key}`, input, undefined);
        report.errors[key] = (report.errors[key] ?? 0) + 1;
        continue;
      }
      report.decoded++;
      const m = result.value;
      if (m.type === 'update' && m.treatAsWithdraw) report.treatedAsWithdraw++;
      if (m.type === 'open' && m.capabilities.length > 40) continue;
      let again: ReturnType<typeof decodeMessage>;
      try {
        again = decodeMessage(encodeMessage(m, ctx), ctx);
      } catch (err) {
        throw new FuzzFailure('re-encoding a decoded message threw', input, err);
      }
      if (!again.ok || !isDeepStrictEqual(withoutDiscarded(again.value), withoutDiscarded(m))) {
        // Re-encoding may legitimately differ where the original was longer than needed (open parameter
        // sizes); it must still decode.
        if (!again.ok)
          throw new FuzzFailure(
            `re-encoded message does not decode: ${again.error.reason}`,
            input,
            undefined,
          );
      } else report.roundTrips++;
    }
    if (n % 4 === 0) {
      report.sessionInputs++;
      const cut = Math.floor(rand() * (input.length + 1));
      try {
        fsm.receive(input.subarray(0, cut));
        fsm.receive(input.subarray(cut));
      } catch (err) {
        throw new FuzzFailure('FSM receive threw', input, err);
      }
      if (fsm.state !== 'Established') {
        report.sessionsDropped++;
        fsm = establishedFsm(clock, host);
      }
    }
  }
  return report;
}
