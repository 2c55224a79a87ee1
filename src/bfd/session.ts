/**
 * One BFD session (RFC 5880 asynchronous mode, RFC 5881 single hop) to one peer: the state machine over
 * the UDP transport.
 *
 *   const s = new BfdSession({ localAddress: '192.0.2.10', peerAddress: '192.0.2.1', profile, log });
 *   s.on('state', (c) => console.log(c.to, diagName(c.diag)));
 *   s.start();
 *   await s.stop(); // AdminDown, so the peer does not take a graceful stop for a failure
 */
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { type Clock, systemClock, type Timer } from '../time/clock.ts';
import { BfdFsm, type BfdStateChange, type BfdTimers } from './fsm.ts';
import { type BfdState, type ControlPacket, diagName } from './packet.ts';
import { type BfdLink, type BfdTransport, SINGLE_HOP_TTL, UdpBfdTransport } from './transport.ts';

/**
 * The timers of a BFDProfile (`spec` of the CRD, milliseconds), so a profile passes as it is; the echo
 * fields are accepted and ignored (no echo mode).
 */
export interface BfdProfileOptions {
  /** Required Min RX Interval, ms (default 300). */
  receiveInterval?: number;
  /** Desired Min TX Interval, ms (default 300). */
  transmitInterval?: number;
  /** Detect Mult (default 3). */
  detectMultiplier?: number;
  /** Wait for the peer's first packet before sending. */
  passiveMode?: boolean;
  /**
   * Lowest TTL accepted on received packets (default 254 as in MetalLB's profile; RFC 5881 single hop
   * asks for 255). Not enforced until received TTLs can be read: see transport.ts.
   */
  minimumTtl?: number;
  echoInterval?: number;
  echoMode?: boolean;
}

export const BFD_DEFAULTS = { receiveInterval: 300, transmitInterval: 300, detectMultiplier: 3 } as const;

export function timersFromProfile(p: BfdProfileOptions = {}): BfdTimers {
  return {
    receiveIntervalMs: p.receiveInterval ?? BFD_DEFAULTS.receiveInterval,
    transmitIntervalMs: p.transmitInterval ?? BFD_DEFAULTS.transmitInterval,
    detectMultiplier: p.detectMultiplier ?? BFD_DEFAULTS.detectMultiplier,
    passive: p.passiveMode ?? false,
  };
}

export interface BfdSessionOptions {
  /** Source address; the kernel picks one when absent (fine when the peer is on one connected subnet). */
  localAddress?: string;
  peerAddress: string;
  profile?: BfdProfileOptions;
  log: Logger;
  clock?: Clock;
  /** The shared UDP transport on port 3784 by default. */
  transport?: BfdTransport;
  random?: () => number;
}

export interface BfdSessionEvents {
  state: [BfdStateChange];
}

let shared: UdpBfdTransport | undefined;

/** The process's transport on port 3784 (one receive socket per family for every session). */
export function defaultBfdTransport(log: Logger): BfdTransport {
  shared ??= new UdpBfdTransport({ log });
  return shared;
}

const RETRY_OPEN_MS = 5_000;

export class BfdSession extends EventEmitter<BfdSessionEvents> {
  readonly log: Logger;
  readonly options: Readonly<BfdSessionOptions>;
  private readonly transport: BfdTransport;
  private readonly clock: Clock;
  private readonly fsm: BfdFsm;
  private link: BfdLink | undefined;
  private opening: Promise<void> | undefined;
  private retry: Timer | undefined;
  private running = false;

  constructor(options: BfdSessionOptions) {
    super();
    this.options = options;
    this.clock = options.clock ?? systemClock;
    this.transport = options.transport ?? defaultBfdTransport(options.log);
    const localDiscriminator = this.transport.allocateDiscriminator();
    this.log = options.log.child({ bfdPeer: options.peerAddress, discriminator: localDiscriminator });
    this.fsm = new BfdFsm(
      {
        send: (bytes) => this.link?.send(bytes),
        transition: (c) => this.onTransition(c),
        // Timers run before the event loop polls for input, immediates after it: by then every datagram
        // already in the socket has been read.
        afterPendingInput: (fn) => void setImmediate(fn),
      },
      {
        localDiscriminator,
        timers: timersFromProfile(options.profile),
        clock: this.clock,
        ...(options.random ? { random: options.random } : {}),
      },
    );
  }

  get state(): BfdState {
    return this.fsm.state;
  }
  /** The local diagnostic code (Diag.*): why the session last changed state. */
  get diag(): number {
    return this.fsm.diag;
  }
  get localDiscriminator(): number {
    return this.fsm.localDiscriminator;
  }
  get remoteDiscriminator(): number {
    return this.fsm.remoteDiscriminator;
  }
  get detectionTimeMs(): number {
    return this.fsm.detectionTimeMs;
  }
  get transmitIntervalMs(): number | undefined {
    return this.fsm.transmitIntervalMs;
  }
  /** A poll sequence is under way: new timers are not yet in force on both sides (RFC 5880 6.8.3). */
  get polling(): boolean {
    return this.fsm.polling;
  }

  /** Opens the sockets and starts the handshake; a failure to bind is logged and retried every 5 s. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.open();
  }

  /** New timers; an Up session renegotiates them with a poll sequence. */
  setProfile(profile: BfdProfileOptions): void {
    this.fsm.setTimers(timersFromProfile(profile));
  }

  /** AdminDown to the peer (for about one detection time when it was listening), then closes the sockets. */
  async stop(): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.retry?.cancel();
    this.retry = undefined;
    await this.opening;
    // The clock's timers and the sockets are unref'd; without a ref'd handle a process whose last work is
    // this farewell would exit after the first AdminDown packet.
    const keepAlive = setTimeout(() => {}, 60_000);
    try {
      if (this.link) await new Promise<void>((resolve) => this.fsm.stop(resolve));
    } finally {
      clearTimeout(keepAlive);
    }
    this.fsm.destroy();
    const link = this.link;
    this.link = undefined;
    await link?.close();
  }

  private open(): void {
    const endpoint = {
      peerAddress: this.options.peerAddress,
      minTtl: this.options.profile?.minimumTtl ?? SINGLE_HOP_TTL,
      ...(this.options.localAddress ? { localAddress: this.options.localAddress } : {}),
    };
    this.opening = this.transport
      .open(endpoint, this.fsm.localDiscriminator, (p: ControlPacket) => this.receive(p))
      .then(
        (link) => {
          if (!this.running) {
            void link.close();
            return;
          }
          this.link = link;
          this.fsm.start();
        },
        (err: Error) => {
          if (!this.running) return;
          this.log.error({ err: err.message }, 'cannot open the BFD sockets; retrying');
          this.retry = this.clock.setTimer(RETRY_OPEN_MS, () => {
            this.retry = undefined;
            if (this.running) this.open();
          });
        },
      );
  }

  private receive(p: ControlPacket): void {
    try {
      this.fsm.receive(p);
    } catch (err) {
      this.log.error({ err }, 'error handling a BFD packet');
    }
  }

  private onTransition(c: BfdStateChange): void {
    const line = { from: c.from, to: c.to, diag: diagName(c.diag), failure: c.failure };
    if (c.to === 'Up' || c.from === 'Up') this.log.info(line, `BFD state ${c.to}`);
    else this.log.debug(line, `BFD state ${c.to}`);
    try {
      this.emit('state', c);
    } catch (err) {
      // A throwing listener must not escape into a timer or socket callback and end the process.
      this.log.error({ err }, 'BFD state listener failed');
    }
  }
}
