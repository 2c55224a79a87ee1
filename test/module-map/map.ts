/**
 * The module map as docs/design.md states it: the table under the heading "Module map", one row per folder
 * of src/ (or per file, where one file has rules of its own). The test reads the rules from the document,
 * so the document and the check cannot disagree.
 */

export interface ModuleRule {
  /** A folder or file under src/, e.g. `src/bfd` or `src/log.ts`; no trailing slash. */
  path: string;
  owns: string;
  /** Folders and files under src/ (`src/...`) and npm packages its files may import. */
  mayImport: string[];
  /** May it depend on `@kubernetes/*` or src/k8s, directly or through the files it imports? */
  kubernetes: boolean;
}

export const MAP_HEADING = 'Module map';

/** The rules in the "Module map" section of a Markdown document; throws when the table is malformed. */
export function parseModuleMap(markdown: string): ModuleRule[] {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => new RegExp(`^## (\\d+\\. )?${MAP_HEADING}$`).test(l));
  if (start < 0) throw new Error(`no "## ${MAP_HEADING}" section`);
  const end = lines.findIndex((l, i) => i > start && /^## /.test(l));
  const table = lines.slice(start + 1, end < 0 ? undefined : end).filter((l) => l.startsWith('|'));
  const [header, separator, ...rows] = table;
  const columns = header ? cells(header).map((c) => c.toLowerCase()) : [];
  if (columns.join('|') !== 'folder|owns|may import|kubernetes' || !separator)
    throw new Error(`the ${MAP_HEADING} table must have the columns folder | owns | may import | Kubernetes`);
  return rows.map((row) => {
    const [folder = '', owns = '', mayImport = '', kubernetes = ''] = cells(row);
    const paths = code(folder);
    if (paths.length !== 1 || !paths[0]!.startsWith('src/'))
      throw new Error(`${MAP_HEADING} row "${row}": the first cell must name one src/ path in backticks`);
    const imports = code(mayImport);
    if (!imports.length && mayImport !== 'nothing')
      throw new Error(
        `${MAP_HEADING} row for ${paths[0]}: "may import" lists paths in backticks, or says nothing`,
      );
    if (kubernetes !== 'yes' && kubernetes !== 'no')
      throw new Error(
        `${MAP_HEADING} row for ${paths[0]}: Kubernetes must be yes or no, not "${kubernetes}"`,
      );
    return {
      path: trimSlash(paths[0]!),
      owns,
      mayImport: imports.map(trimSlash),
      kubernetes: kubernetes === 'yes',
    };
  });
}

function cells(row: string): string[] {
  return row
    .replace(/^\|/, '')
    .replace(/\|$/, '')
    .split('|')
    .map((c) => c.trim());
}

const code = (cell: string) => [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]!);
const trimSlash = (p: string) => p.replace(/\/$/, '');
