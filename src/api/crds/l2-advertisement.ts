/** L2Advertisement: which pools are answered for with ARP/NDP, from which nodes and interfaces. */
import { arr, obj, str } from '../schema.ts';
import { age, type Kind, nameList, selectorList } from './common.ts';

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

export const l2AdvertisementKind: Kind = {
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
};
