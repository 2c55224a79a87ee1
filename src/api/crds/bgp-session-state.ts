/** BGPSessionState: written by the speaker, the state of one BGP session of one node. */
import { int, obj, str } from '../schema.ts';
import { age, type Kind, name } from './common.ts';

export const bgpSessionState = obj({
  node: name('The node the session runs on.'),
  peer: name('The BGPPeer.'),
  peerAddress: str({ maxLength: 45 }),
  sessionState: str({
    description: 'RFC 4271 state: Idle, Connect, Active, OpenSent, OpenConfirm, Established.',
    maxLength: 16,
  }),
  lastTransition: str({ description: 'When the state last changed.', format: 'date-time' }),
  lastError: str({
    description:
      'Why the session is not up: a connection error, a NOTIFICATION either way with its meaning, or a configuration error (password Secret, router ID). Empty once the session is Established, unless the configuration has a problem the session survives.',
    maxLength: 1024,
  }),
  prefixesAnnounced: int({
    description: 'Prefixes the router was sent on this session and not since withdrawn; 0 while it is down.',
    format: 'int64',
    minimum: 0,
  }),
});

export const bgpSessionStateKind: Kind = {
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
};
