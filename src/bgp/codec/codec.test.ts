import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseCommunity, parseLargeCommunity } from './communities.ts';
import { decodeMessage } from './decode.ts';
import { endOfRib } from './decode-update.ts';
import {
  encodeEndOfRib,
  encodeKeepalive,
  encodeNotification,
  encodeOpen,
  encodeRouteRefresh,
  encodeUpdate,
} from './encode.ts';
import type { BgpMessage, CodecContext, UpdateMessage } from './messages.ts';
import { formatPrefix, type Prefix, parsePrefix } from './prefix.ts';

const FOUR: CodecContext = { fourOctetAs: true };
const TWO: CodecContext = { fourOctetAs: false };
const MARKER = 'ff'.repeat(16);

/** Hex with spaces and newlines allowed, so vectors can be laid out field by field. */
function hex(text: string): Uint8Array {
  return Uint8Array.from(Buffer.from(text.replace(/\s+/g, ''), 'hex'));
}
function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString('hex');
}
function prefix(text: string): Prefix {
  const p = parsePrefix(text);
  assert.ok(typeof p !== 'string', p as string);
  return p;
}
function decodeOk(bytes: Uint8Array, ctx = FOUR): BgpMessage {
  const r = decodeMessage(bytes, ctx);
  assert.ok(r.ok, r.ok ? '' : `${r.error.code}/${r.error.subcode} ${r.error.reason}`);
  return r.value;
}
function decodeErr(bytes: Uint8Array, ctx = FOUR) {
  const r = decodeMessage(bytes, ctx);
  assert.ok(!r.ok, 'expected a decode error');
  return r.error;
}
/** Wraps an UPDATE body (withdrawn, attributes, NLRI as hex) in a header with the right length. */
function update(withdrawn: string, attrs: string, nlri = ''): Uint8Array {
  const w = hex(withdrawn);
  const a = hex(attrs);
  const body = `${w.length.toString(16).padStart(4, '0')}${toHex(w)}${a.length.toString(16).padStart(4, '0')}${toHex(a)}${nlri.replace(/\s+/g, '')}`;
  const len = 19 + body.length / 2;
  return hex(`${MARKER} ${len.toString(16).padStart(4, '0')} 02 ${body}`);
}

// Vectors are laid out from the field definitions of RFC 4271 section 4, RFC 5492, RFC 4760, RFC 6793,
// RFC 2918, RFC 4724, RFC 1997 and RFC 8092.
const OPEN_2OCTET = hex(`${MARKER} 0039 01
  04 fde9 005a c0000201 1c
  02 06 01 04 0001 00 01
  02 06 01 04 0002 00 01
  02 02 02 00
  02 06 41 04 0000fde9`);

const UPDATE_V4 = hex(`${MARKER} 0037 02
  0000
  001b
  40 01 01 00
  40 02 06 02 01 0000fde9
  40 03 04 c0000201
  c0 08 04 fde90064
  20 c6336407`);

describe('encode/decode vectors', () => {
  test('KEEPALIVE is 19 octets of header', () => {
    assert.equal(toHex(encodeKeepalive()), `${MARKER}001304`);
    assert.deepEqual(decodeOk(encodeKeepalive()), { type: 'keepalive' });
  });

  test('OPEN with multiprotocol, route refresh and 4-octet AS', () => {
    const bytes = encodeOpen({
      myAs: 65001,
      holdTime: 90,
      bgpId: '192.0.2.1',
      capabilities: [
        { kind: 'multiprotocol', afi: 1, safi: 1 },
        { kind: 'multiprotocol', afi: 2, safi: 1 },
        { kind: 'route-refresh' },
        { kind: 'four-octet-as', asn: 65001 },
      ],
    });
    assert.equal(toHex(bytes), toHex(OPEN_2OCTET));
    const open = decodeOk(OPEN_2OCTET);
    assert.deepEqual(open, {
      type: 'open',
      version: 4,
      myAs: 65001,
      holdTime: 90,
      bgpId: '192.0.2.1',
      capabilities: [
        { kind: 'multiprotocol', afi: 1, safi: 1 },
        { kind: 'multiprotocol', afi: 2, safi: 1 },
        { kind: 'route-refresh' },
        { kind: 'four-octet-as', asn: 65001 },
      ],
    });
  });

  test('OPEN of a 4-octet ASN carries AS_TRANS and the real ASN in the capability', () => {
    const bytes = encodeOpen({
      myAs: 23456,
      holdTime: 180,
      bgpId: '198.51.100.9',
      capabilities: [{ kind: 'four-octet-as', asn: 4200000000 }],
    });
    assert.equal(toHex(bytes), `${MARKER}002501045ba000b4c6336409080206410`.concat('4fa56ea00'));
  });

  test('graceful restart capability: restart time, R and N bits, forwarding state per family', () => {
    const bytes = encodeOpen({
      myAs: 65001,
      holdTime: 90,
      bgpId: '192.0.2.1',
      capabilities: [
        {
          kind: 'graceful-restart',
          restarting: true,
          notification: false,
          restartTime: 120,
          families: [
            { afi: 1, safi: 1, forwardingPreserved: true },
            { afi: 2, safi: 1, forwardingPreserved: false },
          ],
        },
      ],
    });
    assert.equal(toHex(bytes.subarray(29)), '020c400a8078' + '00010180' + '00020100');
    const open = decodeOk(bytes);
    assert.equal(open.type, 'open');
    if (open.type === 'open')
      assert.deepEqual(open.capabilities[0], {
        kind: 'graceful-restart',
        restarting: true,
        notification: false,
        restartTime: 120,
        families: [
          { afi: 1, safi: 1, forwardingPreserved: true },
          { afi: 2, safi: 1, forwardingPreserved: false },
        ],
      });
  });

  test('unknown capabilities (ADD-PATH, FQDN, enhanced route refresh, one capability param holding several) are kept opaque', () => {
    const bytes = hex(`${MARKER} 0031 01 04 fde9 00b4 0a000001 14
      02 12
        45 04 0001 01 01
        49 06 02 7231 02 6e65
        46 00
        06 00`);
    const open = decodeOk(bytes);
    assert.equal(open.type, 'open');
    if (open.type !== 'open') return;
    assert.deepEqual(
      open.capabilities.map((c) => (c.kind === 'unknown' ? c.code : c.kind)),
      [69, 73, 70, 6],
    );
  });

  test('RFC 9072 extended optional parameters length', () => {
    const bytes = hex(`${MARKER} 0029 01 04 fde9 005a c0000201 ff ff 0007 02 0004 02 02 02 00`);
    bytes[17] = bytes.length;
    const open = decodeOk(bytes);
    assert.ok(open.type === 'open' && open.capabilities[0]?.kind === 'route-refresh');
  });

  test('IPv4 UPDATE with ORIGIN, 4-octet AS_PATH, NEXT_HOP and COMMUNITIES', () => {
    const u: Omit<UpdateMessage, 'type'> = {
      withdrawn: [],
      attributes: {
        origin: 0,
        asPath: [{ type: 2, asns: [65001] }],
        nextHop: '192.0.2.1',
        communities: [parseCommunity('65001:100')!],
      },
      nlri: [prefix('198.51.100.7/32')],
    };
    assert.equal(toHex(encodeUpdate(u, FOUR)), toHex(UPDATE_V4));
    assert.deepEqual(decodeOk(UPDATE_V4), { type: 'update', ...u });
  });

  test('the same UPDATE with 2-octet ASNs, MED, LOCAL_PREF and LARGE_COMMUNITY', () => {
    const bytes = update(
      '',
      `40 01 01 02
       40 02 04 02 01 fde9
       40 03 04 c0000201
       80 04 04 00000064
       40 05 04 000000c8
       c0 20 0c 0000fde9 00000001 00000002`,
      '18 c63364 20 c6336401',
    );
    const m = decodeOk(bytes, TWO);
    assert.equal(m.type, 'update');
    if (m.type !== 'update') return;
    assert.deepEqual(m.attributes, {
      origin: 2,
      asPath: [{ type: 2, asns: [65001] }],
      nextHop: '192.0.2.1',
      med: 100,
      localPref: 200,
      largeCommunities: [[65001, 1, 2]],
    });
    assert.deepEqual(m.nlri.map(formatPrefix), ['198.51.100.0/24', '198.51.100.1/32']);
    assert.equal(toHex(encodeUpdate(m, TWO)), toHex(bytes));
  });

  test('IPv6 MP_REACH_NLRI with global and link-local next hop', () => {
    const bytes = update(
      '',
      `40 01 01 00
       40 02 0a 02 02 0000fde9 0000fdea
       90 0e 0036 0002 01 20 20010db8000000000000000000000001 fe800000000000000000000000000001 00
         80 20010db8000100000000000000000005`,
    );
    const m = decodeOk(bytes);
    assert.ok(m.type === 'update');
    assert.deepEqual(m.attributes.mpReach, {
      afi: 2,
      safi: 1,
      nextHops: ['2001:db8::1', 'fe80::1'],
      nlri: [prefix('2001:db8:1::5/128')],
    });
    assert.deepEqual(m.attributes.asPath, [{ type: 2, asns: [65001, 65002] }]);
    // Extended length is only used when the value needs it; re-encoding yields the short form.
    const again = encodeUpdate(m, FOUR);
    const round = decodeOk(again);
    assert.deepEqual(round, m);
  });

  test('IPv6 MP_UNREACH_NLRI withdraws', () => {
    const bytes = update('', '80 0f 14 0002 01 80 20010db8000100000000000000000005');
    const m = decodeOk(bytes);
    assert.ok(m.type === 'update');
    assert.deepEqual(m.attributes.mpUnreach, { afi: 2, safi: 1, withdrawn: [prefix('2001:db8:1::5/128')] });
    assert.equal(endOfRib(m), undefined);
  });

  test('IPv4 withdrawal', () => {
    const m = decodeOk(update('20 c6336407', ''));
    assert.ok(m.type === 'update');
    assert.deepEqual(m.withdrawn.map(formatPrefix), ['198.51.100.7/32']);
  });

  test('End-of-RIB for IPv4 and IPv6 unicast', () => {
    assert.equal(toHex(encodeEndOfRib(1, 1)), `${MARKER}0017020000` + '0000');
    assert.equal(toHex(encodeEndOfRib(2, 1)), `${MARKER}001d0200000006800f03000201`);
    for (const [afi, safi] of [
      [1, 1],
      [2, 1],
    ] as const) {
      const m = decodeOk(encodeEndOfRib(afi, safi));
      assert.ok(m.type === 'update');
      assert.deepEqual(endOfRib(m), { afi, safi });
    }
  });

  test('NOTIFICATION and RFC 8203 shutdown communication', () => {
    assert.equal(
      toHex(encodeNotification({ code: 4, subcode: 0, data: new Uint8Array(0) })),
      `${MARKER}0015030400`,
    );
    const m = decodeOk(hex(`${MARKER} 001b 03 06 02 05 68656c6c6f`));
    assert.deepEqual(m, {
      type: 'notification',
      code: 6,
      subcode: 2,
      data: hex('0568656c6c6f'),
      shutdownMessage: 'hello',
    });
  });

  test('ROUTE-REFRESH', () => {
    assert.equal(toHex(encodeRouteRefresh(2, 1)), `${MARKER}001705000200` + '01');
    assert.deepEqual(decodeOk(encodeRouteRefresh(1, 1)), {
      type: 'route-refresh',
      afi: 1,
      safi: 1,
      subtype: 0,
    });
  });
});

describe('what routers send back is parsed and can be discarded', () => {
  test("a router's echo of Beacon's route with its AS prepended, AS4_PATH, extended communities and an unknown optional attribute", () => {
    const bytes = update(
      '',
      `40 01 01 00
       40 02 06 02 02 fdea fde9
       40 03 04 c0000202
       c0 10 08 0002fde900000064
       c0 11 0a 02 02 fa56ea00 0000fde9
       e0 63 03 010203`,
      '20 c6336407',
    );
    const m = decodeOk(bytes, TWO);
    assert.ok(m.type === 'update');
    assert.deepEqual(m.attributes.as4Path, [{ type: 2, asns: [4200000000, 65001] }]);
    assert.deepEqual(
      m.attributes.other?.map((a) => a.type),
      [16, 99],
    );
  });

  test('a malformed AS4_PATH is discarded, not fatal (RFC 6793 section 6)', () => {
    const m = decodeOk(
      update('', '40 01 01 00 40 02 04 02 01 fde9 40 03 04 c0000202 c0 11 03 02 05 00', '20 c6336407'),
      TWO,
    );
    assert.ok(m.type === 'update');
    assert.equal(m.attributes.as4Path, undefined);
    assert.equal(m.attributes.discarded?.[0]?.type, 17);
  });

  // RFC 6793 6: a 4-octet speaker that receives AS_CONFED_SEQUENCE or AS_CONFED_SET segments in AS4_PATH
  // "MUST discard these path segments ... and continue processing the UPDATE message".
  test('AS_CONFED segments in an AS4_PATH are dropped and the other segments kept (RFC 6793 6)', () => {
    const m = decodeOk(
      update(
        '',
        '40 01 01 00 40 02 04 02 01 5ba0 40 03 04 c0000202 c0 11 12 03 01 0000fde8 02 01 fa56ea00 04 01 0000fde7',
        '20 c6336407',
      ),
      TWO,
    );
    assert.ok(m.type === 'update');
    assert.deepEqual(m.attributes.as4Path, [{ type: 2, asns: [4200000000] }]);
    assert.equal(m.attributes.discarded, undefined);
    assert.equal(m.treatAsWithdraw, undefined);
  });

  test('an AS4_PATH of confederation segments only is left with nothing and discarded (RFC 6793 6)', () => {
    const m = decodeOk(
      update('', '40 01 01 00 40 02 04 02 01 5ba0 40 03 04 c0000202 c0 11 06 03 01 0000fde8', '20 c6336407'),
      TWO,
    );
    assert.ok(m.type === 'update');
    assert.equal(m.attributes.as4Path, undefined);
    assert.deepEqual(
      m.attributes.discarded?.map((d) => d.type),
      [17],
    );
    assert.equal(m.nlri.length, 1);
  });

  // RFC 7313 5: a subtype other than 0, 1 and 2 "MUST" be ignored; its length does not make it an error.
  test('ROUTE-REFRESH of an undefined subtype decodes, whatever its length, for the session to ignore', () => {
    for (const bytes of [hex(`${MARKER} 0017 05 0001 03 01`), hex(`${MARKER} 0019 05 0002 ff 01 0000`)]) {
      const m = decodeOk(bytes);
      assert.ok(m.type === 'route-refresh');
      assert.notEqual(m.subtype, 0);
    }
  });

  test('MP_REACH of an address family Beacon does not parse is kept opaque', () => {
    const m = decodeOk(update('', '40 01 01 00 40 02 00 80 0e 0b 0019 46 04 c0000201 00 0102'));
    assert.ok(m.type === 'update');
    assert.deepEqual(m.attributes.mpReach, {
      afi: 25,
      safi: 70,
      nextHops: [],
      nlri: [],
      opaqueNlri: hex('0102'),
    });
  });

  test('a repeated ordinary attribute keeps the first (RFC 7606 3(g))', () => {
    const m = decodeOk(update('', '40 01 01 00 40 01 01 02 40 02 00 40 03 04 c0000202', '20 c6336407'));
    assert.ok(m.type === 'update');
    assert.equal(m.attributes.origin, 0);
  });
});

/**
 * Where a malformed message still resets the session, the NOTIFICATION says what RFC 4271 6 names for it.
 * For UPDATEs that is only where RFC 7606 keeps the reset: the UPDATEs below announce nothing, so there is
 * nothing to treat as withdrawn (RFC 7606 5.2); the treatment of each malformation with NLRI to withdraw is
 * the decision table of test/bgp/update-errors.ts.
 */
describe('every malformed input that resets the session maps to its NOTIFICATION', () => {
  const cases: [string, Uint8Array, number, number, string?][] = [
    ['bad marker', hex(`${'ff'.repeat(15)}fe 0013 04`), 1, 1],
    ['length below 19', hex(`${MARKER} 0012 04`), 1, 2, '0012'],
    ['length above 4096', hex(`${MARKER} 1001 04`), 1, 2, '1001'],
    ['length field disagrees with the octets', hex(`${MARKER} 0014 04`), 1, 2, '0014'],
    ['fewer octets than a header', hex('ffff'), 1, 2, '0002'],
    ['KEEPALIVE with a body', hex(`${MARKER} 0014 04 00`), 1, 2, '0014'],
    ['OPEN shorter than 29', hex(`${MARKER} 001c 01 04fde9005ac000020100`).subarray(0, 28), 1, 2, '001c'],
    ['NOTIFICATION shorter than 21', hex(`${MARKER} 0014 03 06`), 1, 2, '0014'],
    ['ROUTE-REFRESH of the wrong length', hex(`${MARKER} 0018 05 0001 00 01 00`), 1, 2, '0018'],
    // RFC 7313 5: a BoRR or EoRR whose body is not 4 octets: 7/1, the whole message as Data.
    [
      'ROUTE-REFRESH BoRR of length 24',
      hex(`${MARKER} 0018 05 0001 01 01 00`),
      7,
      1,
      `${MARKER}0018050001010100`,
    ],
    ['ROUTE-REFRESH EoRR of length 22', hex(`${MARKER} 0016 05 0001 02`), 7, 1, `${MARKER}001605000102`],
    ['unknown message type', hex(`${MARKER} 0013 09`), 1, 3, '09'],
    ['OPEN version 3', hex(`${MARKER} 001d 01 03 fde9 005a c0000201 00`), 2, 1, '0004'],
    [
      'OPEN optional parameter other than capabilities',
      hex(`${MARKER} 0021 01 04 fde9 005a c0000201 04 01 02 0000`),
      2,
      4,
    ],
    [
      'OPEN parameters length disagreeing with the message',
      hex(`${MARKER} 001d 01 04 fde9 005a c0000201 05`),
      2,
      0,
    ],
    [
      'OPEN capability running past its parameter',
      hex(`${MARKER} 0021 01 04 fde9 005a c0000201 04 02 02 41 04`),
      2,
      0,
    ],
    [
      'OPEN multiprotocol capability of length 3',
      hex(`${MARKER} 0022 01 04 fde9 005a c0000201 05 02 03 01 03 00`),
      2,
      0,
    ],
    ['UPDATE withdrawn length too long', update('', '').fill(0xff, 19, 20), 3, 1],
    ['UPDATE attribute header truncated', update('', '40 01'), 3, 1],
    ['UPDATE MP_REACH twice', update('', '80 0f 03 000201 80 0f 03 000201'), 3, 1],
    ['UPDATE unknown well-known attribute', update('', '40 63 01 00'), 3, 2, '40630100'],
    ['UPDATE ORIGIN flagged optional', update('', 'c0 01 01 00'), 3, 4, 'c0010100'],
    ['UPDATE MED flagged transitive', update('', 'c0 04 04 00000001'), 3, 4, 'c00404' + '00000001'],
    ['UPDATE partial bit on a well-known attribute', update('', '60 01 01 00'), 3, 4, '60010100'],
    ['UPDATE ORIGIN of length 2', update('', '40 01 02 0000'), 3, 5, '4001020000'],
    ['UPDATE NEXT_HOP of length 5', update('', '40 03 05 c000020200'), 3, 5, '400305c000020200'],
    ['UPDATE COMMUNITIES of length 3', update('', 'c0 08 03 000102'), 3, 5, 'c00803000102'],
    ['UPDATE attribute running past the attributes', update('', '40 01 05 00'), 3, 5, '40010500'],
    ['UPDATE ORIGIN 3', update('', '40 01 01 03'), 3, 6, '40010103'],
    ['UPDATE NEXT_HOP multicast', update('', '40 03 04 e0000001'), 3, 8, '400304e0000001'],
    [
      'UPDATE MP_REACH IPv6 next hop of length 4',
      update('', '80 0e 09 0002 01 04 c0000201 00'),
      3,
      9,
      '800e09000201' + '04c000020100',
    ],
    ['UPDATE MP_REACH truncated', update('', '80 0e 02 0002'), 3, 9, '800e020002'],
    [
      'UPDATE MP_REACH prefix length 129',
      update('', '40 01 01 00 40 02 00 80 0e 16 0002 01 10 20010db8000000000000000000000001 00 81'),
      3,
      9,
    ],
    ['UPDATE MP_UNREACH prefix running past', update('', '80 0f 05 0002 01 80 20'), 3, 9, '800f050002018020'],
    [
      'UPDATE NLRI prefix length 33',
      update('', '40 01 01 00 40 02 00 40 03 04 c0000202', '21 c633640700'),
      3,
      10,
    ],
    ['UPDATE NLRI truncated', update('', '40 01 01 00 40 02 00 40 03 04 c0000202', '20 c63364'), 3, 10],
    ['UPDATE withdrawn prefix length 40', update('28 0102030405', ''), 3, 10],
    ['UPDATE AS_PATH segment type 5', update('', '40 02 06 05 01 0000fde9'), 3, 11],
    ['UPDATE AS_PATH empty segment', update('', '40 02 02 02 00'), 3, 11],
    ['UPDATE AS_PATH segment overrunning', update('', '40 02 06 02 02 0000fde9'), 3, 11],
  ];
  for (const [name, bytes, code, subcode, data] of cases) {
    test(`${name} -> ${code}/${subcode}`, () => {
      const e = decodeErr(bytes);
      assert.deepEqual([e.code, e.subcode], [code, subcode], e.reason);
      if (data !== undefined) assert.equal(toHex(e.data), data.replace(/\s+/g, ''));
    });
  }

  test('2-octet AS_PATH read as 4-octet (context matters) is malformed', () => {
    const bytes = update('', '40 02 04 02 01 fde9');
    assert.equal(decodeErr(bytes, FOUR).subcode, 11);
    assert.ok(decodeMessage(bytes, TWO).ok);
  });
});

describe('text forms', () => {
  test('prefixes', () => {
    assert.equal(formatPrefix(prefix('2001:DB8:0:0:1::/80')), '2001:db8:0:0:1::/80');
    assert.equal(formatPrefix(prefix('2001:db8::')), '2001:db8::/128');
    assert.equal(formatPrefix(prefix('::ffff:192.0.2.1')), '::ffff:c000:201/128');
    assert.equal(formatPrefix(prefix('192.0.2.1')), '192.0.2.1/32');
    assert.equal(parsePrefix('192.0.2.1/24'), 'host bits set in 192.0.2.1/24');
    assert.equal(typeof parsePrefix('192.0.2.256/32'), 'string');
    assert.equal(typeof parsePrefix('1::2::3'), 'string');
    assert.equal(typeof parsePrefix('2001:db8::/129'), 'string');
  });

  test('communities', () => {
    assert.equal(parseCommunity('65535:65281'), 0xffffff01);
    assert.equal(parseCommunity('no-export'), 0xffffff01);
    assert.equal(parseCommunity('65536:1'), undefined);
    assert.deepEqual(parseLargeCommunity('large:4200000000:1:2'), [4200000000, 1, 2]);
    assert.equal(parseLargeCommunity('1:2'), undefined);
    assert.equal(parseLargeCommunity('4294967296:1:2'), undefined);
  });
});
