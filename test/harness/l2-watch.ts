/**
 * Watches who answers ARP for a range of addresses, from the wire: a prober in the client namespace asks
 * for each address every period, a capture on the lab's bridge sees every request and answer, and the
 * two-answerer detector (chaos/l2-answers.ts) turns them into episodes of two answerers and runs of no
 * answer. Used by the fault tests and the chaos runner.
 */
import { join } from 'node:path';
import { type Episode, parseArpLine, TwoAnswererDetector } from '../../chaos/l2-answers.ts';
import { ipv4Bytes } from '../../src/l2/addresses.ts';
import { REPO_ROOT } from './binaries.ts';
import { CLIENT_IP, type ClusterLab } from './cluster-lab.ts';
import { startCapture } from './tcpdump.ts';

export interface L2Watch {
  detector: TwoAnswererDetector;
  episodes: Episode[];
  stop(): Promise<void>;
}

export async function watchL2Answers(
  lab: ClusterLab,
  first: string,
  last: string,
  periodMs: number,
): Promise<L2Watch> {
  const n = (ip: string) => ipv4Bytes(ip).readUInt32BE(0);
  const lo = n(first);
  const hi = n(last);
  const episodes: Episode[] = [];
  const detector = new TwoAnswererDetector({
    proberIp: CLIENT_IP,
    inPool: (a) => a.includes('.') && n(a) >= lo && n(a) <= hi,
    onEpisode: (e) => episodes.push(e),
  });
  const capture = await startCapture(
    lab.bridge.switchNs,
    'capture',
    ['-i', lab.bridge.name, '-n', '-e', '-tt', 'arp'],
    (l) => {
      const f = parseArpLine(l);
      if (f) detector.add(f);
    },
  );
  const prober = lab.client.spawn('prober', join(REPO_ROOT, 'node_modules', '.bin', 'node'), [
    join(REPO_ROOT, 'chaos', 'arp-prober.ts'),
    'eth0',
    CLIENT_IP,
    first,
    last,
    String(periodMs),
  ]);
  return {
    detector,
    episodes,
    async stop() {
      await prober.stop();
      // Let the last answers land in the capture before it stops.
      await new Promise((r) => setTimeout(r, 200));
      await capture.stop();
      detector.flush();
    },
  };
}
