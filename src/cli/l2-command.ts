import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { canonicalAddress } from '../l2/addresses.ts';
import { L2Answerer, type L2Event } from '../l2/answerer.ts';
import { DEFAULT_EXCLUDE_PATTERNS, InterfaceSelector, selectInterfaces } from '../l2/interfaces.ts';
import { isSystemError, NativeAddonMissingError } from '../native/addon.ts';
import { listLinks } from '../native/links.ts';
import { UsageError } from './args.ts';
import type { Command } from './command.ts';

const USAGE = `Usage: beacon l2 --address A [--address B ...] [--interface IF ...] [flags]

Announces the addresses in L2 mode from this host until interrupted: a gratuitous burst (ARP request and
reply for IPv4, unsolicited Neighbor Advertisements for IPv6) at once and over the next 4.4 s, then answers
ARP requests and Neighbor Solicitations for them with this host's MAC. Does not add the addresses to any
interface. Prints one line per event, as key=value pairs:

  announcing address=192.0.2.10 interface=eth0 mac=02:00:00:00:00:01
  announced address=192.0.2.10 interface=eth0 round=1/5
  answered kind=arp address=192.0.2.10 interface=eth0 requester=192.0.2.1 requester-mac=02:00:00:00:00:02
  rate-limited interface=eth0 requester-mac=02:00:00:00:00:02 last-address=192.0.2.10 dropped=180
  overrun interface=eth0 protocol=arp dropped=412   (the kernel dropped frames not read in time)
  ready addresses=1 interfaces=1

Needs CAP_NET_RAW (link-layer sockets).

Flags:
  --address A          an address to announce (IPv4 or IPv6; repeatable)
  --interface IF       announce on this interface (repeatable); default: every interface L2 mode would
                       choose itself (up, broadcast, not a bridge/bond port, not container plumbing)
  --exclude PATTERN    with automatic choice, skip interfaces matching this pattern (repeatable; replaces
                       the defaults: ${DEFAULT_EXCLUDE_PATTERNS.join(' ')})
  --list-interfaces    print which interfaces automatic choice takes and why others are skipped, then exit
  --node NAME          node name in log lines (default: $NODE_NAME, else the host name)
  plus the common flags: --log-level`;

interface L2Flags {
  addresses: string[];
  interfaces: string[];
  exclude: string[] | undefined;
  listInterfaces: boolean;
  node: string;
}

function parseFlags(args: string[]): L2Flags {
  let values: {
    address?: string[];
    interface?: string[];
    exclude?: string[];
    'list-interfaces'?: boolean;
    node?: string;
  };
  try {
    ({ values } = parseArgs({
      args,
      options: {
        address: { type: 'string', multiple: true },
        interface: { type: 'string', multiple: true },
        exclude: { type: 'string', multiple: true },
        'list-interfaces': { type: 'boolean' },
        node: { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const addresses = (values.address ?? []).map((a) => {
    try {
      return canonicalAddress(a);
    } catch {
      throw new UsageError(`--address ${a}: not an IPv4 or IPv6 address`);
    }
  });
  const listInterfaces = values['list-interfaces'] ?? false;
  if (!listInterfaces && addresses.length === 0) throw new UsageError('give at least one --address');
  return {
    addresses,
    interfaces: values.interface ?? [],
    exclude: values.exclude,
    listInterfaces,
    node: values.node ?? process.env.NODE_NAME ?? hostname(),
  };
}

/** key=value, quoting values with spaces so that every line stays one greppable record. */
function line(event: string, fields: Record<string, string | number>): string {
  const parts = Object.entries(fields).map(([k, v]) => {
    const s = String(v);
    return `${k}=${/[\s"]/.test(s) ? JSON.stringify(s) : s}`;
  });
  return `${[event, ...parts].join(' ')}\n`;
}

function print(event: L2Event): void {
  switch (event.type) {
    case 'answered':
      process.stdout.write(
        line('answered', {
          kind: event.kind,
          address: event.address,
          interface: event.interface,
          requester: event.requester,
          'requester-mac': event.requesterMac,
        }),
      );
      return;
    case 'announced':
      process.stdout.write(
        line('announced', {
          address: event.address,
          interface: event.interface,
          round: `${event.round}/${event.rounds}`,
        }),
      );
      return;
    case 'rate-limited':
      process.stdout.write(
        line('rate-limited', {
          interface: event.interface,
          'requester-mac': event.requesterMac,
          'last-address': event.address,
          dropped: event.dropped,
        }),
      );
      return;
    case 'overrun':
      process.stdout.write(
        line('overrun', { interface: event.interface, protocol: event.protocol, dropped: event.dropped }),
      );
      return;
    case 'conflict':
      process.stdout.write(
        line('conflict', {
          address: event.address,
          interface: event.interface,
          'claimant-mac': event.claimantMac,
        }),
      );
      return;
    case 'error':
      process.stdout.write(
        line('error', {
          interface: event.interface,
          ...(event.address ? { address: event.address } : {}),
          message: event.error.message,
        }),
      );
      return;
  }
}

/** The message for errors a person can act on (missing addon, capability, interface); undefined for others. */
function explain(err: unknown): string | undefined {
  if (err instanceof NativeAddonMissingError) return err.message;
  if (isSystemError(err)) return err.message;
  return undefined;
}

export const l2Command: Command = {
  usage: USAGE,
  async run({ args, log, signal }) {
    const flags = parseFlags(args);
    try {
      if (flags.listInterfaces) {
        const { selected, skipped } = selectInterfaces(
          listLinks(),
          flags.exclude ? { exclude: flags.exclude } : {},
        );
        for (const l of selected)
          process.stdout.write(line('selected', { interface: l.name, mac: l.mac ?? '' }));
        for (const s of skipped)
          process.stdout.write(line('skipped', { interface: s.name, reason: s.reason }));
        return 0;
      }
      const speaker = new L2Answerer({ log, node: flags.node, onEvent: print });
      const desired = (ifnames: readonly string[]) =>
        ifnames.flatMap((i) => flags.addresses.map((address) => ({ address, interface: i })));
      let started = false;
      const selector = new InterfaceSelector({
        log,
        ...(flags.exclude ? { exclude: flags.exclude } : {}),
        onChange: (links) => {
          if (!started) return;
          // Automatic choice follows the links; named interfaces only get their sockets refreshed.
          if (flags.interfaces.length === 0) {
            speaker.reconcile(desired(selector.select().selected.map((l) => l.name)), links);
          }
          speaker.updateLinks(links);
        },
      });
      selector.start();
      const { selected, skipped } = selector.select(flags.interfaces.length ? flags.interfaces : undefined);
      for (const s of skipped) {
        if (flags.interfaces.includes(s.name))
          log.warn({ interface: s.name, reason: s.reason }, 'not announcing on interface');
        else log.debug({ interface: s.name, reason: s.reason }, 'interface not chosen');
      }
      if (flags.interfaces.length > 0) {
        const missing = skipped.filter((s) => s.reason.includes('does not exist'));
        if (missing.length > 0) {
          selector.stop();
          process.stderr.write(
            `beacon l2: no such network interface: ${missing.map((m) => m.name).join(', ')}\n`,
          );
          return 1;
        }
      }
      const names = flags.interfaces.length > 0 ? flags.interfaces : selected.map((l) => l.name);
      if (names.length === 0) {
        selector.stop();
        process.stderr.write('beacon l2: no usable interface (try --list-interfaces)\n');
        return 1;
      }
      for (const name of names) {
        const mac = selector.current().find((l) => l.name === name)?.mac ?? '';
        for (const address of flags.addresses) {
          process.stdout.write(line('announcing', { address, interface: name, mac }));
        }
      }
      const { failed } = speaker.reconcile(desired(names), selector.current());
      if (failed.length > 0) {
        speaker.close();
        selector.stop();
        const first = failed[0]!.error;
        process.stderr.write(`beacon l2: ${explain(first) ?? first.message}\n`);
        return 1;
      }
      started = true;
      process.stdout.write(line('ready', { addresses: flags.addresses.length, interfaces: names.length }));
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener('abort', () => resolve(), { once: true });
      });
      speaker.close();
      selector.stop();
      return 0;
    } catch (err) {
      const message = explain(err);
      if (!message) throw err;
      process.stderr.write(`beacon l2: ${message}\n`);
      return 1;
    }
  },
};
