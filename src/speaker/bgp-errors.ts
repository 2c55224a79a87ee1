/**
 * Why a BGP session is not up, in words an operator can act on: the text of a BGPSessionState's
 * `lastError`. It is built from what the session reports (the reason of a state change, a NOTIFICATION) and
 * never carries counters or retry delays, so that a session failing the same way keeps the same text and
 * costs no status write per attempt.
 */
import type { NotificationEvent } from '../bgp/index.ts';

/** Where the session connects to, as `192.0.2.1:179` or `[2001:db8::1]:179`. */
export function endpoint(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

const NO_SYN_ANSWER =
  'no answer to SYN: wrong or missing TCP MD5 password on either side? (else a firewall drops BGP, or the router is down)';

/** What a failed connect means, by the errno code in its message. */
function connectError(where: string, message: string): string {
  const code = /\b(E[A-Z]{4,})\b/.exec(message)?.[1];
  switch (code) {
    case 'ECONNREFUSED':
      return `${where}: connection refused (TCP reset): nothing listens for BGP there, the router refuses connections from this node's address, or it wants GTSM (ttl-security) and the BGPPeer has no ttlSecurity`;
    case 'EHOSTUNREACH':
      return `${where}: host unreachable (EHOSTUNREACH): no ARP/NDP answer from the router, or a router on the way says it cannot reach it`;
    case 'ENETUNREACH':
      return `${where}: network unreachable (ENETUNREACH): this node has no route to the router's address`;
    case 'EADDRNOTAVAIL':
      return `${where}: cannot connect from the source address (EADDRNOTAVAIL): sourceAddress is not an address of this node`;
    case 'ETIMEDOUT':
      return `${where}: ${NO_SYN_ANSWER}`;
    default:
      return `${where}: connect failed: ${message}`;
  }
}

/**
 * The error a state change of the session stands for, or undefined when the change is not a failure (a
 * retry starting, the session coming up). `reason` is the session's own (`connect failed: ...; retrying in
 * 1000 ms`).
 */
export function transitionError(reason: string, where: string): string | undefined {
  const bare = reason.replace(/; (retrying|restarting) in \d+ ms$/, '');
  if (bare === 'connect timed out') return `${where}: ${NO_SYN_ANSWER}`;
  const failed = /^connect failed: (.*)$/.exec(bare);
  if (failed) return connectError(where, failed[1]!);
  if (/^connection lost in OpenSent: connection closed by the peer$/.test(bare))
    return `${where}: the router closed the connection before its OPEN: is this node's address (or sourceAddress) configured as its neighbour, with this AS?`;
  const lost = /^connection lost(?: in \w+)?: (.*)$/.exec(bare);
  if (lost) return `${where}: connection lost: ${lost[1]}`;
  if (bare === 'hold timer expired')
    return `${where}: hold timer expired: no message from the router in time`;
  return undefined;
}

/** A NOTIFICATION either way, with its decoded meaning and the text that came with it. */
export function notificationError(n: NotificationEvent): string {
  const detail = [n.reason, n.shutdownMessage ? `"${n.shutdownMessage}"` : undefined].filter(Boolean);
  return `${n.direction} NOTIFICATION ${n.text}${detail.length ? `: ${detail.join(' ')}` : ''}`;
}
