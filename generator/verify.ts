/**
 * Stage 7 of the generator: assemble, format and verify the output with
 * ts-morph, in memory, before anything is written. Every module must parse,
 * and (unless turned off) the whole output must type-check with strict
 * settings against the runtime it imports; a failure reports the
 * diagnostics and nothing is written.
 */
import { join } from 'node:path';
import { IndentationText, Project, QuoteKind, ts, type Diagnostic } from 'ts-morph';
import { GenerateError } from './errors.ts';

export interface VerifyOptions {
  /** The absolute output folder: modules are checked as if they were there, so imports resolve as they will. */
  outDir: string;
  /** Type-check as well as parse (default true). */
  typecheck?: boolean;
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
  const project = new Project({
    compilerOptions: CHECK_OPTIONS,
    skipAddingFilesFromTsConfig: true,
    manipulationSettings: { indentationText: IndentationText.TwoSpaces, quoteKind: QuoteKind.Single, useTrailingCommas: true },
  });
  const sources = new Map<string, ReturnType<Project['createSourceFile']>>();
  for (const [path, text] of files) sources.set(path, project.createSourceFile(join(opts.outDir, path), text, { overwrite: true }));

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
