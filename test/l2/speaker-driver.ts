/**
 * Drives the real L2Answerer in a test namespace, where a test or bench cannot reach into `beacon l2`:
 * acquires the addresses given on the command line on one interface (at once, or with --deferred on the
 * first SIGUSR2), each SIGUSR1 releases the next one while the process keeps running, and SIGUSR2
 * acquires them all again. Prints `ready`, `acquired at=MS` (epoch milliseconds, fractional, taken just
 * before acquire()), `released address=A`, and unless --quiet one `answered ...` line per answer.
 *
 *   node test/l2/speaker-driver.ts [--deferred] [--quiet] IFNAME ADDRESS...
 */
import { L2Answerer } from '../../src/l2/answerer.ts';
import { createLogger } from '../../src/log.ts';

const args = process.argv.slice(2);
const deferred = args.includes('--deferred');
const quiet = args.includes('--quiet');
const [ifname, ...addresses] = args.filter((a) => !a.startsWith('--'));
if (!ifname || addresses.length === 0) {
  process.stderr.write('usage: speaker-driver.ts [--deferred] [--quiet] IFNAME ADDRESS...\n');
  process.exit(2);
}
const speaker = new L2Answerer({
  log: createLogger('l2-driver', 'warn'),
  node: 'driver',
  onEvent: (e) => {
    if (e.type === 'answered' && !quiet)
      process.stdout.write(`answered kind=${e.kind} address=${e.address}\n`);
  },
});
let toRelease: string[] = [];

function acquireAll(): void {
  const at = performance.timeOrigin + performance.now();
  for (const a of addresses) speaker.acquire(a, ifname!);
  toRelease = [...addresses];
  process.stdout.write(`acquired at=${at.toFixed(3)}\n`);
}

if (!deferred) acquireAll();
process.stdout.write('ready\n');
process.on('SIGUSR2', acquireAll);
process.on('SIGUSR1', () => {
  const a = toRelease.shift();
  if (!a) return;
  speaker.release(a, ifname);
  process.stdout.write(`released address=${a}\n`);
});
process.on('SIGTERM', () => {
  speaker.close();
  process.exit(0);
});
// Stay alive: with nothing owned, no socket keeps the loop busy.
setInterval(() => {}, 1 << 30);
