/**
 * Allocator figures, in process (no API server): 5,000 Services assigned into a mix of pools (a small
 * preferred IPv4 pool, a /20 that avoids buggy addresses, a namespace-restricted pool and an IPv6 /64),
 * single- and dual-stack, some sharing addresses; then the same table restored as after a controller
 * restart and every Service asked again.
 */
import { Allocator } from '../src/ipam/index.ts';
import type { PoolInput, ServiceRequest } from '../src/ipam/types.ts';
import type { Bench, Figure } from './figures.ts';

const POOLS: PoolInput[] = [
  {
    name: 'preferred',
    addresses: ['10.0.0.0/28'],
    autoAssign: true,
    avoidBuggyIPs: false,
    serviceAllocation: { priority: 0 },
  },
  { name: 'lan', addresses: ['192.168.0.0/20'], autoAssign: true, avoidBuggyIPs: true },
  {
    name: 'team',
    addresses: ['172.16.0.0/22'],
    autoAssign: true,
    avoidBuggyIPs: false,
    serviceAllocation: { namespaces: ['team'] },
  },
  { name: 'v6', addresses: ['2001:db8::/64'], autoAssign: true, avoidBuggyIPs: false },
];

/** Service i of n: most IPv4, a fifth dual-stack, a tenth IPv6; every tenth shares under a key. */
function request(i: number): ServiceRequest {
  const namespace = i % 10 === 3 ? 'team' : 'default';
  const shape = i % 10;
  const req: ServiceRequest = {
    key: `${namespace}/svc-${i}`,
    namespace,
    namespaceLabels: {},
    serviceLabels: {},
    families: shape === 1 || shape === 2 ? [4, 6] : shape === 5 ? [6] : [4],
    requireAllFamilies: shape !== 2,
    requestedAddresses: [],
  };
  if (shape === 7) {
    // Groups of three Services on one address, on ports 80, 81, 82.
    req.sharing = {
      key: `group-${Math.floor(i / 30)}`,
      ports: [{ port: 80 + (Math.floor(i / 10) % 3), protocol: 'TCP' }],
      trafficPolicy: 'Cluster',
    };
  }
  return req;
}

function assignAll(a: Allocator, requests: readonly ServiceRequest[]): number {
  const started = performance.now();
  for (const req of requests) {
    const r = a.assign(req);
    if (!r.ok) throw new Error(`bench setup is wrong: ${r.refusal.reason}: ${r.refusal.message}`);
  }
  return performance.now() - started;
}

/** Search steps per assignment when filling `count` addresses of one pool. */
function stepsPerAssign(cidr: string, family: 4 | 6, count: number): number {
  const a = new Allocator();
  a.setPools([{ name: 'p', addresses: [cidr], autoAssign: true, avoidBuggyIPs: false }]);
  const requests = Array.from({ length: count }, (_, i) => ({
    ...request(0),
    key: `ns/s${i}`,
    families: [family],
  }));
  assignAll(a, requests);
  return a.searchSteps / count;
}

export const benches: Bench[] = [
  {
    name: 'ipam',
    async run(ctx): Promise<Figure[]> {
      const n = ctx.quick ? 1_000 : 5_000;
      const runs = ctx.quick ? 1 : 5;
      const requests = Array.from({ length: n }, (_, i) => request(i));
      const perSecond: number[] = [];
      const msPerAssign: number[] = [];
      const restartMs: number[] = [];
      for (let run = 0; run < runs; run++) {
        const a = new Allocator();
        a.setPools(POOLS);
        const elapsed = assignAll(a, requests);
        perSecond.push(n / (elapsed / 1000));
        msPerAssign.push(elapsed / n);

        // A restart: a fresh table rebuilt from what every Service holds, then every Service asked again.
        const restarted = new Allocator();
        restarted.setPools(POOLS);
        const started = performance.now();
        for (const req of requests) {
          const held = a.assignmentOf(req.key)!.addresses.map((x) => x.address);
          if (restarted.restore(req, held).conflicts.length)
            throw new Error(`restore conflict for ${req.key}`);
        }
        for (const req of requests) {
          const r = restarted.assign(req);
          if (!r.ok || r.changed) throw new Error(`${req.key} moved after the restart`);
        }
        restartMs.push(performance.now() - started);
        ctx.log(`run ${run + 1}/${runs}: ${n} assigned in ${elapsed.toFixed(1)} ms`);
      }
      const size = ctx.quick ? 200 : 2_000;
      return [
        {
          name: 'ipam.assign.per_s',
          unit: 'per_s',
          samples: perSecond,
          description: `Services assigned per second, ${n} Services into 4 pools incl. an IPv6 /64 (in process)`,
        },
        {
          name: 'ipam.assign.ms',
          unit: 'ms',
          samples: msPerAssign,
          description: `Mean time per assignment over ${n} Services`,
        },
        {
          name: 'ipam.restart.ms',
          unit: 'ms',
          samples: restartMs,
          description: `Restore ${n} Services' addresses into a fresh table and ask each again (0 moved)`,
        },
        {
          name: 'ipam.steps_per_assign.v6_64',
          unit: 'count',
          samples: [stepsPerAssign('2001:db8::/64', 6, size)],
          description: `Search steps per assignment filling ${size} addresses of an IPv6 /64`,
        },
        {
          name: 'ipam.steps_per_assign.v4_small',
          unit: 'count',
          samples: [stepsPerAssign(ctx.quick ? '10.0.0.0/24' : '10.0.0.0/21', 4, size)],
          description: `Search steps per assignment filling ${size} addresses of an IPv4 pool just big enough`,
        },
      ];
    },
  },
];
