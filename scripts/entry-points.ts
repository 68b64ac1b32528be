/**
 * The runtime's published entry points, read from package.json "exports".
 *
 * package.json is the one place an entry point is declared: an export whose
 * target is `./dist/runtime/X.js` is built from `runtime/X.ts`, so adding
 * `"./foo": { "types": …, "default": "./dist/runtime/foo.js" }` makes
 * `runtime/foo.ts` an entry for the layering check and the API report alike.
 * Exports into other folders (`./generated*`) and `./package.json` are not
 * runtime entry points.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** One published entry point of the runtime. */
export interface EntryPoint {
  /** The export's subpath as package.json spells it: `.`, `./kind`. */
  subpath: string;
  /** What a consumer writes: `kubereflect`, `kubereflect/kind`. */
  specifier: string;
  /** The source file it is built from, relative to the repository: `runtime/index.ts`. */
  source: string;
}

/** The package's name and its "exports" map, as package.json has them. */
export interface Manifest {
  name: string;
  exports?: Record<string, unknown>;
}

export function readManifest(repo: string): Manifest {
  return JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as Manifest;
}

/** Every string a conditional export leads to (`types`, `default`, nested conditions). */
function targets(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  if (value && typeof value === 'object') return Object.values(value).flatMap(targets);
  return [];
}

const RUNTIME_TARGET = /^\.\/dist\/runtime\/(.+)\.js$/;

/**
 * The runtime entry points, in the order package.json lists them. Throws on an
 * export into dist/runtime/ that is a pattern or a file in a subfolder: either
 * would publish a file inside a layer, which the layering forbids.
 */
export function runtimeEntryPoints(manifest: Manifest): EntryPoint[] {
  const entries: EntryPoint[] = [];
  for (const [subpath, value] of Object.entries(manifest.exports ?? {})) {
    const sources = new Set<string>();
    for (const target of targets(value)) {
      const match = RUNTIME_TARGET.exec(target);
      if (!match) continue;
      const name = match[1]!;
      if (name.includes('*') || name.includes('/')) {
        throw new Error(
          `package.json exports ${JSON.stringify(subpath)} → ${target}: an entry point is one file directly in runtime/, not a pattern or a file inside a layer`,
        );
      }
      sources.add(`runtime/${name}.ts`);
    }
    if (sources.size > 1) throw new Error(`package.json exports ${JSON.stringify(subpath)} leads to several runtime files: ${[...sources].join(', ')}`);
    const [source] = sources;
    if (source) entries.push({ subpath, specifier: subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`, source });
  }
  return entries;
}
