/** BGPAdvertisement: which pools are announced over BGP, to which peers, with which attributes. */
import { COMMUNITY_ALIAS_PATTERN, communityLiteralInRange } from '../cel.ts';
import { arr, int, listMap, obj, str } from '../schema.ts';
import { age, condition, type Kind, MAX_UINT32, nameList, selectorList } from './common.ts';

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

export const bgpAdvertisementStatus = obj({
  conditions: listMap(condition, ['type'], {
    maxItems: 16,
    description:
      'Written by the controller. CommunitiesResolved: False while a community name has no value (no Community object defines it and it is not well-known); the routes of this advertisement are then not announced.',
  }),
});

export const bgpAdvertisementKind: Kind = {
  kind: 'BGPAdvertisement',
  plural: 'bgpadvertisements',
  singular: 'bgpadvertisement',
  shortNames: ['bgpadv'],
  description: 'Which pools are announced over BGP, to which peers, with which attributes.',
  spec: bgpAdvertisementSpec,
  specRequired: false,
  status: bgpAdvertisementStatus,
  statusSubresource: true,
  printerColumns: [
    { name: 'Pools', type: 'string', jsonPath: '.spec.ipAddressPools' },
    { name: 'Peers', type: 'string', jsonPath: '.spec.peers' },
    {
      name: 'Communities Resolved',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="CommunitiesResolved")].status',
    },
    { name: 'Communities', type: 'string', jsonPath: '.spec.communities', priority: 1 },
    age,
  ],
};
