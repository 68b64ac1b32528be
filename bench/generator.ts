/**
 * The generator on real CRDs: output bytes, generation time and `tsc` time
 * per set of CRD files, for comparing generator versions (run it in two
 * checkouts). Third-party CRDs are not part of the repository: pass folders.
 *
 *   npx tsx bench/generator.ts argo=/path/to/argo-crds[:/path/to/examples] cert-manager=… [--reps 3]
 *
 * For each set: the generated files' bytes (all, and without `meta/v1`, which
 * holds ObjectMeta and friends), the median generation time (parse, model,
 * types, render; without the built-in type check), and `tsc --noEmit` over
 * the output under `strict`, `exactOptionalPropertyTypes` and
 * `noUncheckedIndexedAccess` (median check and total time, and whether it
 * reported errors in the generated files). With an examples folder, every
 * YAML document in it of a generated kind is written into the output as a
 * literal `satisfies` its type, so `tsc` also checks real objects against
 * the generated types.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { generate } from '../generator/generate.ts';
import { parseYamlDocuments } from '../generator/input/load.ts';

const { values, positionals } = parseArgs({ allowPositionals: true, options: { reps: { type: 'string', default: '3' } } });
const reps = Number(values.reps);
const root = resolve(import.meta.dirname, '..');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

function bytes(dir: string, skip?: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(e.parentPath, e.name);
    if (e.isFile() && (!skip || !path.includes(skip))) total += statSync(path).size;
  }
  return total;
}

for (const arg of positionals) {
  const [name, dirs] = arg.split('=') as [string, string];
  const [dir, examplesDir] = dirs.split(':') as [string, string | undefined];
  const times: number[] = [];
  let out = '';
  for (let r = 0; r < reps; r++) {
    if (out) rmSync(out, { recursive: true, force: true });
    out = mkdtempSync(join(tmpdir(), `kubereflect-bench-gen-${name}-`));
    const t = performance.now();
    await generate({ crd: [resolve(dir)], out, runtime: join(root, 'runtime/index.ts'), typecheck: false });
    times.push(performance.now() - t);
  }
  const examples = examplesDir ? writeExamples(out, examplesDir) : 0;
  writeFileSync(
    join(out, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'NodeNext',
        moduleResolution: 'NodeNext',
        strict: true,
        exactOptionalPropertyTypes: true,
        noUncheckedIndexedAccess: true,
        noEmit: true,
        allowImportingTsExtensions: true,
        skipLibCheck: true,
        types: [],
      },
      include: ['**/*.ts'],
    }),
  );
  const check: number[] = [];
  const total: number[] = [];
  let errors = 0;
  for (let r = 0; r < reps; r++) {
    let text: string;
    try {
      text = execFileSync(join(root, 'node_modules/.bin/tsc'), ['-p', '.', '--extendedDiagnostics'], { cwd: out, encoding: 'utf8', maxBuffer: 1 << 26 });
    } catch (err) {
      text = String((err as { stdout?: string }).stdout ?? '');
    }
    // Errors in the generated files only (paths relative to the output); the runtime's own sources are not compiled with these options.
    const found = text.split('\n').filter((l) => /^[^.\s][^(]*\.ts\(\d+,\d+\): error/.test(l));
    if (r === 0) for (const l of found) console.error(l.slice(0, 400));
    errors = found.length;
    check.push(Number(/Check time:\s+([\d.]+)s/.exec(text)?.[1] ?? NaN));
    total.push(Number(/Total time:\s+([\d.]+)s/.exec(text)?.[1] ?? NaN));
  }
  console.log(
    JSON.stringify({
      set: name,
      files: readdirSync(out, { recursive: true }).filter((f) => String(f).endsWith('.ts')).length,
      bytes: bytes(out) - examplesBytes(out),
      bytesWithoutMeta: bytes(out, join('meta', 'v1')) - examplesBytes(out),
      examples,
      generateMs: Math.round(median(times)),
      tscCheckS: median(check),
      tscTotalS: median(total),
      tscErrorsInGenerated: errors,
    }),
  );
  rmSync(out, { recursive: true, force: true });
}

/** Writes `examples.ts`: each example of a generated kind as a literal that `satisfies` the kind's type. Returns how many. */
function writeExamples(out: string, dir: string): number {
  const kinds = new Map<string, string>();
  for (const e of readdirSync(out, { withFileTypes: true, recursive: true })) {
    if (!e.isFile() || !e.name.endsWith('.ts') || e.name === 'index.ts' || e.name === 'types.ts') continue;
    const rel = join(e.parentPath, e.name)
      .slice(out.length + 1)
      .split('\\')
      .join('/');
    const m = /^(.+)\/(v[^/]+)\/[^/]+\.ts$/.exec(rel);
    const text = readFileSync(join(out, rel), 'utf8');
    const kind = /^export const (\w+): \$\./m.exec(text)?.[1];
    if (m && kind) kinds.set(`${m[1]}/${m[2]}/${kind}`, rel);
  }
  const lines: string[] = [];
  let n = 0;
  for (const file of readdirSync(dir)
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()) {
    let docs: ReturnType<typeof parseYamlDocuments>;
    try {
      docs = parseYamlDocuments(join(dir, file), readFileSync(join(dir, file), 'utf8'));
    } catch (err) {
      console.error(`skipped ${file}: ${(err as Error).message}`); // e.g. a template that is not YAML until rendered
      continue;
    }
    for (const doc of docs) {
      const v = doc.value as { apiVersion?: string; kind?: string } | null;
      if (!v || typeof v.apiVersion !== 'string' || typeof v.kind !== 'string') continue;
      const rel = kinds.get(`${v.apiVersion}/${v.kind}`);
      if (!rel) continue;
      lines.push(`import type { ${v.kind} as K${n} } from './${rel}';`, `// ${file}:${doc.line}`, `export const e${n} = ${JSON.stringify(v)} satisfies K${n};`);
      n++;
    }
  }
  writeFileSync(join(out, 'examples.ts'), `${lines.join('\n')}\n`);
  return n;
}

function examplesBytes(out: string): number {
  try {
    return statSync(join(out, 'examples.ts')).size;
  } catch {
    return 0;
  }
}
