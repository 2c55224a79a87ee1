/**
 * Every module reference in the .ts files under a tree's src/, as the TypeScript compiler parses them:
 * import and export-from declarations (`import type` and `export type` included), `import x = require()`,
 * dynamic `import()` and type-level `import('...')`. A regular expression would miss a multi-line import, a
 * dynamic one or a reference inside a type, and would see one in a string or a comment.
 */
import { readdirSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import {
  type CallExpression,
  type ExportDeclaration,
  type ImportDeclaration,
  type ImportEqualsDeclaration,
  type ImportTypeNode,
  type LiteralTypeNode,
  type Node,
  type SourceFile,
  SyntaxKind,
} from 'typescript/unstable/ast';
import { API } from 'typescript/unstable/sync';

export interface ModuleReference {
  /** The specifier as written; undefined for `import(expr)` with a computed specifier. */
  specifier: string | undefined;
  /** Erased before run time: `import type`, `export type`, or a type-level `import('...')`. */
  typeOnly: boolean;
  /** 1-based line of the specifier. */
  line: number;
}

/** Paths of every .ts file under `root`/src, relative to `root`, with `/` separators. */
export function sourceFiles(root: string): string[] {
  return readdirSync(join(root, 'src'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => relative(root, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

/**
 * A project over src/ alone, given to the compiler through its virtual file system so that the tree needs
 * no tsconfig of its own. noResolve: the references are read as written, nothing is loaded to follow them.
 */
const CONFIG_NAME = 'module-map.tsconfig.json';
const CONFIG = JSON.stringify({
  compilerOptions: {
    module: 'nodenext',
    target: 'es2024',
    allowImportingTsExtensions: true,
    noEmit: true,
    noResolve: true,
    types: [],
  },
  include: ['src/**/*.ts'],
});

/** The module references of every .ts file under `root`/src, keyed by path relative to `root`. */
export function moduleReferences(root: string): Map<string, ModuleReference[]> {
  return readSources(root, referencesOf);
}

/**
 * The 1-based lines of every ECMAScript private name (`#field`, `this.#field`, `#field in x`) in the .ts files
 * under `root`/src, keyed by path relative to `root`: the project's convention is TypeScript's `private`.
 */
export function privateNames(root: string): Map<string, number[]> {
  return readSources(root, (source) => {
    const lines: number[] = [];
    const visit = (node: Node): void => {
      if (node.kind === SyntaxKind.PrivateIdentifier)
        lines.push(source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1);
      node.forEachChild(visit);
    };
    source.forEachChild(visit);
    return lines;
  });
}

/** `read` applied to every .ts file under `root`/src as the compiler parsed it. */
function readSources<T>(root: string, read: (source: SourceFile) => T): Map<string, T> {
  const configPath = join(root, CONFIG_NAME);
  const api = new API({
    cwd: root,
    fs: {
      readFile: (p) => (p === configPath ? CONFIG : undefined),
      fileExists: (p) => (p === configPath ? true : undefined),
    },
  });
  try {
    const program = api.updateSnapshot({ openProject: configPath }).getProject(configPath)?.program;
    if (!program) throw new Error(`the TypeScript API opened no project for ${root}`);
    const out = new Map<string, T>();
    for (const file of sourceFiles(root)) {
      const source = program.getSourceFile(join(root, file));
      if (!source) throw new Error(`the TypeScript API did not parse ${file}`);
      out.set(file, read(source));
    }
    return out;
  } finally {
    api.close();
  }
}

function referencesOf(source: SourceFile): ModuleReference[] {
  const out: ModuleReference[] = [];
  const add = (literal: Node | undefined, typeOnly: boolean, at: Node) => {
    const specifier =
      literal &&
      (literal.kind === SyntaxKind.StringLiteral || literal.kind === SyntaxKind.NoSubstitutionTemplateLiteral)
        ? (literal as unknown as { text: string }).text
        : undefined;
    const line = source.getLineAndCharacterOfPosition((literal ?? at).getStart(source)).line + 1;
    out.push({ specifier, typeOnly, line });
  };
  const visit = (node: Node): void => {
    switch (node.kind) {
      case SyntaxKind.ImportDeclaration: {
        const d = node as ImportDeclaration;
        // `import { type A }` still loads the module (verbatimModuleSyntax); only `import type` does not.
        add(d.moduleSpecifier, d.importClause?.phaseModifier === SyntaxKind.TypeKeyword, node);
        return;
      }
      case SyntaxKind.ExportDeclaration: {
        const d = node as ExportDeclaration;
        if (d.moduleSpecifier) add(d.moduleSpecifier, d.isTypeOnly, node);
        return;
      }
      case SyntaxKind.ImportEqualsDeclaration: {
        const d = node as ImportEqualsDeclaration;
        if (d.moduleReference.kind === SyntaxKind.ExternalModuleReference)
          add((d.moduleReference as unknown as { expression: Node }).expression, d.isTypeOnly, node);
        return;
      }
      case SyntaxKind.ImportType: {
        const argument = (node as ImportTypeNode).argument;
        add(
          argument.kind === SyntaxKind.LiteralType ? (argument as LiteralTypeNode).literal : undefined,
          true,
          node,
        );
        break;
      }
      case SyntaxKind.CallExpression: {
        const call = node as CallExpression;
        if (call.expression.kind === SyntaxKind.ImportKeyword) add(call.arguments[0], false, node);
        break;
      }
    }
    node.forEachChild(visit);
  };
  source.forEachChild(visit);
  return out;
}
