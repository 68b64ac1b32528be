/**
 * Every TypeScript block of the README compiles as a user's project would
 * compile it — strict, `exactOptionalPropertyTypes`, `noUncheckedIndexedAccess`,
 * NodeNext — against the runtime's source, the core kinds and the example
 * Widget kind (`./kube/…` in the README is `examples/generated/…`). A line
 * the README marks `// does not compile` must fail to compile (it is checked
 * as `@ts-expect-error`). A block may rely on names the README leaves to the
 * reader: an HTML comment right before it, `<!-- snippet declares: … -->`,
 * holds their declarations.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import ts from 'typescript';
import { expect, it } from 'vitest';

const repo = resolve(import.meta.dirname, '..');

interface Block {
  line: number;
  code: string;
  declares: string;
}

/** The ```ts blocks of a markdown text, with the line each starts on and the declarations before it. */
function tsBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '```ts') continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && lines[end] !== '```') end++;
    const before =
      lines
        .slice(0, i)
        .reverse()
        .find((l) => l.trim() !== '') ?? '';
    const declares = before.match(/^<!-- snippet declares: (.*) -->$/)?.[1] ?? '';
    blocks.push({ line: start + 1, code: lines.slice(start, end).join('\n'), declares });
    i = end;
  }
  return blocks;
}

/** The block as a module of the check: imports pointed at the repository's files, marked lines expected to fail. */
function asModule(block: Block): string {
  const code = block.code
    .replace(/from '\.\/kube\/([^']+)\.js'/g, "from '../../examples/generated/$1.ts'")
    .replace(/from 'kubereflect\/generated\/([^']+)'/g, "from '../../generated/$1.ts'")
    .split('\n')
    .map((l) => (/\/\/ does not compile/.test(l) ? `// @ts-expect-error\n${l}` : l))
    .join('\n');
  // The declarations go last, on one line, so that the block's lines keep their numbers (offset by `line`).
  return `${code}\n${block.declares}\nexport {};\n`;
}

it('compiles every TypeScript block of the README under exactOptionalPropertyTypes', () => {
  const blocks = tsBlocks(readFileSync(join(repo, 'README.md'), 'utf8'));
  expect(blocks.length).toBeGreaterThanOrEqual(2);
  const dir = join(repo, '.cache', 'readme');
  const files = new Map(blocks.map((b) => [join(dir, `line-${b.line}.ts`), asModule(b)]));
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ['lib.es2023.d.ts'],
    types: ['node'],
    typeRoots: [join(repo, 'node_modules', '@types')],
    strict: true,
    exactOptionalPropertyTypes: true,
    noUncheckedIndexedAccess: true,
    allowImportingTsExtensions: true,
    noEmit: true,
    skipLibCheck: true,
    baseUrl: repo,
    paths: { kubereflect: ['./runtime/index.ts'], 'kubereflect/*': ['./runtime/*.ts'], 'kubereflect-testing': ['./testing/index.ts'] },
  };
  const host = ts.createCompilerHost(options);
  const { fileExists, readFile, getSourceFile } = host;
  host.fileExists = (f) => files.has(f) || fileExists.call(host, f);
  host.readFile = (f) => files.get(f) ?? readFile.call(host, f);
  host.getSourceFile = (f, lang, ...rest) => {
    const text = files.get(f);
    return text === undefined ? getSourceFile.call(host, f, lang, ...rest) : ts.createSourceFile(f, text, lang);
  };
  const program = ts.createProgram([...files.keys()], options, host);
  const problems = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file && files.has(d.file.fileName))
    .map((d) => {
      const block = blocks.find((b) => d.file!.fileName.endsWith(`line-${b.line}.ts`))!;
      const { line } = d.file!.getLineAndCharacterOfPosition(d.start ?? 0);
      const marked = asModule(block)
        .split('\n')
        .slice(0, line)
        .filter((l) => l === '// @ts-expect-error').length;
      return `README.md:${block.line + line - marked}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`;
    });
  expect(problems).toEqual([]);
}, 120_000);
