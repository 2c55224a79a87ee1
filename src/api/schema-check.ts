/**
 * The structural part of what the API server checks against a CRD's OpenAPI schema, without an API server:
 * types, required fields, enums, patterns, bounds, `set` lists without duplicates, and fields the schema
 * does not have (which the API server would prune, or refuse under kubectl's strict field validation).
 * The CEL rules (`x-kubernetes-validations`) are not evaluated here; the API server runs them.
 */
import type { JSONSchemaProps } from './schema.ts';

/** One way a value breaks its schema: where (a dotted path from the root given) and how. */
export interface SchemaFault {
  path: string;
  message: string;
}

/** The ways `value` breaks `schema`; empty when it fits. */
export function structuralErrors(schema: JSONSchemaProps, value: unknown, path = ''): SchemaFault[] {
  const at = (message: string, where = path): SchemaFault[] => [{ path: where || '.', message }];
  switch (schema.type) {
    case 'object': {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return at('must be an object');
      const entries = Object.entries(value as Record<string, unknown>);
      const errors: SchemaFault[] = [];
      for (const key of schema.required ?? [])
        if (!(key in (value as object)))
          errors.push(...at(`missing required field ${key}`, `${path}.${key}`));
      if (schema.maxProperties !== undefined && entries.length > schema.maxProperties)
        errors.push(...at(`more than ${schema.maxProperties} entries`));
      for (const [key, child] of entries) {
        const childSchema = schema.properties?.[key] ?? schema.additionalProperties;
        if (childSchema) errors.push(...structuralErrors(childSchema, child, `${path}.${key}`));
        else if (!schema['x-kubernetes-preserve-unknown-fields'])
          errors.push(...at('not a field of the schema', `${path}.${key}`));
      }
      return errors;
    }
    case 'array': {
      if (!Array.isArray(value)) return at('must be a list');
      const errors: SchemaFault[] = [];
      if (schema.minItems !== undefined && value.length < schema.minItems)
        errors.push(...at(`fewer than ${schema.minItems} items`));
      if (schema.maxItems !== undefined && value.length > schema.maxItems)
        errors.push(...at(`more than ${schema.maxItems} items`));
      if (schema['x-kubernetes-list-type'] === 'set') {
        const seen = new Set(value.map((v) => JSON.stringify(v)));
        if (seen.size !== value.length) errors.push(...at('duplicate items in a set'));
      }
      value.forEach((item, i) => {
        if (schema.items) errors.push(...structuralErrors(schema.items, item, `${path}[${i}]`));
      });
      return errors;
    }
    case 'string': {
      if (typeof value !== 'string') return at('must be a string');
      if (schema.enum && !schema.enum.includes(value))
        return at(`"${value}" is not one of ${schema.enum.join(', ')}`);
      if (schema.minLength !== undefined && [...value].length < schema.minLength)
        return at(`shorter than ${schema.minLength}`);
      if (schema.maxLength !== undefined && [...value].length > schema.maxLength)
        return at(`longer than ${schema.maxLength}`);
      if (schema.pattern && !new RegExp(schema.pattern, 'u').test(value))
        return at(`"${value}" does not match ${schema.pattern}`);
      return [];
    }
    case 'integer': {
      if (typeof value !== 'number' || !Number.isInteger(value)) return at('must be an integer');
      if (schema.minimum !== undefined && value < schema.minimum)
        return at(`${value} is below ${schema.minimum}`);
      if (schema.maximum !== undefined && value > schema.maximum)
        return at(`${value} is above ${schema.maximum}`);
      return [];
    }
    case 'boolean':
      return typeof value === 'boolean' ? [] : at('must be true or false');
    default:
      return [];
  }
}
