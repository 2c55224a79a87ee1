/**
 * GTSM for UDP (RFC 5082, which RFC 5881 section 5 asks of single-hop BFD): a socket filter that drops
 * datagrams arriving with a TTL or hop limit below a minimum, before they reach JavaScript. Linux's own
 * IP_MINTTL covers TCP only. node:dgram keeps a socket's descriptor to itself, so it is read from the
 * socket's internal state; where a Node release no longer has it there, `requireMinTtl` says so instead of
 * pretending the check is on.
 */
import type { Socket } from 'node:dgram';
import { native } from './addon.ts';

interface DgramState {
  handle?: { fd?: unknown };
}

/** The descriptor of a bound node:dgram socket, or undefined when Node does not expose it. */
export function dgramFd(socket: Socket): number | undefined {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'state symbol');
  if (!key) return undefined;
  const fd = (socket as unknown as Record<symbol, DgramState | undefined>)[key]?.handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Drops every datagram this bound socket receives with a TTL (hop limit) below `minTtl`. */
export function requireMinTtl(socket: Socket, minTtl: number): void {
  const fd = dgramFd(socket);
  if (fd === undefined) {
    throw new Error(`this Node (${process.version}) does not expose a UDP socket's descriptor`);
  }
  native().udpMinTtlFilter(fd, minTtl);
}
