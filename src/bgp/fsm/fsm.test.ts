import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../../time/clock.ts';
import { decodeMessage } from '../codec/decode.ts';
import { encodeKeepalive, encodeOpen, encodeRouteRefresh, encodeUpdate } from '../codec/encode.ts';
import type { BgpMessage, Capability, OpenMessage, UpdateMessage } from '../codec/messages.ts';
import { formatPrefix, type Prefix, parsePrefix } from '../codec/prefix.ts';
import { BgpFsm, type BgpState, type FsmHost, type FsmOptions } from './fsm.ts';
import type { Negotiated, OpenConfig } from './negotiate.ts';

function prefix(text: string): Prefix {
  return parsePrefix(text) as Prefix;
}

/** Drives one FSM the way a session would, recording every effect. */
class Harness implements FsmHost {
  readonly clock = new FakeClock();
  readonly sent: BgpMessage[] = [];
  readonly transitions: string[] = [];
  connects = 0;
  disconnects = 0;
  establishedCount = 0;
  refreshes = 0;
  updates = 0;
  malformedNotifications = 0;
  readonly received: UpdateMessage[] = [];
  acceptOpen = true;
  readonly fsm: BgpFsm;

  constructor(open: Partial<OpenConfig> = {}, options: Partial<FsmOptions> = {}) {
    this.fsm = new BgpFsm(this, {
      open: {
        localAs: 65001,
        peerAs: 65002,
        routerId: '192.0.2.1',
        holdTimeSec: 90,
        families: ['ipv4', 'ipv6'],
        ...open,
      },
      clock: this.clock,
      passive: false,
      autoRestart: true,
      jitter: () => 1,
      ...options,
    });
  }

  connect(): void {
    this.connects++;
  }
  disconnect(): void {
    this.disconnects++;
  }
  send(bytes: Uint8Array): void {
    const d = decodeMessage(bytes, { fourOctetAs: true });
    assert.ok(d.ok, 'the FSM sent something that does not decode');
    this.sent.push(d.value);
  }
  transition(from: BgpState, to: BgpState): void {
    this.transitions.push(`${from}->${to}`);
  }
  openReceived(_open: OpenMessage, _n: Negotiated): boolean {
    return this.acceptOpen;
  }
  established(): void {
    this.establishedCount++;
  }
  update(m: UpdateMessage): void {
    this.updates++;
    this.received.push(m);
  }
  routeRefresh(): void {
    this.refreshes++;
  }
  notificationSent(): void {}
  notificationReceived(): void {}
  notificationMalformed(): void {
    this.malformedNotifications++;
  }

  types(): string[] {
    return this.sent.map((m) => (m.type === 'notification' ? `notification ${m.code}/${m.subcode}` : m.type));
  }
  peerOpen(over: Partial<OpenMessage> = {}, caps?: Capability[]): Uint8Array {
    return encodeOpen({
      myAs: 65002,
      holdTime: 30,
      bgpId: '192.0.2.2',
      capabilities: caps ?? [
        { kind: 'multiprotocol', afi: 1, safi: 1 },
        { kind: 'four-octet-as', asn: 65002 },
        { kind: 'route-refresh' },
      ],
      ...over,
    });
  }
  /** Connect, exchange OPENs and KEEPALIVEs: Established. */
  establish(over?: Partial<OpenMessage>, caps?: Capability[]): void {
    this.fsm.start();
    this.fsm.tcpConnected();
    this.fsm.receive(this.peerOpen(over, caps));
    this.fsm.receive(encodeKeepalive());
    assert.equal(this.fsm.state, 'Established');
    assert.equal(this.establishedCount, 1);
  }
}

describe('BGP FSM with fake time', () => {
  test('Idle -> Connect -> OpenSent -> OpenConfirm -> Established; OPEN and KEEPALIVE sent', () => {
    const h = new Harness();
    h.establish();
    assert.deepEqual(h.transitions, [
      'Idle->Connect',
      'Connect->OpenSent',
      'OpenSent->OpenConfirm',
      'OpenConfirm->Established',
    ]);
    assert.equal(h.connects, 1);
    assert.deepEqual(h.types(), ['open', 'keepalive']);
    const open = h.sent[0] as OpenMessage;
    assert.equal(open.myAs, 65001);
    assert.equal(open.holdTime, 90);
    assert.deepEqual(h.fsm.negotiated?.families, ['ipv4']);
    assert.equal(h.fsm.negotiated?.holdTimeMs, 30_000);
    assert.equal(h.fsm.negotiated?.keepaliveMs, 10_000);
  });

  test('a 4-octet local ASN sends AS_TRANS in My AS and the ASN in the capability', () => {
    const h = new Harness({ localAs: 4200000001 });
    h.fsm.start();
    h.fsm.tcpConnected();
    const open = h.sent[0] as OpenMessage;
    assert.equal(open.myAs, 23456);
    assert.deepEqual(
      open.capabilities.find((c) => c.kind === 'four-octet-as'),
      { kind: 'four-octet-as', asn: 4200000001 },
    );
  });

  test('keepalives every third of the negotiated hold time, none while UPDATEs flow', () => {
    const h = new Harness();
    h.establish();
    h.sent.length = 0;
    h.clock.advance(9_999);
    assert.equal(h.sent.length, 0);
    h.clock.advance(1);
    assert.deepEqual(h.types(), ['keepalive']);
    h.fsm.receive(encodeKeepalive());
    h.clock.advance(5_000);
    h.fsm.sentUpdate();
    h.clock.advance(9_999);
    assert.equal(h.sent.length, 1, 'an UPDATE sent 5 s in counts as a keepalive');
    h.clock.advance(1);
    assert.equal(h.sent.length, 2);
  });

  test('the receive hold timer is enforced: 4/0 Hold Timer Expired, connection dropped, restart after back-off', () => {
    const h = new Harness();
    h.establish();
    for (let i = 0; i < 20; i++) {
      h.clock.advance(25_000);
      h.fsm.receive(encodeKeepalive());
    }
    assert.equal(h.fsm.state, 'Established', 'keepalives within the hold time keep the session up');
    h.sent.length = 0;
    h.clock.advance(29_999);
    assert.equal(h.fsm.state, 'Established');
    h.clock.advance(1);
    assert.equal(h.fsm.state, 'Idle');
    assert.ok(h.types().includes('notification 4/0'));
    assert.equal(h.disconnects, 1);
    h.clock.advance(1_000);
    assert.equal(h.fsm.state, 'Connect', 'automatic restart after the back-off');
    assert.equal(h.connects, 2);
  });

  test('hold time 0 on either side: no keepalives and no hold timer', () => {
    const h = new Harness({ holdTimeSec: 0 });
    h.establish();
    h.sent.length = 0;
    h.clock.advance(3_600_000);
    assert.equal(h.sent.length, 0);
    assert.equal(h.fsm.state, 'Established');
  });

  test('configured keepalive time is used when below a third of the hold time', () => {
    const h = new Harness({ keepaliveTimeSec: 3 });
    h.establish();
    h.sent.length = 0;
    h.clock.advance(9_000);
    assert.equal(h.sent.length, 3);
  });

  test('suspended keepalives let the peer hold timer expire (for interop tests)', () => {
    const h = new Harness();
    h.establish();
    h.fsm.suspendKeepalives(true);
    h.sent.length = 0;
    h.clock.advance(25_000);
    assert.equal(h.sent.length, 0);
  });

  const openErrors: [string, Partial<OpenMessage>, Capability[] | undefined, string][] = [
    ['hold time 1', { holdTime: 1 }, undefined, 'notification 2/6'],
    ['hold time 2', { holdTime: 2 }, undefined, 'notification 2/6'],
    ['wrong peer AS', { myAs: 65003 }, [{ kind: 'four-octet-as', asn: 65003 }], 'notification 2/2'],
    [
      '4-octet peer AS mismatching the configuration',
      { myAs: 23456 },
      [{ kind: 'four-octet-as', asn: 4200000000 }],
      'notification 2/2',
    ],
    ['BGP identifier 0.0.0.0', { bgpId: '0.0.0.0' }, undefined, 'notification 2/3'],
  ];
  for (const [name, over, caps, expected] of openErrors) {
    test(`OPEN with ${name} is refused with ${expected.slice(13)}`, () => {
      const h = new Harness();
      h.fsm.start();
      h.fsm.tcpConnected();
      h.fsm.receive(h.peerOpen(over, caps));
      assert.deepEqual(h.types(), ['open', expected]);
      assert.equal(h.fsm.state, 'Idle');
    });
  }

  test('iBGP peer with our own BGP identifier is refused with 2/3; eBGP with the same identifier is fine', () => {
    const ibgp = new Harness({ peerAs: 65001 });
    ibgp.fsm.start();
    ibgp.fsm.tcpConnected();
    ibgp.fsm.receive(ibgp.peerOpen({ myAs: 65001, bgpId: '192.0.2.1' }, []));
    assert.deepEqual(ibgp.types(), ['open', 'notification 2/3']);
    const ebgp = new Harness();
    ebgp.establish({ bgpId: '192.0.2.1' }, []);
  });

  test('a peer with no capabilities at all speaks IPv4 unicast with 2-octet ASNs', () => {
    const h = new Harness();
    h.establish({}, []);
    assert.deepEqual(h.fsm.negotiated?.families, ['ipv4']);
    assert.equal(h.fsm.negotiated?.fourOctetAs, false);
    assert.equal(h.fsm.codecContext.fourOctetAs, false);
  });

  test('unknown capabilities and families are ignored, never fatal', () => {
    const h = new Harness();
    h.establish({}, [
      { kind: 'multiprotocol', afi: 2, safi: 1 },
      { kind: 'multiprotocol', afi: 25, safi: 70 },
      { kind: 'unknown', code: 69, value: Uint8Array.of(0, 1, 1, 3) },
      { kind: 'unknown', code: 200, value: new Uint8Array(40) },
      { kind: 'four-octet-as', asn: 65002 },
    ]);
    assert.deepEqual(h.fsm.negotiated?.families, ['ipv6']);
  });

  test('a malformed UPDATE in Established ends the session with its NOTIFICATION', () => {
    const h = new Harness();
    h.establish();
    const bad = encodeUpdate({ withdrawn: [], attributes: { origin: 0 }, nlri: [] }, { fourOctetAs: true });
    bad[bad.length - 1] = 7; // ORIGIN value 7
    h.fsm.receive(bad);
    assert.equal(h.types().at(-1), 'notification 3/6');
    assert.equal(h.fsm.state, 'Idle');
  });

  test('a malformed NOTIFICATION is never answered with a NOTIFICATION (RFC 4271 6.4)', () => {
    for (const [name, bytes] of [
      ['shorter than 21 octets', `${'ff'.repeat(16)}0014 03 06`],
      ['length field above 4096', `${'ff'.repeat(16)}1388 03 0602`],
    ] as const) {
      const h = new Harness();
      h.establish();
      const before = h.sent.length;
      h.fsm.receive(Buffer.from(bytes.replace(/\s+/g, ''), 'hex'));
      assert.deepEqual(h.types().slice(before), [], `${name}: nothing sent in answer`);
      assert.equal(h.malformedNotifications, 1, name);
      assert.equal(h.fsm.state, 'Idle', name);
      assert.equal(h.disconnects, 1, name);
    }
  });

  test('an UPDATE RFC 7606 treats as withdrawn keeps the session up and reaches the host as a withdrawal', () => {
    const h = new Harness();
    const seen = h.received;
    h.establish();
    // 203.0.113.0/24 with ORIGIN 7 (RFC 7606 7.1: treat-as-withdraw).
    const bad = encodeUpdate(
      {
        withdrawn: [],
        attributes: { origin: 0, asPath: [], nextHop: '192.0.2.2' },
        nlri: [prefix('203.0.113.0/24')],
      },
      { fourOctetAs: true },
    );
    bad[19 + 2 + 2 + 3] = 7;
    const sentBefore = h.sent.length;
    h.fsm.receive(bad);
    assert.equal(h.fsm.state, 'Established');
    assert.deepEqual(h.types().slice(sentBefore), []);
    assert.equal(seen.length, 1);
    assert.deepEqual(seen[0]!.withdrawn.map(formatPrefix), ['203.0.113.0/24']);
    assert.deepEqual(seen[0]!.nlri, []);
    assert.equal(seen[0]!.treatAsWithdraw?.[0]?.rule, 'RFC 7606 7.1');
  });

  test('LOCAL_PREF is discarded from an external peer and kept from an internal one (RFC 7606 7.5)', () => {
    const update = encodeUpdate(
      {
        withdrawn: [],
        attributes: { origin: 0, asPath: [], nextHop: '192.0.2.2', localPref: 200 },
        nlri: [prefix('203.0.113.0/24')],
      },
      { fourOctetAs: true },
    );
    for (const [peerAs, localPref, discarded] of [
      [65002, undefined, [5]],
      [65001, 200, undefined],
    ] as const) {
      const h = new Harness({ peerAs });
      const seen = h.received;
      h.establish({ myAs: peerAs }, [{ kind: 'four-octet-as', asn: peerAs }]);
      h.fsm.receive(update);
      assert.equal(seen[0]?.attributes.localPref, localPref, `peer AS ${peerAs}`);
      assert.deepEqual(
        seen[0]?.attributes.discarded?.map((d) => d.type),
        discarded,
      );
    }
  });

  test('a bad marker mid-stream is 1/1, and the rest of the chunk is not read', () => {
    const h = new Harness();
    h.establish();
    const ka = encodeKeepalive().slice();
    ka[0] = 0;
    h.fsm.receive(Buffer.concat([ka, encodeRouteRefresh(1, 1)]));
    assert.equal(h.types().at(-1), 'notification 1/1');
    assert.equal(h.refreshes, 0);
  });

  test('UPDATE in OpenSent is an FSM error 5/1, KEEPALIVE 5/1 too; OPEN in Established 5/3', () => {
    const h = new Harness();
    h.fsm.start();
    h.fsm.tcpConnected();
    h.fsm.receive(encodeKeepalive());
    assert.equal(h.types().at(-1), 'notification 5/1');
    const g = new Harness();
    g.establish();
    g.fsm.receive(g.peerOpen());
    assert.equal(g.types().at(-1), 'notification 5/3');
  });

  test('OpenSent gives up after 4 minutes without an OPEN (4/0)', () => {
    const h = new Harness();
    h.fsm.start();
    h.fsm.tcpConnected();
    h.clock.advance(240_000);
    assert.equal(h.types().at(-1), 'notification 4/0');
  });

  test('connect failures back off exponentially up to the cap', () => {
    const h = new Harness({}, { backoffInitialMs: 1_000, backoffMaxMs: 8_000 });
    h.fsm.start();
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const before = h.clock.now();
      h.fsm.tcpFailed('refused');
      assert.equal(h.fsm.state, 'Active');
      const connects = h.connects;
      while (h.connects === connects) h.clock.advance(100);
      delays.push(h.clock.now() - before);
      assert.equal(h.fsm.state, 'Connect');
    }
    assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
  });

  test('a connect attempt that hangs is abandoned after the connect timeout', () => {
    const h = new Harness({}, { connectTimeoutMs: 5_000 });
    h.fsm.start();
    h.clock.advance(5_000);
    assert.equal(h.fsm.state, 'Active');
    assert.equal(h.disconnects, 1);
  });

  test('passive: waits in Active, never connects', () => {
    const h = new Harness({}, { passive: true });
    h.fsm.start();
    assert.equal(h.fsm.state, 'Active');
    h.clock.advance(600_000);
    assert.equal(h.connects, 0);
    h.fsm.tcpConnected();
    assert.equal(h.fsm.state, 'OpenSent');
  });

  test('stop sends Cease 6/2 and stays Idle', () => {
    const h = new Harness();
    h.establish();
    h.fsm.stop();
    assert.equal(h.types().at(-1), 'notification 6/2');
    h.clock.advance(600_000);
    assert.equal(h.fsm.state, 'Idle');
    assert.equal(h.connects, 1);
  });

  test('NOTIFICATION from the peer drops to Idle and restarts', () => {
    const h = new Harness();
    h.establish();
    h.fsm.receive(Buffer.from('ffffffffffffffffffffffffffffffff0015030602', 'hex'));
    assert.equal(h.fsm.state, 'Idle');
    h.clock.advance(1_000);
    assert.equal(h.fsm.state, 'Connect');
  });

  test('losing a collision (openReceived false) closes with Cease 6/7 and does not restart', () => {
    const h = new Harness();
    h.acceptOpen = false;
    h.fsm.start();
    h.fsm.tcpConnected();
    h.fsm.receive(h.peerOpen());
    assert.equal(h.types().at(-1), 'notification 6/7');
    h.clock.advance(600_000);
    assert.equal(h.fsm.state, 'Idle');
  });

  test('ROUTE-REFRESH and UPDATE in Established reach the host and reset the hold timer', () => {
    const h = new Harness();
    h.establish();
    h.clock.advance(20_000);
    h.fsm.receive(encodeRouteRefresh(1, 1));
    h.clock.advance(20_000);
    h.fsm.receive(encodeUpdate({ withdrawn: [], attributes: {}, nlri: [] }, { fourOctetAs: true }));
    h.clock.advance(20_000);
    assert.equal(h.fsm.state, 'Established');
    assert.equal(h.refreshes, 1);
    assert.equal(h.updates, 1);
  });
});
