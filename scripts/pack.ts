/**
 * `npm run pack`: builds the two published packages and packs them into
 * `.cache/packages/`, printing the tarballs' paths.
 *
 * - `kubereflect`, the runtime and the core kinds: this repository's
 *   package.json with `dist/` (runtime/ and generated/ compiled by
 *   `npm run build`, which npm's prepack runs). One dependency,
 *   @kubernetes/client-node.
 * - `kubereflect-generator`, the build-time tool: generator/package.json, the
 *   generator compiled to JavaScript (tsconfig.generator.json), its templates,
 *   the embedded OpenAPI of the pinned kube-apiserver and bin/kubereflect.mjs,
 *   laid out as in the repository so that every relative path holds.
 *
 * The generator's dependencies are devDependencies of the repository at the
 * same versions; this script refuses to pack when they drift apart.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

const repo = resolve(import.meta.dirname, '..');
export const packagesDir = join(repo, '.cache', 'packages');

interface Manifest {
  name: string;
  version: string;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const readManifest = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Manifest;

/** Throws when generator/package.json asks for other versions than the repository develops with. */
export function checkGeneratorManifest(root: Manifest, generator: Manifest): void {
  const problems: string[] = [];
  for (const [name, version] of Object.entries(generator.dependencies ?? {})) {
    const ours = root.devDependencies?.[name] ?? root.dependencies?.[name];
    if (ours !== version) problems.push(`${name}: generator/package.json has ${version}, package.json ${ours ?? 'nothing'}`);
  }
  const peer = generator.peerDependencies?.[root.name];
  if (peer !== root.version) problems.push(`peer ${root.name}: generator/package.json asks for ${peer ?? 'nothing'}, the runtime is ${root.version}`);
  if (generator.version !== root.version) problems.push(`version: generator ${generator.version}, runtime ${root.version}`);
  if (problems.length) throw new Error(`generator/package.json disagrees with package.json:\n  ${problems.join('\n  ')}`);
}

function npmPack(dir: string): string {
  const out = execFileSync('npm', ['pack', '--json', '--pack-destination', packagesDir], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const [{ filename }] = JSON.parse(out) as [{ filename: string }];
  return join(packagesDir, filename);
}

/**
 * Copies the embedded OpenAPI without indentation (it is committed indented,
 * for readable diffs) and without the v2 document, which the generator reads
 * only from a folder that has no v3 documents.
 */
function copyJsonCompact(from: string, to: string): void {
  mkdirSync(to, { recursive: true });
  for (const entry of readdirSync(from, { withFileTypes: true })) {
    if (entry.name === 'v2.json') continue;
    if (entry.isDirectory()) copyJsonCompact(join(from, entry.name), join(to, entry.name));
    else writeFileSync(join(to, entry.name), JSON.stringify(JSON.parse(readFileSync(join(from, entry.name), 'utf8'))));
  }
}

/** Builds and packs both packages; returns the tarballs. */
export function pack(): { runtime: string; generator: string } {
  const root = readManifest(join(repo, 'package.json'));
  const generatorManifest = readManifest(join(repo, 'generator', 'package.json'));
  checkGeneratorManifest(root, generatorManifest);
  mkdirSync(packagesDir, { recursive: true });

  const runtime = npmPack(repo);

  const stage = join(packagesDir, 'kubereflect-generator');
  rmSync(stage, { recursive: true, force: true });
  execFileSync(join(repo, 'node_modules', '.bin', 'tsc'), ['-p', join(repo, 'tsconfig.generator.json')], { cwd: repo, stdio: 'inherit' });
  rmSync(join(stage, 'generator', 'package.json'), { force: true });
  copyJsonCompact(join(repo, 'generator', 'openapi'), join(stage, 'generator', 'openapi'));
  cpSync(join(repo, 'templates'), join(stage, 'templates'), { recursive: true });
  cpSync(join(repo, 'bin', 'kubereflect.mjs'), join(stage, 'bin', 'kubereflect.mjs'));
  cpSync(join(repo, 'generator', 'README.md'), join(stage, 'README.md'));
  cpSync(join(repo, 'CHANGELOG.md'), join(stage, 'CHANGELOG.md'));
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(generatorManifest, null, 2)}\n`);
  const generator = npmPack(stage);
  return { runtime, generator };
}

if (import.meta.main) {
  const { runtime, generator } = pack();
  console.log(`${runtime}\n${generator}`);
}
