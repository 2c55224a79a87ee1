/** ServiceL2Status: written by the speaker, which node answers ARP/NDP for a Service and where. */
import { arr, obj, str } from '../schema.ts';
import { age, type Kind, name } from './common.ts';

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

export const serviceL2StatusKind: Kind = {
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
};
