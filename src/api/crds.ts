/**
 * Beacon's custom resources, group beacon.dev, version v1alpha1. Field names follow MetalLB's
 * metallb.io/v1beta1 (BGPPeer: v1beta2) wherever the meaning is the same, so that moving from MetalLB is a
 * change of apiVersion. Every check one object can make lives here as schema or CEL, so the API server
 * refuses a bad object at `kubectl apply` with a message naming the field.
 */
import {
  COMMUNITY_ALIAS_PATTERN,
  communityLiteralInRange,
  DURATION_PATTERN,
  ipNotAfter,
  NAME_PATTERN,
} from './cel.ts';
import {
  arr,
  bool,
  int,
  type JSONSchemaProps,
  listMap,
  obj,
  oneOf,
  type Schema,
  str,
  stringMap,
} from './schema.ts';

export const GROUP = 'beacon.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

const MAX_UINT32 = 4294967295;

const resourceName = (description: string) => str({ description, pattern: NAME_PATTERN, maxLength: 253 });
const nameList = (description: string) =>
  arr(resourceName('Name of an object in the same namespace.'), {
    description,
    maxItems: 256,
    listType: 'set',
  });

const labelSelectorRequirement = obj(
  {
    key: str({ description: 'The label key the selector applies to.', minLength: 1, maxLength: 317 }),
    operator: oneOf(['In', 'NotIn', 'Exists', 'DoesNotExist'] as const, {
      description: 'How the key relates to the values: In, NotIn, Exists or DoesNotExist.',
    }),
    values: arr(str({ maxLength: 63 }), {
      description: 'Values for In and NotIn; must be empty for Exists and DoesNotExist.',
      maxItems: 256,
      listType: 'atomic',
    }),
  },
  {
    required: ['key', 'operator'],
    rules: [
      {
        rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
        message: 'values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist',
        fieldPath: '.values',
      },
    ],
  },
);

/** metav1.LabelSelector */
export const labelSelector = obj(
  {
    matchLabels: stringMap({
      description: 'Labels that must all be present with these values.',
      maxProperties: 64,
    }),
    matchExpressions: arr(labelSelectorRequirement, {
      description: 'Requirements that must all hold.',
      maxItems: 64,
      listType: 'atomic',
    }),
  },
  { mapType: 'atomic', description: 'A label selector; an empty selector matches everything.' },
);
const selectorList = (description: string) =>
  arr(labelSelector, { description, maxItems: 64, listType: 'atomic' });

// CRD validation has no cel.bind, so the two ends of a range are spelled out where they are used.
const rangeStart = "self.split('-')[0].trim()";
const rangeEnd = "self.split('-')[1].trim()";
const isRange = `self.contains('-') && size(self.split('-')) == 2 && isIP(${rangeStart}) && isIP(${rangeEnd})`;
const sameFamily = `ip(${rangeStart}).family() == ip(${rangeEnd}).family()`;

/** One entry of IPAddressPool.spec.addresses. */
const addressBlock = str({
  description:
    'A CIDR (192.168.10.0/24, fc00:f853:ccd:e799::/124) or an inclusive range of two addresses of one family (192.168.10.10-192.168.10.20).',
  minLength: 1,
  maxLength: 100,
  rules: [
    {
      rule: `self.contains('-') ? (${isRange}) : isCIDR(self)`,
      messageExpression:
        "'\"' + self + '\" is neither a CIDR (e.g. 192.168.10.0/24) nor a range of two addresses (e.g. 192.168.10.10-192.168.10.20)'",
      reason: 'FieldValueInvalid',
    },
    {
      rule: `!(${isRange}) || ${sameFamily}`,
      messageExpression:
        "'range \"' + self + '\" mixes an IPv4 and an IPv6 address; both ends must be of one family'",
      reason: 'FieldValueInvalid',
    },
    {
      rule: `!(${isRange}) || !(${sameFamily}) || ${ipNotAfter(rangeStart, rangeEnd)}`,
      messageExpression: "'range \"' + self + '\" starts after it ends; write the lower address first'",
      reason: 'FieldValueInvalid',
    },
  ],
});

const serviceAllocation = obj(
  {
    priority: int({
      description:
        'Order in which pools are tried for the Services this pool selects; a lower number is tried first.',
      format: 'int32',
      minimum: 0,
      maximum: 2147483647,
    }),
    namespaces: arr(resourceName('A namespace name.'), {
      description: 'Namespaces whose Services may use this pool.',
      maxItems: 256,
      listType: 'set',
    }),
    namespaceSelectors: selectorList('Namespaces, by label, whose Services may use this pool.'),
    serviceSelectors: selectorList('Services, by label, that may use this pool.'),
  },
  { description: 'Restricts which Services the pool serves and in which order pools are tried.' },
);

export const ipAddressPoolSpec = obj(
  {
    addresses: arr(addressBlock, {
      description: 'The addresses the pool hands out, as CIDRs or ranges; IPv4 and IPv6 may be mixed.',
      minItems: 1,
      maxItems: 128,
      listType: 'atomic',
    }),
    autoAssign: bool({
      description: 'Hand out addresses to Services that did not ask for this pool or address by name.',
      default: true,
    }),
    avoidBuggyIPs: bool({
      description:
        'Never hand out addresses some equipment mishandles: IPv4 addresses ending in .0 or .255 (some old routers drop them); IPv6 addresses whose last 64 bits are all zeros, and the all-zeros address of an IPv6 CIDR entry from /65 to /126, which are Subnet-Router anycast addresses (RFC 4291 2.6.1) that routers on the link answer.',
      default: false,
    }),
    serviceAllocation,
  },
  { required: ['addresses'] },
);

export const condition = obj(
  {
    type: str({ description: 'Condition type, e.g. Ready or Overlapping.', maxLength: 316, minLength: 1 }),
    status: oneOf(['True', 'False', 'Unknown'] as const),
    observedGeneration: int({ format: 'int64', minimum: 0 }),
    lastTransitionTime: str({ format: 'date-time' }),
    reason: str({ maxLength: 1024, minLength: 1, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' }),
    message: str({ maxLength: 32768 }),
  },
  { required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'] },
);

const count = (description: string) => int({ description, format: 'int64', minimum: 0 });

export const ipAddressPoolStatus = obj({
  assignedIPv4: count('IPv4 addresses assigned to Services.'),
  assignedIPv6: count('IPv6 addresses assigned to Services.'),
  availableIPv4: count('IPv4 addresses still free.'),
  availableIPv6: count('IPv6 addresses still free (at most 2^53-1 is shown for very large pools).'),
  conditions: listMap(condition, ['type'], { maxItems: 16, description: 'Ready, Overlapping, ...' }),
});

const interfaceName = str({
  description: 'A network interface name, e.g. eth0, bond0.100.',
  pattern: '^[^\\s/:]{1,15}$',
});

export const l2AdvertisementSpec = obj({
  ipAddressPools: nameList('Pools announced in L2 mode; empty with no selectors means every pool.'),
  ipAddressPoolSelectors: selectorList('Pools, by label, announced in L2 mode.'),
  nodeSelectors: selectorList('Nodes that may answer for these addresses; empty means every node.'),
  interfaces: arr(interfaceName, {
    description: 'Interfaces to answer ARP/NDP on; empty means every suitable interface.',
    maxItems: 64,
    listType: 'set',
  }),
});

const communityReference = str({
  description:
    'A standard community (65535:65282), a large community (large:64512:1:2), or the name of an entry in a Community object.',
  maxLength: 64,
  rules: [
    {
      rule: `self.contains(':') ? ${communityLiteralInRange('self')} : self.matches('${COMMUNITY_ALIAS_PATTERN}')`,
      messageExpression:
        "'\"' + self + '\" is not a community: use AS:value (each 0-65535), large:global:local1:local2 (each 0-4294967295), or a Community name'",
      reason: 'FieldValueInvalid',
    },
  ],
});

export const bgpAdvertisementSpec = obj({
  aggregationLength: int({
    description: 'Prefix length announced for IPv4 addresses; shorter lengths aggregate several Services.',
    format: 'int32',
    minimum: 0,
    maximum: 32,
    default: 32,
  }),
  aggregationLengthV6: int({
    description: 'Prefix length announced for IPv6 addresses.',
    format: 'int32',
    minimum: 0,
    maximum: 128,
    default: 128,
  }),
  localPref: int({
    description: 'LOCAL_PREF sent to iBGP peers.',
    format: 'int64',
    minimum: 0,
    maximum: MAX_UINT32,
  }),
  communities: arr(communityReference, {
    description: 'Communities attached to the announced prefixes.',
    maxItems: 64,
    listType: 'set',
  }),
  ipAddressPools: nameList('Pools announced over BGP; empty with no selectors means every pool.'),
  ipAddressPoolSelectors: selectorList('Pools, by label, announced over BGP.'),
  nodeSelectors: selectorList('Nodes that announce these addresses; empty means every node.'),
  peers: nameList('BGPPeer names to announce to; empty means every peer of the node.'),
});

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
      ],
    }),
    holdTime: duration('Hold time proposed in OPEN: 0 (no keepalives) or 3s to 65535s; default 90s.', [
      {
        rule: "duration(self) == duration('0s') || (duration(self) >= duration('3s') && duration(self) <= duration('65535s'))",
        message: 'holdTime must be 0 or between 3s and 65535s (RFC 4271 section 4.2)',
      },
    ]),
    keepaliveTime: duration('Interval between KEEPALIVEs; must be less than holdTime; default holdTime/3.'),
    connectTime: duration('Time between connection attempts; 1s to 65535s; default 120s.', [
      {
        rule: "duration(self) >= duration('1s') && duration(self) <= duration('65535s')",
        message: 'connectTime must be between 1s and 65535s',
      },
    ]),
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
        rule: '!has(self.sourceAddress) || !isIP(self.sourceAddress) || !isIP(self.peerAddress) || ip(self.sourceAddress).family() == ip(self.peerAddress).family()',
        message: 'sourceAddress and peerAddress must be of the same family',
        fieldPath: '.sourceAddress',
      },
    ],
  },
);

const bfdInterval = (description: string) =>
  int({
    description: `${description} In milliseconds, 10-60000.`,
    format: 'int32',
    minimum: 10,
    maximum: 60000,
  });

export const bfdProfileSpec = obj({
  receiveInterval: bfdInterval(
    'Minimum interval at which this end can receive control packets; default 300.',
  ),
  transmitInterval: bfdInterval(
    'Minimum interval at which this end wants to send control packets; default 300.',
  ),
  detectMultiplier: int({
    description: 'Packets that may be lost before the session is declared down, 2-255; default 3.',
    format: 'int32',
    minimum: 2,
    maximum: 255,
  }),
  echoInterval: bfdInterval('Minimum interval between echo packets; default 50.'),
  echoMode: bool({ description: 'Enable echo mode (not used by Beacon; kept for MetalLB compatibility).' }),
  passiveMode: bool({ description: 'Wait for the router to start the BFD session.' }),
  minimumTtl: int({
    description: 'Lowest TTL accepted on incoming packets, 1-254; default 254.',
    format: 'int32',
    minimum: 1,
    maximum: 254,
  }),
});

const communityAlias = obj(
  {
    name: str({
      description: 'The alias used in BGPAdvertisement.communities.',
      pattern: COMMUNITY_ALIAS_PATTERN,
      maxLength: 64,
    }),
    value: str({
      description: 'A standard (65535:65282) or large (large:64512:1:2) community.',
      maxLength: 48,
      rules: [
        {
          rule: communityLiteralInRange('self'),
          messageExpression:
            "'\"' + self + '\" is not a community: use AS:value (each 0-65535) or large:global:local1:local2 (each 0-4294967295)'",
          reason: 'FieldValueInvalid',
        },
      ],
    }),
  },
  { required: ['name', 'value'] },
);

export const communitySpec = obj({
  communities: listMap(communityAlias, ['name'], { maxItems: 256, description: 'Named communities.' }),
});

const name = (description: string) => str({ description, maxLength: 253 });

export const serviceL2Status = obj({
  node: name('The node answering ARP/NDP for the Service.'),
  serviceName: name('The Service.'),
  serviceNamespace: name("The Service's namespace."),
  addresses: arr(str({ maxLength: 45 }), {
    description: 'The addresses announced.',
    maxItems: 8,
    listType: 'atomic',
  }),
  interfaces: arr(str({ maxLength: 15 }), {
    description: 'Interfaces answered on.',
    maxItems: 64,
    listType: 'atomic',
  }),
});

export const serviceBGPStatus = obj({
  node: name('The node announcing the Service.'),
  serviceName: name('The Service.'),
  serviceNamespace: name("The Service's namespace."),
  prefixes: arr(str({ maxLength: 50 }), {
    description: 'Prefixes announced.',
    maxItems: 8,
    listType: 'atomic',
  }),
  peers: arr(name('A BGPPeer name.'), {
    description: 'Peers the prefixes are announced to.',
    maxItems: 64,
    listType: 'atomic',
  }),
});

export const bgpSessionState = obj({
  node: name('The node the session runs on.'),
  peer: name('The BGPPeer.'),
  peerAddress: str({ maxLength: 45 }),
  sessionState: str({
    description: 'RFC 4271 state: Idle, Connect, Active, OpenSent, OpenConfirm, Established.',
    maxLength: 16,
  }),
  lastTransition: str({ description: 'When the state last changed.', format: 'date-time' }),
  lastError: str({ description: 'The last NOTIFICATION or connection error, if any.', maxLength: 1024 }),
  prefixesAnnounced: int({ format: 'int64', minimum: 0 }),
});

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'boolean' | 'date' | 'number';
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface Kind {
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  description: string;
  /** Absent for the speaker's status kinds, which carry only `status` (written directly, one write each). */
  spec?: Schema<unknown>;
  specRequired: boolean;
  status?: Schema<unknown>;
  /** Whether `status` is a subresource (written apart from spec) or an ordinary field. */
  statusSubresource?: boolean;
  printerColumns: PrinterColumn[];
}

const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };

export const KINDS: readonly Kind[] = [
  {
    kind: 'IPAddressPool',
    plural: 'ipaddresspools',
    singular: 'ipaddresspool',
    shortNames: ['pool', 'pools'],
    description: 'Addresses that Beacon may assign to LoadBalancer Services.',
    spec: ipAddressPoolSpec,
    specRequired: true,
    status: ipAddressPoolStatus,
    statusSubresource: true,
    printerColumns: [
      { name: 'Addresses', type: 'string', jsonPath: '.spec.addresses' },
      { name: 'Auto Assign', type: 'boolean', jsonPath: '.spec.autoAssign' },
      { name: 'Assigned IPv4', type: 'integer', jsonPath: '.status.assignedIPv4' },
      { name: 'Assigned IPv6', type: 'integer', jsonPath: '.status.assignedIPv6' },
      { name: 'Available IPv4', type: 'integer', jsonPath: '.status.availableIPv4' },
      { name: 'Available IPv6', type: 'integer', jsonPath: '.status.availableIPv6' },
      age,
    ],
  },
  {
    kind: 'L2Advertisement',
    plural: 'l2advertisements',
    singular: 'l2advertisement',
    shortNames: ['l2adv'],
    description: 'Which pools are announced in L2 mode (ARP/NDP), from which nodes and interfaces.',
    spec: l2AdvertisementSpec,
    specRequired: false,
    printerColumns: [
      { name: 'Pools', type: 'string', jsonPath: '.spec.ipAddressPools' },
      { name: 'Interfaces', type: 'string', jsonPath: '.spec.interfaces' },
      age,
    ],
  },
  {
    kind: 'BGPAdvertisement',
    plural: 'bgpadvertisements',
    singular: 'bgpadvertisement',
    shortNames: ['bgpadv'],
    description: 'Which pools are announced over BGP, to which peers, with which attributes.',
    spec: bgpAdvertisementSpec,
    specRequired: false,
    printerColumns: [
      { name: 'Pools', type: 'string', jsonPath: '.spec.ipAddressPools' },
      { name: 'Peers', type: 'string', jsonPath: '.spec.peers' },
      { name: 'Communities', type: 'string', jsonPath: '.spec.communities', priority: 1 },
      age,
    ],
  },
  {
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
  },
  {
    kind: 'BFDProfile',
    plural: 'bfdprofiles',
    singular: 'bfdprofile',
    shortNames: [],
    description: 'BFD timers (RFC 5880) shared by BGP peers.',
    spec: bfdProfileSpec,
    specRequired: false,
    printerColumns: [
      { name: 'Receive Interval', type: 'integer', jsonPath: '.spec.receiveInterval' },
      { name: 'Transmit Interval', type: 'integer', jsonPath: '.spec.transmitInterval' },
      { name: 'Multiplier', type: 'integer', jsonPath: '.spec.detectMultiplier' },
      age,
    ],
  },
  {
    kind: 'Community',
    plural: 'communities',
    singular: 'community',
    shortNames: [],
    description: 'Names for BGP community values, usable in BGPAdvertisement.communities.',
    spec: communitySpec,
    specRequired: false,
    printerColumns: [age],
  },
  {
    kind: 'ServiceL2Status',
    plural: 'servicel2statuses',
    singular: 'servicel2status',
    shortNames: ['l2status'],
    description: 'Written by the speaker: which node answers ARP/NDP for a Service, on which interfaces.',
    specRequired: false,
    status: serviceL2Status,
    printerColumns: [
      { name: 'Service Name', type: 'string', jsonPath: '.status.serviceName' },
      { name: 'Service Namespace', type: 'string', jsonPath: '.status.serviceNamespace' },
      { name: 'Node', type: 'string', jsonPath: '.status.node' },
      { name: 'Addresses', type: 'string', jsonPath: '.status.addresses' },
      { name: 'Interfaces', type: 'string', jsonPath: '.status.interfaces' },
      age,
    ],
  },
  {
    kind: 'ServiceBGPStatus',
    plural: 'servicebgpstatuses',
    singular: 'servicebgpstatus',
    shortNames: ['bgpstatus'],
    description: 'Written by the speaker: which node announces a Service over BGP, to which peers.',
    specRequired: false,
    status: serviceBGPStatus,
    printerColumns: [
      { name: 'Service Name', type: 'string', jsonPath: '.status.serviceName' },
      { name: 'Service Namespace', type: 'string', jsonPath: '.status.serviceNamespace' },
      { name: 'Node', type: 'string', jsonPath: '.status.node' },
      { name: 'Prefixes', type: 'string', jsonPath: '.status.prefixes' },
      { name: 'Peers', type: 'string', jsonPath: '.status.peers' },
      age,
    ],
  },
  {
    kind: 'BGPSessionState',
    plural: 'bgpsessionstates',
    singular: 'bgpsessionstate',
    shortNames: ['bgpsession'],
    description: 'Written by the speaker: the state of one BGP session of one node.',
    specRequired: false,
    status: bgpSessionState,
    printerColumns: [
      { name: 'Node', type: 'string', jsonPath: '.status.node' },
      { name: 'Peer', type: 'string', jsonPath: '.status.peer' },
      { name: 'Peer Address', type: 'string', jsonPath: '.status.peerAddress' },
      { name: 'State', type: 'string', jsonPath: '.status.sessionState' },
      { name: 'Prefixes', type: 'integer', jsonPath: '.status.prefixesAnnounced' },
      { name: 'Last Error', type: 'string', jsonPath: '.status.lastError', priority: 1 },
      age,
    ],
  },
];

/** The CustomResourceDefinition object for one kind. */
export function customResourceDefinition(k: Kind): Record<string, unknown> {
  const properties: Record<string, JSONSchemaProps> = {
    apiVersion: { type: 'string', description: 'beacon.dev/v1alpha1' },
    kind: { type: 'string', description: k.kind },
    metadata: { type: 'object' },
  };
  if (k.spec) properties.spec = k.spec.json;
  if (k.status) properties.status = k.status.json;
  const schema: JSONSchemaProps = { type: 'object', description: k.description, properties };
  if (k.specRequired) schema.required = ['spec'];
  const version: Record<string, unknown> = {
    name: VERSION,
    served: true,
    storage: true,
    schema: { openAPIV3Schema: schema },
    additionalPrinterColumns: k.printerColumns,
  };
  if (k.status && k.statusSubresource) version.subresources = { status: {} };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.singular,
        ...(k.shortNames.length ? { shortNames: k.shortNames } : {}),
        categories: ['beacon'],
      },
      versions: [version],
    },
  };
}
