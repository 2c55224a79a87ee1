// `node test/hostile/inject-frames.ts IFNAME FILE [--rate N] [--seconds S] [--random-source]`: sends the
// Ethernet frames in FILE (one hex frame per line) on IFNAME from a raw socket, in order and round after
// round: once each by default, or at N frames per second for S seconds (N=0: as fast as the socket takes
// them). --random-source gives every frame a fresh locally administered source MAC (also written as the
// ARP sender MAC): a spoofed flood that per-requester limits cannot stop. Prints `sent N` at the end.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openPacketSocket } from '../../src/native/packet.ts';

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    rate: { type: 'string' },
    seconds: { type: 'string', default: '0' },
    'random-source': { type: 'boolean', default: false },
  },
});
const [ifname, file] = positionals;
if (!ifname || !file) {
  process.stderr.write('usage: inject-frames.ts IFNAME FILE [--rate N] [--seconds S] [--random-source]\n');
  process.exit(2);
}
const frames = readFileSync(file, 'utf8')
  .split('\n')
  .filter(Boolean)
  .map((h) => Buffer.from(h, 'hex'));
const socket = openPacketSocket(ifname, 'arp', { onFrame: () => {}, onError: () => {} });
const randomSource = values['random-source'];
let sent = 0;
let failed = 0;
let n = 0;
const send = () => {
  const f = Buffer.from(frames[n++ % frames.length]!);
  if (randomSource) {
    const mac = Buffer.from([0x02, 0x77, n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
    mac.copy(f, 6);
    // An ARP frame carries the sender MAC again (offset 22).
    if (f.readUInt16BE(12) === 0x0806) mac.copy(f, 22);
  }
  try {
    socket.send(f);
    sent++;
  } catch {
    failed++;
  }
};

const seconds = Number(values.seconds);
if (seconds <= 0) {
  for (let i = 0; i < frames.length; i++) send();
} else {
  const rate = Number(values.rate ?? '0');
  const start = performance.now();
  const end = start + seconds * 1000;
  while (performance.now() < end) {
    const due = rate > 0 ? Math.floor(((performance.now() - start) / 1000) * rate) : sent + failed + 256;
    while (sent + failed < due) send();
    // Let the event loop breathe (and the kernel drain) between batches.
    await new Promise((r) => setImmediate(r));
  }
}
socket.close();
process.stdout.write(`sent ${sent} failed ${failed}\n`);
