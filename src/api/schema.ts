/**
 * A small builder for Kubernetes structural OpenAPI v3 schemas whose TypeScript type is inferred from the
 * builder calls. The CRD manifests in crds/ are generated from these values and the API types in
 * src/api/types.ts are inferred from the same values, so the two cannot drift apart.
 */

/** A CEL validation rule, as `x-kubernetes-validations` takes it. */
export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  fieldPath?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
}

/** The subset of apiextensions.k8s.io/v1 JSONSchemaProps that Beacon's CRDs use. */
export interface JSONSchemaProps {
  type?: 'object' | 'array' | 'string' | 'integer' | 'boolean';
  description?: string;
  format?: string;
  pattern?: string;
  enum?: readonly (string | number)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  maxProperties?: number;
  items?: JSONSchemaProps;
  properties?: Record<string, JSONSchemaProps>;
  required?: string[];
  additionalProperties?: JSONSchemaProps;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-validations'?: ValidationRule[];
}

/** A schema value carrying the TypeScript type of the data it describes. */
export interface Schema<T> {
  readonly json: JSONSchemaProps;
  /** Never set: only here so that `Static` can read the type back. */
  readonly __type?: T;
}

export type Static<S> = S extends Schema<infer T> ? T : never;

type Simplify<T> = { [K in keyof T]: T[K] } & {};

interface Common {
  description?: string;
  rules?: ValidationRule[];
}

function build<T>(json: JSONSchemaProps, common: Common): Schema<T> {
  const out: JSONSchemaProps = { ...json };
  if (common.description !== undefined) out.description = common.description;
  if (common.rules?.length) out['x-kubernetes-validations'] = common.rules;
  return { json: out };
}

export interface StringOptions extends Common {
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  format?: string;
  default?: string;
}

export function str(opts: StringOptions = {}): Schema<string> {
  const { description, rules, ...rest } = opts;
  return build({ type: 'string', ...rest }, { description, rules });
}

export function oneOf<const V extends readonly string[]>(
  values: V,
  opts: Common & { default?: V[number] } = {},
) {
  const { description, rules, ...rest } = opts;
  return build<V[number]>({ type: 'string', enum: values, ...rest }, { description, rules });
}

export interface IntegerOptions extends Common {
  minimum?: number;
  maximum?: number;
  format?: 'int32' | 'int64';
  default?: number;
}

export function int(opts: IntegerOptions = {}): Schema<number> {
  const { description, rules, ...rest } = opts;
  return build({ type: 'integer', ...rest }, { description, rules });
}

export function bool(opts: Common & { default?: boolean } = {}): Schema<boolean> {
  const { description, rules, ...rest } = opts;
  return build({ type: 'boolean', ...rest }, { description, rules });
}

export interface ArrayOptions extends Common {
  minItems?: number;
  /** Required: CEL cost estimation needs a bound on every list a rule walks. */
  maxItems: number;
  listType?: 'atomic' | 'set';
}

export function arr<T>(items: Schema<T>, opts: ArrayOptions): Schema<T[]> {
  const { description, rules, listType, ...rest } = opts;
  const json: JSONSchemaProps = { type: 'array', items: items.json, ...rest };
  if (listType) json['x-kubernetes-list-type'] = listType;
  return build(json, { description, rules });
}

/** A list of objects merged by key, e.g. conditions by `type`. */
export function listMap<T>(items: Schema<T>, keys: (keyof T & string)[], opts: ArrayOptions): Schema<T[]> {
  const { description, rules, listType: _ignored, ...rest } = opts;
  return build(
    {
      type: 'array',
      items: items.json,
      ...rest,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': keys,
    },
    { description, rules },
  );
}

export function stringMap(opts: Common & { maxProperties?: number } = {}): Schema<Record<string, string>> {
  const { description, rules, ...rest } = opts;
  return build({ type: 'object', additionalProperties: { type: 'string' }, ...rest }, { description, rules });
}

type Props = Record<string, Schema<unknown>>;

export type ObjectType<P extends Props, R extends keyof P> = Simplify<
  { [K in R]: Static<P[K]> } & { [K in Exclude<keyof P, R>]?: Static<P[K]> }
>;

export interface ObjectOptions<R> extends Common {
  required?: readonly R[];
  mapType?: 'atomic' | 'granular';
}

export function obj<P extends Props, R extends keyof P & string = never>(
  properties: P,
  opts: ObjectOptions<R> = {},
): Schema<ObjectType<P, R>> {
  const json: JSONSchemaProps = {
    type: 'object',
    properties: Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, v.json])),
  };
  if (opts.required?.length) json.required = [...opts.required];
  if (opts.mapType) json['x-kubernetes-map-type'] = opts.mapType;
  return build(json, opts);
}
