// Beacon into a real FRR: `beacon bgp` in a node namespace announces N /32s to FRR 8.4 in a router
// namespace; measured are the time from Established to all N in FRR's BGP table, the time to withdraw
// them all, and how many UPDATEs FRR counted. FRR runs without installing routes in the kernel (bgpd -n),
// so the figure is BGP ingestion, not netlink.

import { BeaconBgp, beaconBgpLacks, beaconBgpUnavailable } from '../test/bgp-interop/beacon-bgp.ts';
import { NetLab, netnsUnavailable } from '../test/harness/netns.ts';
import { waitFor } from '../test/harness/process.ts';
import { FrrRouter } from '../test/harness/routers/frr.ts';
import type { Bench, Figure } from './figures.ts';

const BASE = '10.0.0.0';
// argv holds about 2 MB: a --prefix list carries 10,000 /32s, not 100,000 (those need --prefix-count).
const MAX_LISTED = 20_000;

function hostPrefixes(n: number): string[] {
  const out: string[] = [];
  const base = BASE.split('.').reduce((a, o) => a * 256 + Number(o), 0);
  for (let i = 0; i < n; i++) {
    const a = base + i;
    out.push(
      `${Math.floor(a / 2 ** 24)}.${Math.floor(a / 65536) % 256}.${Math.floor(a / 256) % 256}.${a % 256}/32`,
    );
  }
  return out;
}

interface Run {
  convergeMs: number;
  withdrawMs: number;
  updates: number;
  withdrawBy: 'SIGUSR2' | 'SIGTERM';
}

async function oneRun(n: number, generated: boolean, toggle: boolean): Promise<Run> {
  const lab = await NetLab.create('benchfrr');
  try {
    const r = await lab.addNamespace('router');
    const node = await lab.addNamespace('node');
    await lab.link(r, node, {
      a: { addresses: ['192.0.2.1/24'] },
      b: { addresses: ['192.0.2.11/24'] },
    });
    const frr = await FrrRouter.start(r, {
      asn: 64500,
      routerId: '192.0.2.1',
      neighbors: [{ address: '192.0.2.11', asn: 64512, holdTime: 30, families: ['ipv4'] }],
    });
    const beacon = await BeaconBgp.start(node, {
      localAs: 64512,
      peerAs: 64500,
      peerAddress: '192.0.2.1',
      routerId: '192.0.2.11',
      localAddress: '192.0.2.11',
      holdTime: 30,
      ...(generated ? { prefixCount: n, prefixBase: BASE } : { prefixes: hostPrefixes(n) }),
    });
    // The command prints "state Established" the moment its FSM gets there: time it from its output.
    let established = 0;
    let seen = '';
    beacon.proc.child.stdout!.on('data', (chunk: Buffer) => {
      if (established) return;
      seen = (seen + chunk.toString()).slice(-4096);
      if (/^state Established/m.test(seen)) established = performance.now();
    });
    await waitFor(
      'beacon bgp to reach Established',
      () => established > 0,
      30_000,
      5,
      () => beacon.tail(),
    );
    await waitFor(
      'all prefixes in FRR',
      async () => (await frr.prefixCount('ipv4')) >= n,
      120_000,
      10,
      () => beacon.tail(),
    );
    const convergeMs = performance.now() - established;
    const stats = JSON.parse(await frr.vtysh('show bgp neighbors 192.0.2.11 json')) as Record<
      string,
      { messageStats?: { updatesRecv?: number } }
    >;
    const updates = stats['192.0.2.11']?.messageStats?.updatesRecv ?? Number.NaN;
    const t0 = performance.now();
    if (toggle) beacon.toggleAnnouncements();
    else beacon.proc.child.kill('SIGTERM');
    await waitFor('FRR table empty', async () => (await frr.prefixCount('ipv4')) === 0, 120_000, 10);
    return {
      convergeMs,
      withdrawMs: performance.now() - t0,
      updates,
      withdrawBy: toggle ? 'SIGUSR2' : 'SIGTERM',
    };
  } finally {
    await lab.cleanup();
  }
}

export const benches: Bench[] = [
  {
    name: 'bgp-interop',
    async unavailable() {
      return (await netnsUnavailable()) ?? (await beaconBgpUnavailable());
    },
    async run(ctx) {
      const generated = !(await beaconBgpLacks('--prefix-count', '--prefix-base'));
      const toggle = !(await beaconBgpLacks('SIGUSR2'));
      const runs = ctx.quick ? 1 : 3;
      const figures: Figure[] = [];
      for (const n of [10_000, 100_000]) {
        if (!generated && n > MAX_LISTED) {
          ctx.log(`${n} prefixes skipped: beacon bgp has no --prefix-count yet and argv cannot list them`);
          continue;
        }
        const results: Run[] = [];
        for (let i = 0; i < runs; i++) {
          results.push(await oneRun(n, generated, toggle));
          const last = results.at(-1)!;
          ctx.log(
            `${n}: run ${i + 1}/${runs}: converge ${last.convergeMs.toFixed(0)} ms, withdraw (${last.withdrawBy}) ${last.withdrawMs.toFixed(0)} ms, ${last.updates} UPDATEs`,
          );
        }
        const k = `${n / 1000}k`;
        const how = toggle
          ? 'withdrawn while the session stays up (SIGUSR2)'
          : 'SIGTERM: beacon bgp withdraws, then Cease; FRR drops what is left when the session closes';
        figures.push(
          {
            name: `bgp.frr.converge.${k}.ms`,
            unit: 'ms',
            samples: results.map((r) => r.convergeMs),
            description: `beacon bgp Established -> all ${n.toLocaleString('en')} /32 in FRR's BGP table`,
            aim: n === 10_000 ? '< 500 ms' : '< 3000 ms',
          },
          {
            name: `bgp.frr.withdraw.${k}.ms`,
            unit: 'ms',
            samples: results.map((r) => r.withdrawMs),
            description: `${n.toLocaleString('en')} /32 -> FRR's table empty; ${how}`,
          },
          {
            name: `bgp.frr.updates.${k}`,
            unit: 'count',
            samples: results.map((r) => r.updates),
            description: `UPDATE messages FRR received for ${n.toLocaleString('en')} /32 (with End-of-RIB)`,
          },
        );
      }
      return figures;
    },
  },
];
