/**
 * `kubereflect generate --watch`: regenerate when the input files change,
 * for CRD development. Watches the folders of the `--crd` and `--openapi`
 * inputs (a glob's leading folder, recursively), waits for a quiet moment,
 * then runs the whole pipeline — type check included — and prints one line
 * per run: what was written, or the error. A failed run writes nothing and
 * keeps watching; runs never overlap (a change during one starts another
 * after it).
 */
import { watch, statSync, type FSWatcher } from 'node:fs';
import { basename, dirname, resolve, sep } from 'node:path';
import { count, formatWarning, GenerateError } from './errors.ts';
import { generate, type GenerateOptions } from './generate.ts';
import { hasGlob, splitGlob } from './input/glob.ts';

/** Milliseconds without changes before a run: editors write files in several steps. */
const QUIET_MS = 150;

/** What to watch for one input: a folder, and which changed names in it count. */
interface Watched {
  dir: string;
  recursive: boolean;
  matches: (name: string) => boolean;
}

const INPUT = /\.(ya?ml|json)$/i;

/** The folders to watch for the file inputs of `opts`. */
export function watchedInputs(opts: Pick<GenerateOptions, 'crd' | 'openapi'>): Watched[] {
  const out: Watched[] = [];
  for (const input of [...(opts.crd ?? []), ...(opts.openapi ?? [])]) {
    if (hasGlob(input)) {
      const { base } = splitGlob(input, sep);
      out.push({ dir: resolve(base), recursive: true, matches: (name) => INPUT.test(name) });
      continue;
    }
    const path = resolve(input);
    let isDir = false;
    try {
      isDir = statSync(path).isDirectory();
    } catch {
      throw new GenerateError('no such file or folder (nothing to watch)', input);
    }
    if (isDir) out.push({ dir: path, recursive: true, matches: (name) => INPUT.test(name) });
    else out.push({ dir: dirname(path), recursive: false, matches: (name) => name === basename(path) });
  }
  return out;
}

/**
 * Generates once, then again after every change to the inputs, until
 * `signal` aborts. Resolves then.
 */
export async function watchAndGenerate(opts: GenerateOptions, io: { out: (s: string) => void; err: (s: string) => void }, signal: AbortSignal): Promise<void> {
  const targets = watchedInputs(opts);
  if (!targets.length) throw new GenerateError('--watch needs --crd or --openapi inputs to watch (a cluster is not watched)', 'kubereflect generate');
  let running = false;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let changed = new Set<string>();

  const run = async (why: string) => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const result = await generate(opts);
      for (const w of result.warnings) io.err(`kubereflect: warning: ${formatWarning(w)}\n`);
      const secs = (result.timings.total! / 1000).toFixed(1);
      io.out(
        `kubereflect: ${why}: ${count(result.kinds, 'kind')}, ${count(result.written, 'file')} written, ${result.removed} removed, type-checked, in ${secs} s\n`,
      );
    } catch (err) {
      if (!(err instanceof GenerateError)) throw err;
      io.err(`kubereflect: ${why}: error: ${err.message} (nothing written; still watching)\n`);
    } finally {
      running = false;
    }
    if (again && !signal.aborted) {
      again = false;
      await run('changed while generating');
    }
  };

  const watchers: FSWatcher[] = [];
  const done = new Promise<void>((resolveDone) => {
    const stop = () => {
      clearTimeout(timer);
      for (const w of watchers) w.close();
      resolveDone();
    };
    if (signal.aborted) return stop();
    signal.addEventListener('abort', stop, { once: true });
  });
  for (const t of targets) {
    const w = watch(t.dir, { recursive: t.recursive, signal }, (_event, name) => {
      const file = name === null ? undefined : String(name);
      if (file !== undefined && !t.matches(basename(file))) return;
      changed.add(file ?? t.dir);
      clearTimeout(timer);
      timer = setTimeout(() => {
        const files = [...changed];
        changed = new Set();
        void run(`${files.slice(0, 3).join(', ')}${files.length > 3 ? ` and ${files.length - 3} more` : ''} changed`).catch((err: unknown) =>
          io.err(`kubereflect: ${String(err)}\n`),
        );
      }, QUIET_MS);
    });
    w.on('error', (err) => io.err(`kubereflect: watching ${t.dir}: ${err.message}\n`));
    watchers.push(w);
  }
  io.err(`kubereflect: watching ${targets.map((t) => t.dir).join(', ')} (Ctrl-C stops)\n`);
  await run('first run');
  await done;
}
