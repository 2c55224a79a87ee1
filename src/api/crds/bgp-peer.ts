/** BGPPeer: one BGP session from the selected nodes to a router, with its timers, password and BFD. */
import { DURATION_PATTERN } from '../cel.ts';
import { bool, int, obj, oneOf, str } from '../schema.ts';
import { age, type Kind, MAX_UINT32, resourceName, selectorList } from './common.ts';

const asn = (description: string) => int({ description, format: 'int64', minimum: 1, maximum: MAX_UINT32 });
const duration = (description: string, rules = [] as { rule: string; message: string }[]) =>
  str({ description, pattern: DURATION_PATTERN, maxLength: 32, rules });
const ipAddress = (description: string) =>
  str({
    description,
    maxLength: 45,
    rules: [{ rule: 'isIP(self)', messageExpression: "'\"' + self + '\" is not an IPv4 or IPv6 address'" }],
  });

export const bgpPeerSpec = obj(
  {
    myASN: asn('AS number Beacon uses on this session (1-4294967295).'),
    peerASN: asn("The router's AS number; equal to myASN for iBGP."),
    dynamicASN: oneOf(['internal', 'external'] as const, {
      description:
        "Accept the router's AS number as long as the session is iBGP (internal) or eBGP (external).",
    }),
    peerAddress: ipAddress('Address of the router.'),
    peerPort: int({ description: 'TCP port of the router.', minimum: 1, maximum: 65535, default: 179 }),
    sourceAddress: ipAddress('Local address to connect from; default: chosen by the kernel.'),
    routerID: str({
      description: 'BGP identifier, an IPv4 address; default: derived from the node.',
      maxLength: 15,
      rules: [
        {
          rule: 'isIP(self) && ip(self).family() == 4',
          messageExpression: "'router ID \"' + self + '\" must be an IPv4 address'",
        },
        {
          // RFC 6286 section 2.1: the BGP Identifier is a non-zero 32-bit number; a router refuses 0.0.0.0.
          // isIP accepts no other spelling of it (no leading zeros), so a string comparison is enough.
          rule: "self != '0.0.0.0'",
          message: 'router ID 0.0.0.0 is not a BGP identifier (RFC 6286: it must be non-zero)',
        },
      ],
    }),
    holdTime: duration('Hold time proposed in OPEN: 0 (no keepalives) or 3s to 65535s; default 90s.', [
      {
        rule: "duration(self) == duration('0s') || (duration(self) >= duration('3s') && duration(self) <= duration('65535s'))",
        message: 'holdTime must be 0 or between 3s and 65535s (RFC 4271 section 4.2)',
      },
    ]),
    keepaliveTime: duration('Interval between KEEPALIVEs; must be less than holdTime; default holdTime/3.'),
    connectTime: duration(
      'Longest wait between connection attempts: the first retry comes after 1s and each failed one doubles the wait up to this; 1s to 65535s; default 60s.',
      [
        {
          rule: "duration(self) >= duration('1s') && duration(self) <= duration('65535s')",
          message: 'connectTime must be between 1s and 65535s',
        },
      ],
    ),
    password: str({
      description: 'TCP MD5 password (RFC 2385), in clear; prefer passwordSecret.',
      maxLength: 80,
    }),
    passwordSecret: obj(
      {
        name: resourceName(
          'Name of a Secret of type kubernetes.io/basic-auth whose "password" key holds the password.',
        ),
        namespace: resourceName("Namespace of the Secret; default: Beacon's namespace."),
      },
      { required: ['name'], mapType: 'atomic' },
    ),
    ebgpMultiHop: bool({ description: 'Allow the eBGP router to be more than one hop away (TTL 255).' }),
    ttlSecurity: int({
      description:
        "GTSM (RFC 5082), as FRR's `neighbor X ttl-security hops N` and Calico's ttlSecurity: send with TTL 255 and accept only segments that crossed at most this many hops (1: a router on the node's link, which accepts TTL 255 only). The router must have it on too (FRR: ttl-security hops 1; BIRD: ttl security on).",
      format: 'int32',
      minimum: 1,
      maximum: 254,
    }),
    nodeSelectors: selectorList('Nodes that open this session; empty means every node.'),
    enableGracefulRestart: bool({
      description:
        'Advertise graceful restart (RFC 4724) so the router keeps routes while a speaker restarts.',
    }),
    bfdProfile: resourceName('Name of a BFDProfile; enables BFD on this session.'),
  },
  {
    required: ['myASN', 'peerAddress'],
    rules: [
      {
        rule: 'has(self.peerASN) != has(self.dynamicASN)',
        message: 'set exactly one of peerASN and dynamicASN',
      },
      {
        rule: '!has(self.password) || !has(self.passwordSecret)',
        message: 'set password or passwordSecret, not both',
        fieldPath: '.passwordSecret',
      },
      {
        rule: "!has(self.keepaliveTime) || (has(self.holdTime) ? (duration(self.holdTime) == duration('0s') ? duration(self.keepaliveTime) == duration('0s') : duration(self.keepaliveTime) < duration(self.holdTime)) : duration(self.keepaliveTime) < duration('90s'))",
        message: 'keepaliveTime must be less than holdTime (90s when unset), and 0 when holdTime is 0',
        fieldPath: '.keepaliveTime',
      },
      {
        rule: '!has(self.ebgpMultiHop) || !self.ebgpMultiHop || !has(self.peerASN) || self.peerASN != self.myASN',
        message: 'ebgpMultiHop applies only to eBGP sessions (peerASN different from myASN)',
        fieldPath: '.ebgpMultiHop',
      },
      {
        rule: '!has(self.ttlSecurity) || !has(self.ebgpMultiHop) || !self.ebgpMultiHop',
        message:
          'set ttlSecurity or ebgpMultiHop, not both: GTSM sends TTL 255 and bounds the hops itself (ttlSecurity: N)',
        fieldPath: '.ttlSecurity',
      },
      {
        rule: '!has(self.sourceAddress) || !isIP(self.sourceAddress) || !isIP(self.peerAddress) || ip(self.sourceAddress).family() == ip(self.peerAddress).family()',
        message: 'sourceAddress and peerAddress must be of the same family',
        fieldPath: '.sourceAddress',
      },
    ],
  },
);

export const bgpPeerKind: Kind = {
  kind: 'BGPPeer',
  plural: 'bgppeers',
  singular: 'bgppeer',
  shortNames: ['peer'],
  description: 'A BGP session from the selected nodes to a router.',
  spec: bgpPeerSpec,
  specRequired: true,
  printerColumns: [
    { name: 'Address', type: 'string', jsonPath: '.spec.peerAddress' },
    { name: 'My ASN', type: 'integer', jsonPath: '.spec.myASN' },
    { name: 'Peer ASN', type: 'integer', jsonPath: '.spec.peerASN' },
    { name: 'BFD Profile', type: 'string', jsonPath: '.spec.bfdProfile', priority: 1 },
    age,
  ],
};
