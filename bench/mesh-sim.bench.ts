/**
 * The membership protocol at cluster sizes this machine cannot run as processes: the real MeshNode, wire
 * format, keys and ownership table, N nodes in one process over a simulated network (1 % loss, jitter) on
 * a simulated clock (test/harness/mesh-sim.ts), with 10,000 addresses. For each N: per-node traffic and
 * plan CPU in steady state, then a series of faults (kills, a one-way cut, stalls, a key rotation, a
 * restart), each judged by when the new owner answered, by moves of addresses whose owner did not fail,
 * and by the longest windows with two answerers or none.
 *
 * At thousands of nodes every node tracks a sample of the addresses (N tables of 10,000 would not fit in
 * one process); node 0 keeps all 10,000, and the plan's CPU is measured there.
 */
import { spawnSync } from 'node:child_process';
import { defaultParams } from '../src/mesh/node.ts';
import { MeshSim, type SimNode } from '../test/harness/mesh-sim.ts';
import { type Bench, type Figure, percentile } from './figures.ts';

const ADDRESSES = 10_000;

interface Run {
  nodes: number;
  datagramsPerSecond: number;
  receivedPerSecond: number;
  bytesPerSecond: number;
  maxDatagram: number;
  planMsPerSecond: number;
  steadyMoves: number;
  failoverMs: number[];
  movesWithoutFailure: number;
  longestDoubleMs: number;
  longestGapMs: number;
  wallSeconds: number;
}

export function simulate(nodes: number, log: (l: string) => void, quick: boolean): Run {
  // At 5,000 nodes a simulated second costs about half a minute here: fewer faults, shorter phases.
  const heavy = nodes >= 5000;
  const started = performance.now();
  const tracked = Math.min(ADDRESSES, Math.floor(2_000_000 / nodes));
  const sim = new MeshSim({
    nodes,
    addresses: ADDRESSES,
    tracked,
    fullTableNodes: [0],
    params: defaultParams(100, 400),
    loss: 0.01,
    seed: nodes,
  });
  sim.startConverged();
  sim.run(3000);
  const heapMB = () => (process.memoryUsage().heapUsed / 2 ** 20).toFixed(0);
  log(
    `${nodes} nodes: converged (${((performance.now() - started) / 1000).toFixed(0)} s, heap ${heapMB()} MB)`,
  );

  // Steady state.
  const steadySeconds = quick ? 3 : nodes >= 5000 ? 5 : 10;
  const before = sim.nodes.map((n) => ({ ...n.counters }));
  const planBefore = sim.nodes[0]!.planWorkMs;
  const movesBefore = sim.moves.length;
  sim.run(3000 + steadySeconds * 1000);
  const per = (f: (n: SimNode, i: number) => number) => Math.max(...sim.nodes.map(f)) / steadySeconds;
  const run: Run = {
    nodes,
    datagramsPerSecond: per((n, i) => n.counters.datagramsSent - before[i]!.datagramsSent),
    receivedPerSecond: per((n, i) => n.counters.datagramsReceived - before[i]!.datagramsReceived),
    bytesPerSecond: per((n, i) => n.counters.bytesSent - before[i]!.bytesSent),
    maxDatagram: Math.max(...sim.nodes.map((n) => n.counters.maxDatagram)),
    planMsPerSecond: (sim.nodes[0]!.planWorkMs - planBefore) / steadySeconds,
    steadyMoves: sim.moves.length - movesBefore,
    failoverMs: [],
    movesWithoutFailure: 0,
    longestDoubleMs: 0,
    longestGapMs: 0,
    wallSeconds: 0,
  };
  log(
    `${nodes} nodes: steady state measured (${((performance.now() - started) / 1000).toFixed(0)} s, heap ${heapMB()} MB)`,
  );

  // Faults, one after the other, each given time to settle.
  let t = sim.now + 500;
  const faulted = new Set<number>();
  const killed: { node: SimNode; at: number; owned: string[] }[] = [];
  const kills = quick || heavy ? 2 : Math.min(10, Math.max(2, Math.floor(nodes / 10)));
  for (let k = 0; k < kills; k++) {
    const node = sim.nodes[1 + ((k * 7919) % (nodes - 1))]!;
    faulted.add(node.index);
    sim.at(t, () => killed.push({ node, at: sim.now, owned: [...node.answering] }));
    sim.at(t, () => sim.kill(node));
    t += 2500;
  }
  const [a, b] = [sim.nodes[nodes - 1]!, sim.nodes[Math.floor(nodes / 2)]!];
  sim.at(t, () => sim.cut(a, b));
  sim.at(t + (heavy ? 2000 : 5000), () => sim.heal());
  t += heavy ? 3000 : 7000;
  for (const k of heavy ? [0] : [0, 1, 2]) {
    const node = sim.nodes[2 + k * 3]!;
    faulted.add(node.index);
    sim.at(t, () => sim.stall(node, 1000));
    t += 2500;
  }
  if (!heavy) {
    sim.at(t, () => sim.rotateKeys(sim.nodes[5 % nodes]!));
    t += 14_000;
    const back = killed[0];
    if (back) sim.at(t, () => sim.restart(back.node));
    t += 4000;
  }
  const faultStart = sim.now;
  sim.run(t);
  sim.closeWindows();

  // Failover: from the kill to the first answer by another node, per address the victim answered.
  for (const k of killed) {
    for (const address of k.owned) {
      const move = sim.moves.find((m) => m.address === address && m.at >= k.at && m.from === k.node.index);
      const gap = sim.gaps.find((g) => g.address === address && g.from >= k.at - 1);
      if (gap) run.failoverMs.push(gap.ms);
      else if (move) run.failoverMs.push(move.at - k.at);
    }
  }
  run.movesWithoutFailure = sim.moves.filter(
    (m) => m.at >= faultStart && !faulted.has(m.from ?? -1) && !faulted.has(m.to ?? -1),
  ).length;
  run.longestDoubleMs = Math.max(0, ...sim.doubles.map((d) => d.ms));
  run.longestGapMs = Math.max(0, ...sim.gaps.filter((g) => g.from >= faultStart).map((g) => g.ms));
  run.wallSeconds = (performance.now() - started) / 1000;
  log(
    `${nodes} nodes: ${run.datagramsPerSecond.toFixed(0)} datagrams/s, ${(run.bytesPerSecond / 1000).toFixed(1)} KB/s per node, ` +
      `failover p50 ${percentile(run.failoverMs, 50).toFixed(0)} ms p99 ${percentile(run.failoverMs, 99).toFixed(0)} ms, ` +
      `two answerers ${run.longestDoubleMs.toFixed(0)} ms, ${run.movesWithoutFailure} moves without failure (${run.wallSeconds.toFixed(0)} s)`,
  );
  return run;
}

/** One size in a process of its own, with room for the simulation's heap. */
function simulateApart(nodes: number, log: (l: string) => void, quick: boolean): Run {
  const r = spawnSync(
    process.execPath,
    ['--max-old-space-size=12000', import.meta.filename, String(nodes), quick ? 'quick' : 'full'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 },
  );
  const lines = r.stdout.trim().split('\n');
  for (const l of lines.slice(0, -1)) log(l);
  if (r.status !== 0) throw new Error(`simulation of ${nodes} nodes failed (exit ${r.status})`);
  return JSON.parse(lines.at(-1)!) as Run;
}

if (process.argv[1] === import.meta.filename) {
  const run = simulate(
    Number(process.argv[2]),
    (l) => process.stdout.write(`${l}\n`),
    process.argv[3] === 'quick',
  );
  process.stdout.write(`${JSON.stringify(run)}\n`);
}

export const benches: Bench[] = [
  {
    name: 'mesh-sim',
    async run({ log, quick }) {
      const sizes = quick ? [10, 100] : [10, 100, 1000, 5000];
      const runs = sizes.map((n) => simulateApart(n, log, quick));
      const figures: Figure[] = [];
      for (const r of runs) {
        const p = `mesh-sim.n${r.nodes}`;
        figures.push(
          {
            name: `${p}.datagrams_per_s`,
            unit: 'per_s',
            samples: [r.datagramsPerSecond],
            description: `${r.nodes} nodes: membership datagrams sent per second by the busiest node (received: ${r.receivedPerSecond.toFixed(0)}/s)`,
            aim: '<= 50',
          },
          {
            name: `${p}.bytes_per_s`,
            unit: 'bytes',
            samples: [r.bytesPerSecond],
            description: `${r.nodes} nodes: membership bytes sent per second by the busiest node`,
            aim: '<= 40,000',
          },
          {
            name: `${p}.max_datagram`,
            unit: 'bytes',
            samples: [r.maxDatagram],
            description: `${r.nodes} nodes: largest datagram`,
            aim: '<= 1,200',
          },
          {
            name: `${p}.plan_ms_per_s`,
            unit: 'ms',
            samples: [r.planMsPerSecond],
            description: `${r.nodes} nodes: ownership (plan) CPU per second in steady state, 10,000 addresses`,
          },
          {
            name: `${p}.steady_moves`,
            unit: 'count',
            samples: [r.steadyMoves],
            description: `${r.nodes} nodes: addresses moved in steady state with 1 % loss`,
            aim: '0',
          },
          {
            name: `${p}.failover_p50`,
            unit: 'ms',
            samples: [percentile(r.failoverMs, 50)],
            description: `${r.nodes} nodes: a killed node's address answered again (p50 over ${r.failoverMs.length})`,
          },
          {
            name: `${p}.failover_p99`,
            unit: 'ms',
            samples: [percentile(r.failoverMs, 99)],
            description: `${r.nodes} nodes: a killed node's address answered again (p99)`,
            aim: '< 1,000',
          },
          {
            name: `${p}.moves_without_failure`,
            unit: 'count',
            samples: [r.movesWithoutFailure],
            description: `${r.nodes} nodes: moves of addresses whose owner did not fail, during the faults`,
            aim: '0',
          },
          {
            name: `${p}.longest_two_answerers`,
            unit: 'ms',
            samples: [r.longestDoubleMs],
            description: `${r.nodes} nodes: longest window with two answerers (kills, one-way cut, stalls, key rotation, restart)`,
            aim: '0',
          },
          {
            name: `${p}.longest_unanswered`,
            unit: 'ms',
            samples: [r.longestGapMs],
            description: `${r.nodes} nodes: longest window an address had no answerer during the faults`,
          },
        );
      }
      return figures;
    },
  },
];
