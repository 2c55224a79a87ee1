// BGP speaker figures: decoder throughput, UPDATEs needed for 10,000 and 100,000 /32 prefixes, time to
// encode them, and the time for a second Beacon session over loopback TCP to receive them all (a stand-in
// for FRR until the router harness measures that).
import { pino } from 'pino';
import { decodeMessage } from '../src/bgp/codec/decode.ts';
import { encodeKeepalive } from '../src/bgp/codec/encode.ts';
import { formatPrefix } from '../src/bgp/codec/prefix.ts';
import { BgpListener, BgpSession } from '../src/bgp/index.ts';
import { AdjRibOut, type ExportPolicy } from '../src/bgp/rib/adj-rib-out.ts';
import type { Bench, Figure } from './figures.ts';

const POLICY: ExportPolicy = {
  localAs: 65001,
  ibgp: false,
  fourOctetAs: true,
  families: new Set(['ipv4', 'ipv6']),
  nextHopIpv4: '192.0.2.1',
  nextHopIpv6: ['2001:db8::1'],
};

function hosts(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}/32`);
}

function encodeTable(n: number): { updates: Uint8Array[]; ms: number } {
  const list = hosts(n);
  const started = performance.now();
  const rib = new AdjRibOut();
  const attributes = { communities: [0xfde90064] };
  for (const p of list) rib.announce(p, attributes);
  const updates = rib.takeChanges(POLICY);
  return { updates, ms: performance.now() - started };
}

/** Messages per second over `seconds`, decoding `messages` round-robin. */
function decodeRate(messages: Uint8Array[], seconds: number): number {
  const ctx = { fourOctetAs: true };
  let n = 0;
  const started = performance.now();
  const until = started + seconds * 1000;
  while (performance.now() < until) {
    for (let i = 0; i < 1000; i++) {
      const r = decodeMessage(messages[n % messages.length]!, ctx);
      if (!r.ok) throw new Error(r.error.reason);
      n++;
    }
  }
  return n / ((performance.now() - started) / 1000);
}

async function loopbackConvergence(n: number): Promise<number> {
  const log = pino({ level: 'silent' });
  const listener = await BgpListener.listen({ host: '127.0.0.2', port: 0, log });
  const receiver = new BgpSession({
    localAs: 65002,
    peerAs: 65001,
    peerAddress: '127.0.0.1',
    routerId: '192.0.2.2',
    passive: true,
    log,
  });
  listener.add(receiver);
  const sender = new BgpSession({
    localAs: 65001,
    peerAs: 65002,
    peerAddress: '127.0.0.2',
    peerPort: listener.address.port,
    localAddress: '127.0.0.1',
    routerId: '192.0.2.1',
    log,
    nextHop: { ipv4: '192.0.2.1' },
  });
  for (const p of hosts(n)) sender.announce(p);
  let established = 0;
  const have = new Set<string>();
  const done = new Promise<number>((resolve) => {
    receiver.on('update', (u) => {
      for (const p of u.nlri) have.add(formatPrefix(p));
      if (have.size === n) resolve(performance.now() - established);
    });
  });
  sender.on('established', () => {
    established = performance.now();
  });
  try {
    receiver.start();
    sender.start();
    return await done;
  } finally {
    await Promise.all([sender.stop(), receiver.stop()]);
    await listener.close();
  }
}

export const benches: Bench[] = [
  {
    name: 'bgp',
    async run(ctx) {
      const runs = ctx.quick ? 1 : 5;
      const seconds = ctx.quick ? 0.3 : 1;
      const figures: Figure[] = [];
      const t10k = encodeTable(10_000);
      const t100k = encodeTable(100_000);
      figures.push(
        {
          name: 'bgp.updates.10k',
          unit: 'count',
          samples: [t10k.updates.length],
          description:
            'UPDATE messages to announce 10,000 /32 prefixes sharing attributes (4,096-octet limit)',
        },
        {
          name: 'bgp.updates.100k',
          unit: 'count',
          samples: [t100k.updates.length],
          description: 'UPDATE messages to announce 100,000 /32 prefixes sharing attributes',
        },
      );
      const enc10: number[] = [];
      const enc100: number[] = [];
      const decFull: number[] = [];
      const decSmall: number[] = [];
      const loop10: number[] = [];
      const loop100: number[] = [];
      const full = t10k.updates.slice(0, -1);
      const echo = new AdjRibOut();
      echo.announce('198.51.100.7/32', { communities: [0xfde90064], largeCommunities: [[65001, 1, 2]] });
      const small = [encodeKeepalive(), ...echo.takeChanges({ ...POLICY, localAs: 65000 })];
      for (let i = 0; i < runs; i++) {
        enc10.push(encodeTable(10_000).ms);
        enc100.push(encodeTable(100_000).ms);
        decFull.push(decodeRate(full, seconds));
        decSmall.push(decodeRate(small, seconds));
        loop10.push(await loopbackConvergence(10_000));
        loop100.push(await loopbackConvergence(100_000));
        ctx.log(
          `run ${i + 1}/${runs}: encode 100k ${enc100.at(-1)!.toFixed(1)} ms, loopback 100k ${loop100.at(-1)!.toFixed(0)} ms`,
        );
      }
      figures.push(
        {
          name: 'bgp.encode.10k.ms',
          unit: 'ms',
          samples: enc10,
          description: 'Adj-RIB-Out: take 10,000 /32 announcements and encode their UPDATEs',
        },
        {
          name: 'bgp.encode.100k.ms',
          unit: 'ms',
          samples: enc100,
          description: 'Adj-RIB-Out: take 100,000 /32 announcements and encode their UPDATEs',
        },
        {
          name: 'bgp.decode.full_updates',
          unit: 'per_s',
          samples: decFull,
          description: 'Decoder: full 4,096-octet UPDATEs (809 IPv4 /32 each) per second',
        },
        {
          name: 'bgp.decode.prefixes',
          unit: 'per_s',
          samples: decFull.map((r) => r * 809),
          description: 'Decoder: prefixes per second inside full UPDATEs',
        },
        {
          name: 'bgp.decode.small_messages',
          unit: 'per_s',
          samples: decSmall,
          description: 'Decoder: KEEPALIVEs and one-prefix UPDATEs (a router echoing a route) per second',
        },
        {
          name: 'bgp.loopback.10k.ms',
          unit: 'ms',
          samples: loop10,
          description: 'Established -> all 10,000 /32 received by a second Beacon session over loopback TCP',
          aim: '< 500 ms (into FRR)',
        },
        {
          name: 'bgp.loopback.100k.ms',
          unit: 'ms',
          samples: loop100,
          description: 'Established -> all 100,000 /32 received by a second Beacon session over loopback TCP',
          aim: '< 3000 ms (into FRR)',
        },
      );
      return figures;
    },
  },
];
