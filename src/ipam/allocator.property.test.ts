/**
 * Properties of the allocator under random pools and random sequences of requests, checked against an
 * independent reading of the rules (not the allocator's own helpers).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { type Family, formatAddress, parseAddress } from './address.ts';
import { Allocator } from './allocator.ts';
import type { Assignment, PoolInput, ServiceRequest, SharingRequest } from './types.ts';

// IPv4 pools live around 10.0.0.255 so that avoidBuggyIPs has .255 and .0 to avoid. Services live in
// namespaces a and b, which pools may be restricted to.
const V4_BASE = parseAddress('10.0.0.240')!.value;
const V6_BASE = parseAddress('fc00::f0')!.value;
const base = (f: Family) => (f === 4 ? V4_BASE : V6_BASE);
const addr = (f: Family, offset: number) => formatAddress({ family: f, value: base(f) + BigInt(offset) });

interface PoolModel {
  name: string;
  ranges: { family: Family; lo: number; hi: number }[];
  autoAssign: boolean;
  avoidBuggyIPs: boolean;
  namespaces: string[];
  priority: number | undefined;
}

const POOL_NAMES = ['p0', 'p1', 'p2'];
const SERVICES = ['a/s0', 'a/s1', 'a/s2', 'b/s3', 'b/s4', 'b/s5'];

const rangeArb = fc
  .record({
    family: fc.constantFrom<Family>(4, 6),
    lo: fc.integer({ min: 0, max: 30 }),
    len: fc.integer({ min: 0, max: 8 }),
  })
  .map(({ family, lo, len }) => ({ family, lo, hi: lo + len }));

const poolsArb: fc.Arbitrary<PoolModel[]> = fc
  .tuple(
    ...POOL_NAMES.map((name) =>
      fc.record({
        name: fc.constant(name),
        ranges: fc.array(rangeArb, { minLength: 1, maxLength: 3 }),
        autoAssign: fc.constantFrom(true, true, true, false),
        avoidBuggyIPs: fc.boolean(),
        namespaces: fc.constantFrom<string[]>([], [], [], ['a'], ['b'], ['a', 'b']),
        priority: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
      }),
    ),
  )
  .chain((pools) => fc.subarray(pools, { minLength: 1 }));

function poolInputs(pools: readonly PoolModel[]): PoolInput[] {
  return pools.map((p) => ({
    name: p.name,
    addresses: p.ranges.map((r) => `${addr(r.family, r.lo)}-${addr(r.family, r.hi)}`),
    autoAssign: p.autoAssign,
    avoidBuggyIPs: p.avoidBuggyIPs,
    serviceAllocation: {
      ...(p.namespaces.length ? { namespaces: p.namespaces } : {}),
      ...(p.priority !== undefined ? { priority: p.priority } : {}),
    },
  }));
}

/** `fc.option` with the chance of undefined spelled out. */
function sometimes<T>(arb: fc.Arbitrary<T>, chance: number): fc.Arbitrary<T | undefined> {
  const weight = Math.round(chance * 100);
  return fc.oneof({ weight, arbitrary: arb }, { weight: 100 - weight, arbitrary: fc.constant(undefined) });
}

// Mostly one key and few ports, so that groups form and clash often enough to exercise both paths.
const sharingArb: fc.Arbitrary<SharingRequest | undefined> = sometimes(
  fc.record({
    key: fc.constantFrom('k1', 'k1', 'k1', 'k2'),
    ports: fc.oneof(
      fc.constantFrom(
        [{ port: 80, protocol: 'TCP' }],
        [{ port: 443, protocol: 'TCP' }],
        [{ port: 53, protocol: 'UDP' }],
      ),
      fc.subarray([
        { port: 80, protocol: 'TCP' },
        { port: 443, protocol: 'TCP' },
        { port: 53, protocol: 'UDP' },
        { port: 53, protocol: 'TCP' },
      ]),
    ),
    trafficPolicy: fc.constantFrom<'Cluster' | 'Local'>('Cluster', 'Cluster', 'Local'),
    podSelector: fc.constantFrom({ app: 'x' }, { app: 'x' }, { app: 'y' }),
  }),
  0.6,
);

function requestArb(key: string): fc.Arbitrary<ServiceRequest> {
  return fc
    .record({
      families: fc.constantFrom<Family[]>([4], [4], [6], [4, 6], [6, 4]),
      requireAllFamilies: fc.boolean(),
      requested: sometimes(
        fc.record({ family: fc.constantFrom<Family>(4, 6), offset: fc.integer({ min: 0, max: 36 }) }),
        0.25,
      ),
      pool: sometimes(fc.constantFrom(...POOL_NAMES, 'missing'), 0.25),
      sharing: sharingArb,
    })
    .map((r) => ({
      key,
      namespace: key.split('/')[0]!,
      namespaceLabels: {},
      serviceLabels: {},
      families: r.families,
      requireAllFamilies: r.families.length === 1 || r.requireAllFamilies,
      // A requested address of a family the Service lacks is refused before anything else; keep it rare.
      requestedAddresses:
        r.requested && (r.families.includes(r.requested.family) || r.requested.offset % 4 === 0)
          ? [addr(r.requested.family, r.requested.offset)]
          : [],
      ...(r.pool ? { pool: r.pool } : {}),
      ...(r.sharing ? { sharing: r.sharing } : {}),
    }));
}

type Op =
  | { kind: 'assign'; req: ServiceRequest }
  /** The Service is deleted. */
  | { kind: 'release'; key: string }
  /** The controller's status write for the Service lands: its status shows what it holds. */
  | { kind: 'write'; key: string }
  | { kind: 'pools'; pools: PoolModel[] };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc
      .constantFrom(...SERVICES)
      .chain(requestArb)
      .map((req) => ({ kind: 'assign' as const, req })),
  },
  { weight: 2, arbitrary: fc.constantFrom(...SERVICES).map((key) => ({ kind: 'release' as const, key })) },
  { weight: 3, arbitrary: fc.constantFrom(...SERVICES).map((key) => ({ kind: 'write' as const, key })) },
  { weight: 1, arbitrary: poolsArb.map((pools) => ({ kind: 'pools' as const, pools })) },
);

/** Whether two Services may hold one address, read straight from the rules. */
function mayShare(a: SharingRequest | undefined, b: SharingRequest | undefined): boolean {
  if (!a || !b || a.key !== b.key || a.trafficPolicy !== b.trafficPolicy) return false;
  if (a.trafficPolicy === 'Local' && JSON.stringify(a.podSelector) !== JSON.stringify(b.podSelector))
    return false;
  return !a.ports.some((p) => b.ports.some((q) => p.port === q.port && p.protocol === q.protocol));
}

function isBuggy(f: Family, value: bigint): boolean {
  return f === 4 && (value % 256n === 0n || value % 256n === 255n);
}

/** Whether the Service may be given this address now, read straight from the rules. */
function eligible(pools: readonly PoolModel[], req: ServiceRequest, address: string): boolean {
  const { family, value } = parseAddress(address)!;
  if (!req.families.includes(family)) return false;
  const requested = req.requestedAddresses.map((t) => parseAddress(t)!).find((a) => a.family === family);
  if (req.requestedAddresses.length && !requested) return false;
  if (requested && requested.value !== value) return false;
  return pools.some(
    (p) =>
      (req.pool ? p.name === req.pool : requested !== undefined || p.autoAssign) &&
      (p.namespaces.length === 0 || p.namespaces.includes(req.namespace)) &&
      !(p.avoidBuggyIPs && isBuggy(family, value)) &&
      p.ranges.some(
        (r) =>
          r.family === family && base(family) + BigInt(r.lo) <= value && value <= base(family) + BigInt(r.hi),
      ),
  );
}

function table(a: Allocator): Map<string, Assignment | undefined> {
  return new Map(SERVICES.map((k) => [k, a.assignmentOf(k)]));
}

function heldAddresses(a: Allocator): Set<string> {
  const out = new Set<string>();
  for (const k of SERVICES) for (const x of a.assignmentOf(k)?.addresses ?? []) out.add(x.address);
  return out;
}

/**
 * Runs ops, checking after each that the table obeys the rules. Returns, per Service holding addresses, the
 * request it holds them under: the last one granted, with the sharing terms it asked for last (a refused
 * Service that keeps an address keeps it under its new terms).
 */
function run(a: Allocator, initial: PoolModel[], ops: readonly Op[]): Map<string, ServiceRequest> {
  let pools = initial;
  a.setPools(poolInputs(pools));
  /** The request each Service asked with last, granted or not: the terms that must hold. */
  const asked = new Map<string, ServiceRequest>();
  const lastRequest = new Map<string, ServiceRequest>();
  /** What each Service's status shows: what it held when its status was last written. */
  const status = new Map<string, string[]>();
  const writeStatus = (key: string) => {
    const shown = a.assignmentOf(key)?.addresses.map((x) => x.address) ?? [];
    status.set(key, shown);
    a.written(key, shown);
  };
  for (const op of ops) {
    if (op.kind === 'pools') {
      const before = table(a);
      pools = op.pools;
      a.setPools(poolInputs(pools));
      // Pool changes never move or drop an address.
      for (const k of SERVICES) {
        assert.deepEqual(
          a.assignmentOf(k)?.addresses.map((x) => x.address),
          before.get(k)?.addresses.map((x) => x.address),
        );
      }
    } else if (op.kind === 'write') {
      writeStatus(op.key);
    } else if (op.kind === 'release') {
      const had = a.assignmentOf(op.key);
      a.release(op.key);
      status.delete(op.key);
      lastRequest.delete(op.key);
      asked.delete(op.key);
      assert.equal(a.assignmentOf(op.key), undefined);
      for (const x of had?.addresses ?? []) assert.ok(!a.servicesAt(x.address).includes(op.key));
    } else {
      const before = table(a);
      const had = new Set(before.get(op.req.key)?.addresses.map((x) => x.address));
      const result = a.assign(op.req);
      asked.set(op.req.key, op.req);
      if (!result.ok) {
        const granted = lastRequest.get(op.req.key);
        if (!result.assignment) lastRequest.delete(op.req.key);
        else if (granted) {
          const { sharing: _old, ...rest } = granted;
          lastRequest.set(op.req.key, op.req.sharing ? { ...rest, sharing: op.req.sharing } : rest);
        }
        // A refusal leaves every other assignment as it was; the requester keeps what it had, less what
        // its new request may no longer share.
        // (Which pool a shared address counts in may change as a holder leaves, as on release.)
        const addressesOf = (t: Map<string, Assignment | undefined>, k: string) =>
          t.get(k)?.addresses.map((x) => x.address);
        const after = table(a);
        for (const k of SERVICES)
          if (k !== op.req.key) assert.deepEqual(addressesOf(after, k), addressesOf(before, k));
        const lost = new Set(result.lost.map((l) => l.address));
        assert.deepEqual(
          result.assignment?.addresses.map((x) => x.address) ?? [],
          (before.get(op.req.key)?.addresses ?? []).map((x) => x.address).filter((x) => !lost.has(x)),
        );
        assert.deepEqual(result.assignment, a.assignmentOf(op.req.key));
        for (const x of result.lost)
          assert.ok(a.servicesAt(x.address!).length > 0, 'a lost address had others');
      } else {
        lastRequest.set(op.req.key, op.req);
        assert.deepEqual(result.assignment, a.assignmentOf(op.req.key));
        const families = result.assignment.addresses.map((x) => x.family);
        assert.equal(new Set(families).size, families.length, 'one address per family');
        if (op.req.requireAllFamilies && op.req.requestedAddresses.length === 0) {
          assert.equal(families.length, op.req.families.length);
        }
        for (const x of result.assignment.addresses) {
          if (had.has(x.address)) continue;
          // Every newly handed-out address lies in a pool this Service may use,
          assert.ok(eligible(pools, op.req, x.address), `${x.address} for ${op.req.key}`);
          // and no other Service's status shows it unless that Service still holds it with this one.
          for (const [other, shown] of status) {
            if (other === op.req.key || !shown.includes(x.address)) continue;
            assert.ok(
              a.servicesAt(x.address).includes(other),
              `${x.address} given to ${op.req.key} while ${other}, which gave it up, still shows it`,
            );
          }
        }
        // Asking again changes nothing.
        const again = a.assign(op.req);
        assert.ok(again.ok && !again.changed);
        assert.deepEqual(again.assignment, result.assignment);
      }
    }
    // No address is held twice except by Services that may share it.
    for (const address of heldAddresses(a)) {
      const holders = a.servicesAt(address);
      for (let i = 0; i < holders.length; i++) {
        for (let j = i + 1; j < holders.length; j++) {
          const si = asked.get(holders[i]!)?.sharing;
          const sj = asked.get(holders[j]!)?.sharing;
          assert.ok(mayShare(si, sj), `${address} held by ${holders[i]} and ${holders[j]}`);
        }
      }
    }
  }
  // The cluster settles: every status is written, as a controller does before it would be restarted.
  for (const k of SERVICES) writeStatus(k);
  return lastRequest;
}

const RUNS = { numRuns: 300 };
const OPS = fc.array(opArb, { minLength: 1, maxLength: 40, size: 'max' });

test('random request sequences never hand an address out twice without a valid sharing key, and refusals change nothing', () => {
  fc.assert(
    fc.property(poolsArb, OPS, (pools, ops) => {
      run(new Allocator(), pools, ops);
    }),
    RUNS,
  );
});

test('restoring the table in any order rebuilds it exactly, and re-assigning then moves nothing', () => {
  fc.assert(
    fc.property(
      poolsArb,
      OPS,
      fc.array(fc.nat(), { minLength: SERVICES.length, maxLength: SERVICES.length }),
      (pools, ops, shuffleKeys) => {
        const original = new Allocator();
        const lastRequest = run(original, pools, ops);
        const finalPools = [...ops].reverse().find((o) => o.kind === 'pools')?.pools ?? pools;
        const order = [...SERVICES].sort(
          (x, y) => shuffleKeys[SERVICES.indexOf(x)]! - shuffleKeys[SERVICES.indexOf(y)]! || (x < y ? -1 : 1),
        );
        const restarted = new Allocator();
        restarted.setPools(poolInputs(finalPools));
        for (const k of order) {
          const held = original.assignmentOf(k);
          if (!held) continue;
          const r = restarted.restore(
            lastRequest.get(k)!,
            held.addresses.map((x) => x.address),
          );
          assert.deepEqual(r.conflicts, []);
        }
        assert.deepEqual(table(restarted), table(original));
        for (const k of order) {
          const held = original.assignmentOf(k);
          if (!held) continue;
          // The last request may itself have been refused (the Service kept what it held, less what it may
          // no longer share); after a restart it must get the same verdict as before, and keep what it holds.
          const result = restarted.assign(lastRequest.get(k)!);
          const before = original.assign(lastRequest.get(k)!);
          assert.equal(
            result.ok,
            before.ok,
            result.ok ? `${k} granted only after restart` : result.refusal.message,
          );
          if (!result.ok) assert.deepEqual(result.lost, []);
          const now = result.assignment?.addresses.map((x) => x.address) ?? [];
          for (const x of held.addresses) assert.ok(now.includes(x.address), `${k} lost ${x.address}`);
        }
      },
    ),
    RUNS,
  );
});

test('release then allocate with the same request succeeds again, from addresses it may use', () => {
  fc.assert(
    fc.property(
      poolsArb,
      fc.tuple(...SERVICES.map(requestArb)),
      fc.array(fc.constantFrom(...SERVICES), { maxLength: 30 }),
      fc.constantFrom(...SERVICES),
      (pools, requests, sequence, victim) => {
        // Each Service keeps one request throughout, so every address it holds was picked for it.
        const requestOf = new Map(requests.map((r) => [r.key, r]));
        const a = new Allocator();
        a.setPools(poolInputs(pools));
        for (const k of sequence) a.assign(requestOf.get(k)!);
        const before = a.assignmentOf(victim);
        if (!before) return;
        const freed = before.addresses.filter((x) => a.servicesAt(x.address).length === 1);
        const assignedBefore = POOL_NAMES.map((p) => a.poolStats(p));
        a.release(victim);
        for (const x of freed) assert.deepEqual(a.servicesAt(x.address), []);
        const after = a.assign(requestOf.get(victim)!);
        assert.ok(after.ok, after.ok ? '' : after.refusal.message);
        assert.ok(after.assignment.addresses.length >= before.addresses.length);
        for (const x of after.assignment.addresses)
          assert.ok(eligible(pools, requestOf.get(victim)!, x.address));
        // Stats are back where they were when the same addresses came back.
        if (JSON.stringify(after.assignment) === JSON.stringify(before)) {
          assert.deepEqual(
            POOL_NAMES.map((p) => a.poolStats(p)),
            assignedBefore,
          );
        }
      },
    ),
    RUNS,
  );
});

test('a /64 pool costs exactly what a /28 costs for any sequence of assignments and releases', () => {
  const slots = Array.from({ length: 16 }, (_, i) => `ns/s${i}`);
  const opsArb = fc.array(fc.record({ release: fc.boolean(), slot: fc.integer({ min: 0, max: 15 }) }), {
    maxLength: 80,
  });
  const steps = (cidr: string, family: Family, ops: { release: boolean; slot: number }[]) => {
    const a = new Allocator();
    a.setPools([{ name: 'p', addresses: [cidr], autoAssign: true, avoidBuggyIPs: false }]);
    for (const { release, slot } of ops) {
      const key = slots[slot]!;
      if (release) a.release(key);
      else {
        const r = a.assign({
          key,
          namespace: 'ns',
          namespaceLabels: {},
          serviceLabels: {},
          families: [family],
          requireAllFamilies: true,
          requestedAddresses: [],
        });
        assert.ok(r.ok);
      }
    }
    return a.searchSteps;
  };
  fc.assert(
    fc.property(opsArb, (ops) => {
      assert.equal(steps('2001:db8::/64', 6, ops), steps('10.0.0.0/28', 4, ops));
    }),
    RUNS,
  );
});
