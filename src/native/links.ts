/**
 * Network interfaces of the current network namespace, from one rtnetlink dump, and a watcher that fires
 * when links or addresses change. Needs no capability.
 */
import { native, type RawLink, type RawLinkFlags, type SystemError } from './addon.ts';

export type LinkFlags = RawLinkFlags;

export interface Link {
  index: number;
  name: string;
  mtu: number;
  /** Index of the bridge or bond this link is a port of; undefined when it is not a port. */
  master: number | undefined;
  /** rtnetlink kind: 'veth', 'bridge', 'bond', 'vlan', ...; '' for physical NICs. */
  kind: string;
  /** For a port: the kind of its master ('bridge', 'bond', ...). */
  slaveKind: string;
  /** RFC 2863 operational state: 'up', 'down', 'lowerlayerdown', 'unknown', ... */
  operState: string;
  /**
   * Carrier transitions since the link was created: a link that went down and came back between two scans
   * shows here even though its flags look the same.
   */
  carrierChanges: number;
  /** Link-layer address as aa:bb:cc:dd:ee:ff; undefined for links without one. */
  mac: string | undefined;
  flags: LinkFlags;
  /** IPv6 link-local addresses that finished duplicate address detection. */
  ipv6LinkLocal: string[];
}

export function formatMac(bytes: Buffer): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, '0')).join(':');
}

function toLink(raw: RawLink): Link {
  return {
    index: raw.index,
    name: raw.name,
    mtu: raw.mtu,
    master: raw.master === 0 ? undefined : raw.master,
    kind: raw.kind,
    slaveKind: raw.slaveKind,
    operState: raw.operState,
    carrierChanges: raw.carrierChanges,
    mac: raw.mac && raw.mac.length > 0 ? formatMac(raw.mac) : undefined,
    flags: { ...raw.flags },
    ipv6LinkLocal: [...raw.ipv6LinkLocal],
  };
}

export function listLinks(): Link[] {
  return native().listLinks().map(toLink);
}

/** One interface by name; throws a SystemError with code ENODEV when there is none. */
export function getLink(name: string): Link {
  const link = listLinks().find((l) => l.name === name);
  if (link) return link;
  const err = new Error(`no such network interface '${name}'`) as SystemError;
  err.code = 'ENODEV';
  err.errno = -19;
  err.syscall = 'RTM_GETLINK';
  throw err;
}

export interface LinkWatch {
  close(): void;
  /** Lets the process exit while watching. */
  unref(): void;
}

/** Calls `onChange` (once per burst of kernel messages) when a link or address is added, removed or changes. */
export function watchLinks(onChange: () => void): LinkWatch {
  const raw = new (native().LinkWatcher)(onChange);
  return { close: () => raw.close(), unref: () => raw.unref() };
}
