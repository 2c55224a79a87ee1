/**
 * One interface's share of L2 mode: the addresses owned on it, the link-layer sockets that hear ARP
 * requests and Neighbor Solicitations for them, solicited-node group memberships, the gratuitous bursts,
 * and rate limits on answers. Sockets open with the first address of their family and close with the last.
 *
 * Needs CAP_NET_RAW (the AF_PACKET sockets); acquire() throws a SystemError with code EPERM without it,
 * and ENODEV when the interface does not exist.
 */
import type { Logger } from '../log.ts';
import type { SystemError } from '../native/addon.ts';
import type { Link } from '../native/links.ts';
import {
  type MulticastMembership,
  openMulticastMembership,
  openPacketSocket,
  type PacketProtocol,
  type PacketSocket,
} from '../native/packet.ts';
import {
  canonicalAddress,
  formatIPv6,
  ipFamily,
  ipv6Bytes,
  ipv6MulticastMac,
  parseMac,
  solicitedNodeGroup,
} from './addresses.ts';
import { type AnnouncementRound, type Announcer, announcementFrames } from './announcer.ts';
import { type RateLimit, RateLimiter } from './rate-limit.ts';
import { type Answer, type Decision, decideArp, decideNdp, type ResponderContext } from './responder.ts';

export interface ResponderLimits {
  /** Answers per requester MAC and asked-for address: stops one host's flood about one address. */
  perQuestion: RateLimit;
  /** Answers per requester MAC over all addresses (a router may ask for every address). */
  perRequester: RateLimit;
  /** Answers per interface, whatever the source MAC (spoofed floods). */
  perInterface: RateLimit;
}

export const DEFAULT_LIMITS: ResponderLimits = {
  perQuestion: { perSecond: 10, burst: 20 },
  perRequester: { perSecond: 2_000, burst: 4_000 },
  perInterface: { perSecond: 20_000, burst: 20_000 },
};

/** Everything worth reporting, for the `beacon l2` command and metrics. */
export type L2Event =
  | ({ type: 'answered'; interface: string } & Omit<Answer, 'type' | 'reply'>)
  | { type: 'announced'; interface: string; address: string; round: number; rounds: number }
  /** Once per second per requester while its questions are being dropped, with how many were. */
  | { type: 'rate-limited'; interface: string; requesterMac: string; address: string; dropped: number }
  /**
   * Once per second while the kernel drops frames for this interface's socket: the speaker did not read
   * them in time (a flood, or no CPU), so some questions went unanswered whatever the rate limits say.
   */
  | { type: 'overrun'; interface: string; protocol: PacketProtocol; dropped: number }
  | { type: 'conflict'; interface: string; address: string; claimantMac: string }
  | { type: 'error'; interface: string; address?: string; error: Error };

export interface LinkPortOptions {
  link: Link;
  /** Carries the node name already. */
  log: Logger;
  announcer: Announcer;
  limits: ResponderLimits;
  /** MACs of every interface of this node, so that its own frames on a shared segment are ignored. */
  ownMacs(): ReadonlySet<string>;
  onEvent(event: L2Event): void;
  /** Whether this node may answer at all right now (the membership's fence); checked per frame. */
  mayAnswer(): boolean;
}

/** How often rate-limit drops are summarised (event and log line): a flood must not become a log flood. */
const DROP_REPORT_INTERVAL_MS = 1_000;

export class LinkPort {
  readonly ifname: string;
  private link: Link;
  private mac: Buffer;
  private linkLocal: Buffer | undefined;
  private readonly log: Logger;
  private readonly announcer: Announcer;
  private readonly onEvent: (event: L2Event) => void;
  private readonly ownMacs: () => ReadonlySet<string>;
  private readonly mayAnswer: () => boolean;
  // Plain sets, no per-address child logger: with thousands of owned addresses the retained loggers cost
  // megabytes, and each line below names its address anyway.
  private readonly owned4 = new Set<string>();
  private readonly owned6 = new Set<string>();
  private arpSocket: PacketSocket | undefined;
  private ndpSocket: PacketSocket | undefined;
  private memberships: MulticastMembership[] = [];
  /** Solicited-node group (canonical text) -> how many owned addresses share it. */
  private readonly groups = new Map<string, number>();
  private readonly limiters: { question: RateLimiter; requester: RateLimiter; port: RateLimiter };
  /** Requester MAC -> questions dropped since the last report, and the last address asked for. */
  private readonly dropped = new Map<string, { count: number; address: string }>();
  private dropReportTimer: NodeJS.Timeout | undefined;
  /** Reads the sockets' kernel drop counters once per DROP_REPORT_INTERVAL_MS while one is open. */
  private overrunTimer: NodeJS.Timeout | undefined;
  /** Frames the kernel dropped since the overrun began, per protocol; absent while none are dropped. */
  private readonly overrun = new Map<PacketProtocol, number>();

  constructor(opts: LinkPortOptions) {
    this.ifname = opts.link.name;
    this.link = opts.link;
    this.mac = LinkPort.macOf(opts.link);
    this.linkLocal = opts.link.ipv6LinkLocal[0] ? ipv6Bytes(opts.link.ipv6LinkLocal[0]) : undefined;
    this.log = opts.log.child({ interface: this.ifname });
    this.announcer = opts.announcer;
    this.onEvent = opts.onEvent;
    this.ownMacs = opts.ownMacs;
    this.mayAnswer = opts.mayAnswer;
    this.limiters = {
      question: new RateLimiter(opts.limits.perQuestion),
      requester: new RateLimiter(opts.limits.perRequester),
      port: new RateLimiter(opts.limits.perInterface, 1),
    };
  }

  private static macOf(link: Link): Buffer {
    if (!link.mac || link.mac === '00:00:00:00:00:00' || link.flags.loopback) {
      throw new Error(`interface ${link.name} has no Ethernet address; L2 mode needs an Ethernet interface`);
    }
    return parseMac(link.mac);
  }

  get size(): number {
    return this.owned4.size + this.owned6.size;
  }

  addresses(): string[] {
    return [...this.owned4.keys(), ...this.owned6.keys()];
  }

  owns(address: string): boolean {
    return this.owned4.has(address) || this.owned6.has(address);
  }

  /**
   * Starts answering for `address` here and sends the gratuitous burst. Idempotent. Throws (and owns
   * nothing more) when the socket cannot be opened: EPERM without CAP_NET_RAW, ENODEV without the link.
   */
  acquire(address: string): void {
    const key = canonicalAddress(address);
    const family = ipFamily(key);
    const owned = family === 4 ? this.owned4 : this.owned6;
    if (owned.has(key)) return;
    this.socketFor(family === 4 ? 'arp' : 'ndp');
    if (family === 6) this.joinGroup(key);
    owned.add(key);
    this.log.info({ address: key, mac: this.link.mac }, 'announcing address on interface');
    this.announce(key);
  }

  /** Stops answering for `address` at once and cancels what is left of its burst. */
  release(address: string): void {
    const key = canonicalAddress(address);
    const family = ipFamily(key);
    const owned = family === 4 ? this.owned4 : this.owned6;
    if (!owned.delete(key)) return;
    this.announcer.stop(this.burstKey(key));
    if (family === 6) this.leaveGroup(key);
    this.log.info({ address: key }, 'stopped announcing address on interface');
    if (family === 4 && this.owned4.size === 0) this.closeSocket('arp');
    if (family === 6 && this.owned6.size === 0) this.closeSocket('ndp');
  }

  /** Sends the gratuitous burst for every owned address again (e.g. after the link came back). */
  announceAll(): void {
    for (const key of this.addresses()) this.announce(key);
  }

  /**
   * Takes in the interface's current state. A new index (the link was recreated) or MAC reopens the
   * sockets; a new index, MAC or link-local address, or a link coming up, repeats the bursts.
   */
  update(link: Link): void {
    const previous = this.link;
    this.link = link;
    const newMac = link.mac !== previous.mac;
    if (newMac) this.mac = LinkPort.macOf(link);
    const linkLocal = link.ipv6LinkLocal[0];
    const newLinkLocal = linkLocal !== previous.ipv6LinkLocal[0];
    this.linkLocal = linkLocal ? ipv6Bytes(linkLocal) : undefined;
    const recreated = link.index !== previous.index;
    // A link that bounced between two scans looks unchanged but for its carrier count; switches and
    // neighbours may have flushed their entries meanwhile.
    const cameUp =
      link.flags.running && (!previous.flags.running || link.carrierChanges !== previous.carrierChanges);
    if (recreated || newMac) {
      this.log.info({ index: link.index, mac: link.mac }, 'interface changed; reopening its sockets');
      this.reopen();
    }
    if (recreated || newMac || cameUp || (newLinkLocal && this.owned6.size > 0)) this.announceAll();
  }

  close(): void {
    for (const key of this.addresses()) this.announcer.stop(this.burstKey(key));
    this.owned4.clear();
    this.owned6.clear();
    this.closeSocket('arp');
    this.closeSocket('ndp');
    if (this.dropReportTimer) clearTimeout(this.dropReportTimer);
    this.reportDrops();
    this.checkOverrun();
  }

  private burstKey(address: string): string {
    return `${this.ifname}/${address}`;
  }

  private announce(key: string): void {
    const log = this.log.child({ address: key });
    this.announcer.start(this.burstKey(key), (r: AnnouncementRound) => {
      const socket = ipFamily(key) === 4 ? this.arpSocket : this.ndpSocket;
      if (!socket || !this.owns(key) || !this.mayAnswer()) return;
      try {
        for (const frame of announcementFrames(key, this.mac, this.linkLocal)) socket.send(frame);
        log.debug({ round: r.round, rounds: r.rounds }, 'sent gratuitous announcement');
        this.onEvent({ type: 'announced', interface: this.ifname, address: key, ...r });
      } catch (err) {
        log.warn({ err, round: r.round }, 'could not send gratuitous announcement');
        this.onEvent({ type: 'error', interface: this.ifname, address: key, error: err as Error });
      }
    });
  }

  private socketFor(protocol: PacketProtocol): PacketSocket {
    const existing = protocol === 'arp' ? this.arpSocket : this.ndpSocket;
    if (existing) return existing;
    const decide = protocol === 'arp' ? decideArp : decideNdp;
    const socket = openPacketSocket(this.ifname, protocol, {
      onFrame: (frame, packetType) => this.onFrame(socket, decide, frame, packetType),
      onError: (err: SystemError) => {
        this.log.warn({ err }, 'link-layer socket error');
        this.onEvent({ type: 'error', interface: this.ifname, error: err });
      },
    });
    if (protocol === 'arp') this.arpSocket = socket;
    else this.ndpSocket = socket;
    this.log.debug({ protocol }, 'opened link-layer socket');
    if (!this.overrunTimer) {
      this.overrunTimer = setInterval(() => this.checkOverrun(), DROP_REPORT_INTERVAL_MS);
      this.overrunTimer.unref();
    }
    return socket;
  }

  /**
   * What the kernel dropped because this speaker did not read its sockets in time: no rate limit decided
   * that, so it is reported apart (event each second, log line when it starts and when it ends).
   */
  private checkOverrun(): void {
    for (const [protocol, socket] of [
      ['arp', this.arpSocket],
      ['ndp', this.ndpSocket],
    ] as const) {
      let dropped = 0;
      try {
        dropped = socket?.stats().drops ?? 0;
      } catch {
        // closed meanwhile: nothing more to count
      }
      const since = this.overrun.get(protocol);
      if (dropped > 0) {
        if (since === undefined)
          this.log.warn(
            { protocol, dropped },
            'the kernel is dropping ARP/NDP frames this speaker did not read in time (a flood, or too little CPU)',
          );
        this.overrun.set(protocol, (since ?? 0) + dropped);
        this.onEvent({ type: 'overrun', interface: this.ifname, protocol, dropped });
      } else if (since !== undefined) {
        this.overrun.delete(protocol);
        this.log.info({ protocol, dropped: since }, 'the kernel no longer drops ARP/NDP frames');
      }
    }
    if (!this.arpSocket && !this.ndpSocket && this.overrun.size === 0 && this.overrunTimer) {
      clearInterval(this.overrunTimer);
      this.overrunTimer = undefined;
    }
  }

  private onFrame(
    socket: PacketSocket,
    decide: (frame: Buffer, packetType: number, ctx: ResponderContext) => Decision,
    frame: Buffer,
    packetType: number,
  ): void {
    const own = this.ownMacs();
    const d = decide(frame, packetType, {
      mac: this.mac,
      owns: (a) => this.owns(a),
      isOwnMac: (m) => own.has(m),
    });
    if (!d) return;
    const address = d.address;
    if (d.type !== 'conflict' && !this.mayAnswer()) return;
    if (d.type === 'conflict') {
      this.log.warn({ address, claimantMac: d.claimantMac }, 'another host announces this address');
      this.onEvent({
        type: 'conflict',
        interface: this.ifname,
        address: d.address,
        claimantMac: d.claimantMac,
      });
      return;
    }
    if (
      !this.limiters.question.allow(`${d.requesterMac}/${d.address}`) ||
      !this.limiters.requester.allow(d.requesterMac) ||
      !this.limiters.port.allow('')
    ) {
      this.noteDrop(d);
      return;
    }
    try {
      socket.send(d.reply);
    } catch (err) {
      this.log.warn({ address, err, requester: d.requester }, 'could not send answer');
      this.onEvent({ type: 'error', interface: this.ifname, address: d.address, error: err as Error });
      return;
    }
    this.log.debug(
      { address, kind: d.kind, requester: d.requester, requesterMac: d.requesterMac },
      'answered',
    );
    const { type: _type, reply: _reply, ...answered } = d;
    this.onEvent({ type: 'answered', interface: this.ifname, ...answered });
  }

  private noteDrop(d: Answer): void {
    const entry = this.dropped.get(d.requesterMac) ?? { count: 0, address: d.address };
    entry.count++;
    entry.address = d.address;
    this.dropped.set(d.requesterMac, entry);
    if (this.dropReportTimer) return;
    this.dropReportTimer = setTimeout(() => {
      this.dropReportTimer = undefined;
      this.reportDrops();
    }, DROP_REPORT_INTERVAL_MS);
    this.dropReportTimer.unref();
  }

  private reportDrops(): void {
    for (const [requesterMac, { count, address }] of this.dropped) {
      this.log.warn(
        { requesterMac, lastAddress: address, dropped: count },
        'rate-limited answers to a requester',
      );
      this.onEvent({ type: 'rate-limited', interface: this.ifname, requesterMac, address, dropped: count });
    }
    this.dropped.clear();
  }

  private joinGroup(address: string): void {
    const group = solicitedNodeGroup(ipv6Bytes(address));
    const name = formatIPv6(group);
    const n = this.groups.get(name) ?? 0;
    this.groups.set(name, n + 1);
    if (n > 0) return;
    // The link-layer membership makes the NIC pass the group's frames to us whatever the IP stack does;
    // the IPv6 membership also sends MLD reports, so that snooping switches forward the group to this port.
    try {
      this.ndpSocket?.addMembership(ipv6MulticastMac(group));
    } catch (err) {
      this.log.warn({ err, group: name }, 'could not add the link-layer multicast membership');
    }
    this.joinIpv6Group(group, name);
  }

  private joinIpv6Group(group: Buffer, name: string): void {
    for (const m of this.memberships) {
      try {
        m.join(group);
        return;
      } catch (err) {
        if ((err as SystemError).code !== 'ENOBUFS' && (err as SystemError).code !== 'ENOMEM') {
          this.log.warn({ err, group: name }, 'could not join solicited-node group (MLD); answering anyway');
          return;
        }
      }
    }
    // Each socket holds as many groups as net.core.optmem_max allows; past that, another socket.
    try {
      const m = openMulticastMembership(this.ifname);
      this.memberships.push(m);
      m.join(group);
    } catch (err) {
      this.log.warn({ err, group: name }, 'could not join solicited-node group (MLD); answering anyway');
    }
  }

  private leaveGroup(address: string): void {
    const group = solicitedNodeGroup(ipv6Bytes(address));
    const name = formatIPv6(group);
    const n = this.groups.get(name) ?? 0;
    if (n > 1) {
      this.groups.set(name, n - 1);
      return;
    }
    this.groups.delete(name);
    try {
      this.ndpSocket?.dropMembership(ipv6MulticastMac(group));
    } catch (err) {
      this.log.debug({ err, group: name }, 'could not drop link-layer membership');
    }
    for (const m of this.memberships) {
      try {
        m.leave(group);
        return;
      } catch {
        // not joined through this socket; try the next
      }
    }
  }

  private closeSocket(protocol: PacketProtocol): void {
    if (protocol === 'arp') {
      this.arpSocket?.close();
      this.arpSocket = undefined;
      return;
    }
    this.ndpSocket?.close();
    this.ndpSocket = undefined;
    for (const m of this.memberships) m.close();
    this.memberships = [];
    this.groups.clear();
  }

  /** After the link was recreated: fresh sockets bound to the new index, groups joined again. */
  private reopen(): void {
    const v6 = [...this.owned6.keys()];
    this.closeSocket('arp');
    this.closeSocket('ndp');
    try {
      if (this.owned4.size > 0) this.socketFor('arp');
      if (v6.length > 0) {
        this.socketFor('ndp');
        for (const key of v6) this.joinGroup(key);
      }
    } catch (err) {
      this.log.error({ err }, 'could not reopen link-layer sockets');
      this.onEvent({ type: 'error', interface: this.ifname, error: err as Error });
    }
  }
}
