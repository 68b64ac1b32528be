/**
 * The API report: for every runtime entry point in package.json "exports",
 * every exported name with its kind and its declared signature, one markdown
 * file per entry point in api/. Reviewing a change to the public surface then
 * means reading a diff of api/, and test/surface/api-report.test.ts fails
 * when the source and the committed report disagree.
 *
 *   npx tsx scripts/api-report.ts            compare api/ with the source; print the difference
 *   npx tsx scripts/api-report.ts --update   write api/ (npm run api:update)
 *
 * The signatures are what a consumer compiles against: the declarations
 * TypeScript emits for the package (inferred types written out, bodies and
 * defaults gone), reprinted without comments so that doc edits and source
 * formatting do not move the signatures. Classes show their public members only;
 * private and protected members (the stores' shared state) are internals.
 * Each name carries the first paragraph of its doc comment, and a class or
 * an interface each documented member's: the reports are the API reference
 * one reads without a checkout (the full one is `npm run docs`).
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';
import { readManifest, runtimeEntryPoints, type EntryPoint } from './entry-points.ts';

const repo = resolve(import.meta.dirname, '..');
export const API_DIR = 'api';

/** One exported name of an entry point. */
export interface ApiItem {
  name: string;
  /** `class`, `function`, `interface`, `type`, `const`, `enum`, `namespace`; `const, type` for a name that is both. */
  kind: string;
  signature: string;
  /** The first paragraph of its doc comment, on one line. */
  summary: string;
  /** Its documented public members (a class's or an interface's own), each with the first paragraph of its doc comment. */
  members: { name: string; summary: string }[];
}

/** The report's file for an entry point: `.` → `kubereflect.api.md`, `./kind` → `kubereflect-kind.api.md`. */
export function reportFile(entry: EntryPoint): string {
  return `${API_DIR}/${entry.specifier.replace(/\//g, '-')}.api.md`;
}

/** The compiler options of tsconfig.json, set to emit declarations only (into memory: nothing is written). */
function compilerOptions(root: string): ts.CompilerOptions {
  const path = join(root, 'tsconfig.json');
  const { config, error } = ts.readConfigFile(path, ts.sys.readFile);
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(config, ts.sys, root, undefined, path);
  return {
    ...parsed.options,
    noEmit: false,
    declaration: true,
    emitDeclarationOnly: true,
    declarationMap: false,
    sourceMap: false,
    removeComments: true,
    incremental: false,
    // Emitting declarations needs the types they name, not a check of every
    // body (`npm run typecheck` does that): about two seconds less.
    noCheck: true,
    outDir: join(root, '.cache', 'api-report'),
    rootDir: root,
  };
}

const printer = ts.createPrinter({ removeComments: true, newLine: ts.NewLineKind.LineFeed });

/** `export`, `declare` and `default` say where a declaration sits, not what it is. */
function withoutPlacement<T extends ts.Node>(node: T): T {
  if (!ts.canHaveModifiers(node)) return node;
  const kept = (ts.getModifiers(node) ?? []).filter(
    (m) => m.kind !== ts.SyntaxKind.ExportKeyword && m.kind !== ts.SyntaxKind.DeclareKeyword && m.kind !== ts.SyntaxKind.DefaultKeyword,
  );
  return ts.factory.replaceModifiers(node, kept) as unknown as T;
}

const hidden = (member: ts.ClassElement) =>
  !ts.isConstructorDeclaration(member) &&
  ((member.name !== undefined && ts.isPrivateIdentifier(member.name)) ||
    (ts.getCombinedModifierFlags(member as ts.Declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0);

/** The public face of a class: every member but the private and protected ones. */
function publicClass(node: ts.ClassDeclaration): ts.ClassDeclaration {
  return ts.factory.updateClassDeclaration(
    node,
    node.modifiers,
    node.name,
    node.typeParameters,
    node.heritageClauses,
    node.members.filter((m) => !hidden(m)),
  );
}

/** The kind a declaration statement reports as. */
function kindOf(statement: ts.Statement): string {
  if (ts.isClassDeclaration(statement)) return 'class';
  if (ts.isFunctionDeclaration(statement)) return 'function';
  if (ts.isInterfaceDeclaration(statement)) return 'interface';
  if (ts.isTypeAliasDeclaration(statement)) return 'type';
  if (ts.isEnumDeclaration(statement)) return 'enum';
  if (ts.isModuleDeclaration(statement)) return 'namespace';
  if (ts.isVariableStatement(statement)) {
    const flags = statement.declarationList.flags;
    return flags & ts.NodeFlags.Const ? 'const' : flags & ts.NodeFlags.Let ? 'let' : 'var';
  }
  return ts.SyntaxKind[statement.kind];
}

/**
 * The statements of a declaration file that declare `name`, each narrowed to
 * that name (one declarator of a `const a, b`), in file order: the overloads
 * of a function, or a const and a type that share a name.
 */
function declarationsOf(file: ts.SourceFile, name: string): ts.Statement[] {
  const out: ts.Statement[] = [];
  for (const statement of file.statements) {
    if (ts.isVariableStatement(statement)) {
      const declarators = statement.declarationList.declarations.filter((d) => ts.isIdentifier(d.name) && d.name.text === name);
      if (declarators.length) {
        out.push(
          ts.factory.updateVariableStatement(statement, statement.modifiers, ts.factory.updateVariableDeclarationList(statement.declarationList, declarators)),
        );
      }
    } else if (
      (ts.isFunctionDeclaration(statement) ||
        ts.isClassDeclaration(statement) ||
        ts.isInterfaceDeclaration(statement) ||
        ts.isTypeAliasDeclaration(statement) ||
        ts.isEnumDeclaration(statement) ||
        ts.isModuleDeclaration(statement)) &&
      statement.name !== undefined &&
      ts.isIdentifier(statement.name) &&
      statement.name.text === name
    ) {
      out.push(statement);
    }
  }
  return out;
}

/** Printed text, indented by two spaces (the repository's style) instead of the printer's four. */
function print(node: ts.Node, file: ts.SourceFile): string {
  return printer
    .printNode(ts.EmitHint.Unspecified, node, file)
    .split('\n')
    .map((line) => line.trimEnd().replace(/^(?: {4})+/, (indent) => ' '.repeat(indent.length / 2)))
    .join('\n');
}

/** Names sorted as a reader looks them up: case aside first, then exactly, so the order never depends on a locale. */
const byName = (a: ApiItem, b: ApiItem) => {
  const [x, y] = [a.name.toLowerCase(), b.name.toLowerCase()];
  return x < y ? -1 : x > y ? 1 : a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
};

/** Every entry point's exported names with their signatures, from one Program over the entry points. */
export function apiItems(root: string = repo): { entry: EntryPoint; items: ApiItem[] }[] {
  const entries = runtimeEntryPoints(readManifest(root));
  const program = ts.createProgram({ rootNames: entries.map((e) => join(root, e.source)), options: compilerOptions(root) });
  const checker = program.getTypeChecker();

  // The declarations each source module compiles to, keyed by the module's path.
  const emitted = new Map<string, ts.SourceFile>();
  const result = program.emit(
    undefined,
    (fileName, text, _bom, _onError, sources) => {
      const source = sources?.[0];
      if (source) emitted.set(source.fileName, ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true, ts.ScriptKind.TS));
    },
    undefined,
    true,
  );
  if (result.diagnostics.length) {
    const host = { getCanonicalFileName: (f: string) => f, getCurrentDirectory: () => root, getNewLine: () => '\n' };
    throw new Error(`declarations do not emit:\n${ts.formatDiagnostics(result.diagnostics, host)}`);
  }

  const describe = (entry: EntryPoint, exported: ts.Symbol): ApiItem => {
    const name = exported.getName();
    const target = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const statements: { statement: ts.Statement; file: ts.SourceFile }[] = [];
    const namespaces: string[] = [];
    const seen = new Set<string>();
    for (const declaration of target.declarations ?? []) {
      const source = declaration.getSourceFile();
      if (ts.isSourceFile(declaration)) {
        // `export * as name from '…'`: the report names the module; its names are in their own entries.
        namespaces.push(`namespace ${name}: the module ${relative(root, source.fileName).split(sep).join('/')}`);
        continue;
      }
      if (seen.has(source.fileName)) continue;
      seen.add(source.fileName);
      const file = source.isDeclarationFile ? source : emitted.get(source.fileName);
      const found = file ? declarationsOf(file, target.getName()) : [];
      if (!file || !found.length) throw new Error(`${entry.source}: no declaration of ${name} found for ${relative(root, source.fileName)}`);
      for (const statement of found) statements.push({ statement, file });
    }
    const kinds = [...new Set([...statements.map(({ statement }) => kindOf(statement)), ...(namespaces.length ? ['namespace'] : [])])];
    const printed = statements.map(({ statement, file }) => {
      const bare = withoutPlacement(statement);
      return print(ts.isClassDeclaration(bare) ? publicClass(bare) : bare, file);
    });
    return { name, kind: kinds.join(', '), signature: [...namespaces, ...printed].join('\n'), summary: summaryOf(target), members: membersOf(target) };
  };

  /** The first paragraph of a symbol's doc comment, on one line; `{@link X}` as `X`. */
  const summaryOf = (symbol: ts.Symbol): string => {
    const text = ts.displayPartsToString(symbol.getDocumentationComment(checker));
    return (text.split(/\n\s*\n/)[0] ?? '').replace(/\s+/g, ' ').trim();
  };

  /** A class's or an interface's own public members that have a doc comment, statics first, in declaration order. */
  const membersOf = (symbol: ts.Symbol): { name: string; summary: string }[] => {
    const owners = (symbol.declarations ?? []).filter((d) => ts.isClassDeclaration(d) || ts.isInterfaceDeclaration(d));
    if (!owners.length) return [];
    const out: { name: string; summary: string }[] = [];
    const seen = new Set<string>();
    for (const owner of owners) {
      for (const member of owner.members as ts.NodeArray<ts.ClassElement | ts.TypeElement>) {
        if (!member.name || ts.isPrivateIdentifier(member.name) || ts.isConstructorDeclaration(member)) continue;
        if ((ts.getCombinedModifierFlags(member as ts.Declaration) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) !== 0) continue;
        const memberSymbol = checker.getSymbolAtLocation(member.name);
        if (!memberSymbol) continue;
        const isStatic = (ts.getCombinedModifierFlags(member as ts.Declaration) & ts.ModifierFlags.Static) !== 0;
        const name = `${isStatic ? `${symbol.getName()}.` : ''}${memberSymbol.getName()}`;
        if (seen.has(name)) continue;
        const summary = summaryOf(memberSymbol);
        if (!summary) continue;
        seen.add(name);
        out.push({ name, summary });
      }
    }
    return out.sort((a, b) => Number(b.name.includes('.')) - Number(a.name.includes('.')));
  };

  return entries.map((entry) => {
    const file = program.getSourceFile(join(root, entry.source));
    const module = file && checker.getSymbolAtLocation(file);
    if (!module) throw new Error(`${entry.source}: not a module the compiler can read`);
    return {
      entry,
      items: checker
        .getExportsOfModule(module)
        .map((s) => describe(entry, s))
        .sort(byName),
    };
  });
}

/** One entry point's report, as markdown. */
export function renderReport(entry: EntryPoint, items: readonly ApiItem[]): string {
  const lines = [
    `# \`${entry.specifier}\`: ${items.length} exported names`,
    '',
    `The public API of \`${entry.specifier}\` (built from ${entry.source}), name by name, each with the first paragraph of its documentation (and a class's or an interface's documented members). Written by \`npm run api:update\` (scripts/api-report.ts): do not edit; a test compares it with the source.`,
    '',
  ];
  for (const item of items) {
    lines.push(`## ${item.name} (${item.kind})`, '');
    if (item.summary) lines.push(item.summary, '');
    lines.push('```ts', item.signature, '```', '');
    if (item.members.length) {
      for (const member of item.members) lines.push(`- \`${member.name}\`: ${member.summary}`);
      lines.push('');
    }
  }
  return lines.join('\n');
}

/** Every report, file → content, and the report files of entry points that no longer exist (content `null`). */
export function reports(root: string = repo): Map<string, string | null> {
  const out = new Map<string, string | null>();
  for (const { entry, items } of apiItems(root)) out.set(reportFile(entry), renderReport(entry, items));
  const dir = join(root, API_DIR);
  if (existsSync(dir)) {
    for (const name of readdirSync(dir).sort()) {
      const file = `${API_DIR}/${name}`;
      if (name.endsWith('.api.md') && !out.has(file)) out.set(file, null);
    }
  }
  for (const [file, content] of out) {
    if (content?.includes(root)) throw new Error(`${file} would name a path of this machine; the report must read the same everywhere`);
  }
  return out;
}

/**
 * A line diff of two texts (`-` the committed, `+` the current), with two
 * lines of context around each change. The common head and tail are cut off
 * before the longest common subsequence is computed, so the quadratic part is
 * only the changed middle.
 */
export function lineDiff(before: string, after: string): string {
  const a = before.split('\n');
  const b = after.split('\n');
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  // lcs[i][j]: the length of the longest common subsequence of x[i..] and y[j..].
  const lcs = Array.from({ length: x.length + 1 }, () => new Array<number>(y.length + 1).fill(0));
  for (let i = x.length - 1; i >= 0; i--)
    for (let j = y.length - 1; j >= 0; j--) lcs[i]![j] = x[i] === y[j] ? lcs[i + 1]![j + 1]! + 1 : Math.max(lcs[i + 1]![j]!, lcs[i]![j + 1]!);
  const ops: { sign: ' ' | '-' | '+'; text: string; line: number }[] = [];
  const context = 2;
  for (let k = Math.max(0, head - context); k < head; k++) ops.push({ sign: ' ', text: a[k]!, line: k + 1 });
  let [i, j] = [0, 0];
  while (i < x.length || j < y.length) {
    if (i < x.length && j < y.length && x[i] === y[j]) ops.push({ sign: ' ', text: x[i]!, line: head + i + 1 }), i++, j++;
    // Removals before additions, as diff tools show a changed line.
    else if (i < x.length && (j >= y.length || lcs[i + 1]![j]! >= lcs[i]![j + 1]!)) ops.push({ sign: '-', text: x[i]!, line: head + i + 1 }), i++;
    else ops.push({ sign: '+', text: y[j]!, line: head + i + 1 }), j++;
  }
  for (let k = a.length - tail; k < Math.min(a.length, a.length - tail + context); k++) ops.push({ sign: ' ', text: a[k]!, line: k + 1 });
  // Keep the changes and the context next to them; mark each run with where it starts.
  const near = ops.map((_, n) => ops.slice(Math.max(0, n - context), n + context + 1).some((o) => o.sign !== ' '));
  const out: string[] = [];
  ops.forEach((op, n) => {
    if (!near[n]) return;
    if (n === 0 || !near[n - 1]) out.push(`@@ line ${op.line} @@`);
    out.push(`${op.sign} ${op.text}`);
  });
  return out.join('\n');
}

export const CHANGED = 'the public API changed: run `npm run api:update` and commit api/ if the change is meant';

/** The differences between the committed api/ and the source, readable; empty when they agree. */
export function compare(root: string = repo): string[] {
  const problems: string[] = [];
  for (const [file, content] of reports(root)) {
    const path = join(root, file);
    const committed = existsSync(path) ? readFileSync(path, 'utf8') : null;
    if (content === null) problems.push(`${file}: no entry point in package.json "exports" has this report any more`);
    else if (committed === null) problems.push(`${file}: missing (a new entry point?)`);
    else if (committed !== content) problems.push(`${file}:\n${lineDiff(committed, content)}`);
  }
  return problems;
}

function update(root: string): void {
  mkdirSync(join(root, API_DIR), { recursive: true });
  for (const [file, content] of reports(root)) {
    if (content === null) rmSync(join(root, file));
    else writeFileSync(join(root, file), content);
    console.log(`${content === null ? 'removed' : 'wrote'} ${file}`);
  }
}

if (import.meta.main) {
  if (process.argv.includes('--update')) update(repo);
  else {
    const problems = compare(repo);
    if (problems.length) {
      console.log(`${problems.join('\n\n')}\n\n${CHANGED}`);
      process.exitCode = 1;
    } else console.log(`${API_DIR}/ matches the source`);
  }
}
