/**
 * The well-known BGP communities by name, apart from the Community objects so that the CRD schema (which
 * spells them into its CEL rules) and `beacon migrate` can use them without reaching any Kubernetes type.
 */

/**
 * The well-known communities by name, values from the IANA "BGP Well-known Communities" registry. Names
 * are matched in any case, with `_` and `-` alike (`NO_EXPORT`, `no-export`).
 */
export const WELL_KNOWN_COMMUNITIES: Readonly<Record<string, string>> = {
  /** RFC 8326: lower the route's preference, the session is about to be shut down. */
  'graceful-shutdown': '65535:0',
  /** RFC 7999: drop traffic to this prefix. */
  blackhole: '65535:666',
  /** RFC 1997: do not advertise outside the AS (confederation). */
  'no-export': '65535:65281',
  /** RFC 1997: do not advertise to any peer. */
  'no-advertise': '65535:65282',
  /** RFC 1997: do not advertise to eBGP peers, not even within a confederation. */
  'no-export-subconfed': '65535:65283',
  /** RFC 3765: do not advertise to bilateral peers. */
  'no-peer': '65535:65284',
  nopeer: '65535:65284',
};

/** The key of a well-known name in WELL_KNOWN_COMMUNITIES: lower case, `_` written `-`. */
export function wellKnownKey(name: string): string {
  return name.toLowerCase().replaceAll('_', '-');
}

export function wellKnownCommunity(name: string): string | undefined {
  const key = wellKnownKey(name);
  return Object.hasOwn(WELL_KNOWN_COMMUNITIES, key) ? WELL_KNOWN_COMMUNITIES[key] : undefined;
}
