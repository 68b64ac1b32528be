/**
 * Stage 7 of the generator: assemble, format and verify the output with
 * ts-morph, in memory, before anything is written. Every module must parse,
 * and (unless turned off) the whole output must type-check with strict
 * settings against the runtime it imports; a failure reports the
 * diagnostics and nothing is written.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IndentationText, Project, QuoteKind, ts, type Diagnostic } from 'ts-morph';
import { GenerateError } from '../errors.ts';

export interface VerifyOptions {
  /** The absolute output folder: modules are checked as if they were there, so imports resolve as they will. */
  outDir: string;
  /** Type-check as well as parse (default true). */
  typecheck?: boolean;
  /** The specifier the output imports the runtime by (default `kubereflect`). */
  runtime?: string;
  /** Receives a line when the runtime is not installed where the output goes and is checked against the one next to the generator. */
  note?: (line: string) => void;
}

/** The compiler options generated code is checked with: the strictest a user is likely to have. */
export const CHECK_OPTIONS: ts.CompilerOptions = {
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  lib: ['lib.es2023.d.ts'],
  types: ['node'],
  strict: true,
  noUncheckedIndexedAccess: true,
  exactOptionalPropertyTypes: false,
  noImplicitOverride: true,
  isolatedModules: true,
  verbatimModuleSyntax: true,
  allowImportingTsExtensions: true,
  skipLibCheck: true,
  noEmit: true,
};

/**
 * Formats every module and checks the output; returns the formatted files.
 * @throws GenerateError with the diagnostics when a module does not parse or type-check.
 */
export function verifyOutput(files: Map<string, string>, opts: VerifyOptions): Map<string, string> {
  const project = projectFor({ ...CHECK_OPTIONS, ...runtimeFallback(opts) });
  const sources = new Map<string, ReturnType<Project['createSourceFile']>>();
  for (const [path, text] of files) sources.set(path, project.createSourceFile(join(opts.outDir, path), text, { overwrite: true }));
  try {
    return check(project, sources, opts);
  } finally {
    // Only the output leaves: the next run in this process starts from the runtime and libraries already parsed.
    for (const sf of sources.values()) if (!sf.wasForgotten()) project.removeSourceFile(sf);
  }
}

/**
 * One ts-morph project per set of compiler options, kept for the process:
 * parsing the runtime's declarations (with @kubernetes/client-node's, about
 * a thousand files) and the standard library is most of a check's cost, and
 * a program built again after only the output changed reuses those files.
 */
const projects = new Map<string, Project>();
function projectFor(compilerOptions: ts.CompilerOptions): Project {
  const key = JSON.stringify(compilerOptions);
  let project = projects.get(key);
  if (project) {
    // What the runtime and the libraries say may have changed on disk since the last run (a watched checkout): read it again; unchanged files keep their parse.
    for (const sf of project.getSourceFiles()) sf.refreshFromFileSystemSync();
  } else {
    project = new Project({
      compilerOptions,
      skipAddingFilesFromTsConfig: true,
      manipulationSettings: { indentationText: IndentationText.TwoSpaces, quoteKind: QuoteKind.Single, useTrailingCommas: true },
    });
    projects.set(key, project);
  }
  return project;
}

function check(project: Project, sources: Map<string, ReturnType<Project['createSourceFile']>>, opts: VerifyOptions): Map<string, string> {
  const program = project.getProgram();
  const syntax = [...sources.values()].flatMap((sf) => program.getSyntacticDiagnostics(sf));
  if (syntax.length) throw failure('does not parse', syntax, opts.outDir);

  const out = new Map<string, string>();
  for (const [path, sf] of sources) {
    sf.formatText({ indentSize: 2, convertTabsToSpaces: true, ensureNewLineAtEndOfFile: true, semicolons: ts.SemicolonPreference.Insert });
    out.set(path, sf.getFullText());
  }
  if (opts.typecheck !== false) {
    const ours = new Set([...sources.values()].map((sf) => sf.getFilePath()));
    const diagnostics = project.getPreEmitDiagnostics().filter((d) => {
      const file = d.getSourceFile()?.getFilePath();
      return file === undefined || ours.has(file);
    });
    if (diagnostics.length) throw failure('does not type-check', diagnostics, opts.outDir);
  }
  return out;
}

/**
 * When the output imports the runtime by a package name that does not resolve
 * from the output folder (an `--out` outside any project, or a project that
 * has not installed it yet), check it against the runtime next to the
 * generator: the package the generator's own dependencies hold, or the
 * runtime's source in a checkout.
 */
function runtimeFallback(opts: VerifyOptions): ts.CompilerOptions {
  const runtime = opts.runtime ?? 'kubereflect';
  if (runtime.startsWith('.') || runtime.startsWith('/')) return {};
  const probe = join(opts.outDir, '__kubereflect_probe__.ts');
  if (ts.resolveModuleName(runtime, probe, CHECK_OPTIONS, ts.sys).resolvedModule) return {};
  const found = runtimeNextToGenerator(runtime);
  if (!found) {
    throw new GenerateError(
      `the generated code imports '${runtime}', which is installed neither where the output goes nor next to the generator: ` +
        `install it in the project that will compile the output (npm install ${runtime}), or pass --runtime`,
      opts.outDir,
    );
  }
  opts.note?.(`'${runtime}' is not installed where the output goes; checked against ${found}. Install it in the project that compiles the output.`);
  const typeRoots: string[] = [];
  for (let dir = dirname(found); ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'node_modules', '@types'))) typeRoots.push(join(dir, 'node_modules', '@types'));
    if (dirname(dir) === dir) break;
  }
  // Generated kind modules import the runtime's `kind` entry point, which sits beside its root entry.
  const kind = join(dirname(found), basename(found).replace(/^index/, 'kind'));
  return { paths: { [runtime]: [found], [`${runtime}/kind`]: [kind] }, typeRoots };
}

function runtimeNextToGenerator(runtime: string): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  const source = join(here, '..', '..', 'runtime', 'index.ts');
  if (runtime === 'kubereflect' && existsSync(source)) return source;
  try {
    const entry = createRequire(import.meta.url).resolve(runtime);
    const types = entry.replace(/\.(c|m)?js$/, '.d.$1ts');
    return existsSync(types) ? types : entry;
  } catch {
    return undefined;
  }
}

function failure(what: string, diagnostics: Diagnostic[], outDir: string): GenerateError {
  const lines = diagnostics.slice(0, 20).map((d) => {
    const sf = d.getSourceFile();
    const file = sf ? sf.getFilePath().replace(`${outDir}/`, '') : '(global)';
    const line = sf && d.getStart() !== undefined ? sf.getLineAndColumnAtPos(d.getStart()!).line : undefined;
    const message = ts.flattenDiagnosticMessageText(d.compilerObject.messageText, '\n');
    return `  ${file}${line ? `:${line}` : ''}: ${message}`;
  });
  const more = diagnostics.length > 20 ? `\n  … and ${diagnostics.length - 20} more` : '';
  return new GenerateError(`the generated code ${what} (nothing was written):\n${lines.join('\n')}${more}`, outDir);
}
