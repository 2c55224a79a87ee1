/**
 * How fast FRR drops a route Beacon announced once Beacon's side is gone, with BFD at 100 ms x 3 (the lab
 * of test/bgp-interop/bfd-lab.ts). Three ways to be gone, each its own figure:
 *   - SIGKILL of `beacon bgp --bfd`: the kernel closes the TCP connection, so bgpd usually drops the
 *     route on the FIN before BFD's detection time runs out; this is the crash of a process on a live node;
 *   - the link cut at the switch: a dead node (power, kernel panic, cable), only BFD can tell;
 *   - SIGSTOP: a hung process on a live node, TCP stays open, only BFD can tell.
 */

import { type BeaconRun, BfdLab, NODE_ADDRESS } from '../test/bgp-interop/bfd-lab.ts';
import { netnsUnavailable } from '../test/harness/netns.ts';
import { waitFor } from '../test/harness/process.ts';
import type { Bench, BenchContext, Figure } from './figures.ts';

type Failure = 'sigkill' | 'link-cut' | 'sigstop';

async function upWithRoute(lab: BfdLab): Promise<BeaconRun> {
  const run = await lab.startBeacon('bench-beacon-bgp');
  await lab.router.waitForSessionState(NODE_ADDRESS, 'established', 15_000);
  await waitFor(
    'BFD Up at 100 ms and the route in FRR',
    async () => {
      const p = await lab.bfdPeer();
      return p?.status === 'up' && p['remote-transmit-interval'] === 100 && (await lab.hasRoute());
    },
    10_000,
    50,
    () => run.proc.tail(),
  );
  return run;
}

async function once(lab: BfdLab, how: Failure): Promise<number> {
  const run = await upWithRoute(lab);
  try {
    const t0 = performance.now();
    if (how === 'sigkill') run.proc.child.kill('SIGKILL');
    else if (how === 'sigstop') run.proc.child.kill('SIGSTOP');
    else await lab.setNodeLink('down');
    return await lab.timeUntil('route gone from FRR', async () => !(await lab.hasRoute()), t0, 10_000);
  } finally {
    run.proc.child.kill('SIGKILL');
    run.proc.child.kill('SIGCONT');
    await run.proc.exited;
    await lab.setNodeLink('up');
    // Let FRR see the session down before the next run, so the next Up is a fresh one.
    await waitFor('FRR BFD session down', async () => (await lab.bfdPeer())?.status !== 'up', 5_000, 50);
  }
}

const DESCRIPTIONS: Record<Failure, string> = {
  sigkill: 'SIGKILL of beacon bgp --bfd to the route gone from FRR (TCP FIN usually wins over BFD)',
  'link-cut': "Beacon's link cut at the switch to the route gone from FRR (BFD 100 ms x 3)",
  sigstop: 'beacon bgp --bfd frozen (SIGSTOP) to the route gone from FRR (BFD 100 ms x 3)',
};

async function run(ctx: BenchContext): Promise<Figure[]> {
  const runs = ctx.quick ? 2 : 5;
  const lab = await BfdLab.create('bfdbench');
  try {
    const figures: Figure[] = [];
    for (const how of ['sigkill', 'link-cut', 'sigstop'] as const) {
      const samples: number[] = [];
      for (let i = 0; i < runs; i++) {
        samples.push(await once(lab, how));
        ctx.log(`bfd ${how} run ${i + 1}/${runs}: ${samples.at(-1)!.toFixed(0)} ms`);
      }
      figures.push({
        name: `bfd.frr.route_gone_after_${how.replace('-', '_')}`,
        unit: 'ms',
        samples,
        description: DESCRIPTIONS[how],
        aim: '< 1000 ms',
      });
    }
    return figures;
  } finally {
    await lab.cleanup();
  }
}

export const benches: Bench[] = [{ name: 'bfd', unavailable: netnsUnavailable, run }];
