/**
 * CEL expressions shared by several CRD rules. Kubernetes' CEL has IP and CIDR types but no ordering on
 * addresses, so `ipNotAfter` compares two addresses bit by bit through prefix containment.
 */

/**
 * A CEL string expression that orders addresses of one family as strings: IPv4 as 12 decimal digits, IPv6
 * as 32 lowercase hex digits (`::` expanded and every group padded to 4). Dotted IPv4 inside an IPv6
 * address is not expanded; such ranges may be judged wrongly here and are checked again by the controller.
 * Kubernetes' CEL has IP values but no ordering on them, and no cel.bind in CRD rules, hence the spelled-out
 * expansion; the cost estimator rejects a bit-by-bit comparison.
 */
function addressSortKey(x: string): string {
  // Indexing a fixed number of parts: `map` over a split makes the cost estimator assume a huge list.
  const padded = (list: string, i: number, width: number) =>
    `('${'0'.repeat(width - 1)}' + ${list}[${i}]).substring(size(${list}[${i}]) - 1)`;
  const octets = `${x}.split('.')`;
  const v4 = [0, 1, 2, 3].map((i) => padded(octets, i, 3)).join(' + ');
  // Not string(ip(x)): the estimator cannot bound the size of a string built at run time.
  const canonical = `${x}.lowerAscii()`;
  // '::1' -> '0::1' and '1::' -> '1::0', so that splitting on ':' counts the groups written out.
  const full = `((${canonical}.startsWith('::') ? '0' : '') + ${canonical} + (${canonical}.endsWith('::') ? '0' : ''))`;
  const zeros = `'0:0:0:0:0:0:0:0:'.substring(0, 2 * (9 - size(${full}.split(':'))))`;
  const groups = `${full}.replace('::', ':' + ${zeros}).split(':')`;
  const v6 = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => padded(groups, i, 4)).join(' + ');
  return `(ip(${x}).family() == 4 ? ${v4} : ${v6})`;
}

/** True when address `a` is not greater than address `b` (CEL strings that passed isIP, of one family). */
export function ipNotAfter(a: string, b: string): string {
  return `${addressSortKey(a)} <= ${addressSortKey(b)}`;
}

/** A Kubernetes resource name (DNS-1123 subdomain). */
export const NAME_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';

/** A Go duration as metav1.Duration accepts it, e.g. 90s, 1m30s, 500ms. */
export const DURATION_PATTERN = '^([0-9]+(\\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$';

/** A standard community `AS:value` (RFC 1997), each half 0..65535. */
export const STANDARD_COMMUNITY_PATTERN = '^[0-9]{1,5}:[0-9]{1,5}$';
/** A large community `large:global:local1:local2` (RFC 8092), each part 0..4294967295. */
export const LARGE_COMMUNITY_PATTERN = '^large:[0-9]{1,10}:[0-9]{1,10}:[0-9]{1,10}$';
/** A name standing for a community defined in a `Community` object. */
export const COMMUNITY_ALIAS_PATTERN = '^[a-zA-Z][a-zA-Z0-9_.-]*$';

/** CEL: the string `s` is a community literal whose numbers are in range. */
export function communityLiteralInRange(s: string): string {
  const standard = `${s}.split(':').all(p, int(p) <= 65535)`;
  const large = `${s}.substring(6).split(':').all(p, int(p) <= 4294967295)`;
  return `(${s}.matches('${STANDARD_COMMUNITY_PATTERN}') && ${standard}) || (${s}.matches('${LARGE_COMMUNITY_PATTERN}') && ${large})`;
}
