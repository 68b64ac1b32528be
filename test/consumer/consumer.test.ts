/**
 * The consumer test: the user's path through the packages as they are
 * published. Both packages are packed (`npm run pack`) and installed from
 * their tarballs into fresh projects outside the repository (no access to its
 * node_modules, no overrides); types are generated for a CRD with the default
 * runtime import, compiled with plain `tsc` (strict, NodeNext) and run with
 * plain `node` against the real apiserver — as ESM and as CommonJS, on Node 22
 * and Node 24. A project that installs only the runtime package must hold no
 * TypeScript toolchain.
 */
import { execFile, execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { Api, Client, type KubeObject } from '../../runtime/index.ts';
import { pack } from '../../scripts/pack.ts';
import { ensureBinaries } from '../../testing/binaries.ts';
import { NODE_TOO_OLD, NODE_VERSIONS, nodeBinary } from '../support/node.ts';
import { testNamespace } from '../support/kube.ts';

const repo = resolve(import.meta.dirname, '../..');
const crdFile = join(repo, 'examples', 'crds', 'widget.yaml');
const devDependencies = (JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { devDependencies: Record<string, string> }).devDependencies;
const TYPESCRIPT = devDependencies.typescript!;
const VITEST = devDependencies.vitest!;

/** The body both programs run: create a Widget, cache it pruned, read it back typed, print it. */
const body = `
  const [kubeconfig, namespace, name] = process.argv.slice(2) as [string, string, string];
  const client = Client.fromFile(kubeconfig, { context: 'admin' });
  const backoff: Backoff = defaultBackoff(); // a subpath entry point, by value and by type
  void backoff;
  const api = Widget.api(client, namespace);
  await api.create({ apiVersion: 'demo.kubereflect.dev/v1', kind: 'Widget', metadata: { name }, spec: { color: 'red', parts: [{ name: 'bolt', count: 2 }] } });
  const cache = Widget.cache(api, { transform: Widget.keep({ spec: { color: true } }) });
  const running = cache.run();
  await cache.reader.waitUntilReady();
  const w = cache.reader.get({ name, namespace });
  const color: 'red' | 'green' | 'blue' | undefined = w?.spec?.color;
  // @ts-expect-error parts were not kept, so reading them does not compile
  void w?.spec?.parts;
  console.log(JSON.stringify({ color, stored: w, node: process.version }));
  cache.stop();
  await running;
  client.close();
`;

const programs = {
  esm: `import { Client } from 'kubereflect';
import { defaultBackoff, type Backoff } from 'kubereflect/cache';
import { Widget } from './gen/demo.kubereflect.dev/v1/widget.js';
${body}`,
  // No top-level await in CommonJS: the same body in an async main.
  cjs: `import { Client } from 'kubereflect';
import { defaultBackoff, type Backoff } from 'kubereflect/cache';
import { Widget } from './gen/demo.kubereflect.dev/v1/widget.js';

async function main(): Promise<void> {${body}}
main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
`,
};

const npm = (args: string[], cwd: string) =>
  execFileSync('npm', [...args, '--no-audit', '--no-fund'], { cwd, encoding: 'utf8', stdio: 'pipe', timeout: 300_000 });

function du(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) total += du(path);
    else if (entry.isFile()) total += statSync(path).size;
  }
  return total;
}

function project(name: string, manifest: object): string {
  const dir = mkdtempSync(join(tmpdir(), `kubereflect-${name}-`));
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: `consumer-${name}`, version: '1.0.0', private: true, ...manifest }, null, 2));
  return dir;
}

describe('the published packages', () => {
  let tarballs: { runtime: string; generator: string; testing: string };
  const node = { 22: '', 24: '', old: '' };

  beforeAll(() => {
    tarballs = pack();
    node[22] = nodeBinary(NODE_VERSIONS[22]);
    node[24] = nodeBinary(NODE_VERSIONS[24]);
    node.old = nodeBinary(NODE_TOO_OLD);
  }, 600_000);

  it("publishes a manifest without the repository's scripts and devDependencies, with a README whose links resolve", () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubereflect-manifest-'));
    for (const tarball of [tarballs.runtime, tarballs.generator, tarballs.testing]) {
      execFileSync('tar', ['xzf', tarball, '-C', dir]);
      const manifest = JSON.parse(readFileSync(join(dir, 'package', 'package.json'), 'utf8')) as Record<string, unknown> & {
        repository?: { url?: string };
      };
      expect(manifest.scripts, `${manifest.name}: scripts`).toBeUndefined();
      expect(manifest.devDependencies, `${manifest.name}: devDependencies`).toBeUndefined();
      expect(manifest['//'], `${manifest.name}: notes`).toBeUndefined();
      expect(manifest.repository?.url).toMatch(/^git\+https:\/\/.+\.git$/);
      const web = manifest.repository!.url!.replace(/^git\+/, '').replace(/\.git$/, '');
      const readme = readFileSync(join(dir, 'package', 'README.md'), 'utf8');
      const links = [...readme.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!);
      expect(links.length, `${manifest.name}: README links`).toBeGreaterThan(2);
      for (const link of links) {
        if (link.startsWith('#')) continue;
        expect(link, `${manifest.name}: README link`).toMatch(/^https?:\/\//);
        if (!link.startsWith(`${web}/`)) continue;
        // A link into the repository names a file or folder this checkout has, at the version's tag.
        const [, kind, ref, path] = link.slice(web.length).match(/^\/(blob|tree)\/([^/]+)\/([^#]*)/) ?? [];
        expect(ref, link).toBe(`v${manifest.version as string}`);
        expect(existsSync(join(repo, path ?? 'missing')), `${link} names a path of the repository`).toBe(true);
        expect(statSync(join(repo, path!)).isDirectory()).toBe(kind === 'tree');
      }
      execFileSync('rm', ['-rf', join(dir, 'package')]);
    }
  });

  it('refuses a Node older than 22.19 in one line, at import, require and in the CLI', () => {
    const dir = project('too-old', { type: 'module' });
    npm(['install', tarballs.runtime, tarballs.generator], dir);
    const floor = `needs Node.js 22.19 or newer; this is Node.js v${NODE_TOO_OLD}`;
    for (const args of [
      ['--input-type=module', '-e', `await import('kubereflect')`],
      ['-e', `require('kubereflect/generated/core/v1/pod')`],
    ]) {
      const run = spawnSync(node.old, args, { cwd: dir, encoding: 'utf8' });
      expect(run.status, args.join(' ')).not.toBe(0);
      expect(run.stderr).toContain(`Error: kubereflect ${floor}`);
      expect(run.stderr).not.toContain("reading 'bind'");
    }
    const cli = spawnSync(node.old, [join(dir, 'node_modules', 'kubereflect-generator', 'bin', 'kubereflect.mjs'), 'generate', '--out', 'gen'], {
      cwd: dir,
      encoding: 'utf8',
    });
    expect(cli.status).toBe(1);
    expect(cli.stderr).toBe(`kubereflect: ${floor}\n`);
  }, 600_000);

  it('installs the runtime alone without a TypeScript toolchain, and loads by import and by require on Node 22 and 24', () => {
    const dir = project('runtime-only', { type: 'commonjs' });
    npm(['install', '--omit=dev', tarballs.runtime], dir);
    const modules = join(dir, 'node_modules');
    for (const heavy of ['typescript', 'ts-morph', '@ts-morph', 'openapi-typescript', 'handlebars', 'esbuild', 'tsx', 'kubereflect-generator']) {
      expect(existsSync(join(modules, heavy)), `${heavy} in a runtime-only install`).toBe(false);
    }
    const manifest = JSON.parse(readFileSync(join(modules, 'kubereflect', 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    expect(Object.keys(manifest.dependencies)).toEqual(['@kubernetes/client-node']);
    console.log(
      `runtime-only install: ${(du(modules) / 1e6).toFixed(1)} MB of node_modules (kubereflect itself ${(du(join(modules, 'kubereflect')) / 1e6).toFixed(1)} MB)`,
    );

    for (const version of [22, 24] as const) {
      const loaded = execFileSync(
        node[version],
        [
          '-e',
          `
        const viaRequire = require('kubereflect');
        const core = require('kubereflect/generated/core/v1/pod');
        // Every subpath entry point loads both ways and hands out the same module instance.
        const subpaths = { kind: 'namespacedKind', cache: 'watcher', queue: 'defaultRateLimiter', metrics: 'prometheusMetrics', scale: 'LeaderElection' };
        Promise.all(Object.entries(subpaths).map(async ([sub, name]) => {
          const required = require('kubereflect/' + sub)[name];
          return [sub, typeof required === 'function' && required === (await import('kubereflect/' + sub))[name]];
        })).then(async (entries) => {
          const viaImport = await import('kubereflect');
          console.log(JSON.stringify({
            version: process.version, same: viaImport.Client === viaRequire.Client,
            client: typeof viaRequire.Client, pod: typeof core.Pod.cache, entries: Object.fromEntries(entries),
          }));
        });
      `,
        ],
        { cwd: dir, encoding: 'utf8', stdio: 'pipe' },
      );
      expect(JSON.parse(loaded)).toEqual({
        version: `v${NODE_VERSIONS[version]}`,
        same: true,
        client: 'function',
        pod: 'function',
        entries: { kind: true, cache: true, queue: true, metrics: true, scale: true },
      });
    }
  }, 600_000);

  it('runs the standalone example project copied out as it is: generate, build, install its CRD, reconcile, stop on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubereflect-standalone-'));
    cpSync(join(repo, 'examples', 'standalone'), dir, { recursive: true, filter: (src) => !/[/\\](node_modules|dist|kube)$/.test(src) });
    // The project names the published packages; here they come from the tarballs just packed.
    const manifestPath = join(dir, 'package.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { dependencies: Record<string, string>; devDependencies: Record<string, string> };
    manifest.dependencies.kubereflect = `file:${tarballs.runtime}`;
    manifest.devDependencies['kubereflect-generator'] = `file:${tarballs.generator}`;
    writeFileSync(manifestPath, JSON.stringify(manifest, null, 2));
    const env = { ...process.env, PATH: `${dirname(node[24])}:${process.env.PATH}`, KUBECONFIG: inject('kube').kubeconfig };
    const run = (script: string, ...args: string[]) =>
      execFileSync('npm', ['run', '--silent', script, ...(args.length ? ['--', ...args] : [])], {
        cwd: dir,
        env,
        encoding: 'utf8',
        stdio: 'pipe',
        timeout: 300_000,
      });
    execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: dir, env, encoding: 'utf8', stdio: 'pipe', timeout: 300_000 });
    run('generate');
    expect(readFileSync(join(dir, 'src', 'kube', 'ops.example.com', 'v1', 'backup.ts'), 'utf8')).toMatch(/from "\.\/types\.js"/);
    run('build');
    expect(run('install-crds')).toContain('applied CustomResourceDefinition backups.ops.example.com');

    const ns = await testNamespace('standalone');
    const client = Client.fromFile(inject('kube').kubeconfig);
    const backups = new Api<KubeObject & { spec?: unknown; status?: { conditions?: { type: string; status: string }[] } }>(
      client,
      { group: 'ops.example.com', version: 'v1', kind: 'Backup', plural: 'backups', namespaced: true },
      ns,
    );
    const configMaps = new Api<KubeObject & { data?: Record<string, string> }>(
      client,
      { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true },
      ns,
    );
    // The RBAC it prints is what it checks at start: a Role in its namespace with the verbs it declared, bound to its ServiceAccount.
    const rbac = execFileSync(node[24], [join(dir, 'dist', 'main.js'), '--namespace', ns, '--print-rbac'], { cwd: dir, env, encoding: 'utf8' });
    expect(rbac).toContain('kind: Role\n');
    expect(rbac).toContain(`namespace: ${ns}`);
    expect(rbac).toContain('backups/status');
    expect(rbac).toContain('kind: ServiceAccount');
    // The generator's command prints the same from the operator's main as it is (its manager hands itself over at start).
    const fromCli = execFileSync('npx', ['kubereflect', 'rbac', 'dist/main.js', '--service-account', `${ns}/backup-operator`, '--', '--namespace', ns], {
      cwd: dir,
      env,
      encoding: 'utf8',
    });
    expect(fromCli).toBe(rbac);
    const operator = spawn(node[24], [join(dir, 'dist', 'main.js'), '--namespace', ns, '--port', '0'], { cwd: dir, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    operator.stdout.on('data', (b: Buffer) => (output += b.toString()));
    operator.stderr.on('data', (b: Buffer) => (output += b.toString()));
    const exited = new Promise<number | null>((done) => operator.once('exit', (code) => done(code)));
    try {
      await backups.create({
        apiVersion: 'ops.example.com/v1',
        kind: 'Backup',
        metadata: { name: 'nightly' },
        spec: { schedule: '0 3 * * *', target: 'data' },
      });
      const until = async (what: string, check: () => Promise<boolean>) => {
        for (const deadline = Date.now() + 60_000; !(await check()); await new Promise((r) => setTimeout(r, 200))) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the operator printed:\n${output}`);
        }
      };
      await until('the plan ConfigMap', async () => (await configMaps.getIfExists('nightly-plan'))?.data?.target === 'data');
      await until('Ready', async () => (await backups.get('nightly')).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') === true);
      // The Manager's endpoints, as a kubelet probe and a Prometheus scrape reach them.
      const url = /serving \/healthz, \/readyz, \/metrics on (http:\/\/[^\s]+)/.exec(output)?.[1];
      expect(url, output).toBeDefined();
      const readyz = await fetch(`${url}/readyz`);
      expect(readyz.status).toBe(200);
      expect(await readyz.text()).toMatch(/^ok: backup-operator running, 2 caches synced/);
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect(await (await fetch(`${url}/metrics`)).text()).toMatch(/^controller_runtime_reconcile_total\{.*controller="backup-controller".*\} [1-9]/m);
      await backups.delete('nightly');
      await until('the Backup to go after its cleanup', async () => (await backups.getIfExists('nightly')) === undefined);
      // The operator printed it before it removed its finalizer; its stdout may reach us after the apiserver's answer.
      await until('the cleanup line', async () => output.includes('cleaning up after Backup nightly'));
    } finally {
      operator.kill('SIGTERM');
      client.close();
    }
    expect(await exited).toBe(0);
    expect(output).toContain('backup-operator: stopped');
  }, 600_000);

  it("runs a user's operator tests with kubereflect-testing, with vitest and with node:test, on Node 22 and 24, binaries from KUBEBUILDER_ASSETS", async () => {
    const dir = project('kit', { type: 'module' });
    npm(['install', tarballs.runtime], dir);
    npm(['install', '--save-dev', tarballs.generator, tarballs.testing, `vitest@${VITEST}`], dir);
    for (const file of readdirSync(join(repo, 'test', 'consumer', 'kit'))) cpSync(join(repo, 'test', 'consumer', 'kit', file), join(dir, file));
    // setup-envtest's layout, from the binaries the repository built: nothing is built here.
    const bins = await ensureBinaries();
    const assets = join(dir, 'envtest', 'k8s', `${bins.versions.kubernetes.slice(1)}-linux-amd64`);
    mkdirSync(assets, { recursive: true });
    cpSync(bins.kubeApiserver, join(assets, 'kube-apiserver'));
    cpSync(bins.etcd, join(assets, 'etcd'));
    const env: NodeJS.ProcessEnv = { ...process.env, KUBEBUILDER_ASSETS: assets, XDG_CACHE_HOME: join(dir, 'no-cache') };
    delete env.KUBECONFIG;
    // Each runner's test starts a plane of its own, as a user's would; the two runners of one Node version run side by side.
    const run = (args: string[]) =>
      new Promise<string>((done, fail) =>
        execFile(args[0]!, args.slice(1), { cwd: dir, env, encoding: 'utf8', timeout: 300_000 }, (err, stdout, stderr) =>
          err ? fail(new Error(`${args.slice(1).join(' ')}: ${err.message}\n${stdout}\n${stderr}`)) : done(stdout),
        ),
      );
    for (const version of [22, 24] as const) {
      const [vitest, nodeTest] = await Promise.all([
        run([node[version], join(dir, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'gadget.vitest.test.ts']),
        run([node[version], '--test', '--test-reporter=tap', 'gadget.node.test.ts']),
      ]);
      expect(stripVTControlCharacters(vitest), `vitest on Node ${version}`).toMatch(/Tests\s+1 passed/);
      expect(nodeTest, `node:test on Node ${version}`).toMatch(/# pass 1\n# fail 0/);
    }
    expect(readdirSync(dir)).not.toContain('no-cache'); // KUBEBUILDER_ASSETS was honoured: no cache, no build
  }, 600_000);

  for (const kind of ['esm', 'cjs'] as const) {
    it(`generates, compiles with tsc and runs against the apiserver as ${kind === 'esm' ? 'ESM' : 'CommonJS'} on Node 22 and 24`, async () => {
      const dir = project(kind, { type: kind === 'esm' ? 'module' : 'commonjs' });
      npm(['install', tarballs.runtime], dir);
      npm(['install', '--save-dev', tarballs.generator, `typescript@${TYPESCRIPT}`], dir);
      writeFileSync(
        join(dir, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', skipLibCheck: true },
          include: ['main.ts', 'gen'],
        }),
      );
      writeFileSync(join(dir, 'main.ts'), programs[kind]);

      // The generator runs on both Node lines and writes the same files.
      const cli = join(dir, 'node_modules', 'kubereflect-generator', 'bin', 'kubereflect.mjs');
      const outputs: string[] = [];
      for (const version of [22, 24] as const) {
        // No --import-extension: the project's tsconfig (NodeNext, no .ts imports) makes it .js.
        const out = execFileSync(node[version], [cli, 'generate', '--crd', crdFile, '--out', 'gen'], {
          cwd: dir,
          encoding: 'utf8',
          stdio: 'pipe',
        });
        expect(out).toMatch(/1 kinds? in \d+ files/);
        outputs.push(readFileSync(join(dir, 'gen', 'demo.kubereflect.dev', 'v1', 'widget.ts'), 'utf8'));
      }
      expect(outputs[1]).toBe(outputs[0]);
      expect(outputs[0]).toMatch(/import \* as \$ from "kubereflect\/kind";/);

      execFileSync(node[24], [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', dir], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
      const compiled = readFileSync(join(dir, 'out', 'main.js'), 'utf8');
      expect(compiled).toMatch(kind === 'esm' ? /from 'kubereflect'/ : /require\("kubereflect"\)/);

      await applyWidgetCrd();
      const ns = await testNamespace(`package-${kind}`);
      for (const version of [22, 24] as const) {
        const output = await runUntilServed(node[version], [join(dir, 'out', 'main.js'), inject('kube').kubeconfig, ns, `w-node${version}`], dir);
        const result = JSON.parse(output.trim().split('\n').pop()!) as {
          color: string;
          node: string;
          stored: { metadata: Record<string, unknown>; spec: Record<string, unknown> };
        };
        expect(result.node).toBe(`v${NODE_VERSIONS[version]}`);
        expect(result.color).toBe('red');
        expect(result.stored.spec).toEqual({ color: 'red' });
        expect(Object.keys(result.stored.metadata).sort()).toEqual(['name', 'namespace', 'resourceVersion', 'uid']);
      }
    }, 600_000);
  }
});

async function applyWidgetCrd(): Promise<void> {
  const client = Client.fromFile(inject('kube').kubeconfig);
  const crds = new Api<KubeObject>(client, {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    kind: 'CustomResourceDefinition',
    plural: 'customresourcedefinitions',
    namespaced: false,
  });
  const crd = parse(readFileSync(crdFile, 'utf8')) as KubeObject & { metadata: { name: string } };
  await crds.patch(crd.metadata.name, { type: 'apply', body: crd, force: true }, { fieldManager: 'kubereflect-test' });
  client.close();
}

/** Runs the program; a CRD applied a moment ago may not be served yet (404), so that is tried again briefly. */
async function runUntilServed(bin: string, args: string[], cwd: string): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      return execFileSync(bin, args, { cwd, encoding: 'utf8', stdio: 'pipe', timeout: 30_000 });
    } catch (err) {
      if (attempt > 20 || !String((err as { stderr?: string }).stderr).includes('404')) throw err;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}
