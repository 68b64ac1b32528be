/**
 * `npm run pack`: builds the three published packages and packs them into
 * `.cache/packages/`, printing the tarballs' paths.
 *
 * - `kubereflect`, the runtime and the core kinds: `dist/` (runtime/ and
 *   generated/ compiled by `npm run build`) with a manifest made from this
 *   repository's package.json that keeps only what an installed package
 *   uses (no scripts, no devDependencies). One dependency,
 *   @kubernetes/client-node.
 * - `kubereflect-generator`, the build-time tool: generator/package.json, the
 *   generator compiled to JavaScript (tsconfig.generator.json), its templates,
 *   the embedded OpenAPI of the pinned kube-apiserver and bin/kubereflect.mjs,
 *   laid out as in the repository so that every relative path holds.
 * - `kubereflect-testing`, for users' tests: testing/package.json, testing/
 *   compiled with declarations (tsconfig.testing.json), and the Go modules
 *   in testing/controlplane/ that pin kube-apiserver and etcd.
 *
 * The READMEs link to the repository's docs and examples: relative links are
 * rewritten to the repository's address (package.json `repository`) at the
 * version's tag, so they resolve on the registry too.
 *
 * The generator's dependencies are devDependencies of the repository at the
 * same versions; this script refuses to pack when they drift apart.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';

const repo = resolve(import.meta.dirname, '..');
export const packagesDir = join(repo, '.cache', 'packages');

interface Manifest {
  name: string;
  version: string;
  repository?: { type: string; url: string; directory?: string };
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
}

const readManifest = (path: string) => JSON.parse(readFileSync(path, 'utf8')) as Manifest;

/** Throws when a package's manifest (generator/package.json, testing/package.json) asks for other versions than the repository develops with. */
export function checkGeneratorManifest(root: Manifest, generator: Manifest, file = 'generator/package.json'): void {
  const problems: string[] = [];
  for (const [name, version] of Object.entries(generator.dependencies ?? {})) {
    const ours = root.devDependencies?.[name] ?? root.dependencies?.[name];
    if (ours !== version) problems.push(`${name}: ${file} has ${version}, package.json ${ours ?? 'nothing'}`);
  }
  const peer = generator.peerDependencies?.[root.name];
  if (peer !== root.version) problems.push(`peer ${root.name}: ${file} asks for ${peer ?? 'nothing'}, the runtime is ${root.version}`);
  if (generator.version !== root.version) problems.push(`version: ${generator.name} ${generator.version}, runtime ${root.version}`);
  if (problems.length) throw new Error(`${file} disagrees with package.json:\n  ${problems.join('\n  ')}`);
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

/** The fields of the repository's manifest that an installed package uses; the rest (scripts, devDependencies, notes) stays here. */
const PUBLISHED_FIELDS = [
  'name',
  'version',
  'description',
  'license',
  'repository',
  'homepage',
  'bugs',
  'keywords',
  'type',
  'exports',
  'files',
  'engines',
  'dependencies',
  'peerDependencies',
  'peerDependenciesMeta',
] as const;

/** The published manifest of the runtime package: the repository's, cut to {@link PUBLISHED_FIELDS}. */
export function publishedManifest(root: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of PUBLISHED_FIELDS) if (root[field] !== undefined) out[field] = root[field];
  return out;
}

/** The repository's web address, from `repository.url` (`git+https://host/owner/name.git` → `https://host/owner/name`). */
export function repositoryWebUrl(manifest: Manifest): string {
  const url = manifest.repository?.url;
  if (!url) throw new Error(`${manifest.name}: package.json has no repository.url; the packed README links to the repository`);
  return url.replace(/^git\+/, '').replace(/\.git$/, '');
}

/**
 * Rewrites a README's relative links (`[x](docs/runtime.md)`, `](../docs/…)`
 * from a file in `fromDir`) to the repository at `ref`, so that they resolve
 * where the README is read outside a checkout. Anchors and absolute links
 * stay; a link to a path the repository does not have throws.
 */
export function absoluteLinks(markdown: string, fromDir: string, web: string, ref: string): string {
  return markdown.replace(/\]\(([^)\s]+)\)/g, (whole, target: string) => {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) return whole;
    const [path = '', anchor] = target.split('#');
    const full = resolve(fromDir, path);
    const inRepo = relative(repo, full).split(sep).join('/');
    if (inRepo.startsWith('..') || !existsSync(full))
      throw new Error(`README link ${target} (from ${relative(repo, fromDir) || '.'}) is not a file of the repository`);
    const kind = statSync(full).isDirectory() ? 'tree' : 'blob';
    return `](${web}/${kind}/${ref}/${inRepo}${anchor === undefined ? '' : `#${anchor}`})`;
  });
}

/** Builds and packs the three packages; returns the tarballs. */
export function pack(): { runtime: string; generator: string; testing: string } {
  const root = readManifest(join(repo, 'package.json'));
  const generatorManifest = readManifest(join(repo, 'generator', 'package.json'));
  checkGeneratorManifest(root, generatorManifest);
  mkdirSync(packagesDir, { recursive: true });
  const web = repositoryWebUrl(root);
  const ref = `v${root.version}`;

  const runtimeStage = join(packagesDir, 'kubereflect');
  rmSync(runtimeStage, { recursive: true, force: true });
  rmSync(join(repo, 'dist'), { recursive: true, force: true }); // no file of an earlier build (a module since renamed) is packed
  execFileSync(join(repo, 'node_modules', '.bin', 'tsc'), ['-p', join(repo, 'tsconfig.build.json')], { cwd: repo, stdio: 'inherit' });
  for (const dir of ['runtime', 'generated']) cpSync(join(repo, 'dist', dir), join(runtimeStage, 'dist', dir), { recursive: true });
  writeFileSync(join(runtimeStage, 'README.md'), absoluteLinks(readFileSync(join(repo, 'README.md'), 'utf8'), repo, web, ref));
  cpSync(join(repo, 'CHANGELOG.md'), join(runtimeStage, 'CHANGELOG.md'));
  const rootManifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(runtimeStage, 'package.json'), `${JSON.stringify(publishedManifest(rootManifest), null, 2)}\n`);
  const runtime = npmPack(runtimeStage);

  const stage = join(packagesDir, 'kubereflect-generator');
  rmSync(stage, { recursive: true, force: true });
  execFileSync(join(repo, 'node_modules', '.bin', 'tsc'), ['-p', join(repo, 'tsconfig.generator.json')], { cwd: repo, stdio: 'inherit' });
  rmSync(join(stage, 'generator', 'package.json'), { force: true });
  copyJsonCompact(join(repo, 'generator', 'openapi'), join(stage, 'generator', 'openapi'));
  cpSync(join(repo, 'templates'), join(stage, 'templates'), { recursive: true });
  cpSync(join(repo, 'bin', 'kubereflect.mjs'), join(stage, 'bin', 'kubereflect.mjs'));
  writeFileSync(join(stage, 'README.md'), absoluteLinks(readFileSync(join(repo, 'generator', 'README.md'), 'utf8'), join(repo, 'generator'), web, ref));
  cpSync(join(repo, 'CHANGELOG.md'), join(stage, 'CHANGELOG.md'));
  writeFileSync(join(stage, 'package.json'), `${JSON.stringify(generatorManifest, null, 2)}\n`);
  const generator = npmPack(stage);

  const testingManifest = readManifest(join(repo, 'testing', 'package.json'));
  checkGeneratorManifest(root, testingManifest, 'testing/package.json');
  const testingStage = join(packagesDir, 'kubereflect-testing');
  rmSync(testingStage, { recursive: true, force: true });
  execFileSync(join(repo, 'node_modules', '.bin', 'tsc'), ['-p', join(repo, 'tsconfig.testing.json')], { cwd: repo, stdio: 'inherit' });
  rmSync(join(testingStage, 'testing', 'package.json'), { force: true });
  // The Go modules that pin kube-apiserver and etcd, for a build where no binaries are given or cached.
  cpSync(join(repo, 'testing', 'controlplane'), join(testingStage, 'testing', 'controlplane'), { recursive: true });
  writeFileSync(join(testingStage, 'README.md'), absoluteLinks(readFileSync(join(repo, 'testing', 'README.md'), 'utf8'), join(repo, 'testing'), web, ref));
  cpSync(join(repo, 'CHANGELOG.md'), join(testingStage, 'CHANGELOG.md'));
  writeFileSync(join(testingStage, 'package.json'), `${JSON.stringify(testingManifest, null, 2)}\n`);
  const testing = npmPack(testingStage);
  return { runtime, generator, testing };
}

if (import.meta.main) {
  const { runtime, generator, testing } = pack();
  console.log(`${runtime}\n${generator}\n${testing}`);
}
