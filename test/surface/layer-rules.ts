/**
 * The layering rules, as one function from the tree (files, folders, import
 * edges, entry points) to the list of what breaks them, one readable line
 * each. It touches no disk, so the rules can be tried on a made-up tree as
 * well as checked on the real one.
 *
 * Test files (`*.test.ts`) are not modules of their layer: the build leaves
 * them out of the package, and a test may assemble its module with the layers
 * above it (a store to exercise label selectors, generated kinds to exercise
 * the cache). Their imports must still resolve; the order does not bind them.
 */
import { posix } from 'node:path';
import type { EntryPoint } from '../../scripts/entry-points.ts';
import type { Edge } from './import-graph.ts';
import { layout as declaredLayout } from './layers.ts';

/** What the rules look at. Paths are relative to the repository, with `/`. */
export interface Tree {
  /** The .ts files under runtime/, generator/ and the generated folders. */
  files: readonly string[];
  edges: readonly Edge[];
  /** The names of the folders directly in runtime/ and in generator/, code or not. */
  folders: { runtime: readonly string[]; generator: readonly string[] };
  entries: readonly EntryPoint[];
  /** The generator's own package name, which the runtime must not import either. */
  generatorPackage: string;
  /** Files anywhere in the repository whose first comment is the generator's header. */
  marked: readonly string[];
}

type Layout = typeof declaredLayout;

/** Where a file sits. `rank` orders a layered place; places without one are reported on their own. */
type Place =
  | { area: 'runtime'; name: string; rank?: number; entry?: true }
  | { area: 'generator'; name: string; rank?: number }
  | { area: 'generated'; name: string }
  | { area: 'other'; name: string };

const isTest = (path: string) => path.endsWith('.test.ts');
const LAYOUT_FILE = 'test/surface/layers.ts';

export function violations(tree: Tree, layout: Layout = declaredLayout): string[] {
  const runtimeLayers: readonly string[] = layout.runtime.layers;
  const generatorLayers: readonly string[] = layout.generator.layers;
  const shared: readonly string[] = layout.generator.shared;
  const data: readonly string[] = layout.generator.data;
  const generatedRoots: readonly string[] = layout.generated;
  const entrySources = new Set(tree.entries.map((e) => e.source));
  const runtimeOrder = runtimeLayers.join(' < ');
  const generatorOrder = [...shared, ...generatorLayers, 'the drivers directly in generator/'].join(' < ');

  const place = (path: string): Place => {
    const parts = path.split('/');
    const root = generatedRoots.find((r) => path.startsWith(`${r}/`));
    if (root) return { area: 'generated', name: root };
    if (parts[0] === 'runtime') {
      if (parts.length === 2)
        return entrySources.has(path) ? { area: 'runtime', name: 'an entry point', rank: Infinity, entry: true } : { area: 'runtime', name: path };
      const rank = runtimeLayers.indexOf(parts[1]!);
      return rank < 0 ? { area: 'runtime', name: parts[1]! } : { area: 'runtime', name: parts[1]!, rank };
    }
    if (parts[0] === 'generator') {
      if (parts.length === 2) {
        return shared.includes(parts[1]!)
          ? { area: 'generator', name: parts[1]!, rank: -1 }
          : { area: 'generator', name: `the driver ${parts[1]}`, rank: Infinity };
      }
      const rank = generatorLayers.indexOf(parts[1]!);
      return rank < 0 ? { area: 'generator', name: parts[1]! } : { area: 'generator', name: parts[1]!, rank };
    }
    return { area: 'other', name: path };
  };

  const found: { at: string; line: number; text: string }[] = [];
  const report = (at: string, line: number, text: string) => found.push({ at, line, text });

  for (const edge of tree.edges) {
    const at = `${edge.from}:${edge.line} → ${edge.to ?? edge.specifier}${edge.to && !edge.specifier.startsWith('.') ? ` ('${edge.specifier}')` : ''}`;
    const problem = (text: string) => report(edge.from, edge.line, `${at}: ${text}`);
    if (edge.to === null) {
      problem('names no file');
      continue;
    }
    if (isTest(edge.from)) continue;
    const from = place(edge.from);
    const to = edge.to === undefined ? undefined : place(edge.to);
    const bare = !edge.specifier.startsWith('.');

    if (from.area === 'runtime') {
      const isGeneratorPackage = edge.specifier === tree.generatorPackage || edge.specifier.startsWith(`${tree.generatorPackage}/`);
      if (to?.area === 'generator' || isGeneratorPackage) problem('the runtime may not import the generator');
      else if (from.rank !== undefined && !from.entry && to?.area === 'runtime') {
        if (to.entry) problem(`a layer may not import an entry point: ${from.name} imports ${edge.to} (entry points import layers, not the other way)`);
        else if (to.rank !== undefined && to.rank > from.rank)
          problem(`${from.name} may not import ${to.name} (runtime layers, lowest first: ${runtimeOrder})`);
      } else if (from.rank !== undefined && !from.entry && to?.area === 'generated') {
        problem(`a layer may not import generated code: it imports the entry points, so ${from.name} would depend on every layer`);
      }
    } else if (from.area === 'generator') {
      if (to?.area === 'generator' && from.rank !== undefined && to.rank !== undefined && to.rank > from.rank) {
        problem(`${from.name} may not import ${to.name} (generator layers, lowest first: ${generatorOrder})`);
      } else if (to?.area === 'runtime' && !(to.entry && bare)) {
        problem(
          'the generator imports the runtime only by its package name and entry points (kubereflect, kubereflect/<entry>): it is published apart from the runtime',
        );
      }
    } else if (from.area === 'generated') {
      const allowed = to !== undefined && ((to.area === 'runtime' && to.entry) || (to.area === 'generated' && to.name === from.name));
      if (!allowed) problem(`generated code may import only the runtime's entry points and its own folder ${from.name}/`);
    }
  }

  for (const file of tree.files) {
    const parts = file.split('/');
    if (parts[0] === 'runtime' && parts.length === 2 && !entrySources.has(file) && !isTest(file)) {
      report(
        file,
        0,
        `${file}: a file directly in runtime/ must be an entry point in package.json "exports" (now: ${[...entrySources].join(', ')}); move it into a layer or publish it`,
      );
    }
    if (parts[0] === 'generator' && parts.length > 2 && data.includes(parts[1]!)) {
      report(file, 0, `${file}: generator/${parts[1]}/ is declared as data in ${LAYOUT_FILE}; code belongs in a layer`);
    }
  }
  for (const entry of tree.entries) {
    if (!tree.files.includes(entry.source))
      report('package.json', 0, `package.json exports ${JSON.stringify(entry.subpath)} is built from ${entry.source}, which does not exist`);
  }
  const checkFolders = (area: 'runtime' | 'generator', onDisk: readonly string[], declared: readonly string[], order: string) => {
    for (const folder of onDisk) {
      if (!declared.includes(folder))
        report(`${area}/${folder}/`, 0, `${area}/${folder}/: a folder not in the declared order (${order}); place it in ${LAYOUT_FILE}`);
    }
    for (const folder of declared) {
      if (!onDisk.includes(folder))
        report(`${area}/${folder}/`, 0, `${area}/${folder}/ is declared in ${LAYOUT_FILE} but does not exist; update the declaration`);
    }
  };
  checkFolders('runtime', tree.folders.runtime, runtimeLayers, runtimeOrder);
  checkFolders('generator', tree.folders.generator, [...generatorLayers, ...data], generatorOrder);
  for (const file of shared) {
    if (!tree.files.includes(`generator/${file}`))
      report(`generator/${file}`, 0, `generator/${file} is declared shared in ${LAYOUT_FILE} but does not exist; update the declaration`);
  }
  for (const root of generatedRoots) {
    if (!tree.files.some((f) => f.startsWith(`${root}/`)))
      report(`${root}/`, 0, `${root}/ is declared as generated in ${LAYOUT_FILE} but holds no .ts file; update the declaration`);
  }
  for (const file of tree.marked) {
    if (!generatedRoots.some((r) => file.startsWith(`${r}/`))) {
      report(file, 0, `${file}: generated code outside the declared generated folders; add ${posix.dirname(file)}/ (or its output root) to ${LAYOUT_FILE}`);
    }
  }

  return found.sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.line - b.line)).map((v) => v.text);
}
