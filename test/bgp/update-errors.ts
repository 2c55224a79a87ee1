/**
 * The UPDATE error decision table, one row per case, each verdict written by hand from the RFC clause it
 * cites (RFC 4271 6.3 as revised by RFC 7606, plus RFC 8092 6 and RFC 6793 6), never computed by the decoder.
 * test/bgp/update-errors.test.ts checks the decoder against it, and test/hostile/bgp-peer.test.ts checks a
 * running session against it over TCP, reading the verdict off the wire.
 *
 * Verdicts:
 *   session-reset       NOTIFICATION code/subcode (RFC 4271 6.3 names the subcode), the connection closes
 *   treat-as-withdraw   no NOTIFICATION; every prefix the UPDATE carried is withdrawn (RFC 7606 2)
 *   attribute-discard   no NOTIFICATION; the listed attributes are dropped and the routes stand (RFC 7606 2)
 *   accept              no error at all
 */

/** The session the UPDATE arrives on. All use 4-octet ASNs unless `twoOctet`. */
export type SessionKind = 'ebgp' | 'ibgp' | 'ebgp-2-octet';

export type Verdict =
  | { verdict: 'session-reset'; notification: `${number}/${number}` }
  | { verdict: 'treat-as-withdraw'; withdrawn: string[] }
  | { verdict: 'attribute-discard'; discarded: number[]; announced: string[] }
  | { verdict: 'accept'; announced: string[] };

export interface UpdateErrorCase {
  /** The row: which attribute, what is wrong with it. */
  name: string;
  /** Where the verdict comes from. */
  rfc: string;
  session: SessionKind;
  update: Uint8Array;
  expect: Verdict;
}

const MARKER = 'ff'.repeat(16);

function hex(text: string): string {
  return text.replace(/\s+/g, '');
}

function hex16(n: number): string {
  return n.toString(16).padStart(4, '0');
}

/** One attribute with a correct length field (extended when the value needs it). */
export function attr(flags: number, type: number, value = ''): string {
  const v = hex(value);
  const len = v.length / 2;
  if (len > 255)
    return `${(flags | 0x10).toString(16).padStart(2, '0')}${type.toString(16).padStart(2, '0')}${hex16(len)}${v}`;
  return `${flags.toString(16).padStart(2, '0')}${type.toString(16).padStart(2, '0')}${len.toString(16).padStart(2, '0')}${v}`;
}

/** An UPDATE with the given withdrawn routes, path attributes and NLRI (hex), lengths filled in. */
export function updateMessage(withdrawn: string, attributes: string, nlri = ''): Uint8Array {
  const w = hex(withdrawn);
  const a = hex(attributes);
  const body = `${hex16(w.length / 2)}${w}${hex16(a.length / 2)}${a}${hex(nlri)}`;
  return Uint8Array.from(Buffer.from(`${MARKER}${hex16(19 + body.length / 2)}02${body}`, 'hex'));
}

// Well-formed attributes of an eBGP UPDATE from AS 65001 with 4-octet ASNs.
const ORIGIN = attr(0x40, 1, '00');
const AS_PATH = attr(0x40, 2, '02 01 0000fde9');
const AS_PATH_2OCTET = attr(0x40, 2, '02 01 fde9');
const NEXT_HOP = attr(0x40, 3, 'c0000201');
const BASE = ORIGIN + AS_PATH + NEXT_HOP;
/** 203.0.113.0/24. */
const NLRI = '18 cb0071';
const PREFIX = '203.0.113.0/24';
/** Withdrawn routes field: 198.51.100.0/24. */
const WITHDRAWN = '18 c63364';
const WITHDRAWN_PREFIX = '198.51.100.0/24';
/** MP_REACH_NLRI for 2001:db8:1::/48 with next hop 2001:db8::1. */
const MP_REACH_V6 = attr(0x80, 14, '0002 01 10 20010db8000000000000000000000001 00 30 20010db80001');
const V6_PREFIX = '2001:db8:1::/48';

const reset = (notification: `${number}/${number}`): Verdict => ({ verdict: 'session-reset', notification });
const withdraw = (...withdrawn: string[]): Verdict => ({ verdict: 'treat-as-withdraw', withdrawn });
const discard = (discarded: number[], ...announced: string[]): Verdict => ({
  verdict: 'attribute-discard',
  discarded,
  announced,
});
const accept = (...announced: string[]): Verdict => ({ verdict: 'accept', announced });

function row(
  name: string,
  rfc: string,
  attributes: string,
  expect: Verdict,
  o: { session?: SessionKind; nlri?: string; withdrawn?: string } = {},
): UpdateErrorCase {
  return {
    name,
    rfc,
    session: o.session ?? 'ebgp',
    update: updateMessage(o.withdrawn ?? '', attributes, o.nlri ?? NLRI),
    expect,
  };
}

export const UPDATE_ERROR_CASES: readonly UpdateErrorCase[] = [
  // A baseline, so that every other row differs from a good UPDATE in one thing only.
  row('well-formed UPDATE', 'RFC 4271 4.3', BASE, accept(PREFIX)),

  // ORIGIN. RFC 7606 7.1: malformed "if its length is not 1 or if it has an undefined value"; treat-as-withdraw.
  row('ORIGIN of length 2', 'RFC 7606 7.1', attr(0x40, 1, '0000') + AS_PATH + NEXT_HOP, withdraw(PREFIX)),
  row('ORIGIN of length 0', 'RFC 7606 7.1', attr(0x40, 1) + AS_PATH + NEXT_HOP, withdraw(PREFIX)),
  row(
    'ORIGIN value 3 (undefined)',
    'RFC 7606 7.1',
    attr(0x40, 1, '03') + AS_PATH + NEXT_HOP,
    withdraw(PREFIX),
  ),

  // AS_PATH. RFC 7606 7.2: an unrecognized segment type, an overrun, an underrun or a segment of length 0
  // make it malformed; treat-as-withdraw.
  row(
    'AS_PATH segment type 5',
    'RFC 7606 7.2',
    ORIGIN + attr(0x40, 2, '05 01 0000fde9') + NEXT_HOP,
    withdraw(PREFIX),
  ),
  row(
    'AS_PATH segment overrunning the attribute',
    'RFC 7606 7.2',
    ORIGIN + attr(0x40, 2, '02 02 0000fde9') + NEXT_HOP,
    withdraw(PREFIX),
  ),
  row(
    'AS_PATH with one octet after the last segment',
    'RFC 7606 7.2',
    ORIGIN + attr(0x40, 2, '02 01 0000fde9 02') + NEXT_HOP,
    withdraw(PREFIX),
  ),
  row(
    'AS_PATH segment of length 0',
    'RFC 7606 7.2',
    ORIGIN + attr(0x40, 2, '02 00') + NEXT_HOP,
    withdraw(PREFIX),
  ),

  // AS_PATH contents. RFC 5065 5: AS_CONFED_SEQUENCE or AS_CONFED_SET segments from a peer outside the
  // speaker's confederation make the AS_PATH malformed (RFC 4271 6.3), which RFC 7606 7.2 and 3(e) handle
  // by treat-as-withdraw. Beacon is in no confederation, so an external peer may never send them; an
  // internal peer inside a confederation member AS may. RFC 7607 2: AS 0 in the AS_PATH is malformed too.
  row(
    'AS_PATH with an AS_CONFED_SEQUENCE from an external peer',
    'RFC 5065 5, RFC 7606 7.2',
    ORIGIN + attr(0x40, 2, '03 01 0000fde8 02 01 0000fde9') + NEXT_HOP,
    withdraw(PREFIX),
  ),
  row(
    'AS_PATH with an AS_CONFED_SET from an external peer',
    'RFC 5065 5, RFC 7606 7.2',
    ORIGIN + attr(0x40, 2, '02 01 0000fde9 04 01 0000fde8') + NEXT_HOP,
    withdraw(PREFIX),
  ),
  row(
    'AS_PATH with an AS_CONFED_SEQUENCE from an internal peer',
    'RFC 5065 3',
    ORIGIN + attr(0x40, 2, '03 01 0000fde8') + NEXT_HOP,
    accept(PREFIX),
    { session: 'ibgp' },
  ),
  row(
    'AS_PATH containing AS 0',
    'RFC 7607 2, RFC 7606 7.2',
    ORIGIN + attr(0x40, 2, '02 02 0000fde9 00000000') + NEXT_HOP,
    withdraw(PREFIX),
  ),
  row(
    'AS_PATH containing AS 0 on a 2-octet session',
    'RFC 7607 2, RFC 7606 7.2',
    ORIGIN + attr(0x40, 2, '02 02 fde9 0000') + NEXT_HOP,
    withdraw(PREFIX),
    { session: 'ebgp-2-octet' },
  ),

  // NEXT_HOP. RFC 7606 7.3: malformed if its length is not 4; treat-as-withdraw. RFC 4271 6.3: one that is
  // not a valid host address is syntactically incorrect (3/8), which RFC 7606 3(e) turns into
  // treat-as-withdraw: no NOTIFICATION.
  row(
    'NEXT_HOP of length 5',
    'RFC 7606 7.3',
    ORIGIN + AS_PATH + attr(0x40, 3, 'c000020100'),
    withdraw(PREFIX),
  ),
  row('NEXT_HOP of length 0', 'RFC 7606 7.3', ORIGIN + AS_PATH + attr(0x40, 3), withdraw(PREFIX)),
  row(
    'NEXT_HOP 0.0.0.0',
    'RFC 4271 6.3, RFC 7606 3(e)',
    ORIGIN + AS_PATH + attr(0x40, 3, '00000000'),
    withdraw(PREFIX),
  ),
  row(
    'NEXT_HOP 224.0.0.5 (multicast)',
    'RFC 4271 6.3, RFC 7606 3(e)',
    ORIGIN + AS_PATH + attr(0x40, 3, 'e0000005'),
    withdraw(PREFIX),
  ),
  row(
    'NEXT_HOP 255.255.255.255',
    'RFC 4271 6.3, RFC 7606 3(e)',
    ORIGIN + AS_PATH + attr(0x40, 3, 'ffffffff'),
    withdraw(PREFIX),
  ),

  // MULTI_EXIT_DISC. RFC 7606 7.4: malformed if its length is not 4; treat-as-withdraw.
  row('MULTI_EXIT_DISC of length 3', 'RFC 7606 7.4', BASE + attr(0x80, 4, '000001'), withdraw(PREFIX)),
  row('MULTI_EXIT_DISC of length 0', 'RFC 7606 7.4', BASE + attr(0x80, 4), withdraw(PREFIX)),

  // LOCAL_PREF. RFC 7606 7.5: from an external neighbor it "SHALL be discarded using the approach of
  // attribute discard"; from an internal one, malformed if its length is not 4, then treat-as-withdraw.
  row(
    'LOCAL_PREF from an external peer',
    'RFC 7606 7.5',
    BASE + attr(0x40, 5, '00000064'),
    discard([5], PREFIX),
  ),
  row(
    'LOCAL_PREF of length 3 from an external peer',
    'RFC 7606 7.5',
    BASE + attr(0x40, 5, '000064'),
    discard([5], PREFIX),
  ),
  row(
    'LOCAL_PREF of length 3 from an internal peer',
    'RFC 7606 7.5',
    BASE + attr(0x40, 5, '000064'),
    withdraw(PREFIX),
    { session: 'ibgp' },
  ),
  row(
    'LOCAL_PREF of length 4 from an internal peer',
    'RFC 4271 5.1.5',
    BASE + attr(0x40, 5, '00000064'),
    accept(PREFIX),
    { session: 'ibgp' },
  ),

  // ATOMIC_AGGREGATE. RFC 7606 7.6: malformed if its length is not 0; attribute discard.
  row('ATOMIC_AGGREGATE of length 1', 'RFC 7606 7.6', BASE + attr(0x40, 6, '00'), discard([6], PREFIX)),

  // AGGREGATOR. RFC 7606 7.7: malformed if its length is not 8 when both sides have 4-octet ASNs, not 6
  // otherwise; attribute discard.
  row(
    'AGGREGATOR of length 6 on a 4-octet session',
    'RFC 7606 7.7',
    BASE + attr(0xc0, 7, 'fde9 c0000201'),
    discard([7], PREFIX),
  ),
  row(
    'AGGREGATOR of length 8 on a 4-octet session',
    'RFC 6793 4.1',
    BASE + attr(0xc0, 7, '0000fde9 c0000201'),
    accept(PREFIX),
  ),
  row(
    'AGGREGATOR of length 8 on a 2-octet session',
    'RFC 7606 7.7',
    ORIGIN + AS_PATH_2OCTET + NEXT_HOP + attr(0xc0, 7, '0000fde9 c0000201'),
    discard([7], PREFIX),
    { session: 'ebgp-2-octet' },
  ),

  row(
    'AGGREGATOR with AS 0',
    'RFC 7607 2, RFC 7606 7.7',
    BASE + attr(0xc0, 7, '00000000 c0000201'),
    discard([7], PREFIX),
  ),

  // COMMUNITIES. RFC 7606 7.8: malformed if its length is not a non-zero multiple of 4; treat-as-withdraw.
  row('COMMUNITIES of length 3', 'RFC 7606 7.8', BASE + attr(0xc0, 8, 'fde900'), withdraw(PREFIX)),
  row('COMMUNITIES of length 0', 'RFC 7606 7.8', BASE + attr(0xc0, 8), withdraw(PREFIX)),
  row('COMMUNITIES of length 8', 'RFC 1997', BASE + attr(0xc0, 8, 'fde90064 fde90065'), accept(PREFIX)),

  // LARGE_COMMUNITY. RFC 8092 6: malformed if its length is not a non-zero multiple of 12; treat-as-withdraw.
  row(
    'LARGE_COMMUNITY of length 11',
    'RFC 8092 6',
    BASE + attr(0xc0, 32, '0000fde9 00000001 000002'),
    withdraw(PREFIX),
  ),
  row('LARGE_COMMUNITY of length 0', 'RFC 8092 6', BASE + attr(0xc0, 32), withdraw(PREFIX)),
  row(
    'LARGE_COMMUNITY of length 24',
    'RFC 8092 3',
    BASE + attr(0xc0, 32, '0000fde9 00000001 00000002 0000fde9 00000001 00000003'),
    accept(PREFIX),
  ),

  // Attributes RFC 7606 section 7 also covers, which Beacon keeps opaque.
  row(
    'ORIGINATOR_ID from an external peer',
    'RFC 7606 7.9',
    BASE + attr(0x80, 9, 'c0000209'),
    discard([9], PREFIX),
  ),
  row(
    'ORIGINATOR_ID of length 3 from an internal peer',
    'RFC 7606 7.9',
    BASE + attr(0x80, 9, 'c00002'),
    withdraw(PREFIX),
    { session: 'ibgp' },
  ),
  row(
    'CLUSTER_LIST of length 6 from an internal peer',
    'RFC 7606 7.10',
    BASE + attr(0x80, 10, 'c0000209 0001'),
    withdraw(PREFIX),
    { session: 'ibgp' },
  ),
  row(
    'EXTENDED COMMUNITIES of length 7',
    'RFC 7606 7.14',
    BASE + attr(0xc0, 16, '0002fde9000000'),
    withdraw(PREFIX),
  ),
  row(
    'AS4_PATH with a segment of length 0',
    'RFC 6793 6',
    ORIGIN + AS_PATH_2OCTET + NEXT_HOP + attr(0xc0, 17, '02 00'),
    discard([17], PREFIX),
    { session: 'ebgp-2-octet' },
  ),

  // AS4_PATH and AS4_AGGREGATOR. RFC 6793 6: between two 4-octet speakers they "MUST NOT be carried", and
  // the receiver "MUST discard the path attribute and continue". From a 2-octet speaker, an AS4_PATH is
  // malformed when shorter than 6 octets or its segments do not parse, an AS4_AGGREGATOR when its length is
  // not 8; RFC 7607 2 adds AS 0 in either. All of these are attribute discard.
  row(
    'AS4_PATH from a 4-octet speaker',
    'RFC 6793 6',
    BASE + attr(0xc0, 17, '02 01 0000fde9'),
    discard([17], PREFIX),
  ),
  row(
    'AS4_AGGREGATOR from a 4-octet speaker',
    'RFC 6793 6',
    BASE + attr(0xc0, 18, '0000fde9 c0000201'),
    discard([18], PREFIX),
  ),
  row(
    'AS4_PATH from a 2-octet speaker',
    'RFC 6793 4.2.3',
    ORIGIN + AS_PATH_2OCTET + NEXT_HOP + attr(0xc0, 17, '02 01 0000fde9'),
    accept(PREFIX),
    { session: 'ebgp-2-octet' },
  ),
  row(
    'AS4_PATH of length 0',
    'RFC 6793 6',
    ORIGIN + AS_PATH_2OCTET + NEXT_HOP + attr(0xc0, 17),
    discard([17], PREFIX),
    { session: 'ebgp-2-octet' },
  ),
  row(
    'AS4_PATH containing AS 0',
    'RFC 7607 2, RFC 6793 6',
    ORIGIN + AS_PATH_2OCTET + NEXT_HOP + attr(0xc0, 17, '02 01 00000000'),
    discard([17], PREFIX),
    { session: 'ebgp-2-octet' },
  ),
  row(
    'AS4_PATH with an AS_CONFED_SEQUENCE: the segment is dropped, the attribute stays',
    'RFC 6793 6',
    ORIGIN + AS_PATH_2OCTET + NEXT_HOP + attr(0xc0, 17, '03 01 0000fde8 02 01 0000fde9'),
    accept(PREFIX),
    { session: 'ebgp-2-octet' },
  ),
  row(
    'AS4_AGGREGATOR of length 6',
    'RFC 6793 6',
    ORIGIN + AS_PATH_2OCTET + NEXT_HOP + attr(0xc0, 7, '5ba0 c0000201') + attr(0xc0, 18, 'fde9 c0000201'),
    discard([18], PREFIX),
    { session: 'ebgp-2-octet' },
  ),
  row(
    'AS4_AGGREGATOR with AS 0',
    'RFC 7607 2, RFC 6793 6',
    ORIGIN + AS_PATH_2OCTET + NEXT_HOP + attr(0xc0, 7, '5ba0 c0000201') + attr(0xc0, 18, '00000000 c0000201'),
    discard([18], PREFIX),
    { session: 'ebgp-2-octet' },
  ),

  // MP_REACH_NLRI and MP_UNREACH_NLRI. RFC 7606 5.3 and 7.11: an NLRI that cannot be parsed, a next hop
  // length the AFI/SAFI does not allow, a length below 5 (3 for MP_UNREACH) or flags other than RFC 4760's
  // mean "AFI/SAFI disable" or "session reset"; Beacon resets, with 3/9 (RFC 4760 7) or 3/4 for the flags.
  row(
    'MP_REACH_NLRI, well-formed, no NEXT_HOP needed',
    'RFC 4760 3',
    ORIGIN + AS_PATH + MP_REACH_V6,
    accept(V6_PREFIX),
    { nlri: '' },
  ),
  row(
    'MP_REACH_NLRI with an IPv6 next hop of length 4',
    'RFC 7606 7.11',
    ORIGIN + AS_PATH + attr(0x80, 14, '0002 01 04 c0000201 00 30 20010db80001'),
    reset('3/9'),
    { nlri: '' },
  ),
  row(
    'MP_REACH_NLRI of length 3',
    'RFC 7606 5.3',
    ORIGIN + AS_PATH + attr(0x80, 14, '0002 01'),
    reset('3/9'),
    { nlri: '' },
  ),
  row(
    'MP_REACH_NLRI with an IPv6 prefix of length 129',
    'RFC 7606 5.3',
    ORIGIN + AS_PATH + attr(0x80, 14, '0002 01 10 20010db8000000000000000000000001 00 81'),
    reset('3/9'),
    { nlri: '' },
  ),
  row(
    'MP_REACH_NLRI flagged transitive',
    'RFC 7606 5.3',
    ORIGIN + AS_PATH + attr(0xc0, 14, '0002 01 10 20010db8000000000000000000000001 00 30 20010db80001'),
    reset('3/4'),
    { nlri: '' },
  ),
  row('MP_UNREACH_NLRI of length 2', 'RFC 7606 5.3', attr(0x80, 15, '0002'), reset('3/9'), { nlri: '' }),
  row(
    'MP_UNREACH_NLRI with a prefix running past the attribute',
    'RFC 7606 5.3',
    attr(0x80, 15, '0002 01 80 20'),
    reset('3/9'),
    { nlri: '' },
  ),
  row('MP_REACH_NLRI twice', 'RFC 7606 3(g)', ORIGIN + AS_PATH + MP_REACH_V6 + MP_REACH_V6, reset('3/1'), {
    nlri: '',
  }),
  row(
    'MP_UNREACH_NLRI twice',
    'RFC 7606 3(g)',
    attr(0x80, 15, '0002 01') + attr(0x80, 15, '0002 01'),
    reset('3/1'),
    { nlri: '' },
  ),
  row(
    'MP_REACH_NLRI with an IPv4 next hop of length 5',
    'RFC 7606 7.11',
    ORIGIN + AS_PATH + attr(0x80, 14, '0001 01 05 c000020100 00 18 cb0071'),
    reset('3/9'),
    { nlri: '' },
  ),
  row(
    'MP_UNREACH_NLRI with an IPv6 prefix of length 129',
    'RFC 7606 5.3',
    attr(0x80, 15, '0002 01 81 20010db8000000000000000000000000'),
    reset('3/9'),
    { nlri: '' },
  ),
  // RFC 4760 4: an UPDATE with only MP_UNREACH_NLRI needs no other attribute (RFC 7606 5.2 resets only
  // when attributes other than MP_UNREACH_NLRI come without reachable NLRI).
  row(
    'an UPDATE with only MP_UNREACH_NLRI',
    'RFC 4760 4, RFC 7606 5.2',
    attr(0x80, 15, '0002 01 30 20010db80001'),
    accept(),
    { nlri: '' },
  ),
  row(
    'malformed ORIGIN beside a well-formed MP_REACH_NLRI',
    'RFC 7606 7.1, 2',
    attr(0x40, 1, '0000') + AS_PATH + MP_REACH_V6,
    withdraw(V6_PREFIX),
    { nlri: '' },
  ),

  // Unrecognized attributes. RFC 4271 6.3, not revised by RFC 7606: an unrecognized well-known attribute is
  // 3/2. An unrecognized optional one is no error (RFC 4271 5).
  row('unrecognized well-known attribute 99', 'RFC 4271 6.3', BASE + attr(0x40, 99, '00'), reset('3/2')),
  row(
    'unrecognized optional transitive attribute 99',
    'RFC 4271 5',
    BASE + attr(0xc0, 99, '010203'),
    accept(PREFIX),
  ),
  row(
    'unrecognized optional non-transitive attribute 250',
    'RFC 4271 5',
    BASE + attr(0x80, 250, '01'),
    accept(PREFIX),
  ),

  row(
    'attribute type 0 (reserved), flagged optional',
    'RFC 4271 5',
    BASE + attr(0x80, 0, '01'),
    accept(PREFIX),
  ),
  row(
    'attribute type 0 (reserved), flagged well-known',
    'RFC 4271 6.3',
    BASE + attr(0x40, 0, '01'),
    reset('3/2'),
  ),
  row(
    'unrecognized optional transitive attribute with the Partial bit',
    'RFC 4271 4.3, 5',
    BASE + attr(0xe0, 99, '01'),
    accept(PREFIX),
  ),
  row(
    'an unrecognized well-known attribute beside a malformed COMMUNITIES',
    'RFC 4271 6.3, RFC 7606 3(h)',
    BASE + attr(0xc0, 8, 'fde900') + attr(0x40, 99, '00'),
    reset('3/2'),
  ),
  // RFC 4271 4.3: the Extended Length bit says the length field has two octets; nothing requires the
  // length to need them.
  row(
    'ORIGIN with the Extended Length bit and a length of 1',
    'RFC 4271 4.3',
    `50 01 0001 00${AS_PATH}${NEXT_HOP}`,
    accept(PREFIX),
  ),
  row(
    'EXTENDED COMMUNITIES of an unknown type, length 8',
    'RFC 4360 2, RFC 7606 7.14',
    BASE + attr(0xc0, 16, 'ee01 000000000001'),
    accept(PREFIX),
  ),

  // Flags. RFC 7606 3(c): Optional or Transitive bits in conflict with the attribute's definition make it
  // malformed, handled by treat-as-withdraw unless the attribute's own rule says otherwise (attribute
  // discard for ATOMIC_AGGREGATE and AGGREGATOR, 3(f), 7.6, 7.7). A Partial bit on a well-known attribute
  // is RFC 4271's Attribute Flags Error, which 3(e) turns into treat-as-withdraw for NEXT_HOP.
  row('ORIGIN flagged optional', 'RFC 7606 3(c)', attr(0xc0, 1, '00') + AS_PATH + NEXT_HOP, withdraw(PREFIX)),
  row(
    'AS_PATH not flagged transitive',
    'RFC 7606 3(c)',
    ORIGIN + attr(0x00, 2, '02 01 0000fde9') + NEXT_HOP,
    withdraw(PREFIX),
  ),
  row(
    'MULTI_EXIT_DISC flagged transitive',
    'RFC 7606 3(c)',
    BASE + attr(0xc0, 4, '00000001'),
    withdraw(PREFIX),
  ),
  row(
    'NEXT_HOP with the Partial bit',
    'RFC 4271 4.3, RFC 7606 3(e)',
    ORIGIN + AS_PATH + attr(0x60, 3, 'c0000201'),
    withdraw(PREFIX),
  ),
  row(
    'COMMUNITIES not flagged transitive',
    'RFC 7606 3(c)',
    BASE + attr(0x80, 8, 'fde90064'),
    withdraw(PREFIX),
  ),
  row('ATOMIC_AGGREGATE flagged optional', 'RFC 7606 3(c), 3(f)', BASE + attr(0xc0, 6), discard([6], PREFIX)),
  row(
    'AGGREGATOR not flagged transitive',
    'RFC 7606 3(c), 3(f)',
    BASE + attr(0x80, 7, '0000fde9 c0000201'),
    discard([7], PREFIX),
  ),

  // Repeated attributes. RFC 7606 3(g): all occurrences but the first are discarded, whether recognized
  // or not, and the UPDATE is processed on.
  row('ORIGIN twice', 'RFC 7606 3(g)', BASE + attr(0x40, 1, '02'), discard([1], PREFIX)),
  row(
    'COMMUNITIES twice, the second malformed',
    'RFC 7606 3(g)',
    BASE + attr(0xc0, 8, 'fde90064') + attr(0xc0, 8, 'fde9'),
    discard([8], PREFIX),
  ),
  row(
    'unrecognized optional attribute twice',
    'RFC 7606 3(g)',
    BASE + attr(0xc0, 99, '01') + attr(0xc0, 99, '02'),
    discard([99], PREFIX),
  ),

  // Attribute lengths against the Total Path Attribute Length. RFC 7606 4: the last attribute running past
  // it, or too few octets left for an attribute header, is treat-as-withdraw, "and the Total Attribute
  // Length MUST be relied upon to enable the beginning of the NLRI field to be located". RFC 7606 3(j):
  // without the whole of MP_REACH_NLRI its NLRI are unknown, so session reset.
  row(
    'last attribute running past the path attributes',
    'RFC 7606 4',
    `${BASE}c0 08 08 fde90064`,
    withdraw(PREFIX),
  ),
  row('two octets left after the last attribute', 'RFC 7606 4', `${BASE}c0 08`, withdraw(PREFIX)),
  row(
    'MP_REACH_NLRI running past the path attributes',
    'RFC 7606 3(j)',
    `${ORIGIN}${AS_PATH}80 0e 20 0002 01 10`,
    reset('3/5'),
    { nlri: '' },
  ),

  // Missing well-known mandatory attributes. RFC 7606 3(d): treat-as-withdraw. NEXT_HOP is needed only with
  // NLRI in the NLRI field (RFC 4760 3 makes it discretionary otherwise).
  row('ORIGIN missing', 'RFC 7606 3(d)', AS_PATH + NEXT_HOP, withdraw(PREFIX)),
  row('AS_PATH missing', 'RFC 7606 3(d)', ORIGIN + NEXT_HOP, withdraw(PREFIX)),
  row('NEXT_HOP missing', 'RFC 7606 3(d)', ORIGIN + AS_PATH, withdraw(PREFIX)),
  row('a withdrawal needs no attributes', 'RFC 4271 4.3', '', accept(), { nlri: '', withdrawn: WITHDRAWN }),
  row(
    'treat-as-withdraw keeps the withdrawals the UPDATE carried',
    'RFC 7606 2',
    AS_PATH + NEXT_HOP,
    withdraw(WITHDRAWN_PREFIX, PREFIX),
    { withdrawn: WITHDRAWN },
  ),

  // The UPDATE's own lengths and NLRI fields. RFC 7606 3(b): Withdrawn Routes Length + Total Attribute
  // Length + 23 above the message length is Malformed Attribute List. RFC 7606 3(i), 3(j) and 5.3: NLRI or
  // withdrawn routes that cannot be parsed leave nothing to withdraw: session reset (3/10, RFC 4271 6.3).
  row('NLRI prefix of length 33', 'RFC 7606 5.3', BASE, reset('3/10'), { nlri: '21 cb00710000' }),
  row('NLRI prefix running past the message', 'RFC 7606 5.3', BASE, reset('3/10'), { nlri: '18 cb00' }),
  row('withdrawn prefix running past its field', 'RFC 7606 3(i)', BASE, reset('3/10'), {
    withdrawn: '18 c633',
  }),
  row('withdrawn prefix of length 33', 'RFC 7606 3(i), 5.3', BASE, reset('3/10'), {
    withdrawn: '21 c633640000',
  }),
  {
    name: 'Withdrawn Routes Length past the message',
    rfc: 'RFC 7606 3(b)',
    session: 'ebgp',
    update: Uint8Array.from(Buffer.from(hex(`${MARKER} 0017 02 0010 0000`), 'hex')),
    expect: reset('3/1'),
  },
  {
    name: 'Total Path Attribute Length past the message',
    rfc: 'RFC 7606 3(b)',
    session: 'ebgp',
    update: Uint8Array.from(Buffer.from(hex(`${MARKER} 001b 02 0000 0010 40010100`), 'hex')),
    expect: reset('3/1'),
  },

  // No reachable NLRI. RFC 7606 5.2: with path attributes but nothing announced, any error other than
  // attribute discard is a session reset.
  row(
    'ORIGIN value 3 in an UPDATE that announces nothing',
    'RFC 7606 5.2',
    attr(0x40, 1, '03') + AS_PATH + NEXT_HOP,
    reset('3/6'),
    { nlri: '', withdrawn: WITHDRAWN },
  ),
  row(
    'ATOMIC_AGGREGATE of length 1 in an UPDATE that announces nothing',
    'RFC 7606 5.2',
    BASE + attr(0x40, 6, '00'),
    discard([6]),
    { nlri: '', withdrawn: WITHDRAWN },
  ),

  // Several errors. RFC 7606 3(h): the strongest action wins.
  row(
    'malformed ATOMIC_AGGREGATE and malformed COMMUNITIES',
    'RFC 7606 3(h)',
    BASE + attr(0x40, 6, '00') + attr(0xc0, 8, 'fde900'),
    withdraw(PREFIX),
  ),
  row(
    'malformed COMMUNITIES and a bad MP_REACH_NLRI next hop',
    'RFC 7606 3(h)',
    ORIGIN + AS_PATH + attr(0xc0, 8, 'fde900') + attr(0x80, 14, '0002 01 04 c0000201 00 30 20010db80001'),
    reset('3/9'),
    { nlri: '' },
  ),
];
