/**
 * The layering check over the real import graph (the order is declared in
 * test/surface/layers.ts): no upward import, no layer importing an entry
 * point, nothing loose directly in runtime/, no undeclared folder, no runtime
 * import of the generator, and generated code reaching the runtime through its
 * entry points only. A failure names each offending import as
 * `file:line → target: rule`.
 *
 * The rules are also tried on a made-up tree, so that a check which silently
 * stopped seeing edges, or a rule that stopped firing, fails too.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readManifest, runtimeEntryPoints } from '../../scripts/entry-points.ts';
import { hasHeaderMarker, importGraph, importsOf, isTs, walk } from './import-graph.ts';
import { violations, type Tree } from './layer-rules.ts';
import { GENERATED_MARKER, layout } from './layers.ts';

const repo = resolve(import.meta.dirname, '../..');

function realTree(): Tree {
  const manifest = readManifest(repo);
  const { files, edges } = importGraph(repo, manifest, ['runtime', 'generator', ...layout.generated]);
  const folders = (dir: string) =>
    readdirSync(join(repo, dir), { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  const generatorPackage = (JSON.parse(readFileSync(join(repo, 'generator', 'package.json'), 'utf8')) as { name: string }).name;
  const marked = walk(repo, '', isTs).filter((file) => hasHeaderMarker(readFileSync(join(repo, file), 'utf8'), GENERATED_MARKER));
  return {
    files,
    edges,
    folders: { runtime: folders('runtime'), generator: folders('generator') },
    entries: runtimeEntryPoints(manifest),
    generatorPackage,
    marked,
  };
}

describe('layering', () => {
  const tree = realTree();

  it('sees the import graph', () => {
    // A parser that found nothing would pass every rule below.
    const local = tree.edges.filter((e) => e.to);
    expect(local.length).toBeGreaterThan(100);
    for (const area of ['runtime/', 'generator/', ...layout.generated.map((g) => `${g}/`)]) {
      expect(
        local.some((e) => e.from.startsWith(area)),
        `no import found in ${area}`,
      ).toBe(true);
    }
    expect(tree.entries.length).toBeGreaterThan(0);
    expect(tree.marked.length).toBeGreaterThan(0);
  });

  it('holds over every import', () => {
    const found = violations(tree);
    expect(found, `the layering is broken (order: test/surface/layers.ts):\n  ${found.join('\n  ')}\n`).toEqual([]);
  });
});

describe('the parser', () => {
  it('finds every form of import, and none in strings or comments', () => {
    const text = [
      "import a from './a.ts';",
      "import type { B } from './b.ts';",
      "export { c } from './c.ts';",
      "export * as d from './d.ts';",
      "import e = require('./e.ts');",
      "const f = await import('./f.ts');",
      "type G = typeof import('./g.ts');",
      "type H = import('./h.ts').H;",
      "// import x from './comment.ts';",
      'const s = "import y from \'./string.ts\'";',
      "export function later() { return import('./i.ts'); }",
    ].join('\n');
    expect(importsOf('x.ts', text)).toEqual(
      ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'].map((n, i) => ({ specifier: `./${n}.ts`, line: i < 8 ? i + 1 : 11 })),
    );
  });
});

describe('the rules', () => {
  /** A tree that keeps every rule, for one change at a time to break. */
  const good = (): Tree => ({
    files: [
      'runtime/index.ts',
      'runtime/core/labels.ts',
      'runtime/cache/store.ts',
      ...layout.runtime.layers.map((l) => `runtime/${l}/x.ts`),
      'generator/errors.ts',
      'generator/generate.ts',
      'generator/input/load.ts',
      'generator/model/model.ts',
      'generator/emit/render.ts',
      ...layout.generated.map((g) => `${g}/index.ts`),
    ],
    edges: [
      { from: 'runtime/cache/store.ts', line: 3, specifier: '../core/labels.ts', to: 'runtime/core/labels.ts' },
      { from: 'runtime/index.ts', line: 1, specifier: './cache/store.ts', to: 'runtime/cache/store.ts' },
      { from: 'generator/model/model.ts', line: 2, specifier: '../input/load.ts', to: 'generator/input/load.ts' },
      { from: 'generator/input/load.ts', line: 4, specifier: 'kubereflect', to: 'runtime/index.ts' },
      { from: 'generated/index.ts', line: 1, specifier: '../runtime/index.ts', to: 'runtime/index.ts' },
      { from: 'runtime/core/labels.test.ts', line: 5, specifier: '../cache/store.ts', to: 'runtime/cache/store.ts' },
    ],
    folders: { runtime: [...layout.runtime.layers], generator: [...layout.generator.layers, ...layout.generator.data] },
    entries: [{ subpath: '.', specifier: 'kubereflect', source: 'runtime/index.ts' }],
    generatorPackage: 'kubereflect-generator',
    marked: layout.generated.map((g) => `${g}/index.ts`),
  });
  const broken = (change: (tree: Tree) => Tree) => violations(change(good()));
  const withEdge =
    (edge: Tree['edges'][number]) =>
    (t: Tree): Tree => ({ ...t, edges: [...t.edges, edge] });

  it('pass a tree that keeps them', () => {
    expect(violations(good())).toEqual([]);
  });

  it('name an upward import by file, line, target and layers', () => {
    expect(broken(withEdge({ from: 'runtime/core/labels.ts', line: 12, specifier: '../cache/store.ts', to: 'runtime/cache/store.ts' }))).toEqual([
      `runtime/core/labels.ts:12 → runtime/cache/store.ts: core may not import cache (runtime layers, lowest first: ${layout.runtime.layers.join(' < ')})`,
    ]);
    expect(broken(withEdge({ from: 'generator/input/load.ts', line: 9, specifier: '../emit/render.ts', to: 'generator/emit/render.ts' }))).toEqual([
      expect.stringMatching(/^generator\/input\/load\.ts:9 → generator\/emit\/render\.ts: input may not import emit/),
    ]);
    expect(broken(withEdge({ from: 'generator/errors.ts', line: 1, specifier: './generate.ts', to: 'generator/generate.ts' }))).toEqual([
      expect.stringContaining('errors.ts may not import the driver generate.ts'),
    ]);
  });

  it('refuse a layer importing an entry point, by path or by package name', () => {
    expect(broken(withEdge({ from: 'runtime/cache/store.ts', line: 7, specifier: 'kubereflect', to: 'runtime/index.ts' }))).toEqual([
      expect.stringContaining("store.ts:7 → runtime/index.ts ('kubereflect'): a layer may not import an entry point"),
    ]);
    expect(broken(withEdge({ from: 'runtime/core/labels.ts', line: 2, specifier: '../index.ts', to: 'runtime/index.ts' }))).toHaveLength(1);
  });

  it('refuse the runtime importing the generator or generated code', () => {
    expect(broken(withEdge({ from: 'runtime/index.ts', line: 2, specifier: '../generator/generate.ts', to: 'generator/generate.ts' }))).toEqual([
      expect.stringContaining('the runtime may not import the generator'),
    ]);
    expect(broken(withEdge({ from: 'runtime/kinds/x.ts', line: 2, specifier: 'kubereflect-generator', to: undefined }))).toEqual([
      expect.stringContaining('the runtime may not import the generator'),
    ]);
    expect(broken(withEdge({ from: 'runtime/cache/store.ts', line: 2, specifier: '../../generated/index.ts', to: 'generated/index.ts' }))).toEqual([
      expect.stringContaining('a layer may not import generated code'),
    ]);
  });

  it('refuse generated code reaching past the entry points', () => {
    expect(broken(withEdge({ from: 'generated/index.ts', line: 3, specifier: '../runtime/kinds/kind.ts', to: 'runtime/kinds/x.ts' }))).toEqual([
      expect.stringContaining("generated code may import only the runtime's entry points"),
    ]);
    expect(broken(withEdge({ from: 'examples/generated/index.ts', line: 3, specifier: '@kubernetes/client-node', to: undefined }))).toHaveLength(1);
    expect(broken(withEdge({ from: 'examples/generated/index.ts', line: 3, specifier: '../../generated/index.ts', to: 'generated/index.ts' }))).toHaveLength(1);
  });

  it('refuse the generator reaching into the runtime by path', () => {
    expect(broken(withEdge({ from: 'generator/input/load.ts', line: 5, specifier: '../../runtime/index.ts', to: 'runtime/index.ts' }))).toEqual([
      expect.stringContaining('the generator imports the runtime only by its package name'),
    ]);
  });

  it('refuse loose files, undeclared or stale folders, and generated code elsewhere', () => {
    expect(broken((t) => ({ ...t, files: [...t.files, 'runtime/helpers.ts'] }))).toEqual([
      expect.stringContaining('runtime/helpers.ts: a file directly in runtime/ must be an entry point'),
    ]);
    expect(
      broken((t) => ({
        ...t,
        files: [...t.files, 'runtime/helpers.ts'],
        entries: [...t.entries, { subpath: './helpers', specifier: 'kubereflect/helpers', source: 'runtime/helpers.ts' }],
      })),
    ).toEqual([]);
    expect(broken((t) => ({ ...t, entries: [...t.entries, { subpath: './kind', specifier: 'kubereflect/kind', source: 'runtime/kind.ts' }] }))).toEqual([
      expect.stringContaining('runtime/kind.ts, which does not exist'),
    ]);
    expect(broken((t) => ({ ...t, folders: { ...t.folders, runtime: [...t.folders.runtime, 'util'] } }))).toEqual([
      expect.stringContaining('runtime/util/: a folder not in the declared order'),
    ]);
    expect(broken((t) => ({ ...t, folders: { ...t.folders, generator: t.folders.generator.filter((f) => f !== 'emit') } }))).toEqual([
      expect.stringContaining('generator/emit/ is declared'),
    ]);
    expect(broken((t) => ({ ...t, files: [...t.files, 'generator/openapi/x.ts'] }))).toEqual([expect.stringContaining('declared as data')]);
    expect(broken((t) => ({ ...t, marked: [...t.marked, 'bench/generated/index.ts'] }))).toEqual([
      expect.stringContaining('outside the declared generated folders'),
    ]);
  });
});
