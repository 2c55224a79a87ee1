/**
 * Loads Beacon's native addon (native/, built by `npm run build:native`) and types its raw interface.
 * Loading is lazy: importing this module never fails, and a missing addon becomes a NativeAddonMissingError
 * that says how to build it, at the first call that needs it. Typed wrappers: packet.ts, links.ts, tcp.ts.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';

/** A failed system call, shaped like Node's own errors: `code` is the errno name, e.g. EPERM or ENODEV. */
export interface SystemError extends Error {
  /** Negative errno, as in Node's errors. */
  errno: number;
  code: string;
  syscall: string;
}

export function isSystemError(err: unknown): err is SystemError {
  return (
    err instanceof Error &&
    typeof (err as Partial<SystemError>).code === 'string' &&
    typeof (err as Partial<SystemError>).errno === 'number'
  );
}

export interface RawLinkFlags {
  up: boolean;
  broadcast: boolean;
  loopback: boolean;
  pointToPoint: boolean;
  running: boolean;
  noArp: boolean;
  multicast: boolean;
  lowerUp: boolean;
}

export interface RawLink {
  index: number;
  name: string;
  mtu: number;
  /** Index of the bridge or bond this link is a port of, 0 when none. */
  master: number;
  /** rtnetlink kind: veth, bridge, bond, vlan, ... ('' for physical NICs and loopback). */
  kind: string;
  /** Kind of the master when this link is a port: bridge, bond, ... */
  slaveKind: string;
  operState: string;
  /** How often the carrier went up or down since the link was created (IFLA_CARRIER_CHANGES). */
  carrierChanges: number;
  mac: Buffer | null;
  flags: RawLinkFlags;
  ipv6LinkLocal: string[];
}

export interface RawPacketSocket {
  readonly fd: number;
  readonly ifindex: number;
  send(frame: Buffer): void;
  addMembership(mac: Buffer): void;
  dropMembership(mac: Buffer): void;
  stats(): { packets: number; drops: number };
  ref(): void;
  unref(): void;
  close(): void;
}

export interface RawMulticastMembership {
  join(group: Buffer): void;
  leave(group: Buffer): void;
  close(): void;
}

export interface RawLinkWatcher {
  close(): void;
  unref(): void;
}

export interface RawConnectWaiter {
  cancel(): void;
}

export interface RawMd5Key {
  address: string;
  key: Buffer;
  prefixLength?: number;
}

export interface RawTcpSocketOptions {
  family: 4 | 6;
  ttl?: number;
  minTtl?: number;
  md5?: RawMd5Key[];
  localAddress?: string;
  localPort?: number;
  reuseAddress?: boolean;
  v6Only?: boolean;
}

/** The addon's exports, as native/src/addon.cc registers them. */
export interface NativeAddon {
  PacketSocket: new (
    ifname: string,
    protocol: 'arp' | 'ndp',
    onFrame: (frame: Buffer, packetType: number) => void,
    onError: (err: SystemError) => void,
  ) => RawPacketSocket;
  MulticastMembership: new (ifname: string) => RawMulticastMembership;
  LinkWatcher: new (onChange: () => void) => RawLinkWatcher;
  ConnectWaiter: new (fd: number, onDone: (err: SystemError | null) => void) => RawConnectWaiter;
  listLinks(): RawLink[];
  tcpSocket(options: RawTcpSocketOptions): number;
  tcpConnect(fd: number, address: string, port: number): boolean;
  tcpListen(fd: number, backlog: number): void;
  tcpSetMd5Key(fd: number, address: string, key: Buffer | null, prefixLength?: number): void;
  /** Drops datagrams with a TTL (hop limit) below `minTtl` on a UDP socket, through a BPF filter. */
  udpMinTtlFilter(fd: number, minTtl: number): void;
  closeFd(fd: number): void;
}

export class NativeAddonMissingError extends Error {
  readonly code = 'ERR_BEACON_NATIVE_MISSING';
}

/** native/build/Release/beacon_native.node, from src/native/ and from dist/native/ alike. */
export const ADDON_PATH =
  process.env.BEACON_NATIVE_ADDON ??
  resolve(import.meta.dirname, '..', '..', 'native', 'build', 'Release', 'beacon_native.node');

const EXPORTS: readonly (keyof NativeAddon)[] = [
  'PacketSocket',
  'MulticastMembership',
  'LinkWatcher',
  'ConnectWaiter',
  'listLinks',
  'tcpSocket',
  'tcpConnect',
  'tcpListen',
  'tcpSetMd5Key',
  'udpMinTtlFilter',
  'closeFd',
];

let loaded: NativeAddon | undefined;

/** The addon, loaded on first use; throws NativeAddonMissingError when it is not built or cannot load. */
export function native(): NativeAddon {
  if (loaded) return loaded;
  if (process.platform !== 'linux') {
    throw new NativeAddonMissingError(`Beacon's native addon is Linux-only (this is ${process.platform})`);
  }
  if (!existsSync(ADDON_PATH)) {
    throw new NativeAddonMissingError(
      `Beacon's native addon is not built (${ADDON_PATH} is missing); run \`npm run build:native\` ` +
        '(needs python3, make and g++)',
    );
  }
  let exports: unknown;
  try {
    exports = createRequire(import.meta.url)(ADDON_PATH);
  } catch (err) {
    throw new NativeAddonMissingError(
      `Beacon's native addon at ${ADDON_PATH} failed to load: ${(err as Error).message}; ` +
        'rebuild it with `npm run build:native`',
      { cause: err },
    );
  }
  const missing = EXPORTS.filter(
    (name) => typeof (exports as Record<string, unknown>)?.[name] !== 'function',
  );
  if (missing.length > 0) {
    throw new NativeAddonMissingError(
      `${ADDON_PATH} is not Beacon's native addon (it lacks ${missing.join(', ')}); rebuild it with \`npm run build:native\``,
    );
  }
  loaded = exports as NativeAddon;
  return loaded;
}

/** Why the addon cannot be used here, or undefined when it can (for tests and benches to skip on). */
export function nativeUnavailable(): string | undefined {
  try {
    native();
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}
