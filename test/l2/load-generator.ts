// Load for the L2 responder (bench/l2.bench.ts and the flood test), run inside the client namespace: ARP
// requests (IPv4 targets) and Neighbor Solicitations (IPv6 targets) from this host, cycling through the
// targets at a steady rate, sent from an AF_PACKET socket so that the kernel's neighbour cache plays no part.
//
//   node test/l2/load-generator.ts IFNAME SOURCE_IPV4 SOURCE_IPV6 RATE_PER_S SECONDS TARGETS_JSON
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseMac } from '../../src/l2/addresses.ts';
import { getLink } from '../../src/native/links.ts';
import { openPacketSocket } from '../../src/native/packet.ts';
import { questionFrame } from '../harness/l2-questions.ts';

const [ifname, sourceV4, sourceV6, rateText, secondsText, targetsFile] = process.argv.slice(2);
if (!ifname || !sourceV4 || !sourceV6 || !rateText || !secondsText || !targetsFile) {
  process.stderr.write(
    'usage: load-generator.ts IFNAME SOURCE_IPV4 SOURCE_IPV6 RATE_PER_S SECONDS TARGETS_JSON\n',
  );
  process.exit(2);
}
const rate = Number(rateText);
const seconds = Number(secondsText);
const targets = JSON.parse(readFileSync(targetsFile, 'utf8')) as string[];
const mac = parseMac(getLink(ifname).mac!);
const frames = targets.map((target) => questionFrame(target, { mac, ipv4: sourceV4, ipv6: sourceV6 }));

const socket = openPacketSocket(ifname, 'arp', { onFrame() {}, onError() {} });
const TICK_MS = 10;
const started = performance.now();
let sent = 0;
let failed = 0;
let next = 0;
while (performance.now() - started < seconds * 1000) {
  // Catch up to where the rate says we should be, so timer jitter does not lower the rate.
  const due = Math.floor(((performance.now() - started) / 1000) * rate);
  for (; sent + failed < due; next = (next + 1) % frames.length) {
    try {
      socket.send(frames[next]!);
      sent++;
    } catch {
      failed++;
    }
  }
  await sleep(TICK_MS);
}
socket.close();
const elapsed = (performance.now() - started) / 1000;
process.stdout.write(`${JSON.stringify({ sent, failed, seconds: elapsed })}\n`);
