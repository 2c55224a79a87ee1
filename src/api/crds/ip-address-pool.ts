/** IPAddressPool: the addresses Beacon may assign, and which Services may have them. */
import { ipNotAfter } from '../cel.ts';
import { arr, bool, int, listMap, obj, str } from '../schema.ts';
import { age, condition, type Kind, resourceName, selectorList } from './common.ts';

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

const count = (description: string) => int({ description, format: 'int64', minimum: 0 });

export const ipAddressPoolStatus = obj({
  assignedIPv4: count('IPv4 addresses assigned to Services.'),
  assignedIPv6: count('IPv6 addresses assigned to Services.'),
  availableIPv4: count('IPv4 addresses still free.'),
  availableIPv6: count('IPv6 addresses still free (at most 2^53-1 is shown for very large pools).'),
  conditions: listMap(condition, ['type'], { maxItems: 16, description: 'Ready, Overlapping, ...' }),
});

export const ipAddressPoolKind: Kind = {
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
};
