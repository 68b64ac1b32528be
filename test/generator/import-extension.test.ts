/**
 * The extension of imports between generated modules follows the project the
 * output goes into: its nearest tsconfig.json (read by TypeScript, `extends`
 * followed) allows `.ts` imports → `.ts`; a tsconfig that does not (a fresh
 * `tsc --init` project) → `.js`, and the output compiles with that tsconfig
 * as it is; no tsconfig → `.ts` (tsx, Node's type stripping). The progress
 * line says which and why.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { CRDS, readTree, ROOT, runCli, tempDir } from './helpers.ts';

/** What `tsc --init` of TypeScript 5.9 writes, comments and trailing comma included, plus where `kubereflect` is (an installed package, in a real project). */
const INIT_TSCONFIG = `{
  // Visit https://aka.ms/tsconfig to read more about this file
  "compilerOptions": {
    "module": "nodenext",
    "target": "esnext",
    "types": [],
    "sourceMap": true,
    "declaration": true,
    "declarationMap": true,
    "noUncheckedIndexedAccess": true,
    "exactOptionalPropertyTypes": true,
    "strict": true,
    "jsx": "react-jsx",
    "verbatimModuleSyntax": true,
    "isolatedModules": true,
    "noUncheckedSideEffectImports": true,
    "moduleDetection": "force",
    "skipLibCheck": true,
    "paths": { "kubereflect": [${JSON.stringify(join(ROOT, 'runtime/index.ts'))}], "kubereflect/kind": [${JSON.stringify(join(ROOT, 'runtime/kind.ts'))}] },
  }
}
`;

function project(files: Record<string, string>): string {
  const dir = tempDir('kubereflect-project-');
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(join(dir, path, '..'), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

async function generateInto(out: string, extra: string[] = []) {
  const r = await runCli(['generate', '--crd', join(CRDS, 'widgets.yaml'), '--out', out, ...extra]);
  expect(r.code, r.err).toBe(0);
  const widget = readFileSync(join(out, 'fixtures.kubereflect.dev/v1/widget.ts'), 'utf8');
  const ext = /from "\.\/types(\.[jt]s)";/.exec(widget)?.[1];
  return { ext, err: r.err };
}

describe('the import extension of generated modules', () => {
  it('is .js in a fresh tsc --init project, whose tsconfig then compiles the output as it is', async () => {
    // An ES module project, as npm init -y && npm pkg set type=module makes it.
    const dir = project({ 'tsconfig.json': INIT_TSCONFIG, 'package.json': '{ "name": "app", "type": "module" }' });
    const out = join(dir, 'src', 'kube');
    const { ext, err } = await generateInto(out, ['--no-typecheck']);
    expect(ext).toBe('.js');
    expect(err).toContain(`kubereflect: imports end in .js (${join(dir, 'tsconfig.json')} has no allowImportingTsExtensions)\n`);

    const parsed = ts.getParsedCommandLineOfConfigFile(join(dir, 'tsconfig.json'), undefined, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
    const program = ts.createProgram({ rootNames: [...readTree(out).keys()].map((f) => join(out, f)), options: { ...parsed.options, noEmit: true } });
    // Only the output is judged: the runtime's own sources (standing in for the installed package's declarations) are not compiled by a user.
    const ours = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file?.fileName.startsWith(out))
      .map((d) => `${d.file!.fileName.slice(out.length + 1)}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`);
    expect(ours).toEqual([]);
    expect(program.getSourceFiles().some((sf) => sf.fileName === join(out, 'fixtures.kubereflect.dev/v1/types.ts'))).toBe(true);
  }, 120_000);

  it('is .ts where the tsconfig allows .ts imports', async () => {
    const dir = project({ 'tsconfig.json': '{ "compilerOptions": { "module": "nodenext", "noEmit": true, "allowImportingTsExtensions": true } }' });
    const { ext, err } = await generateInto(join(dir, 'kube'), ['--no-typecheck']);
    expect(ext).toBe('.ts');
    expect(err).toContain(`kubereflect: imports end in .ts (${join(dir, 'tsconfig.json')} sets allowImportingTsExtensions)\n`);
  }, 60_000);

  it('follows extends chains, and an explicit --import-extension wins', async () => {
    const dir = project({
      'config/strict.json': '{ "compilerOptions": { "rewriteRelativeImportExtensions": true } }',
      'config/base.json': '{ "extends": "./strict.json", "compilerOptions": { "strict": true } }',
      'app/tsconfig.json': '{ "extends": "../config/base.json", "compilerOptions": { "module": "nodenext" } }',
      'lib/tsconfig.json': '{ "extends": "../config/base.json", "compilerOptions": { "rewriteRelativeImportExtensions": false } }',
    });
    const app = await generateInto(join(dir, 'app/src/kube'), ['--no-typecheck']);
    expect(app.ext).toBe('.ts');
    expect(app.err).toContain(`imports end in .ts (${join(dir, 'app/tsconfig.json')} inherits rewriteRelativeImportExtensions)\n`);
    const lib = await generateInto(join(dir, 'lib/kube'), ['--no-typecheck']);
    expect(lib.ext).toBe('.js');
    const forced = await generateInto(join(dir, 'lib/forced'), ['--no-typecheck', '--import-extension', '.ts']);
    expect(forced.ext).toBe('.ts');
    expect(forced.err).toContain('imports end in .ts (--import-extension)\n');
  }, 60_000);

  it('is .ts with no tsconfig.json above the output', async () => {
    const out = join(tempDir(), 'kube');
    // The machine's temporary folder must have no tsconfig.json above it for this to mean anything.
    expect(ts.findConfigFile(out, ts.sys.fileExists)).toBeUndefined();
    const { ext, err } = await generateInto(out, ['--no-typecheck']);
    expect(ext).toBe('.ts');
    expect(err).toMatch(
      /imports end in \.ts \(no tsconfig\.json in .* or above it: for tsx or Node's type stripping; --import-extension \.js for a tsc build\)\n/,
    );
  }, 60_000);

  it('refuses a tsconfig.json tsc cannot read', async () => {
    const dir = project({ 'tsconfig.json': '{ "compilerOptions": { "module": "nodenext", } ]' });
    const r = await runCli(['generate', '--crd', join(CRDS, 'widgets.yaml'), '--out', join(dir, 'kube'), '--quiet']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(
      /^kubereflect: error: .*tsconfig\.json: cannot read the compiler options that decide the import extension of the generated modules: .*; fix it, or pass --import-extension \.ts\|\.js\n$/,
    );
  });
});
