/** Community: names for BGP community values, and the well-known names' fixed values. */
import { COMMUNITY_ALIAS_PATTERN, communityLiteralInRange } from '../cel.ts';
import { listMap, obj, str } from '../schema.ts';
import { WELL_KNOWN_COMMUNITIES } from '../well-known-communities.ts';
import { age, type Kind } from './common.ts';

/** CEL: a Community entry's name as a key of WELL_KNOWN_COMMUNITIES (see wellKnownKey). */
const wellKnownName = "self.name.lowerAscii().replace('_', '-')";
const wellKnownMap = `{${Object.entries(WELL_KNOWN_COMMUNITIES)
  .map(([k, v]) => `'${k}': '${v}'`)
  .join(', ')}}`;

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
  {
    required: ['name', 'value'],
    rules: [
      {
        rule: `!(${wellKnownName} in ${wellKnownMap}) || self.value == ${wellKnownMap}[${wellKnownName}]`,
        messageExpression: `'"' + self.name + '" names the well-known community ' + ${wellKnownMap}[${wellKnownName}] + ', so its value must be that; choose another name for another value'`,
        fieldPath: '.value',
        reason: 'FieldValueInvalid',
      },
    ],
  },
);

export const communitySpec = obj({
  communities: listMap(communityAlias, ['name'], { maxItems: 256, description: 'Named communities.' }),
});

export const communityKind: Kind = {
  kind: 'Community',
  plural: 'communities',
  singular: 'community',
  shortNames: [],
  description: 'Names for BGP community values, usable in BGPAdvertisement.communities.',
  spec: communitySpec,
  specRequired: false,
  printerColumns: [age],
};
