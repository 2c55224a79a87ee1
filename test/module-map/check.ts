/**
 * Holds the source tree to its module map (docs/design.md, "Module map"). The rules, as the document states
 * them:
 * - every folder directly under src/, and every file there, has a row; a file is governed by the most
 *   specific row that contains it;
 * - a file may import its own row's files and those of rows nested in it; any other src/ path must be
 *   listed in its row's "may import", and so must any npm package outside `node:`. Tests (`*.test.ts`) may
 *   import any src/ path, test/ and any package: the map is the program's structure, and a test may reach
 *   across it to drive the code it pins down;
 * - a row marked Kubernetes "no" depends on nothing Kubernetes (`@kubernetes/*`, src/k8s), not even through
 *   a file of another row that it may import; this holds for its tests too;
 * - `@kubernetes/client-node` is imported for types only (`import type`), since it is not shipped;
 * - the map itself has no cycle between rows, names only paths that exist, lists nothing a row does not
 *   use, and a Kubernetes-free row lists nothing Kubernetes.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { ModuleReference } from './imports.ts';
import type { ModuleRule } from './map.ts';

export interface Violation {
  file: string;
  line?: number;
  specifier?: string;
  rule: string;
}

export const formatViolation = (v: Violation) =>
  `${v.file}${v.line ? `:${v.line}` : ''}${v.specifier ? ` imports '${v.specifier}'` : ''}: ${v.rule}`;

export interface CheckOptions {
  /** Files allowed an `import()` whose specifier is computed (which no check can follow), with why. */
  computedImports?: Readonly<Record<string, string>>;
}

const isTest = (file: string) => file.endsWith('.test.ts');
const isKubernetesPackage = (specifier: string) => specifier.startsWith('@kubernetes/');
const within = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}/`);
/** `yaml` for `yaml/util`, `@scope/name` for `@scope/name/sub`. */
const packageName = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');
/** The row that governs `path`: the most specific one containing it. */
const ruleOf = (rules: readonly ModuleRule[], path: string): ModuleRule | undefined =>
  rules.filter((r) => within(path, r.path)).sort((a, b) => b.path.length - a.path.length)[0];
const describeRule = (r: ModuleRule) =>
  `${r.path} may import ${r.mayImport.length ? r.mayImport.join(', ') : 'nothing'} (docs/design.md, Module map)`;

/** Checks `references` (from moduleReferences) of the tree at `root` against `rules`. */
export function checkModuleMap(
  root: string,
  rules: readonly ModuleRule[],
  references: ReadonlyMap<string, readonly ModuleReference[]>,
  options: CheckOptions = {},
): Violation[] {
  const violations: Violation[] = [...checkMap(root, rules)];

  for (const entry of readdirSync(join(root, 'src'), { withFileTypes: true })) {
    const path = `src/${entry.name}`;
    if ((entry.isDirectory() || entry.name.endsWith('.ts')) && !rules.some((r) => r.path === path))
      violations.push({ file: path, rule: `${path} has no row in docs/design.md's Module map` });
  }

  const target = (file: string, specifier: string) =>
    specifier.startsWith('.') ? posix.join(posix.dirname(file), specifier) : undefined;

  const kubernetesChains = chainsToKubernetes(references, target);

  for (const [file, refs] of references) {
    const rule = ruleOf(rules, file);
    if (!rule) continue; // reported above, as its folder's missing row
    for (const ref of refs) {
      const at = { file, line: ref.line };
      if (ref.specifier === undefined) {
        if (!options.computedImports?.[file])
          violations.push({
            ...at,
            rule: 'import() with a computed specifier, which the module map cannot check',
          });
        continue;
      }
      const v = { ...at, specifier: ref.specifier };
      const to = target(file, ref.specifier);
      if (to === undefined) {
        if (ref.specifier.startsWith('node:')) continue;
        if (isKubernetesPackage(ref.specifier)) {
          if (!rule.kubernetes)
            violations.push({
              ...v,
              rule: `${rule.path} may not import anything Kubernetes (docs/design.md, Module map)`,
            });
          else if (!ref.typeOnly && !isTest(file))
            violations.push({
              ...v,
              rule: '@kubernetes/client-node is for types only: use `import type` (it is not shipped)',
            });
          continue;
        }
        if (!isTest(file) && !rule.mayImport.includes(packageName(ref.specifier)))
          violations.push({ ...v, rule: describeRule(rule) });
        continue;
      }
      if (!to.startsWith('src/')) {
        if (!isTest(file))
          violations.push({
            ...v,
            rule: `${to} is outside src/: shipped code may import only src/ and packages`,
          });
        continue;
      }
      const toRule = ruleOf(rules, to);
      const allowed =
        isTest(file) ||
        (toRule && within(toRule.path, rule.path)) ||
        rule.mayImport.some((m) => within(to, m));
      if (!allowed) {
        violations.push({ ...v, rule: describeRule(rule) });
        continue;
      }
      // A chain from a Kubernetes-free row to Kubernetes enters a row marked "yes" somewhere: report it there.
      if (!rule.kubernetes && toRule?.kubernetes) {
        const chain = kubernetesChains.get(to);
        if (chain)
          violations.push({
            ...v,
            rule: `${rule.path} may not depend on anything Kubernetes, and ${to} reaches it (${chain.join(' -> ')})`,
          });
      }
    }
  }
  for (const file of Object.keys(options.computedImports ?? {}))
    if (!references.get(file)?.some((r) => r.specifier === undefined))
      violations.push({ file, rule: 'allowed a computed import(), but has none: drop the allowance' });
  // The map is the tree as it is: an entry no shipped file of the row uses is stale.
  for (const rule of rules) {
    const used = (m: string) =>
      [...references].some(
        ([file, refs]) =>
          !isTest(file) &&
          ruleOf(rules, file) === rule &&
          refs.some((r) => {
            if (!r.specifier) return false;
            const to = target(file, r.specifier);
            return to === undefined ? packageName(r.specifier) === m : within(to, m);
          }),
      );
    for (const m of rule.mayImport.filter((m) => !used(m)))
      violations.push({
        file: 'docs/design.md',
        rule: `Module map: ${rule.path} lists ${m}, which none of its files imports; remove it`,
      });
  }
  return violations;
}

/**
 * For every shipped file that depends on something Kubernetes (is in src/k8s, imports `@kubernetes/*`, or
 * imports such a file), the chain that shows it: file -> file -> ... -> package or src/k8s file.
 */
function chainsToKubernetes(
  references: ReadonlyMap<string, readonly ModuleReference[]>,
  target: (file: string, specifier: string) => string | undefined,
): Map<string, string[]> {
  const chains = new Map<string, string[]>();
  const shipped = [...references.keys()].filter((f) => !isTest(f));
  for (const file of shipped) {
    if (within(file, 'src/k8s')) chains.set(file, [file]);
    const direct = references.get(file)?.find((r) => r.specifier && isKubernetesPackage(r.specifier));
    if (direct?.specifier && !chains.has(file)) chains.set(file, [file, direct.specifier]);
  }
  // Grow the set one import at a time until it stops growing; chains stay shortest-first.
  for (let grown = true; grown; ) {
    grown = false;
    for (const file of shipped) {
      if (chains.has(file)) continue;
      for (const ref of references.get(file) ?? []) {
        const next = ref.specifier ? chains.get(target(file, ref.specifier) ?? '') : undefined;
        if (next) {
          chains.set(file, [file, ...next]);
          grown = true;
          break;
        }
      }
    }
  }
  return chains;
}

/** Mistakes in the map itself. */
function checkMap(root: string, rules: readonly ModuleRule[]): Violation[] {
  const out: Violation[] = [];
  const map = (rule: string) => out.push({ file: 'docs/design.md', rule: `Module map: ${rule}` });
  const seen = new Set<string>();
  for (const r of rules) {
    if (seen.has(r.path)) map(`${r.path} has two rows`);
    seen.add(r.path);
    for (const p of [r.path, ...r.mayImport.filter((m) => m.startsWith('src/'))])
      if (!existsSync(join(root, p))) map(`${r.path}'s row names ${p}, which does not exist`);
    if (!r.kubernetes && within(r.path, 'src/k8s'))
      map(`${r.path} is Kubernetes access, so it cannot be Kubernetes-free`);
    if (!r.kubernetes)
      for (const m of r.mayImport.filter((m) => isKubernetesPackage(m) || within(m, 'src/k8s')))
        map(`${r.path} is marked Kubernetes-free but may import ${m}`);
  }
  // Every arrow points one way: no row may reach itself through the rows it may import.
  // A row reaches what it lists (every row inside a listed folder, or the row holding a listed file) and,
  // without listing them, the rows nested inside it.
  const edges = (r: ModuleRule) =>
    rules.filter(
      (o) =>
        o !== r &&
        (within(o.path, r.path) ||
          r.mayImport.some((m) => m.startsWith('src/') && (within(o.path, m) || ruleOf(rules, m) === o))),
    );
  const state = new Map<ModuleRule, 'open' | 'done'>();
  const visit = (r: ModuleRule, path: ModuleRule[]): void => {
    if (state.get(r) === 'done') return;
    if (state.get(r) === 'open') {
      const cycle = [...path.slice(path.indexOf(r)), r].map((x) => x.path);
      map(`the rows import each other in a cycle: ${cycle.join(' -> ')}`);
      return;
    }
    state.set(r, 'open');
    for (const o of edges(r)) visit(o, [...path, r]);
    state.set(r, 'done');
  };
  for (const r of rules) visit(r, []);
  return out;
}
