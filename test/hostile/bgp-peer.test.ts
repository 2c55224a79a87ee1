/**
 * A hostile BGP peer over real TCP on loopback: a fake router accepts Beacon's BgpSession, completes
 * OPEN/KEEPALIVE, waits for Beacon's End-of-RIB, then sends one hostile input followed by a ROUTE-REFRESH.
 * What happens next is read off the wire: a NOTIFICATION and a close (session reset), or Beacon's answer to
 * the refresh, which proves the session stayed up and read on past the hostile input. Then the router hangs
 * up and the session comes back for the next input.
 *
 * The expected outcomes come from the RFCs, never from Beacon's decoder: the UPDATE error decision table
 * (test/bgp/update-errors.ts) row by row, RFC 4271 6.4 for malformed NOTIFICATIONs, and for the fuzz corpus
 * (test/bgp/fuzz.ts, as bench/bgp-fuzz.ts uses it) the rules that hold whatever the input: a NOTIFICATION
 * is never answered with one, an error NOTIFICATION carries a defined error code, nothing throws, and the
 * session always comes back.
 */
import assert from 'node:assert/strict';
import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import { pino } from 'pino';
import { decodeMessage } from '../../src/bgp/codec/decode.ts';
import { encodeKeepalive, encodeOpen, encodeRouteRefresh } from '../../src/bgp/codec/encode.ts';
import { MessageFramer } from '../../src/bgp/codec/framer.ts';
import type { Capability } from '../../src/bgp/codec/messages.ts';
import { BgpSession, endOfRib, formatPrefix, type UpdateMessage } from '../../src/bgp/index.ts';
import { fuzzInputs } from '../bgp/fuzz.ts';
import { type SessionKind, UPDATE_ERROR_CASES, type UpdateErrorCase } from '../bgp/update-errors.ts';

/** What the router saw after its hostile input. */
type Outcome = 'up' | 'closed without a NOTIFICATION' | `notification ${number}/${number}`;

interface Served {
  input: Uint8Array;
  outcome?: Outcome;
  /** UPDATE events the session emitted while this input's connection was up. */
  updates: UpdateMessage[];
}

const BEACON_PREFIX = '198.51.100.7/32';
const ROUTER_AS = 65001;

class LogLines extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    for (const l of chunk.toString().split('\n')) if (l) this.lines.push(JSON.parse(l));
    done();
  }
}

/** The fake router: one connection at a time; each gets the next input once Beacon's table is complete. */
class HostileRouter {
  readonly server: Server;
  readonly served: Served[] = [];
  current: Served | undefined;
  private readonly queue: Uint8Array[];
  private readonly fourOctet: boolean;
  private done!: () => void;
  readonly finished = new Promise<void>((r) => {
    this.done = r;
  });

  constructor(inputs: readonly Uint8Array[], fourOctet: boolean) {
    this.queue = [...inputs];
    this.fourOctet = fourOctet;
    this.server = createServer((s) => this.serve(s));
  }

  private serve(socket: Socket): void {
    const input = this.queue.shift();
    if (!input) {
      socket.destroy();
      return;
    }
    const served: Served = { input, updates: [] };
    this.current = served;
    this.served.push(served);
    const ctx = { fourOctetAs: this.fourOctet };
    const framer = new MessageFramer();
    const endOfRibs = new Set<string>();
    let sentHostile = false;
    socket.on('data', (chunk: Buffer) => {
      framer.push(chunk);
      for (let f = framer.next(); f?.ok; f = framer.next()) {
        const d = decodeMessage(f.bytes, ctx);
        if (!d.ok) continue;
        const m = d.value;
        if (m.type === 'open') {
          const capabilities: Capability[] = [
            { kind: 'multiprotocol', afi: 1, safi: 1 },
            { kind: 'multiprotocol', afi: 2, safi: 1 },
            { kind: 'route-refresh' },
            ...(this.fourOctet ? [{ kind: 'four-octet-as', asn: ROUTER_AS } as const] : []),
          ];
          socket.write(encodeOpen({ myAs: ROUTER_AS, holdTime: 90, bgpId: '192.0.2.1', capabilities }));
          socket.write(encodeKeepalive());
        } else if (m.type === 'update' && !sentHostile) {
          const eor = endOfRib(m);
          if (eor) endOfRibs.add(`${eor.afi}/${eor.safi}`);
          // Beacon's initial table is complete: send the hostile input, and a refresh request behind it.
          if (endOfRibs.size === 2) {
            sentHostile = true;
            socket.write(input);
            socket.write(encodeRouteRefresh(1, 1));
          }
        } else if (m.type === 'update' && m.nlri.some((p) => formatPrefix(p) === BEACON_PREFIX)) {
          // The refresh was answered: Beacon read on past the hostile input with the session up.
          served.outcome ??= 'up';
          socket.end();
        } else if (m.type === 'notification') {
          served.outcome ??= `notification ${m.code}/${m.subcode}`;
        }
      }
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      served.outcome ??= 'closed without a NOTIFICATION';
      if (this.current === served) this.current = undefined;
      if (this.queue.length === 0) this.done();
    });
  }
}

const SESSIONS: Record<SessionKind, { localAs: number; fourOctet: boolean }> = {
  ebgp: { localAs: 65002, fourOctet: true },
  ibgp: { localAs: ROUTER_AS, fourOctet: true },
  'ebgp-2-octet': { localAs: 65002, fourOctet: false },
};

/** Runs Beacon against a router feeding it `inputs`, one connection each. */
async function run(kind: SessionKind, inputs: readonly Uint8Array[], timeoutMs: number) {
  const { localAs, fourOctet } = SESSIONS[kind];
  const router = new HostileRouter(inputs, fourOctet);
  await new Promise<void>((r) => router.server.listen(0, '127.0.0.1', r));
  const errors: unknown[] = [];
  const onError = (err: unknown) => errors.push(err);
  process.on('uncaughtException', onError);
  process.on('unhandledRejection', onError);
  const logs = new LogLines();
  const session = new BgpSession({
    localAs,
    peerAs: ROUTER_AS,
    peerAddress: '127.0.0.1',
    peerPort: (router.server.address() as AddressInfo).port,
    routerId: '192.0.2.2',
    families: ['ipv4', 'ipv6'],
    backoffInitialMs: 5,
    backoffMaxMs: 20,
    log: pino({ level: 'debug' }, logs),
  });
  let established = 0;
  session.on('established', () => established++);
  session.on('update', (u) => router.current?.updates.push(u));
  const timeout = AbortSignal.timeout(timeoutMs);
  try {
    session.announce(BEACON_PREFIX);
    session.start();
    await Promise.race([
      router.finished,
      new Promise((_, reject) =>
        timeout.addEventListener('abort', () =>
          reject(new Error(`${router.served.length} of ${inputs.length} inputs served in ${timeoutMs} ms`)),
        ),
      ),
    ]);
  } finally {
    await session.stop();
    await new Promise<void>((r) => router.server.close(() => r()));
    process.off('uncaughtException', onError);
    process.off('unhandledRejection', onError);
  }
  assert.deepEqual(errors, [], 'nothing may throw in this process');
  assert.equal(established, inputs.length, 'the session came back after every input');
  return { served: router.served, stats: session.stats, logs: logs.lines };
}

const announced = (u: UpdateMessage) => [...u.nlri, ...(u.attributes.mpReach?.nlri ?? [])].map(formatPrefix);
const withdrawn = (u: UpdateMessage) =>
  [...u.withdrawn, ...(u.attributes.mpUnreach?.withdrawn ?? [])].map(formatPrefix);

/** What the table's verdict must look like on the wire and in the session's events. */
function check(c: UpdateErrorCase, s: Served): string | undefined {
  const e = c.expect;
  if (e.verdict === 'session-reset')
    return s.outcome === `notification ${e.notification}` ? undefined : `got ${s.outcome}`;
  if (s.outcome !== 'up') return `the session did not stay up: ${s.outcome}`;
  const u = s.updates[0];
  if (s.updates.length !== 1 || !u) return `${s.updates.length} UPDATE events`;
  if (e.verdict === 'treat-as-withdraw') {
    if (!u.treatAsWithdraw) return 'not treated as withdrawn';
    if (announced(u).length) return `announced ${announced(u)}`;
    const w = withdrawn(u).sort().join(' ');
    return w === [...e.withdrawn].sort().join(' ') ? undefined : `withdrew ${w}`;
  }
  if (u.treatAsWithdraw) return 'treated as withdrawn';
  const discarded = (u.attributes.discarded ?? []).map((d) => d.type).join(' ');
  const want = e.verdict === 'attribute-discard' ? e.discarded.join(' ') : '';
  if (discarded !== want) return `discarded [${discarded}]`;
  return announced(u).join(' ') === e.announced.join(' ') ? undefined : `announced ${announced(u)}`;
}

describe('a hostile peer over TCP', () => {
  for (const kind of Object.keys(SESSIONS) as SessionKind[]) {
    test(`${kind}: every row of the UPDATE error table has its RFC verdict on the wire`, {
      timeout: 60_000,
    }, async () => {
      const cases = UPDATE_ERROR_CASES.filter((c) => c.session === kind);
      const { served, stats, logs } = await run(
        kind,
        cases.map((c) => c.update),
        50_000,
      );
      const wrong = cases
        .map((c, i) => ({ row: c.name, rfc: c.rfc, why: check(c, served[i]!) }))
        .filter((r) => r.why !== undefined);
      assert.deepEqual(wrong, []);
      const withdrawals = cases.filter((c) => c.expect.verdict === 'treat-as-withdraw').length;
      assert.equal(stats.updatesTreatedAsWithdraw, withdrawals, 'each treat-as-withdraw is counted');
      if (withdrawals === 0) return;
      // Logged once per kind, with its decoded meaning, the NLRI withdrawn and the UPDATE (RFC 7606 6).
      const lines = logs.filter((l) => String(l.msg).startsWith('malformed UPDATE'));
      assert.ok(lines.length > 0);
      for (const l of lines) {
        assert.equal(l.level, 40, 'warn: once per session, and every session here sees one');
        const [p] = l.problems as { error: string; rule: string; reason: string }[];
        assert.match(p!.error, /^3\/\d+ update-message-error/);
        assert.match(p!.rule, /^RFC (7606|8092)/);
        assert.equal(l.treatment, 'treat-as-withdraw');
        assert.match(String(l.update), /^f{32}/, 'the whole UPDATE, in hex');
      }
    });
  }

  test('a malformed NOTIFICATION closes the session without a NOTIFICATION in answer (RFC 4271 6.4)', {
    timeout: 30_000,
  }, async () => {
    const marker = 'ff'.repeat(16);
    const inputs = [`${marker}0014 03 06`, `${marker}1388 03 0602`, `${marker}0012 03`].map((h) =>
      Uint8Array.from(Buffer.from(h.replace(/\s+/g, ''), 'hex')),
    );
    const { served } = await run('ebgp', inputs, 20_000);
    assert.deepEqual(
      served.map((s) => s.outcome),
      inputs.map(() => 'closed without a NOTIFICATION'),
    );
  });

  const FUZZ = 300;
  test(`${FUZZ} fuzzed whole messages: the session stays up or resets with a defined error, never answers a NOTIFICATION, always comes back`, {
    timeout: 120_000,
  }, async () => {
    // Whole messages as far as the header's length says, so that the receiver is not left waiting for more.
    const inputs: Uint8Array[] = [];
    for (const input of fuzzInputs(0xbad, FUZZ * 4)) {
      if (inputs.length === FUZZ) break;
      if (input.length >= 19 && ((input[16]! << 8) | input[17]!) === input.length) inputs.push(input);
    }
    assert.equal(inputs.length, FUZZ, 'the corpus gave too few whole messages');
    const { served } = await run('ebgp', inputs, 100_000);
    const wrong = served.filter((s) => {
      const isNotification = s.input[18] === 3 && s.input.subarray(0, 16).every((b) => b === 0xff);
      if (isNotification) return s.outcome !== 'closed without a NOTIFICATION';
      if (s.outcome === 'up') return false;
      // RFC 4271 4.5 error codes 1..6 (RFC 7313 adds 7 for ROUTE-REFRESH messages).
      return !/^notification [1-7]\/\d+$/.test(s.outcome ?? '');
    });
    assert.deepEqual(
      wrong.slice(0, 5).map((s) => ({ input: Buffer.from(s.input).toString('hex'), outcome: s.outcome })),
      [],
      `${wrong.length} of ${served.length}`,
    );
    const outcomes = new Set(served.map((s) => s.outcome?.replace(/\/\d+$/, '')));
    process.stdout.write(`# outcomes: ${[...outcomes].sort().join(', ')}\n`);
    // The corpus reaches every kind of outcome.
    for (const o of ['up', 'notification 1', 'notification 3', 'closed without a NOTIFICATION'])
      assert.ok(outcomes.has(o), o);
  });
});
