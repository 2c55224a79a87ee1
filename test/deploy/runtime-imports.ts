/**
 * The packages that emitted JavaScript loads at run time: every static import/export-from, bare import and
 * literal dynamic import(). `import type` never reaches the output (verbatimModuleSyntax erases it), so a
 * package that appears here is one the image must carry.
 */
import { builtinModules } from 'node:module';

const builtins = new Set(builtinModules);

/** The package names (scope included) that `js` imports, leaving out relative paths and Node built-ins. */
export function importedPackages(js: string): Set<string> {
  const specifiers = [
    ...js.matchAll(/^\s*(?:import|export)\s[^;]*?\sfrom\s*['"]([^'"]+)['"]/gm),
    ...js.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm),
    ...js.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g),
  ].map((m) => m[1]!);
  const names = new Set<string>();
  for (const spec of specifiers) {
    if (spec.startsWith('.') || spec.startsWith('/') || spec.startsWith('node:') || builtins.has(spec))
      continue;
    names.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!);
  }
  return names;
}
