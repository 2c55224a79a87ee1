// Beacon into a real FRR: `beacon bgp` in a node namespace announces N /32s to FRR 8.4 in a router
// namespace; measured are the time from Established to all N in FRR's BGP table with their best paths
// chosen (bgpd's table version up by N), the time to withdraw them all, and how many UPDATEs FRR counted. FRR runs without installing routes in the kernel (bgpd -n),
// so the figure is BGP ingestion, not netlink.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BeaconBgp } from '../test/bgp-interop/beacon-bgp.ts';
import { NetLab, netnsUnavailable } from '../test/harness/netns.ts';
import { waitFor } from '../test/harness/process.ts';
import { FrrRouter } from '../test/harness/routers/frr.ts';
import type { Bench, Figure } from './figures.ts';

const BASE = '10.0.0.0';

export interface FrrRun {
  convergeMs: number;
  withdrawMs: number;
  updates: number;
  /** Resident memory of `beacon bgp` 2 s after FRR had every prefix (only with `rss`). */
  rssMB?: number;
}

/** VmRSS of a process, in MB. */
export function rssMB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/**
 * One `beacon bgp --prefix-count n` into FRR. `compiled` runs dist/ (what the image runs; build it first),
 * `rss` also reads the command's resident memory once FRR has everything.
 */
export async function frrConvergence(
  n: number,
  opts: { compiled?: boolean; rss?: boolean } = {},
): Promise<FrrRun> {
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
    const v0 = await frr.tableVersion('ipv4');
    const beacon = await BeaconBgp.start(node, {
      localAs: 64512,
      peerAs: 64500,
      peerAddress: '192.0.2.1',
      routerId: '192.0.2.11',
      localAddress: '192.0.2.11',
      holdTime: 30,
      prefixCount: n,
      prefixBase: BASE,
      ...(opts.compiled ? { compiled: true, logLevel: 'info' } : {}),
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
    // In the table is not enough: bgpd has chosen a best path for every one (what it would give zebra).
    const allIn = (v0: number) => async () =>
      (await frr.tableVersion('ipv4')) >= v0 + n && (await frr.prefixCount('ipv4')) >= n;
    await waitFor('all prefixes in FRR, best paths chosen', allIn(v0), 120_000, 10, () => beacon.tail());
    const convergeMs = performance.now() - established;
    let rss: number | undefined;
    if (opts.rss) {
      await sleep(2000);
      rss = rssMB(beacon.pid);
    }
    const stats = JSON.parse(await frr.vtysh('show bgp neighbors 192.0.2.11 json')) as Record<
      string,
      { messageStats?: { updatesRecv?: number } }
    >;
    const updates = stats['192.0.2.11']?.messageStats?.updatesRecv ?? Number.NaN;
    const v1 = await frr.tableVersion('ipv4');
    const t0 = performance.now();
    // Withdrawn while the session stays up, so the figure is UPDATE withdrawals, not a session teardown.
    beacon.toggleAnnouncements();
    const allOut = async () =>
      (await frr.tableVersion('ipv4')) >= v1 + n && (await frr.prefixCount('ipv4')) === 0;
    await waitFor('FRR table empty', allOut, 120_000, 10);
    const withdrawMs = performance.now() - t0;
    assert.equal((await frr.neighbors())[0]?.state, 'established', 'the session stayed up while withdrawing');
    return { convergeMs, withdrawMs, updates, ...(rss !== undefined ? { rssMB: rss } : {}) };
  } finally {
    await lab.cleanup();
  }
}

export const benches: Bench[] = [
  {
    name: 'bgp-interop',
    async unavailable() {
      return netnsUnavailable();
    },
    async run(ctx) {
      const runs = ctx.quick ? 1 : 3;
      const figures: Figure[] = [];
      for (const n of [10_000, 100_000]) {
        const results: FrrRun[] = [];
        for (let i = 0; i < runs; i++) {
          results.push(await frrConvergence(n));
          const last = results.at(-1)!;
          ctx.log(
            `${n}: run ${i + 1}/${runs}: converge ${last.convergeMs.toFixed(0)} ms, withdraw ${last.withdrawMs.toFixed(0)} ms, ${last.updates} UPDATEs`,
          );
        }
        const k = `${n / 1000}k`;
        const how = 'withdrawn while the session stays up (SIGUSR2)';
        figures.push(
          {
            name: `bgp.frr.converge.${k}.ms`,
            unit: 'ms',
            samples: results.map((r) => r.convergeMs),
            description: `beacon bgp Established -> all ${n.toLocaleString('en')} /32 in FRR's BGP table, best paths chosen`,
            aim: n === 10_000 ? '< 500 ms' : '< 3000 ms',
          },
          {
            name: `bgp.frr.withdraw.${k}.ms`,
            unit: 'ms',
            samples: results.map((r) => r.withdrawMs),
            description: `${n.toLocaleString('en')} /32 -> FRR's table empty, every removal processed; ${how}`,
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
