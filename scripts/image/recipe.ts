import { createHash } from 'node:crypto';

/** A short, stable hash of everything an artefact is made from: it names cache entries and labels images. */
export function recipeHash(parts: unknown): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 16);
}
