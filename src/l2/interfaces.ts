/**
 * Which interfaces L2 mode announces on. An L2Advertisement that names `interfaces` gets exactly those
 * (that exist and are up). Otherwise: every interface that is up with carrier, can broadcast, has an
 * Ethernet address, is not a port of a bridge or bond (its master is announced instead) and does not look
 * like container plumbing (veths, CNI bridges, tunnels), by name patterns that can be configured.
 *
 * selectInterfaces() is the pure rule; InterfaceSelector keeps the answer current, rescanning when the
 * kernel reports a link or address change and on a timer as a fallback.
 */
import type { Logger } from '../log.ts';
import { type Link, type LinkWatch, listLinks, watchLinks } from '../native/links.ts';

/** Interfaces that carry pod or overlay traffic, never the node's own network. Shell-style `*` wildcards. */
export const DEFAULT_EXCLUDE_PATTERNS: readonly string[] = [
  'veth*',
  'cali*',
  'flannel*',
  'cni*',
  'docker*',
  'lxc*',
  'kube-*',
  'vxlan*',
  'tunl*',
  'cilium_*',
  'weave*',
  'genev_sys_*',
  'nodelocaldns',
];

export interface SelectionOptions {
  /** Names from the L2Advertisement; when non-empty, exactly these are used. */
  names?: readonly string[];
  /** Name patterns never announced on when choosing automatically. */
  exclude?: readonly string[];
}

export interface Skipped {
  name: string;
  reason: string;
}

export interface Selection {
  selected: Link[];
  skipped: Skipped[];
}

function patternToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*');
  return new RegExp(`^${escaped}$`);
}

function hasEthernetAddress(link: Link): boolean {
  return link.mac !== undefined && link.mac !== '00:00:00:00:00:00' && link.mac.split(':').length === 6;
}

/** Why an interface may not carry L2 announcements at all, or undefined when it may. */
function unusable(link: Link): string | undefined {
  if (link.flags.loopback) return 'loopback';
  if (!link.flags.up) return 'administratively down';
  if (!link.flags.running) return 'no carrier (operationally down)';
  if (!link.flags.broadcast) return 'cannot broadcast (point-to-point or tunnel)';
  if (!hasEthernetAddress(link)) return 'no Ethernet address';
  return undefined;
}

/**
 * Why a bridge or bond port is not used: the kernel hands its frames to the master before protocol
 * handlers run, so a socket on the port would never hear a question.
 */
function portOf(link: Link, links: readonly Link[], named: boolean): string | undefined {
  if (link.master === undefined) return undefined;
  const master = links.find((l) => l.index === link.master)?.name ?? `#${link.master}`;
  const kind = link.slaveKind || 'master';
  return named
    ? `port of ${kind} ${master}, whose frames go to ${master}: name ${master} instead`
    : `port of ${kind} ${master} (announced there instead)`;
}

export function selectInterfaces(links: readonly Link[], opts: SelectionOptions = {}): Selection {
  const selected: Link[] = [];
  const skipped: Skipped[] = [];
  if (opts.names && opts.names.length > 0) {
    for (const name of opts.names) {
      const link = links.find((l) => l.name === name);
      if (!link) {
        skipped.push({ name, reason: 'named in the L2Advertisement but does not exist' });
        continue;
      }
      const why = unusable(link) ?? portOf(link, links, true);
      if (why) skipped.push({ name, reason: why });
      else selected.push(link);
    }
    return { selected, skipped };
  }
  const exclude = (opts.exclude ?? DEFAULT_EXCLUDE_PATTERNS).map((p) => ({ p, re: patternToRegExp(p) }));
  for (const link of links) {
    const why = unusable(link);
    if (why) {
      skipped.push({ name: link.name, reason: why });
      continue;
    }
    const port = portOf(link, links, false);
    if (port) {
      skipped.push({ name: link.name, reason: port });
      continue;
    }
    const match = exclude.find((e) => e.re.test(link.name));
    if (match) {
      skipped.push({ name: link.name, reason: `matches exclude pattern '${match.p}'` });
      continue;
    }
    selected.push(link);
  }
  return { selected, skipped };
}

export interface InterfaceSelectorOptions {
  log: Logger;
  exclude?: readonly string[];
  /** Fallback rescan period; netlink notifications usually come first. Default 30 s. */
  rescanMs?: number;
  /** Called after a rescan that changed the usable links (names, indexes, MACs, state). */
  onChange?(links: Link[]): void;
}

function fingerprint(links: readonly Link[]): string {
  return JSON.stringify(
    links.map((l) => [
      l.index,
      l.name,
      l.mac,
      l.master,
      l.flags.up,
      l.flags.running,
      l.carrierChanges,
      l.ipv6LinkLocal,
    ]),
  );
}

/** The current links, kept fresh by netlink notifications (debounced) and a periodic rescan. */
export class InterfaceSelector {
  private links: Link[] = [];
  private last = '';
  private watch: LinkWatch | undefined;
  private timer: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private readonly opts: InterfaceSelectorOptions;

  constructor(opts: InterfaceSelectorOptions) {
    this.opts = opts;
  }

  /** Scans once (throwing if even that fails, e.g. the addon is missing), then keeps watching. */
  start(): void {
    this.links = listLinks();
    this.last = fingerprint(this.links);
    try {
      this.watch = watchLinks(() => {
        // One rescan per burst of notifications (a bond coming up sends dozens).
        if (this.debounce) return;
        this.debounce = setTimeout(() => {
          this.debounce = undefined;
          this.rescan();
        }, 100);
      });
      this.watch.unref();
    } catch (err) {
      this.opts.log.warn({ err }, 'cannot watch link changes; relying on the periodic rescan');
    }
    this.timer = setInterval(() => this.rescan(), this.opts.rescanMs ?? 30_000);
    this.timer.unref();
  }

  stop(): void {
    this.watch?.close();
    this.watch = undefined;
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }

  /** The interfaces to announce on for an advertisement naming `names` (or none: automatic choice). */
  select(names?: readonly string[]): Selection {
    return selectInterfaces(this.links, {
      ...(names ? { names } : {}),
      ...(this.opts.exclude ? { exclude: this.opts.exclude } : {}),
    });
  }

  current(): Link[] {
    return this.links;
  }

  rescan(): void {
    try {
      this.links = listLinks();
    } catch (err) {
      this.opts.log.error({ err }, 'cannot list network interfaces');
      return;
    }
    const now = fingerprint(this.links);
    if (now === this.last) return;
    this.last = now;
    this.opts.onChange?.(this.links);
  }
}
