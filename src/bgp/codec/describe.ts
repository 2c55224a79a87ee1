/** Names for codes, so that logs and `beacon bgp` read like a router's own output. */
import { AttrType, CapabilityCode } from './constants.ts';
import type { Capability } from './messages.ts';

const AFI_NAMES: Record<number, string> = { 1: 'ipv4', 2: 'ipv6', 25: 'l2vpn' };
const SAFI_NAMES: Record<number, string> = {
  1: 'unicast',
  2: 'multicast',
  4: 'labeled-unicast',
  70: 'evpn',
  128: 'vpn',
  133: 'flowspec',
};

export function familyName(afi: number, safi: number): string {
  return `${AFI_NAMES[afi] ?? `afi-${afi}`}-${SAFI_NAMES[safi] ?? `safi-${safi}`}`;
}

const CAPABILITY_NAMES: Record<number, string> = {
  [CapabilityCode.MULTIPROTOCOL]: 'multiprotocol',
  [CapabilityCode.ROUTE_REFRESH]: 'route-refresh',
  [CapabilityCode.EXTENDED_NEXT_HOP]: 'extended-next-hop',
  [CapabilityCode.EXTENDED_MESSAGE]: 'extended-message',
  [CapabilityCode.BGP_ROLE]: 'bgp-role',
  [CapabilityCode.GRACEFUL_RESTART]: 'graceful-restart',
  [CapabilityCode.FOUR_OCTET_AS]: 'four-octet-as',
  [CapabilityCode.ADD_PATH]: 'add-path',
  [CapabilityCode.ENHANCED_ROUTE_REFRESH]: 'enhanced-route-refresh',
  [CapabilityCode.LONG_LIVED_GRACEFUL_RESTART]: 'long-lived-graceful-restart',
  [CapabilityCode.FQDN]: 'fqdn',
  [CapabilityCode.SOFTWARE_VERSION]: 'software-version',
  [CapabilityCode.ROUTE_REFRESH_OLD]: 'route-refresh-cisco',
};

/** One capability as `name` or `name(details)`, e.g. `multiprotocol(ipv6-unicast)`. */
export function describeCapability(c: Capability): string {
  switch (c.kind) {
    case 'multiprotocol':
      return `multiprotocol(${familyName(c.afi, c.safi)})`;
    case 'route-refresh':
      return 'route-refresh';
    case 'four-octet-as':
      return `four-octet-as(${c.asn})`;
    case 'graceful-restart': {
      const flags = [c.restarting ? 'R' : '', c.notification ? 'N' : ''].join('');
      const fams = c.families.map((f) => `${familyName(f.afi, f.safi)}${f.forwardingPreserved ? '+F' : ''}`);
      return `graceful-restart(time=${c.restartTime}s${flags ? ` flags=${flags}` : ''}${fams.length ? ` ${fams.join(',')}` : ''})`;
    }
    case 'unknown': {
      const name = CAPABILITY_NAMES[c.code] ?? `capability-${c.code}`;
      if (c.code === CapabilityCode.SOFTWARE_VERSION && c.value.length > 1) {
        return `${name}(${new TextDecoder().decode(c.value.subarray(1, 1 + c.value[0]!))})`;
      }
      if (c.code === CapabilityCode.FQDN && c.value.length >= 1) {
        const host = new TextDecoder().decode(c.value.subarray(1, 1 + c.value[0]!));
        return `${name}(${host})`;
      }
      return name;
    }
  }
}

const ATTRIBUTE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(AttrType).map(([name, code]) => [code, name]),
);

/** A path attribute's name as the RFCs write it (`LOCAL_PREF`), or `attribute-N`. */
export function attributeName(type: number): string {
  return ATTRIBUTE_NAMES[type] ?? `attribute-${type}`;
}

const ERROR_NAMES: Record<number, [string, Record<number, string>]> = {
  1: [
    'message-header-error',
    { 1: 'connection-not-synchronized', 2: 'bad-message-length', 3: 'bad-message-type' },
  ],
  2: [
    'open-message-error',
    {
      1: 'unsupported-version-number',
      2: 'bad-peer-as',
      3: 'bad-bgp-identifier',
      4: 'unsupported-optional-parameter',
      6: 'unacceptable-hold-time',
      7: 'unsupported-capability',
      11: 'role-mismatch',
    },
  ],
  3: [
    'update-message-error',
    {
      1: 'malformed-attribute-list',
      2: 'unrecognized-well-known-attribute',
      3: 'missing-well-known-attribute',
      4: 'attribute-flags-error',
      5: 'attribute-length-error',
      6: 'invalid-origin-attribute',
      8: 'invalid-next-hop-attribute',
      9: 'optional-attribute-error',
      10: 'invalid-network-field',
      11: 'malformed-as-path',
    },
  ],
  4: ['hold-timer-expired', {}],
  5: [
    'fsm-error',
    {
      1: 'unexpected-message-in-opensent',
      2: 'unexpected-message-in-openconfirm',
      3: 'unexpected-message-in-established',
    },
  ],
  6: [
    'cease',
    {
      1: 'maximum-prefixes-reached',
      2: 'administrative-shutdown',
      3: 'peer-deconfigured',
      4: 'administrative-reset',
      5: 'connection-rejected',
      6: 'other-configuration-change',
      7: 'connection-collision-resolution',
      8: 'out-of-resources',
      9: 'hard-reset',
      10: 'bfd-down',
    },
  ],
  7: ['route-refresh-message-error', { 1: 'invalid-message-length' }],
};

/** `code/subcode name/subname`, e.g. `4/0 hold-timer-expired`. */
export function describeNotification(code: number, subcode: number): string {
  const entry = ERROR_NAMES[code];
  const name = entry ? entry[0] : `error-${code}`;
  const sub = subcode === 0 ? '' : `/${entry?.[1][subcode] ?? `subcode-${subcode}`}`;
  return `${code}/${subcode} ${name}${sub}`;
}
