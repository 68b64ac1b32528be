/** Helpers of the generator tests: fixture paths, temporary output folders, captured CLI runs. */
import { mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { main } from '../../generator/cli.ts';

export const ROOT = resolve(import.meta.dirname, '../..');
export const CRDS = join(ROOT, 'test/fixtures/crds');
export const RUNTIME = join(ROOT, 'runtime/index.ts');

/** A fresh folder under the system's temporary folder. */
export function tempDir(prefix = 'kubereflect-gen-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Every file under `dir`, relative and with `/`, → content. */
export function readTree(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p);
      else out.set(relative(dir, p).split(sep).join('/'), readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out;
}

/** Runs the CLI and captures what it prints. */
export async function runCli(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await main(args, { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}
