// `node bench/bgp-fuzz.ts [--count N] [--seed S]`: feeds random and mutated BGP messages through the decoder
// (both AS sizes, plus an encode/decode round trip of everything valid) and an Established FSM's receive
// path. Exits non-zero, printing the input, if any exception escapes. Prints counts and throughput.
import { parseArgs } from 'node:util';
import { FuzzFailure, type FuzzReport, fuzz } from '../test/bgp/fuzz.ts';

const { values } = parseArgs({
  options: { count: { type: 'string', default: '1000000' }, seed: { type: 'string', default: '1' } },
});
const count = Number(values.count);
const seed = Number(values.seed);
if (!Number.isInteger(count) || count < 1 || !Number.isInteger(seed)) {
  process.stderr.write('usage: bench/bgp-fuzz.ts [--count N] [--seed S]\n');
  process.exit(2);
}

const total: FuzzReport = {
  inputs: 0,
  decoded: 0,
  treatedAsWithdraw: 0,
  errors: {},
  sessionInputs: 0,
  sessionsDropped: 0,
  roundTrips: 0,
};
const chunk = 100_000;
const started = performance.now();
try {
  for (let done = 0, round = 0; done < count; done += chunk, round++) {
    const r = fuzz(seed * 1_000_003 + round, Math.min(chunk, count - done));
    total.inputs += r.inputs;
    total.decoded += r.decoded;
    total.treatedAsWithdraw += r.treatedAsWithdraw;
    total.sessionInputs += r.sessionInputs;
    total.sessionsDropped += r.sessionsDropped;
    total.roundTrips += r.roundTrips;
    for (const [k, v] of Object.entries(r.errors)) total.errors[k] = (total.errors[k] ?? 0) + v;
    const secs = (performance.now() - started) / 1000;
    process.stdout.write(
      `fuzz inputs=${total.inputs} elapsed=${secs.toFixed(1)}s rate=${Math.round(total.inputs / secs)}/s\n`,
    );
  }
} catch (err) {
  if (err instanceof FuzzFailure) {
    process.stderr.write(`FAILED: ${err.message}\n${(err.cause as Error | undefined)?.stack ?? ''}\n`);
    process.exit(1);
  }
  throw err;
}
const secs = (performance.now() - started) / 1000;
const errors = Object.entries(total.errors)
  .sort((a, b) => b[1] - a[1])
  .map(([k, v]) => `${k}=${v}`)
  .join(' ');
process.stdout.write(
  `fuzz done seed=${seed} inputs=${total.inputs} decodes=${total.inputs * 2} valid=${total.decoded} ` +
    `treated-as-withdraw=${total.treatedAsWithdraw} ` +
    `round-trips=${total.roundTrips} fsm-inputs=${total.sessionInputs} fsm-sessions-dropped=${total.sessionsDropped} ` +
    `exceptions=0 seconds=${secs.toFixed(1)} inputs-per-second=${Math.round(total.inputs / secs)}\n` +
    `errors ${errors}\n`,
);
