/** Turns one kind's entry into its apiextensions.k8s.io/v1 CustomResourceDefinition object. */
import type { JSONSchemaProps } from '../schema.ts';
import { GROUP, type Kind, VERSION } from './common.ts';

/** The CustomResourceDefinition object for one kind. */
export function customResourceDefinition(k: Kind): Record<string, unknown> {
  const properties: Record<string, JSONSchemaProps> = {
    apiVersion: { type: 'string', description: 'beacon.dev/v1alpha1' },
    kind: { type: 'string', description: k.kind },
    metadata: { type: 'object' },
  };
  if (k.spec) properties.spec = k.spec.json;
  if (k.status) properties.status = k.status.json;
  const schema: JSONSchemaProps = { type: 'object', description: k.description, properties };
  if (k.specRequired) schema.required = ['spec'];
  const version: Record<string, unknown> = {
    name: VERSION,
    served: true,
    storage: true,
    schema: { openAPIV3Schema: schema },
    additionalPrinterColumns: k.printerColumns,
  };
  if (k.status && k.statusSubresource) version.subresources = { status: {} };
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${k.plural}.${GROUP}` },
    spec: {
      group: GROUP,
      scope: 'Namespaced',
      names: {
        kind: k.kind,
        listKind: `${k.kind}List`,
        plural: k.plural,
        singular: k.singular,
        ...(k.shortNames.length ? { shortNames: k.shortNames } : {}),
        categories: ['beacon'],
      },
      versions: [version],
    },
  };
}
