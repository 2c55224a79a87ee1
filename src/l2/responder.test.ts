import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ipv4Bytes, ipv6Bytes, parseMac, solicitedNodeGroup } from './addresses.ts';
import { ARP_REPLY, ARP_REQUEST, encodeArpFrame, gratuitousArpFrames } from './arp.ts';
import { captured } from './fixtures/captured-frames.ts';
import {
  decodeNeighborAdvertisement,
  decodeNeighborSolicitation,
  encodeNeighborSolicitation,
  OPTION_SOURCE_LINK_LAYER_ADDRESS,
} from './ndp.ts';
import { type Answer, decideArp, decideNdp, type ResponderContext } from './responder.ts';

const MAC_A = parseMac('02:00:00:00:0a:01');
const MAC_B = parseMac('02:00:00:00:0b:02');
const HOST = 0;
const BROADCAST = 1;
const MULTICAST = 2;
const OTHERHOST = 3;

function node(mac: Buffer, ...owned: string[]): ResponderContext {
  return { mac, owns: (a) => owned.includes(a) };
}

test('an ARP request for an owned address is answered like the kernel answers it', () => {
  const d = decideArp(captured.arpRequest, BROADCAST, node(MAC_B, '192.0.2.2')) as Answer;
  assert.equal(d.type, 'answer');
  assert.equal(d.kind, 'arp');
  assert.equal(d.address, '192.0.2.2');
  assert.equal(d.requester, '192.0.2.1');
  assert.equal(d.requesterMac, '02:00:00:00:0a:01');
  assert.deepEqual(d.reply, captured.arpReply);
});

test('ARP: silence for unowned addresses, replies, our own frames and frames for other hosts', () => {
  assert.equal(decideArp(captured.arpRequest, BROADCAST, node(MAC_B, '192.0.2.3')), undefined, 'not owned');
  assert.equal(decideArp(captured.arpRequest, BROADCAST, node(MAC_B)), undefined, 'owns nothing');
  assert.equal(decideArp(captured.arpReply, HOST, node(MAC_A, '192.0.2.2')), undefined, 'a reply');
  assert.equal(decideArp(captured.arpRequest, BROADCAST, node(MAC_A, '192.0.2.2')), undefined, 'sent by us');
  assert.equal(decideArp(captured.arpRequest, OTHERHOST, node(MAC_B, '192.0.2.2')), undefined, 'promiscuous');
  assert.equal(
    decideArp(captured.kernelSolicitation, MULTICAST, node(MAC_B, '192.0.2.2')),
    undefined,
    'not ARP',
  );
});

test('a unicast ARP request (a neighbour re-checking its entry) is answered', () => {
  const unicast = encodeArpFrame({
    destination: MAC_B,
    source: MAC_A,
    arp: {
      operation: ARP_REQUEST,
      senderMac: MAC_A,
      senderIp: ipv4Bytes('192.0.2.1'),
      targetMac: MAC_B,
      targetIp: ipv4Bytes('192.0.2.2'),
    },
  });
  const d = decideArp(unicast, HOST, node(MAC_B, '192.0.2.2')) as Answer;
  assert.equal(d.kind, 'arp');
  assert.deepEqual(d.reply, captured.arpReply);
});

test('an ARP probe (sender 0.0.0.0) is answered so the prober sees the address in use', () => {
  const probe = encodeArpFrame({
    destination: parseMac('ff:ff:ff:ff:ff:ff'),
    source: MAC_A,
    arp: {
      operation: ARP_REQUEST,
      senderMac: MAC_A,
      senderIp: ipv4Bytes('0.0.0.0'),
      targetMac: parseMac('00:00:00:00:00:00'),
      targetIp: ipv4Bytes('192.0.2.2'),
    },
  });
  const d = decideArp(probe, BROADCAST, node(MAC_B, '192.0.2.2')) as Answer;
  assert.equal(d.kind, 'arp-probe');
  assert.deepEqual(d.reply.subarray(0, 6), MAC_A);
  assert.equal(d.reply.readUInt16BE(20), ARP_REPLY);
});

test("another host's gratuitous ARP for an owned address is a conflict, not a question", () => {
  const [request] = gratuitousArpFrames(ipv4Bytes('192.0.2.2'), MAC_A);
  assert.deepEqual(decideArp(request, BROADCAST, node(MAC_B, '192.0.2.2')), {
    type: 'conflict',
    address: '192.0.2.2',
    claimantMac: '02:00:00:00:0a:01',
  });
  assert.equal(decideArp(captured.announcement, BROADCAST, node(MAC_B, '192.0.2.2')), undefined, 'our own');
});

test('NS to the solicited-node group, from a global or link-local source, is answered: solicited, Override clear', () => {
  for (const frame of [captured.kernelSolicitation, captured.ndisc6Solicitation]) {
    const d = decideNdp(frame, MULTICAST, node(MAC_B, '2001:db8::2')) as Answer;
    assert.equal(d.kind, 'ns');
    assert.equal(d.address, '2001:db8::2');
    const na = decodeNeighborAdvertisement(d.reply)!;
    assert.equal(na.message.solicited, true);
    assert.equal(na.message.override, false);
    assert.deepEqual(na.destinationMac, MAC_A);
    assert.deepEqual(na.destination, decodeNeighborSolicitation(frame)!.source);
  }
  assert.equal(decideNdp(captured.kernelSolicitation, MULTICAST, node(MAC_B, '2001:db8::3')), undefined);
  assert.equal(decideNdp(captured.kernelSolicitation, OTHERHOST, node(MAC_B, '2001:db8::2')), undefined);
  assert.equal(decideNdp(captured.kernelSolicitation, MULTICAST, node(MAC_A, '2001:db8::2')), undefined);
});

test('a unicast NUD probe (NS to the address itself, maybe without SLLA) is answered to the sender MAC', () => {
  const ns = decodeNeighborSolicitation(captured.kernelSolicitation)!;
  const nud = encodeNeighborSolicitation({
    ...ns,
    destinationMac: MAC_B,
    destination: ipv6Bytes('2001:db8::2'),
    message: { ...ns.message, options: [] },
  });
  const d = decideNdp(nud, HOST, node(MAC_B, '2001:db8::2')) as Answer;
  assert.equal(d.kind, 'ns-unicast');
  const na = decodeNeighborAdvertisement(d.reply)!;
  assert.deepEqual(na.destinationMac, MAC_A);
  assert.equal(na.message.solicited, true);
});

test('a DAD probe for an owned address is answered to all nodes; an NS to an unrelated group is not', () => {
  const d = decideNdp(captured.dadProbe, MULTICAST, node(MAC_A, '2001:db8::20')) as Answer;
  assert.equal(d.kind, 'ns-dad');
  assert.equal(d.requester, '::');
  assert.deepEqual(decodeNeighborAdvertisement(d.reply)!.destination, ipv6Bytes('ff02::1'));

  const ns = decodeNeighborSolicitation(captured.kernelSolicitation)!;
  const wrongGroup = encodeNeighborSolicitation({
    ...ns,
    destination: solicitedNodeGroup(ipv6Bytes('2001:db8::99')),
    message: {
      target: ns.message.target,
      options: [{ type: OPTION_SOURCE_LINK_LAYER_ADDRESS, data: MAC_A }],
    },
  });
  assert.equal(decideNdp(wrongGroup, MULTICAST, node(MAC_B, '2001:db8::2')), undefined);
});

test("frames from this node's other interfaces on the same segment are neither questions nor conflicts", () => {
  const [gratuitousFromOtherPort] = gratuitousArpFrames(ipv4Bytes('192.0.2.2'), MAC_A);
  const ctx = {
    ...node(MAC_B, '192.0.2.2', '2001:db8::2'),
    isOwnMac: (m: string) => m === '02:00:00:00:0a:01',
  };
  assert.equal(decideArp(gratuitousFromOtherPort, BROADCAST, ctx), undefined);
  assert.equal(decideArp(captured.arpRequest, BROADCAST, ctx), undefined);
  assert.equal(decideNdp(captured.kernelSolicitation, MULTICAST, ctx), undefined);
});
