/**
 * The user's path, end to end, through the package as it is published: build
 * `dist/`, generate types for a CRD with the default runtime import
 * (`kubereflect`), compile a small program against them with plain `tsc`, and
 * run it with plain `node` against the real apiserver.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { Api, Client, type KubeObject } from '../runtime/index.ts';
import { testNamespace } from './support/kube.ts';

const repo = resolve(import.meta.dirname, '..');
const crdFile = join(repo, 'examples', 'crds', 'widget.yaml');
const bin = (name: string) => join(repo, 'node_modules', '.bin', name);

const program = `
import { Client } from 'kubereflect';
import { Widget } from './gen/demo.kubereflect.dev/v1/widget.js';

const [kubeconfig, namespace] = process.argv.slice(2) as [string, string];
const client = Client.fromFile(kubeconfig, { context: 'admin' });
const api = Widget.api(client, namespace);
await api.create({ apiVersion: 'demo.kubereflect.dev/v1', kind: 'Widget', metadata: { name: 'w1' }, spec: { color: 'red', parts: [{ name: 'bolt', count: 2 }] } });
const cache = Widget.reflector(api, { transform: Widget.keep({ spec: { color: true } }) });
const running = cache.run();
await cache.reader.waitUntilReady();
const w = cache.reader.get({ name: 'w1', namespace });
const color: 'red' | 'green' | 'blue' | undefined = w?.spec?.color;
// @ts-expect-error parts were not kept, so reading them does not compile
void w?.spec?.parts;
console.log(JSON.stringify({ color, stored: w }));
cache.stop();
await running;
client.close();
`;

describe('the published package', () => {
  let project: string;

  beforeAll(() => {
    execFileSync(bin('tsc'), ['-p', join(repo, 'tsconfig.build.json')], { cwd: repo, stdio: 'pipe' });
    project = mkdtempSync(join(tmpdir(), 'kubereflect-user-'));
    mkdirSync(join(project, 'node_modules', '@types'), { recursive: true });
    symlinkSync(repo, join(project, 'node_modules', 'kubereflect'));
    symlinkSync(join(repo, 'node_modules', '@types', 'node'), join(project, 'node_modules', '@types', 'node'));
    writeFileSync(join(project, 'package.json'), JSON.stringify({ type: 'module', private: true }));
    writeFileSync(join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, outDir: 'out', types: ['node'], skipLibCheck: true },
      include: ['main.ts', 'gen'],
    }));
    writeFileSync(join(project, 'main.ts'), program);
  }, 120_000);

  it('generates for a CRD, compiles with tsc, and runs in node against the apiserver', async () => {
    const out = execFileSync(process.execPath, [join(repo, 'bin', 'kubereflect.mjs'), 'generate', '--crd', crdFile, '--out', 'gen', '--import-extension', '.js'], { cwd: project, encoding: 'utf8', stdio: 'pipe' });
    expect(out).toMatch(/1 kinds? in \d+ files/);
    execFileSync(bin('tsc'), ['-p', project], { cwd: project, stdio: 'pipe' });

    const client = Client.fromFile(inject('kube').kubeconfig);
    const crds = new Api<KubeObject>(client, { group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions', namespaced: false });
    const crd = parse(readFileSync(crdFile, 'utf8')) as KubeObject & { metadata: { name: string } };
    await crds.patch(crd.metadata.name, { type: 'apply', body: crd, force: true }, { fieldManager: 'kubereflect-test' });
    const ns = await testNamespace('package');
    let output = '';
    for (let attempt = 0; ; attempt++) {
      try {
        output = execFileSync(process.execPath, [join(project, 'out', 'main.js'), inject('kube').kubeconfig, ns], { cwd: project, encoding: 'utf8', stdio: 'pipe', timeout: 30_000 });
        break;
      } catch (err) {
        // A CRD applied a moment ago may not be served yet (404): try again briefly.
        if (attempt > 20 || !String((err as { stderr?: string }).stderr).includes('404')) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
    client.close();
    const result = JSON.parse(output.trim().split('\n').pop()!) as { color: string; stored: { metadata: Record<string, unknown>; spec: Record<string, unknown> } };
    expect(result.color).toBe('red');
    expect(result.stored.spec).toEqual({ color: 'red' });
    expect(Object.keys(result.stored.metadata).sort()).toEqual(['name', 'namespace', 'resourceVersion', 'uid']);
  }, 120_000);
});
