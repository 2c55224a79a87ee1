/**
 * BFD beside a BGP session (RFC 5882): the one file of src/bgp that knows src/bfd, and it knows it only
 * through src/bfd/index.ts. The session gets back a running BFD session and two callbacks: every state
 * change (for its `bfd` event), and "the path is down", which is a BFD failure and never an AdminDown from
 * the peer (RFC 5882 3.2). A BFD session that never comes Up reports nothing, so it does not hold BGP back.
 */
import type { Logger } from 'pino';
import {
  type BfdProfileOptions,
  BfdSession,
  type BfdStateChange,
  type BfdTransport,
  diagName,
} from '../../bfd/index.ts';
import type { Clock } from '../../time/clock.ts';

export type { BfdProfileOptions, BfdSession, BfdStateChange, BfdTransport };

export interface BfdBesideOptions {
  peerAddress: string;
  localAddress?: string;
  profile: BfdProfileOptions;
  /** BFD's UDP transport; the process's shared one on port 3784 by default. */
  transport?: BfdTransport;
  log: Logger;
  clock: Clock;
  onChange(change: BfdStateChange): void;
  /** BFD declared the path dead; `reason` names BFD's diagnostic for logs and the NOTIFICATION's reason. */
  onPathDown(reason: string, change: BfdStateChange): void;
}

/** Starts a BFD session to the BGP peer; stop it with `stop()` (AdminDown first, RFC 5882 3.2). */
export function startBfdBeside(o: BfdBesideOptions): BfdSession {
  const bfd = new BfdSession({
    peerAddress: o.peerAddress,
    profile: o.profile,
    log: o.log,
    clock: o.clock,
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    ...(o.transport ? { transport: o.transport } : {}),
  });
  bfd.on('state', (c) => {
    o.onChange(c);
    if (c.failure) o.onPathDown(`BFD session down (${diagName(c.diag)})`, c);
  });
  bfd.start();
  return bfd;
}
