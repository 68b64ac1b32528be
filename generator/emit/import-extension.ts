/**
 * Which extension the generated modules' imports of each other end in,
 * decided by the project the output goes into. `./types.ts` needs a
 * compiler that allows it (`allowImportingTsExtensions`, or
 * `rewriteRelativeImportExtensions`, which turns it into `.js` on emit);
 * `./types.js` compiles under every other `tsc` setting (NodeNext, Node16,
 * bundler: each resolves it to the `.ts` file) but does not run where `.ts`
 * files run as they are (tsx, Node's type stripping) without a build.
 *
 * So: the nearest `tsconfig.json` from the output folder upward, read with
 * TypeScript's own parser (comments, `extends` chains); if its options
 * allow `.ts` imports, `.ts`; otherwise `.js`. No tsconfig at all means
 * nothing will compile the output first: `.ts`. An explicit
 * `--import-extension` wins.
 */
import { ts } from 'ts-morph';
import { GenerateError } from '../errors.ts';
import { displayPath } from '../input/load.ts';

export type ImportExtension = '.ts' | '.js';

export interface ImportExtensionChoice {
  ext: ImportExtension;
  /** Why, for the progress line: `tsconfig.json has no allowImportingTsExtensions`. */
  reason: string;
}

/** The options that let a project import `.ts` files by name. */
const ALLOWING = ['allowImportingTsExtensions', 'rewriteRelativeImportExtensions'] as const;

/**
 * The import extension for output written to `outDir` (absolute).
 * @throws GenerateError when the nearest tsconfig.json cannot be read or has errors (tsc would fail on it too).
 */
export function chooseImportExtension(outDir: string, given?: ImportExtension): ImportExtensionChoice {
  if (given) return { ext: given, reason: '--import-extension' };
  const file = ts.findConfigFile(outDir, ts.sys.fileExists, 'tsconfig.json');
  if (!file) {
    return {
      ext: '.ts',
      reason: `no tsconfig.json in ${displayPath(outDir)} or above it: for tsx or Node's type stripping; --import-extension .js for a tsc build`,
    };
  }
  const shown = displayPath(file);
  let fatal: ts.Diagnostic | undefined;
  const parsed = ts.getParsedCommandLineOfConfigFile(file, undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      fatal = d;
    },
  });
  // "No inputs were found" (18003) is a project with no sources yet, e.g. before its first generation.
  const diagnostics = parsed ? ts.getConfigFileParsingDiagnostics(parsed) : [];
  const error = fatal ?? diagnostics.find((d) => d.category === ts.DiagnosticCategory.Error && d.code !== 18003);
  if (!parsed || error) {
    const message = error ? ts.flattenDiagnosticMessageText(error.messageText, ' ') : 'unreadable';
    throw new GenerateError(
      `cannot read the compiler options that decide the import extension of the generated modules: ${message}; fix it, or pass --import-extension .ts|.js`,
      shown,
    );
  }
  const allowing = ALLOWING.find((o) => parsed.options[o] === true);
  if (!allowing) return { ext: '.js', reason: `${shown} has no allowImportingTsExtensions` };
  const own = ts.readConfigFile(file, ts.sys.readFile).config as { compilerOptions?: Record<string, unknown> } | undefined;
  const inherited = own?.compilerOptions?.[allowing] === undefined;
  return { ext: '.ts', reason: `${shown} ${inherited ? 'inherits' : 'sets'} ${allowing}` };
}
