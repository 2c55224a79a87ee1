/** BFDProfile: BFD timers (RFC 5880) that BGP peers refer to by name. */
import { bool, int, obj } from '../schema.ts';
import { age, type Kind } from './common.ts';

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

export const bfdProfileKind: Kind = {
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
};
