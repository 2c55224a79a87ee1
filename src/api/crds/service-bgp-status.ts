/** ServiceBGPStatus: written by the speaker, which node announces a Service over BGP, to which peers. */
import { arr, obj, str } from '../schema.ts';
import { age, type Kind, name } from './common.ts';

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

export const serviceBGPStatusKind: Kind = {
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
};
