/**
 * What several of Beacon's kinds share: the API group, the label selector and condition schemas, name
 * fields, and the shape of a kind's entry (schemas and printer columns) that render.ts turns into a CRD.
 */
import { NAME_PATTERN } from '../cel.ts';
import { arr, int, obj, oneOf, type Schema, type Static, str, stringMap } from '../schema.ts';

export const GROUP = 'beacon.dev';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}`;

export const MAX_UINT32 = 4294967295;

export const resourceName = (description: string) =>
  str({ description, pattern: NAME_PATTERN, maxLength: 253 });
export const nameList = (description: string) =>
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

/**
 * Defined here, not in types.ts (which re-exports it), because types.ts's resource types carry Kubernetes'
 * object metadata and src/ipam and src/labels must depend on nothing Kubernetes.
 */
export type LabelSelector = Static<typeof labelSelector>;

export const selectorList = (description: string) =>
  arr(labelSelector, { description, maxItems: 64, listType: 'atomic' });

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

/** A name of an object the speaker reports on (a node, a Service, a BGPPeer). */
export const name = (description: string) => str({ description, maxLength: 253 });

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

export const age: PrinterColumn = { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' };
