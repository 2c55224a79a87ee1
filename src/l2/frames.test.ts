/** ARP and NDP encoding and decoding, byte for byte against captured frames (fixtures/captured-frames.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatIPv6, ipv4Bytes, ipv6Bytes, parseMac } from './addresses.ts';
import {
  ARP_REPLY,
  ARP_REQUEST,
  arpReplyFrame,
  decodeArpFrame,
  encodeArpFrame,
  gratuitousArpFrames,
} from './arp.ts';
import { captured } from './fixtures/captured-frames.ts';
import {
  advertisementFor,
  decodeNeighborAdvertisement,
  decodeNeighborSolicitation,
  encodeNeighborAdvertisement,
  encodeNeighborSolicitation,
  linkLayerAddress,
  OPTION_SOURCE_LINK_LAYER_ADDRESS,
  OPTION_TARGET_LINK_LAYER_ADDRESS,
  unsolicitedAdvertisementFrame,
} from './ndp.ts';

const hex = (s: string) => Buffer.from(s, 'hex');
const MAC_A = parseMac('02:00:00:00:0a:01');
const MAC_B = parseMac('02:00:00:00:0b:02');

test('decodes a captured ARP request and ignores the padding after it', () => {
  const f = decodeArpFrame(captured.arpRequest)!;
  assert.equal(f.arp.operation, ARP_REQUEST);
  assert.deepEqual(f.arp.senderMac, MAC_A);
  assert.deepEqual(f.arp.senderIp, ipv4Bytes('192.0.2.1'));
  assert.deepEqual(f.arp.targetIp, ipv4Bytes('192.0.2.2'));
  assert.deepEqual(f.destination, parseMac('ff:ff:ff:ff:ff:ff'));
  // Re-encoding gives the same 42 bytes; the rest was zero padding.
  assert.deepEqual(encodeArpFrame(f), captured.arpRequest.subarray(0, 42));
  assert.ok(captured.arpRequest.subarray(42).every((b) => b === 0));
});

test("the reply to a captured request is the kernel's own reply, byte for byte", () => {
  const request = decodeArpFrame(captured.arpRequest)!;
  assert.deepEqual(arpReplyFrame(request.arp, MAC_B), captured.arpReply);
  const reply = decodeArpFrame(captured.arpReply)!;
  assert.equal(reply.arp.operation, ARP_REPLY);
  assert.deepEqual(encodeArpFrame(reply), captured.arpReply);
});

test('gratuitous ARP: the request form is the RFC 5227 announcement arping sends; the reply targets itself', () => {
  const [request, reply] = gratuitousArpFrames(ipv4Bytes('192.0.2.2'), MAC_B);
  assert.deepEqual(request, captured.announcement.subarray(0, 42));
  // arping -U differs only in the target MAC it leaves all ones, which receivers ignore.
  assert.deepEqual(
    request.subarray(0, 32),
    captured.arpingGratuitous.subarray(0, 32),
    'Ethernet header and sender fields',
  );
  assert.deepEqual(request.subarray(38, 42), captured.arpingGratuitous.subarray(38, 42), 'target IP');
  assert.deepEqual(
    reply,
    hex('ffffffffffff020000000b0208060001080006040002020000000b02c0000202020000000b02c0000202'),
  );
});

test('decodeArpFrame refuses what is not Ethernet/IPv4 ARP', () => {
  assert.equal(decodeArpFrame(captured.arpRequest.subarray(0, 41)), undefined, 'truncated');
  assert.equal(decodeArpFrame(captured.kernelSolicitation), undefined, 'IPv6');
  const other = Buffer.from(captured.arpRequest);
  other.writeUInt16BE(6, 14); // IEEE 802 hardware type
  assert.equal(decodeArpFrame(other), undefined, 'hardware type');
});

test('decodes the captured Neighbor Solicitations and re-encodes them byte for byte', () => {
  const ns = decodeNeighborSolicitation(captured.kernelSolicitation)!;
  assert.equal(formatIPv6(ns.message.target), '2001:db8::2');
  assert.equal(formatIPv6(ns.source), '2001:db8::1');
  assert.equal(formatIPv6(ns.destination), 'ff02::1:ff00:2');
  assert.deepEqual(linkLayerAddress(ns.message.options, OPTION_SOURCE_LINK_LAYER_ADDRESS), MAC_A);
  assert.deepEqual(encodeNeighborSolicitation(ns), captured.kernelSolicitation);

  // ndisc6 sets a flow label, which the codec does not carry; everything else matches.
  const fromNdisc6 = decodeNeighborSolicitation(captured.ndisc6Solicitation)!;
  assert.equal(formatIPv6(fromNdisc6.source), 'fe80::ff:fe00:a01');
  const reencoded = encodeNeighborSolicitation(fromNdisc6);
  assert.deepEqual(reencoded.subarray(0, 15), captured.ndisc6Solicitation.subarray(0, 15));
  assert.deepEqual(reencoded.subarray(18), captured.ndisc6Solicitation.subarray(18));
});

test("the kernel's Neighbor Advertisements re-encode byte for byte, checksum included", () => {
  for (const frame of [
    captured.kernelAdvertisement,
    captured.kernelAdvertisementToLinkLocal,
    captured.kernelUnsolicitedAdvertisement,
  ]) {
    const na = decodeNeighborAdvertisement(frame)!;
    assert.ok(na, 'decodes');
    assert.deepEqual(encodeNeighborAdvertisement(na), frame);
  }
  const solicited = decodeNeighborAdvertisement(captured.kernelAdvertisement)!;
  assert.equal(solicited.message.solicited, true);
  assert.equal(solicited.message.override, true);
  assert.deepEqual(linkLayerAddress(solicited.message.options, OPTION_TARGET_LINK_LAYER_ADDRESS), MAC_B);
});

test("an unsolicited NA from the link-local address is exactly the kernel's (ndisc_notify)", () => {
  const linkLocal = ipv6Bytes('fe80::ff:fe00:b02');
  assert.deepEqual(
    unsolicitedAdvertisementFrame(linkLocal, MAC_B, linkLocal),
    captured.kernelUnsolicitedAdvertisement,
  );
  const forService = decodeNeighborAdvertisement(
    unsolicitedAdvertisementFrame(ipv6Bytes('2001:db8::10'), MAC_B, linkLocal),
  )!;
  assert.equal(formatIPv6(forService.message.target), '2001:db8::10');
  assert.equal(formatIPv6(forService.source), 'fe80::ff:fe00:b02');
  assert.equal(formatIPv6(forService.destination), 'ff02::1');
  assert.deepEqual(forService.destinationMac, parseMac('33:33:00:00:00:01'));
  assert.deepEqual(
    [forService.message.solicited, forService.message.override, forService.message.router],
    [false, true, false],
  );
});

test('the answer to a solicitation is a solicited NA with Override clear, otherwise as the kernel answers', () => {
  for (const [ns, kernel] of [
    [captured.kernelSolicitation, captured.kernelAdvertisement],
    [captured.ndisc6Solicitation, captured.kernelAdvertisementToLinkLocal],
  ] as const) {
    const ours = advertisementFor(decodeNeighborSolicitation(ns)!, MAC_B);
    // The kernel sets Override for its own addresses; clear it in its frame and fix the checksum by
    // re-encoding the decoded fields, then the frames must be identical.
    const expected = decodeNeighborAdvertisement(kernel)!;
    expected.message.override = false;
    assert.deepEqual(ours, encodeNeighborAdvertisement(expected));
    assert.equal(ours.readUInt8(14 + 40 + 4), 0x40, 'flags byte: Solicited only');
  }
});

test('a duplicate address detection probe is answered to all nodes, Solicited clear', () => {
  const probe = decodeNeighborSolicitation(captured.dadProbe)!;
  assert.ok(probe, 'a DAD probe with a nonce option is valid');
  assert.equal(formatIPv6(probe.source), '::');
  const na = decodeNeighborAdvertisement(advertisementFor(probe, MAC_A))!;
  assert.equal(formatIPv6(na.destination), 'ff02::1');
  assert.deepEqual(na.destinationMac, parseMac('33:33:00:00:00:01'));
  assert.equal(formatIPv6(na.source), '2001:db8::20');
  assert.equal(na.message.solicited, false);
  assert.equal(na.message.override, true);
  assert.deepEqual(linkLayerAddress(na.message.options, OPTION_TARGET_LINK_LAYER_ADDRESS), MAC_A);
});

test('invalid solicitations are refused (RFC 4861 7.1.1)', () => {
  const mutate = (offset: number, value: number) => {
    const f = Buffer.from(captured.kernelSolicitation);
    f[offset] = value;
    return f;
  };
  assert.equal(decodeNeighborSolicitation(mutate(21, 64)), undefined, 'hop limit not 255');
  assert.equal(decodeNeighborSolicitation(mutate(55, 1)), undefined, 'code not 0');
  assert.equal(decodeNeighborSolicitation(mutate(60, 0x21)), undefined, 'bad checksum');
  assert.equal(
    decodeNeighborSolicitation(captured.kernelSolicitation.subarray(0, 70)),
    undefined,
    'truncated',
  );
  assert.equal(decodeNeighborSolicitation(captured.kernelAdvertisement), undefined, 'an NA is not an NS');
  const zeroLengthOption = decodeNeighborSolicitation(captured.kernelSolicitation)!;
  const bad = encodeNeighborSolicitation({
    ...zeroLengthOption,
    message: { ...zeroLengthOption.message, options: [] },
  });
  const withZeroOption = Buffer.concat([bad, Buffer.from([1, 0, 0, 0, 0, 0, 0, 0])]);
  withZeroOption.writeUInt16BE(32, 18);
  assert.equal(decodeNeighborSolicitation(withZeroOption), undefined, 'option of length 0');
  // A DAD probe must not carry a source link-layer option.
  const dad = decodeNeighborSolicitation(captured.dadProbe)!;
  const dadWithSlla = encodeNeighborSolicitation({
    ...dad,
    message: { ...dad.message, options: [{ type: OPTION_SOURCE_LINK_LAYER_ADDRESS, data: MAC_B }] },
  });
  assert.equal(decodeNeighborSolicitation(dadWithSlla), undefined, 'DAD probe with SLLA');
});
