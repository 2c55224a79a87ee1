/**
 * When each address is first answered on the wire, as a client sees it: an asker in a client namespace
 * (test/harness/l2-asker.ts) sends ARP requests and Neighbor Solicitations for the addresses it
 * is given, and a capture on the client's interface stamps each ARP reply and Neighbor Advertisement sent
 * to the client. Gratuitous announcements go to the broadcast or all-nodes address and do not count: an
 * address is answered when a node answers a question for it. Times are the capture's (milliseconds since
 * the epoch), so how often the caller looks plays no part in them.
 */
import { join } from 'node:path';
import { canonicalAddress } from '../../src/l2/addresses.ts';
import { REPO_ROOT } from './binaries.ts';
import type { Netns } from './netns.ts';
import type { TetheredProcess } from './process.ts';
import { startCapture } from './tcpdump.ts';

/**
 * Questions per second in all: each node answers about a third, well under a responder's 2,000 per
 * requester. With N addresses unanswered at once, each is asked every N / ASK_RATE seconds, which bounds
 * how late its first answer can be seen.
 */
export const ASK_RATE = 1000;
/** Each address asked at most this often: a responder answers one requester 10 times a second per address. */
const ASK_GAP_MS = 200;

const ARP_REPLY = /^(\d+\.\d+) ARP, Reply (\S+) is-at /;
const NEIGHBOR_ADVERTISEMENT = /^(\d+\.\d+) IP6 .*neighbor advertisement, tgt is ([0-9a-fA-F:.]+),/;

/** The address a captured line answers for and when, or undefined (`tcpdump -l -n -tt`). */
export function parseAnswerLine(line: string): { at: number; address: string } | undefined {
  const m = ARP_REPLY.exec(line) ?? NEIGHBOR_ADVERTISEMENT.exec(line);
  if (!m) return undefined;
  return { at: Math.round(Number(m[1]) * 1000), address: canonicalAddress(m[2]!) };
}

interface Question {
  /** Answers before this do not count. */
  since: number;
  answeredAt?: number;
}

export class AnswerWatch {
  private readonly questions = new Map<string, Question>();
  private readonly capture: TetheredProcess;
  private readonly asker: TetheredProcess;

  private constructor(capture: TetheredProcess, asker: TetheredProcess) {
    this.capture = capture;
    this.asker = asker;
  }

  /** Asks and listens on `ifname` of `client`, whose addresses `from` are the questions' sources. */
  static async start(
    client: Netns,
    ifname: string,
    from: { ipv4: string; ipv6: string },
  ): Promise<AnswerWatch> {
    const mac = await client.mac(ifname);
    // Set before anything is asked, so before any answer to a question.
    let watch: AnswerWatch | undefined;
    const capture = await startCapture(
      client,
      'answers',
      [
        '-i',
        ifname,
        '-n',
        '-tt',
        '--immediate-mode',
        // Thousands of answers in a burst must not be dropped by the kernel for want of buffer (KiB).
        '-B',
        '16384',
        `ether dst ${mac} and (arp[6:2] = 2 or (icmp6 and ip6[40] = 136))`,
      ],
      (l) => {
        const a = parseAnswerLine(l);
        if (a) watch?.answered(a.address, a.at);
      },
    );
    const asker = client.spawn(
      'asker',
      join(REPO_ROOT, 'node_modules', '.bin', 'node'),
      [
        join(REPO_ROOT, 'test', 'harness', 'l2-asker.ts'),
        ifname,
        from.ipv4,
        from.ipv6,
        String(ASK_RATE),
        String(ASK_GAP_MS),
      ],
      { stdin: 'pipe' },
    );
    watch = new AnswerWatch(capture, asker);
    return watch;
  }

  /**
   * Asks for `address` until an answer at or after `since` (default: now) arrives. Asking again for an
   * address already asked for from an earlier time changes nothing; from a later time, starts over.
   */
  ask(address: string, since = Date.now()): void {
    const key = canonicalAddress(address);
    const q = this.questions.get(key);
    if (q && q.since >= since) return;
    this.questions.set(key, { since });
    this.order(`+${key}`);
  }

  /** When `address` was first answered since it was asked for, or undefined. */
  answeredAt(address: string): number | undefined {
    return this.questions.get(canonicalAddress(address))?.answeredAt;
  }

  /** The asker or the capture has died: what they said, for the error. */
  failure(): string | undefined {
    for (const p of [this.asker, this.capture]) if (p.hasExited()) return `${p.name} exited:\n${p.tail()}`;
    return undefined;
  }

  async stop(): Promise<void> {
    await this.asker.stop();
    await this.capture.stop();
  }

  private answered(address: string, at: number): void {
    const q = this.questions.get(address);
    if (!q || q.answeredAt !== undefined || at < q.since) return;
    q.answeredAt = at;
    this.order(`-${address}`);
  }

  private order(line: string): void {
    this.asker.child.stdin!.write(`${line}\n`);
  }
}
