/**
 * The import graph of the source tree, as the layering check reads it: every
 * .ts file under the given folders, every module specifier in it, resolved to
 * a file of the repository where it names one.
 *
 * Files are parsed with TypeScript's parser (no Program, no type checking), so
 * an import inside a string or a comment is not one, and every form counts:
 * `import`, `import type`, `export … from`, `import x = require()`, dynamic
 * `import()` and the type-level `import('…')` of `typeof import('…')`.
 * Folders are walked, not listed, so moving or splitting files needs no edit.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, posix } from 'node:path';
import ts from 'typescript';
import type { Manifest } from '../../scripts/entry-points.ts';

/** One import: where it is and what it names. Paths are relative to the repository, with `/`. */
export interface Edge {
  from: string;
  /** 1-based. */
  line: number;
  specifier: string;
  /**
   * The repository file it resolves to; `undefined` for a package outside the
   * repository (`node:fs`, `typescript`), `null` for a specifier that looks
   * like ours (relative, or the package's own name) but names no file.
   */
  to: string | null | undefined;
}

/** Folders the walk never enters: dependencies and build output, not source. */
const SKIPPED = new Set(['node_modules', '.git', 'dist', '.cache', 'coverage']);

/** Every file under `dir` (relative to `repo`) whose name passes `keep`, sorted. */
export function walk(repo: string, dir: string, keep: (name: string) => boolean = () => true): string[] {
  const out: string[] = [];
  const visit = (rel: string) => {
    for (const entry of readdirSync(join(repo, rel), { withFileTypes: true })) {
      const path = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!SKIPPED.has(entry.name)) visit(path);
      } else if (keep(entry.name)) out.push(path);
    }
  };
  visit(dir);
  return out.sort();
}

export const isTs = (name: string) => name.endsWith('.ts');

/** The module specifiers in one file's text, with their 1-based lines. */
export function importsOf(fileName: string, text: string): { specifier: string; line: number }[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
  const found: { specifier: string; line: number }[] = [];
  const add = (node: ts.Node | undefined) => {
    if (node && (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node))) {
      found.push({ specifier: node.text, line: source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1 });
    }
  };
  const visit = (node: ts.Node): void => {
    if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) add(node.moduleSpecifier);
    else if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference)) add(node.moduleReference.expression);
    else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) add(node.arguments[0]);
    else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) add(node.argument.literal);
    ts.forEachChild(node, visit);
  };
  // Static imports are top-level statements; the whole tree is walked only
  // when an `import(` may hide inside, which keeps the large generated
  // type modules cheap.
  if (text.includes('import(')) visit(source);
  else for (const statement of source.statements) visit(statement);
  return found;
}

/** The repository file a package.json "exports" target is built from: `./dist/runtime/index.js` → `runtime/index.ts`. */
function sourceOfTarget(target: unknown): string | undefined {
  const pick = (value: unknown): string | undefined => {
    if (typeof value === 'string') return value;
    if (value && typeof value === 'object') {
      const conditions = value as Record<string, unknown>;
      return pick(conditions.import ?? conditions.default ?? conditions.node);
    }
    return undefined;
  };
  const match = /^\.\/dist\/(.+)\.js$/.exec(pick(target) ?? '');
  return match ? `${match[1]}.ts` : undefined;
}

/** Resolves `kubereflect` or `kubereflect/<subpath>` through the exports map, patterns included. */
function resolvePackage(manifest: Manifest, subpath: string): string | null {
  const exports = manifest.exports ?? {};
  if (subpath in exports) return sourceOfTarget(exports[subpath]) ?? null;
  for (const [key, target] of Object.entries(exports)) {
    const star = key.indexOf('*');
    if (star < 0) continue;
    const [head, tail] = [key.slice(0, star), key.slice(star + 1)];
    if (!subpath.startsWith(head) || !subpath.endsWith(tail) || subpath.length < key.length - 1) continue;
    const matched = subpath.slice(head.length, subpath.length - tail.length);
    const source = sourceOfTarget(target);
    return source ? source.replace('*', matched) : null;
  }
  return null;
}

/**
 * Resolves one specifier as the repository's TypeScript does: relative paths
 * with or without `.ts` (a `.js` suffix stands for the `.ts` beside it), a
 * folder by its index.ts, and the package's own name by its exports.
 */
export function resolve(repo: string, manifest: Manifest, from: string, specifier: string): string | null | undefined {
  const exists = (path: string) => {
    try {
      return statSync(join(repo, path)).isFile();
    } catch {
      return false;
    }
  };
  if (specifier.startsWith('./') || specifier.startsWith('../')) {
    const path = posix.normalize(posix.join(posix.dirname(from), specifier));
    const candidates = [path, path.replace(/\.js$/, '.ts'), `${path}.ts`, `${path}/index.ts`];
    return candidates.find(exists) ?? null;
  }
  if (specifier === manifest.name || specifier.startsWith(`${manifest.name}/`)) {
    const source = resolvePackage(manifest, specifier === manifest.name ? '.' : `./${specifier.slice(manifest.name.length + 1)}`);
    return source && exists(source) ? source : null;
  }
  return undefined;
}

/** The import graph of every .ts file under `dirs`. */
export function importGraph(repo: string, manifest: Manifest, dirs: readonly string[]): { files: string[]; edges: Edge[] } {
  const files = dirs.flatMap((dir) => walk(repo, dir, isTs));
  const edges = files.flatMap((from) =>
    importsOf(from, readFileSync(join(repo, from), 'utf8')).map(({ specifier, line }) => ({
      from,
      line,
      specifier,
      to: resolve(repo, manifest, from, specifier),
    })),
  );
  return { files, edges };
}

/** Whether a module's first comment carries `marker`: the generator's header, not the word in a string somewhere. */
export function hasHeaderMarker(text: string, marker: string): boolean {
  const [first] = ts.getLeadingCommentRanges(text, 0) ?? [];
  return first !== undefined && text.slice(first.pos, first.end).includes(marker);
}
