/** The text side of `beacon migrate`: multi-document YAML in, Beacon's objects as YAML out. */
import { parseAllDocuments, stringify } from 'yaml';
import { type Conversion, type ConvertOptions, convertMetalLB, type Warning } from './convert.ts';

export class InputError extends Error {}

/** Parses a multi-document YAML stream; a syntax error names the document and line. */
export function parseDocuments(text: string, source: string): unknown[] {
  return parseAllDocuments(text).map((doc, i) => {
    const err = doc.errors[0];
    if (err) {
      const line = err.linePos?.[0]?.line;
      throw new InputError(
        `${source}: document ${i + 1}${line ? `, line ${line}` : ''}: ${err.message.split('\n')[0]}`,
      );
    }
    return doc.toJS() as unknown;
  });
}

export const OUTPUT_HEADER =
  '# Converted from MetalLB by `beacon migrate`. Review the warnings it printed before applying.\n';

export function toYaml(conversion: Conversion): string {
  if (!conversion.objects.length) return '';
  return OUTPUT_HEADER + conversion.objects.map((o) => stringify(o, { lineWidth: 0 })).join('---\n');
}

export function formatWarning(w: Warning): string {
  return `warning: ${w.object}${w.field ? ` ${w.field}` : ''}: ${w.message}`;
}

export function migrateYaml(
  text: string,
  source: string,
  opts: ConvertOptions,
): { yaml: string; warnings: Warning[] } {
  const conversion = convertMetalLB(parseDocuments(text, source), opts);
  return { yaml: toYaml(conversion), warnings: conversion.warnings };
}
