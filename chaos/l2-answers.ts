/**
 * Two answerers for one address, from a capture of every ARP frame crossing the bridge
 * (`tcpdump -l -n -e -tt arp` in the switch namespace). A prober on the client asks for every pool address
 * at a steady rate; the replies between one request for an address and the next form a round. A round
 * answered by two MACs (counting gratuitous claims as answers) is doubled; consecutive doubled rounds form
 * an episode. Its window is the longest time two MACs were both seen answering in it (from the later one's
 * first frame to the earlier one's last), so it is exact to within one probe period; `to - from` (first
 * doubled request to the request after the last doubled round) is the upper bound.
 */

export interface ArpSeen {
  /** Milliseconds since the epoch, from the capture. */
  at: number;
  sourceMac: string;
  kind: 'request' | 'reply';
  /** Request: the sender's IP (`tell`); reply: the address (`X is-at`). */
  senderIp: string;
  /** Request: the address asked for; reply: undefined. */
  targetIp?: string;
  /** Reply: the MAC the address is at. */
  isAt?: string;
}

const HEAD = /^(\d+\.\d+) ([0-9a-f:]{17}) > ([0-9a-f:]{17}), ethertype ARP \(0x0806\), length \d+: (.*)$/;
const REQUEST = /^Request who-has (\S+)(?: \([0-9a-f:]{17}\))? tell (\S+), length \d+/;
const REPLY = /^Reply (\S+) is-at ([0-9a-f:]{17}), length \d+/;

/** One line of `tcpdump -n -e -tt arp`; undefined for anything else. */
export function parseArpLine(line: string): ArpSeen | undefined {
  const h = HEAD.exec(line);
  if (!h) return undefined;
  const at = Math.round(Number(h[1]) * 1000);
  const sourceMac = h[2]!.toLowerCase();
  const req = REQUEST.exec(h[4]!);
  if (req) return { at, sourceMac, kind: 'request', targetIp: req[1]!, senderIp: req[2]! };
  const rep = REPLY.exec(h[4]!);
  if (rep) return { at, sourceMac, kind: 'reply', senderIp: rep[1]!, isAt: rep[2]!.toLowerCase() };
  return undefined;
}

export interface Episode {
  address: string;
  from: number;
  to: number;
  macs: string[];
  /** Per MAC, its first and last answer within the episode. */
  seen: Map<string, { first: number; last: number }>;
  /** The longest overlap of two MACs' answering, in milliseconds. */
  windowMs: number;
}

interface Round {
  at: number;
  macs: Set<string>;
  frames: { at: number; mac: string }[];
}

interface AddressState {
  round: Round | undefined;
  episode: Episode | undefined;
  /** When the current run of unanswered rounds began. */
  silentSince: number | undefined;
  /** Answerers of the rounds closed since `markSettled`. */
  recent: { at: number; macs: string[] }[];
}

export interface AnswerStats {
  rounds: number;
  singleOrNone: number;
  episodes: number;
  longest: Episode | undefined;
}

export class TwoAnswererDetector {
  readonly stats: AnswerStats = { rounds: 0, singleOrNone: 0, episodes: 0, longest: undefined };
  private readonly state = new Map<string, AddressState>();
  private readonly proberIp: string;
  private readonly inPool: (address: string) => boolean;
  private readonly onEpisode: (e: Episode) => void;
  /** Runs of requests nobody answered, per address, closed by an answered one. */
  readonly gaps: { address: string; from: number; ms: number }[] = [];
  /** Every answer (reply or claim) seen, for the unowned-answer check. */
  readonly answers: { at: number; address: string; mac: string }[] = [];

  constructor(opts: { proberIp: string; inPool(address: string): boolean; onEpisode(e: Episode): void }) {
    this.proberIp = opts.proberIp;
    this.inPool = opts.inPool;
    this.onEpisode = opts.onEpisode;
  }

  private of(address: string): AddressState {
    let s = this.state.get(address);
    if (!s) {
      s = { round: undefined, episode: undefined, silentSince: undefined, recent: [] };
      this.state.set(address, s);
    }
    return s;
  }

  add(f: ArpSeen): void {
    if (f.kind === 'request' && f.senderIp === this.proberIp && f.targetIp && this.inPool(f.targetIp)) {
      const s = this.of(f.targetIp);
      if (s.round) this.close(f.targetIp, s, f.at);
      s.round = { at: f.at, macs: new Set(), frames: [] };
      return;
    }
    // Answers: replies for a pool address, and gratuitous requests (sender = target = the address).
    const address = f.kind === 'reply' ? f.senderIp : f.targetIp === f.senderIp ? f.senderIp : undefined;
    if (!address || !this.inPool(address)) return;
    const mac = f.isAt ?? f.sourceMac;
    this.answers.push({ at: f.at, address, mac });
    const round = this.of(address).round;
    round?.macs.add(mac);
    round?.frames.push({ at: f.at, mac });
  }

  private close(address: string, s: AddressState, next: number): void {
    const r = s.round!;
    this.stats.rounds++;
    if (r.macs.size === 0) s.silentSince ??= r.at;
    else if (s.silentSince !== undefined) {
      // Unanswered from the first silent request until the one that got an answer.
      this.gaps.push({ address, from: s.silentSince, ms: r.at - s.silentSince });
      s.silentSince = undefined;
    }
    s.recent.push({ at: r.at, macs: [...r.macs] });
    if (s.recent.length > 50) s.recent.shift();
    if (r.macs.size >= 2) {
      s.episode ??= { address, from: r.at, to: next, macs: [], seen: new Map(), windowMs: 0 };
      const e = s.episode;
      e.to = next;
      for (const m of r.macs) if (!e.macs.includes(m)) e.macs.push(m);
      for (const f of r.frames) {
        const w = e.seen.get(f.mac);
        if (w) w.last = f.at;
        else e.seen.set(f.mac, { first: f.at, last: f.at });
      }
      return;
    }
    this.stats.singleOrNone++;
    if (s.episode) this.endEpisode(s);
  }

  private endEpisode(s: AddressState): void {
    const e = s.episode!;
    s.episode = undefined;
    const spans = [...e.seen.values()];
    for (const a of spans)
      for (const b of spans)
        if (a !== b) e.windowMs = Math.max(e.windowMs, Math.min(a.last, b.last) - Math.max(a.first, b.first));
    this.stats.episodes++;
    if (!this.stats.longest || e.windowMs > this.stats.longest.windowMs) this.stats.longest = e;
    this.onEpisode(e);
  }

  /** Ends open episodes (at the end of the run). */
  flush(): void {
    for (const s of this.state.values()) if (s.episode) this.endEpisode(s);
  }

  /** The answerers of each round for `address` that started at or after `since`. */
  roundsSince(address: string, since: number): string[][] {
    return (this.state.get(address)?.recent ?? []).filter((r) => r.at >= since).map((r) => r.macs);
  }
}
