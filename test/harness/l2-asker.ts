// `node test/harness/l2-asker.ts IFNAME SOURCE_IPV4 SOURCE_IPV6 RATE_PER_S GAP_MS`, run in a client
// namespace: asks who holds each address it is told to (ARP request or Neighbor Solicitation, from an
// AF_PACKET socket), again every GAP_MS, at most RATE_PER_S questions in all, until told to stop. Standard
// input carries the orders, one a line: `+ADDRESS` to start asking, `-ADDRESS` to stop. It only asks: the
// answers are read from a capture (test/harness/answer-watch.ts). The rate and the gap stay under the
// responder's limits (src/l2/port.ts: 2,000 answers per second per requester, 10 per second per address),
// so that a limit never passes for a missing answer.
import { createInterface } from 'node:readline';
import { canonicalAddress, parseMac } from '../../src/l2/addresses.ts';
import { getLink } from '../../src/native/links.ts';
import { openPacketSocket } from '../../src/native/packet.ts';
import { questionFrame } from './l2-questions.ts';

const [ifname, ipv4, ipv6, rateText, gapText] = process.argv.slice(2);
const rate = Number(rateText);
const gapMs = Number(gapText);
if (!ifname || !ipv4 || !ipv6 || !(rate > 0) || !(gapMs > 0)) {
  process.stderr.write('usage: l2-asker.ts IFNAME SOURCE_IPV4 SOURCE_IPV6 RATE_PER_S GAP_MS\n');
  process.exit(2);
}
const from = { mac: parseMac(getLink(ifname).mac!), ipv4, ipv6 };
const socket = openPacketSocket(ifname, 'arp', { onFrame() {}, onError() {} });

/** Address -> its question and when it was last asked; Map order is the round-robin order. */
const asking = new Map<string, { frame: Buffer; last: number }>();
createInterface({ input: process.stdin }).on('line', (line) => {
  const address = line.slice(1).trim();
  if (!address) return;
  try {
    if (line[0] === '+' && !asking.has(canonicalAddress(address)))
      asking.set(canonicalAddress(address), { frame: questionFrame(address, from), last: 0 });
    else if (line[0] === '-') asking.delete(canonicalAddress(address));
  } catch (err) {
    process.stderr.write(`l2-asker: ignoring "${line}": ${(err as Error).message}\n`);
  }
});
process.stdin.on('end', () => process.exit(0));

const TICK_MS = 10;
let budget = 0;
let lastTick = performance.now();
setInterval(() => {
  const now = performance.now();
  // Unspent budget does not pile up into a burst after a stall.
  budget = Math.min(budget + ((now - lastTick) / 1000) * rate, rate * (TICK_MS / 1000) * 2);
  lastTick = now;
  const due: string[] = [];
  for (const [address, q] of asking) {
    if (due.length >= Math.floor(budget)) break;
    if (now - q.last >= gapMs) due.push(address);
  }
  for (const address of due) {
    const q = asking.get(address)!;
    try {
      socket.send(q.frame);
    } catch {
      // ENOBUFS or a link flap: asked again after the gap
    }
    q.last = now;
    budget--;
    // To the back of the round, so that every address gets its turn when the budget is short.
    asking.delete(address);
    asking.set(address, q);
  }
}, TICK_MS);
process.on('SIGTERM', () => {
  socket.close();
  process.exit(0);
});
