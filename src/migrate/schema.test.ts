/**
 * Every object `beacon migrate` writes fits its kind's schema (types, required fields, enums, patterns,
 * bounds, no unknown fields), checked without an API server by src/api/schema-check.ts, and no fixture
 * draws the converter's own "CRD refuses" warning. The CEL rules are run by the API server in
 * test/deploy/migrate.test.ts.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { NAME_PATTERN } from '../api/cel.ts';
import { type BeaconObject, convertMetalLB, schemaFaults } from './convert.ts';
import { parseDocuments } from './yaml.ts';

const FIXTURES = join(import.meta.dirname, 'fixtures');

/** The schema faults of one converted object, each prefixed with its kind/name. */
function faultsOf(o: BeaconObject): string[] {
  const id = `${o.kind}/${o.metadata.name}`;
  const faults = schemaFaults(o).map((f) => `${id} ${f.path}: ${f.message}`);
  if (!new RegExp(NAME_PATTERN).test(o.metadata.name) || o.metadata.name.length > 253)
    faults.push(`${id}: metadata.name is not a Kubernetes name`);
  return faults;
}

for (const file of readdirSync(FIXTURES).filter((f) => f.endsWith('.yaml'))) {
  test(`every object converted from ${file} fits its kind's schema`, () => {
    const { objects, warnings } = convertMetalLB(
      parseDocuments(readFileSync(join(FIXTURES, file), 'utf8'), file),
      {
        namespace: 'beacon-system',
      },
    );
    assert.ok(objects.length > 0);
    assert.deepEqual(objects.flatMap(faultsOf), []);
    assert.deepEqual(
      warnings.filter((w) => w.message.startsWith("Beacon's CRD refuses")),
      [],
    );
  });
}
