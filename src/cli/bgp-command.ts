/**
 * `beacon bgp`: one BGP session from this host, to check a router's configuration before installing Beacon
 * (and to drive our own network tests). Prints one line per event, `word key=value ...`, so that both a
 * person and `grep '^state Established'` can read it.
 */
import { parseArgs } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { BFD_DEFAULTS, type BfdProfileOptions, diagName } from '../bfd/index.ts';
import {
  BgpListener,
  BgpSession,
  describeCapability,
  describeNotification,
  endOfRib,
  familyName,
  formatPrefix,
  type LargeCommunity,
  type Prefix,
  parseCommunity,
  parseLargeCommunity,
  parsePrefix,
  type RouteAttributes,
  type SessionOptions,
} from '../bgp/index.ts';
import { UsageError } from './args.ts';
import type { Command } from './command.ts';

const USAGE = `Usage: beacon bgp --local-as ASN --peer-as ASN --peer ADDRESS [flags]

Brings up one BGP session, prints every FSM transition and the peer's OPEN, announces the given prefixes and
keeps them announced until interrupted (Ctrl-C / SIGTERM); then withdraws them and sends a Cease.

Flags:
  --local-as ASN            our AS number (1..4294967295)
  --peer-as ASN             the AS the peer must present (equal to --local-as for iBGP)
  --peer ADDRESS            the peer's IPv4 or IPv6 address
  --port PORT               the peer's port (default 179); with --passive, the port we listen on
  --local-address ADDRESS   source address (and, with --passive, the address we listen on)
  --router-id A.B.C.D       our BGP identifier (default: --local-address when it is IPv4)
  --hold-time SECONDS       proposed hold time, 0 or 3..65535 (default 90)
  --password TEXT           TCP MD5 password (RFC 2385; needs the native addon)
  --community C             repeatable: ASN:VALUE, a well-known name (no-export, ...), or large:G:L1:L2
  --local-pref N            LOCAL_PREF (iBGP only)
  --med N                   MULTI_EXIT_DISC
  --prefix P                repeatable: a prefix or address to announce (192.0.2.1/32, 2001:db8::1)
  --prefix-count N          also announce N consecutive host routes (/32 or /128), 1..1000000, from --prefix-base
  --prefix-base ADDRESS     first address of --prefix-count (10.0.0.0 -> 10.0.0.0/32, 10.0.0.1/32, ...)
  --passive                 do not connect; wait for the peer to connect to us
  --graceful-restart        advertise graceful restart (restart time 120 s, forwarding state preserved)
  --restart-time SECONDS    graceful restart time to advertise (default 120)
  --restarting              set the Restart State (R) bit: this speaker has just restarted (RFC 4724 4.1),
                            so the router sends its routes without waiting for ours; needs --graceful-restart
  --ebgp-multihop HOPS      eBGP peer several hops away (TTL; set through the native addon when built)
  --gtsm                    RFC 5082: send TTL 255, accept only TTL >= 254 (needs the native addon)
  --bfd                     run BFD (RFC 5880/5881, UDP 3784) to the peer; BFD down resets the session
  --bfd-rx MS               BFD required min receive interval, 10..60000 ms (default 300)
  --bfd-tx MS               BFD desired min transmit interval, 10..60000 ms (default 300)
  --bfd-multiplier N        BFD detect multiplier, 2..255 (default 3)
  --bfd-passive             wait for the peer's first BFD packet before sending

Output lines (one event each):
  state <State> from=<State> reason="..."
  open router-id=... as=... hold-time=... negotiated-hold-time=... families=...
  capability <name(details)>
  sent updates=N end-of-rib=ipv4,ipv6
  received update announced=N withdrawn=M | received end-of-rib <family>
  received malformed update treat-as-withdraw|attribute-discard ... rule="RFC 7606 ..."
                                 (the session stays up: docs/bgp-update-errors.md)
  notification sent|received <code>/<subcode> <name> [reason="..."] [message="..."]
  route-refresh <family>
  bfd <State> from=<State> diag=<name>   (Up, Down diag=control-detection-time-expired, AdminDown, ...)
  keepalives suspended|resumed   (SIGUSR1 toggles sending keepalives, to test the peer's hold timer)
  announcements withdrawn|restored prefixes=N
                                 (SIGUSR2 toggles: withdraw every prefix / announce them again, the session
                                 stays up)`;

function asn(flag: string, text: string | undefined): number {
  if (text === undefined) throw new UsageError(`${flag} is required`);
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 0xffffffff)
    throw new UsageError(`${flag} must be an ASN, got "${text}"`);
  return n;
}

function integer(flag: string, text: string | undefined, min: number, max: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max)
    throw new UsageError(`${flag} must be ${min}..${max}, got "${text}"`);
  return n;
}

function quote(text: string): string {
  return JSON.stringify(text);
}

/** Splits --community values into RFC 1997 and RFC 8092 communities. */
export function parseCommunities(
  values: readonly string[],
): Pick<RouteAttributes, 'communities' | 'largeCommunities'> {
  const communities: number[] = [];
  const largeCommunities: LargeCommunity[] = [];
  for (const v of values) {
    const isLarge = v.toLowerCase().startsWith('large:') || v.split(':').length === 3;
    if (isLarge) {
      const l = parseLargeCommunity(v);
      if (!l)
        throw new UsageError(
          `--community ${v}: a large community is large:GLOBAL:LOCAL1:LOCAL2 (each 0..4294967295)`,
        );
      largeCommunities.push(l);
    } else {
      const c = parseCommunity(v);
      if (c === undefined)
        throw new UsageError(`--community ${v}: expected ASN:VALUE (each 0..65535) or a well-known name`);
      communities.push(c);
    }
  }
  return {
    ...(communities.length ? { communities } : {}),
    ...(largeCommunities.length ? { largeCommunities } : {}),
  };
}

/** Most prefixes --prefix-count generates: enough for a full-table-sized test, small enough for memory. */
export const MAX_PREFIX_COUNT = 1_000_000;

/**
 * `count` consecutive host routes (/32 or /128) starting at `base`, made one at a time as they are iterated:
 * 100,000 of them are a bench input, and the session keeps only its own compact copy of each. A string says
 * what is wrong.
 */
export function hostRoutes(base: string, count: number): HostRoutes | string {
  const ip = parsePrefix(base);
  if (typeof ip === 'string' || base.includes('/')) return `"${base}" is not an IPv4 or IPv6 address`;
  const width = ip.bytes.length;
  const limit = 2n ** BigInt(width * 8);
  const first = ip.bytes.reduce((a: bigint, b: number) => (a << 8n) | BigInt(b), 0n);
  if (first + BigInt(count) > limit)
    return `${count} addresses from ${base} run past the end of the address space`;
  const family = ip.family;
  const length = width * 8;
  return {
    count,
    *[Symbol.iterator]() {
      const cur = Uint8Array.from(ip.bytes);
      for (let i = 0; i < count; i++) {
        yield { family, length, bytes: Uint8Array.from(cur) };
        for (let j = width - 1; j >= 0; j--) {
          cur[j] = (cur[j]! + 1) & 0xff;
          if (cur[j] !== 0) break;
        }
      }
    },
  };
}

export interface HostRoutes extends Iterable<Prefix> {
  readonly count: number;
}

export const bgpCommand: Command = {
  usage: USAGE,
  async run(ctx) {
    // As in the speaker: a table of 100,000 routes is built from short-lived objects, and V8's
    // memory-saving mode returns their pages instead of pooling them (RSS 113 MB -> 88 MB measured,
    // compiled, with 100,000 /32s; bench/bgp-service.bench.ts).
    setFlagsFromString('--optimize-for-size');
    let values: ReturnType<typeof parse>['values'];
    function parse(args: string[]) {
      return parseArgs({
        args,
        strict: true,
        allowPositionals: false,
        options: {
          'local-as': { type: 'string' },
          'peer-as': { type: 'string' },
          peer: { type: 'string' },
          port: { type: 'string' },
          'local-address': { type: 'string' },
          'router-id': { type: 'string' },
          'hold-time': { type: 'string' },
          password: { type: 'string' },
          community: { type: 'string', multiple: true },
          'local-pref': { type: 'string' },
          med: { type: 'string' },
          prefix: { type: 'string', multiple: true },
          'prefix-count': { type: 'string' },
          'prefix-base': { type: 'string' },
          passive: { type: 'boolean' },
          'graceful-restart': { type: 'boolean' },
          'restart-time': { type: 'string' },
          restarting: { type: 'boolean' },
          'ebgp-multihop': { type: 'string' },
          gtsm: { type: 'boolean' },
          bfd: { type: 'boolean' },
          'bfd-rx': { type: 'string' },
          'bfd-tx': { type: 'string' },
          'bfd-multiplier': { type: 'string' },
          'bfd-passive': { type: 'boolean' },
        },
      });
    }
    try {
      ({ values } = parse(ctx.args));
    } catch (err) {
      throw new UsageError((err as Error).message);
    }
    const localAs = asn('--local-as', values['local-as']);
    const peerAs = asn('--peer-as', values['peer-as']);
    const peer = values.peer;
    if (!peer) throw new UsageError('--peer is required');
    const localAddress = values['local-address'];
    const routerId =
      values['router-id'] ??
      (localAddress && /^\d+\.\d+\.\d+\.\d+$/.test(localAddress) ? localAddress : undefined);
    if (!routerId) throw new UsageError('--router-id is required unless --local-address is an IPv4 address');
    const port = integer('--port', values.port, 0, 65535) ?? 179;
    const holdTimeSec = integer('--hold-time', values['hold-time'], 0, 65535) ?? 90;
    if (holdTimeSec === 1 || holdTimeSec === 2) throw new UsageError('--hold-time must be 0 or at least 3');
    const localPref = integer('--local-pref', values['local-pref'], 0, 0xffffffff);
    const med = integer('--med', values.med, 0, 0xffffffff);
    const multihop = integer('--ebgp-multihop', values['ebgp-multihop'], 1, 255);
    const restartTimeSec = integer('--restart-time', values['restart-time'], 0, 4095) ?? 120;
    const attributes: RouteAttributes = {
      ...parseCommunities(values.community ?? []),
      ...(localPref !== undefined ? { localPref } : {}),
      ...(med !== undefined ? { med } : {}),
    };
    const prefixes = (values.prefix ?? []).map((p) => {
      const parsed = parsePrefix(p);
      if (typeof parsed === 'string') throw new UsageError(`--prefix ${p}: ${parsed}`);
      return parsed;
    });
    const prefixCount = integer('--prefix-count', values['prefix-count'], 1, MAX_PREFIX_COUNT);
    const prefixBase = values['prefix-base'];
    if ((prefixCount === undefined) !== (prefixBase === undefined))
      throw new UsageError('--prefix-count and --prefix-base go together');
    let generated: HostRoutes | undefined;
    if (prefixCount !== undefined && prefixBase !== undefined) {
      const routes = hostRoutes(prefixBase, prefixCount);
      if (typeof routes === 'string') throw new UsageError(`--prefix-base: ${routes}`);
      generated = routes;
    }
    const announceAll = (s: BgpSession) => {
      for (const p of prefixes) s.announce(p, attributes);
      for (const p of generated ?? []) s.announce(p, attributes);
    };
    if (values.restarting && !values['graceful-restart'])
      throw new UsageError('--restarting needs --graceful-restart (the R bit lives in its capability)');
    const passive = values.passive ?? false;
    const bfdFlags = ['bfd-rx', 'bfd-tx', 'bfd-multiplier', 'bfd-passive'] as const;
    const bfdExtra = bfdFlags.find((f) => values[f] !== undefined);
    if (bfdExtra && !values.bfd) throw new UsageError(`--${bfdExtra} needs --bfd`);
    const bfd: BfdProfileOptions | undefined = values.bfd
      ? {
          receiveInterval: integer('--bfd-rx', values['bfd-rx'], 10, 60000) ?? BFD_DEFAULTS.receiveInterval,
          transmitInterval: integer('--bfd-tx', values['bfd-tx'], 10, 60000) ?? BFD_DEFAULTS.transmitInterval,
          detectMultiplier:
            integer('--bfd-multiplier', values['bfd-multiplier'], 2, 255) ?? BFD_DEFAULTS.detectMultiplier,
          passiveMode: values['bfd-passive'] ?? false,
        }
      : undefined;

    const out = (line: string) => process.stdout.write(`${line}\n`);
    const options: SessionOptions = {
      localAs,
      peerAs,
      peerAddress: peer,
      routerId,
      holdTimeSec,
      passive,
      log: ctx.log,
      ...(passive ? {} : { peerPort: port }),
      ...(localAddress ? { localAddress } : {}),
      ...(values.password !== undefined ? { password: values.password } : {}),
      ...(multihop !== undefined ? { ebgpMultihop: multihop } : {}),
      ...(values.gtsm ? { gtsm: true } : {}),
      ...(bfd ? { bfd } : {}),
      ...(values['graceful-restart']
        ? {
            gracefulRestart: {
              restartTimeSec,
              forwardingPreserved: true,
              restarting: values.restarting ?? false,
            },
          }
        : {}),
    };
    let session: BgpSession;
    try {
      session = new BgpSession(options);
    } catch (err) {
      throw new UsageError((err as Error).message);
    }

    session.on('state', (c) => out(`state ${c.to} from=${c.from} reason=${quote(c.reason)}`));
    session.on('open', ({ open, negotiated }) => {
      out(
        `open router-id=${open.bgpId} as=${negotiated.peerAs} my-as-field=${open.myAs} hold-time=${open.holdTime} ` +
          `negotiated-hold-time=${negotiated.holdTimeMs / 1000} keepalive=${negotiated.keepaliveMs / 1000} ` +
          `four-octet-as=${negotiated.fourOctetAs} route-refresh=${negotiated.routeRefresh} ` +
          `families=${negotiated.families.join(',') || 'none'} type=${negotiated.ibgp ? 'ibgp' : 'ebgp'}`,
      );
      for (const c of open.capabilities) out(`capability ${describeCapability(c)}`);
    });
    session.on('sent', (s) =>
      out(
        `sent updates=${s.updates} prefixes=${session.routeCount}${s.endOfRib.length ? ` end-of-rib=${s.endOfRib.join(',')}` : ''}`,
      ),
    );
    session.on('update', (u) => {
      const eor = endOfRib(u);
      if (eor) {
        out(`received end-of-rib ${familyName(eor.afi, eor.safi)}`);
        return;
      }
      const announced = [...u.nlri, ...(u.attributes.mpReach?.nlri ?? [])];
      const withdrawn = [...u.withdrawn, ...(u.attributes.mpUnreach?.withdrawn ?? [])];
      const path = u.attributes.asPath?.flatMap((s) => s.asns).join(' ');
      out(
        `received update announced=${announced.length} withdrawn=${withdrawn.length}` +
          (announced.length ? ` first=${formatPrefix(announced[0]!)} as-path=${quote(path ?? '')}` : ''),
      );
      // RFC 7606: say why a malformed UPDATE withdrew its routes, or what it lost, rather than nothing.
      for (const p of u.treatAsWithdraw ?? [])
        out(
          `received malformed update treat-as-withdraw error=${quote(describeNotification(3, p.subcode))} reason=${quote(p.reason)} rule=${quote(p.rule)}`,
        );
      for (const d of u.attributes.discarded ?? [])
        out(
          `received malformed update attribute-discard type=${d.type} reason=${quote(d.reason)} rule=${quote(d.rule)}`,
        );
    });
    session.on('notification', (n) =>
      out(
        `notification ${n.direction} ${n.text}` +
          (n.reason ? ` reason=${quote(n.reason)}` : '') +
          (n.shutdownMessage ? ` message=${quote(n.shutdownMessage)}` : ''),
      ),
    );
    session.on('route-refresh', (r) => out(`route-refresh ${r.family}`));
    session.on('bfd', (c) => out(`bfd ${c.to} from=${c.from} diag=${diagName(c.diag)}`));

    let suspended = false;
    const toggleKeepalives = () => {
      suspended = !suspended;
      session.suspendKeepalives(suspended);
      out(`keepalives ${suspended ? 'suspended' : 'resumed'}`);
    };
    process.on('SIGUSR1', toggleKeepalives);
    // Withdraw and announce again without touching the session: the router's side of a Service going away.
    let withdrawn = false;
    const toggleAnnouncements = () => {
      withdrawn = !withdrawn;
      const before = session.routeCount;
      if (withdrawn) session.withdrawAll();
      else announceAll(session);
      out(
        `announcements ${withdrawn ? 'withdrawn' : 'restored'} prefixes=${withdrawn ? before : session.routeCount}`,
      );
    };
    process.on('SIGUSR2', toggleAnnouncements);

    let listener: BgpListener | undefined;
    try {
      if (passive) {
        listener = await BgpListener.listen({
          host: localAddress ?? '::',
          port,
          log: ctx.log,
          ...(values.password !== undefined ? { passwords: true } : {}),
          ...(values.gtsm ? { gtsmHops: 1 } : {}),
        });
        listener.add(session);
        out(`listening address=${listener.address.address} port=${listener.address.port}`);
      }
      announceAll(session);
      try {
        session.start();
      } catch (err) {
        out(`error ${quote((err as Error).message)}`);
        return 1;
      }
      // The session's timers are unref'd: without this, a session waiting to reconnect (a cut link) would
      // let the process exit instead of retrying.
      const keepAlive = setInterval(() => {}, 1 << 30);
      if (!ctx.signal.aborted)
        await new Promise<void>((resolve) =>
          ctx.signal.addEventListener('abort', () => resolve(), { once: true }),
        );
      clearInterval(keepAlive);
      out('stopping withdraw=all');
      await session.stop({ withdraw: true, message: 'beacon bgp stopped' });
      out('stopped');
      return 0;
    } finally {
      process.off('SIGUSR1', toggleKeepalives);
      process.off('SIGUSR2', toggleAnnouncements);
      await session.stop();
      await listener?.close();
    }
  },
};
