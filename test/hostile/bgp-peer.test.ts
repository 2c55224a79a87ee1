/**
 * A hostile BGP peer over real TCP on loopback: a fake router accepts Beacon's BgpSession, completes
 * OPEN/KEEPALIVE, then sends one input of the fuzz corpus (test/bgp/fuzz.ts, as bench/bgp-fuzz.ts uses it).
 * Every malformed message must end the session with the NOTIFICATION the RFCs name for it, read off the
 * wire, and the session must come back for the next input; nothing may throw in this process.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { test } from 'node:test';
import { pino } from 'pino';
import { decodeMessage } from '../../src/bgp/codec/decode.ts';
import { encodeKeepalive, encodeOpen } from '../../src/bgp/codec/encode.ts';
import { MessageFramer } from '../../src/bgp/codec/framer.ts';
import { BgpSession } from '../../src/bgp/index.ts';
import { fuzzInputs } from '../bgp/fuzz.ts';

const INPUTS = 400;
const CTX = { fourOctetAs: true };

interface Expectation {
  input: Uint8Array;
  /** code/subcode a correct speaker sends, or several when the RFCs allow either. */
  want: string[];
}

/**
 * Inputs a peer could really put on a stream whose outcome is fixed: whole messages (the header's length
 * is the input's length, so the receiver is not left waiting for more) that do not decode. NOTIFICATIONs
 * are left out: a speaker never answers one with another.
 */
function malformed(): Expectation[] {
  const out: Expectation[] = [];
  for (const input of fuzzInputs(0xbad, INPUTS * 4)) {
    if (out.length === INPUTS) break;
    if (input.length < 19 || ((input[16]! << 8) | input[17]!) !== input.length) continue;
    const d = decodeMessage(input, CTX);
    if (d.ok || input[18] === 3) continue;
    const want = [`${d.error.code}/${d.error.subcode}`];
    // An OPEN in Established is a state machine error whatever its content (RFC 4271 8.2.2).
    if (input[18] === 1 && input.subarray(0, 16).every((b) => b === 0xff)) want.push('5/3');
    out.push({ input, want });
  }
  return out;
}

/** The fake router: one connection at a time; each one gets the next hostile input once established. */
class HostileRouter {
  readonly server: Server;
  readonly results: { want: string[]; got: string | undefined; input: string }[] = [];
  private readonly queue: Expectation[];
  private done!: () => void;
  readonly finished = new Promise<void>((r) => {
    this.done = r;
  });

  constructor(queue: Expectation[]) {
    this.queue = queue;
    this.server = createServer((s) => this.serve(s));
  }

  private serve(socket: Socket): void {
    const next = this.queue.shift();
    if (!next) {
      socket.destroy();
      return;
    }
    const framer = new MessageFramer();
    let sentHostile = false;
    let notification: string | undefined;
    socket.on('data', (chunk: Buffer) => {
      framer.push(chunk);
      for (let f = framer.next(); f?.ok; f = framer.next()) {
        const m = decodeMessage(f.bytes, CTX);
        if (!m.ok) continue;
        if (m.value.type === 'open') {
          socket.write(
            encodeOpen({
              myAs: 65001,
              holdTime: 90,
              bgpId: '192.0.2.1',
              capabilities: [
                { kind: 'multiprotocol', afi: 1, safi: 1 },
                { kind: 'multiprotocol', afi: 2, safi: 1 },
                { kind: 'four-octet-as', asn: 65001 },
                { kind: 'route-refresh' },
              ],
            }),
          );
          socket.write(encodeKeepalive());
        } else if (m.value.type === 'keepalive' && !sentHostile) {
          // Beacon's KEEPALIVE answers our OPEN: the session is Established on its side now.
          sentHostile = true;
          socket.write(next.input);
        } else if (m.value.type === 'notification') {
          notification = `${m.value.code}/${m.value.subcode}`;
        }
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.results.push({
        want: next.want,
        got: notification,
        input: Buffer.from(next.input).toString('hex'),
      });
      if (this.queue.length === 0) this.done();
    });
  }
}

test(`${INPUTS} malformed messages from a peer: each ends the session with the right NOTIFICATION, and it reconnects`, {
  timeout: 90_000,
}, async () => {
  const cases = malformed();
  assert.equal(cases.length, INPUTS, 'the corpus gave too few whole malformed messages');
  const router = new HostileRouter(cases);
  await new Promise<void>((r) => router.server.listen(0, '127.0.0.1', r));
  const errors: unknown[] = [];
  const onError = (err: unknown) => errors.push(err);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  const session = new BgpSession({
    localAs: 65002,
    peerAs: 65001,
    peerAddress: '127.0.0.1',
    peerPort: (router.server.address() as AddressInfo).port,
    routerId: '192.0.2.2',
    families: ['ipv4', 'ipv6'],
    backoffInitialMs: 5,
    backoffMaxMs: 20,
    log: pino({ level: 'silent' }),
  });
  let established = 0;
  session.on('established', () => established++);
  try {
    session.announce('198.51.100.7/32');
    session.start();
    await router.finished;
  } finally {
    await session.stop();
    await new Promise<void>((r) => router.server.close(() => r()));
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  }
  assert.deepEqual(errors, []);
  const wrong = router.results.filter((r) => !r.got || !r.want.includes(r.got));
  assert.deepEqual(wrong.slice(0, 5), [], `${wrong.length} of ${router.results.length} ended wrongly`);
  assert.equal(established, INPUTS, 'the session came back after every hostile message');
  const kinds = new Set(router.results.map((r) => r.got));
  process.stdout.write(`# NOTIFICATIONs seen: ${[...kinds].sort().join(' ')}\n`);
  // The corpus reaches every family of error: header, OPEN, UPDATE.
  for (const family of ['1/', '3/'])
    assert.ok(
      [...kinds].some((k) => k?.startsWith(family)),
      family,
    );
});
