/**
 * Drives the real L2Speaker in a test namespace, where `beacon l2` cannot: it acquires the addresses given
 * on the command line on one interface, then each SIGUSR1 releases the next one while the process keeps
 * running, so a test can check that answers stop at release and not at exit. Prints the `beacon l2`
 * event lines plus `released address=A`.
 *
 *   node test/l2/speaker-driver.ts IFNAME ADDRESS...
 */

import { L2Speaker } from '../../src/l2/speaker.ts';
import { createLogger } from '../../src/log.ts';

const [ifname, ...addresses] = process.argv.slice(2);
if (!ifname || addresses.length === 0) {
  process.stderr.write('usage: speaker-driver.ts IFNAME ADDRESS...\n');
  process.exit(2);
}
const speaker = new L2Speaker({
  log: createLogger('l2-driver', 'warn'),
  node: 'driver',
  onEvent: (e) => {
    if (e.type === 'answered') process.stdout.write(`answered kind=${e.kind} address=${e.address}\n`);
  },
});
for (const a of addresses) speaker.acquire(a, ifname);
process.stdout.write('ready\n');
const toRelease = [...addresses];
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
// Stay alive: the sockets keep the loop busy, and this keeps it so even with nothing owned.
setInterval(() => {}, 1 << 30);
