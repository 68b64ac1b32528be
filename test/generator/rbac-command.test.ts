/**
 * `kubereflect rbac MODULE`: the RBAC of an operator's Manager, printed from
 * its main without contacting a cluster — whether the module exports its
 * manager or starts it (its `run()` hands the manager to the command
 * instead of starting).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { main } from '../../generator/cli.ts';

const runtime = resolve(import.meta.dirname, '..', '..', 'runtime', 'index.ts');
const configMaps = resolve(import.meta.dirname, '..', '..', 'generated', 'core', 'v1', 'configmap.ts');

/** An operator's main in a fresh folder: a client from an in-memory kubeconfig (no cluster is contacted), a manager, and `tail`. */
function operator(tail: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubereflect-rbac-'));
  const file = join(dir, 'main.ts');
  writeFileSync(
    file,
    `import { KubeConfig } from '@kubernetes/client-node';
import { Action, Client, Manager, permissions } from ${JSON.stringify(runtime)};
import { ConfigMap } from ${JSON.stringify(configMaps)};
const kc = new KubeConfig();
kc.loadFromOptions({ clusters: [{ name: 'c', server: 'https://127.0.0.1:1' }], users: [{ name: 'u', token: 't' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
const client = Client.fromKubeConfig(kc);
export const manager = new Manager(client, { name: 'cm-operator', leaderElection: { namespace: 'ops', name: 'cm-operator' } });
manager.controller(ConfigMap.api(client, 'shop'), { reconcile: () => Action.awaitChange(), permissions: permissions(ConfigMap.api(client, 'shop'), 'patch') });
${tail}
`,
  );
  return file;
}

async function run(...args: string[]) {
  let out = '';
  let err = '';
  const code = await main(['rbac', ...args], { out: (s) => void (out += s), err: (s) => void (err += s) });
  return { code, out, err };
}

describe('kubereflect rbac', () => {
  it('prints the manifest of a module whose main runs its manager, starting nothing', async () => {
    const { code, out, err } = await run(operator('await manager.run();'), '--service-account', 'ops/cm-operator');
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out).toContain('kind: Role\n');
    expect(out).toMatch(/namespace: shop\nrules:\n {2}- apiGroups: \[""\]\n {4}resources: \[configmaps\]\n {4}verbs: \[list, patch, watch\]/);
    expect(out).toMatch(/namespace: ops\nrules:\n {2}- apiGroups: \[coordination\.k8s\.io\]\n {4}resources: \[leases\]\n {4}verbs: \[create, get, update\]/);
    expect(out).toContain('kind: ServiceAccount\n    name: cm-operator\n    namespace: ops');
  });

  it('prints the manifest of a module that only exports its manager', async () => {
    const { code, out } = await run(operator(''), '--user', 'alice');
    expect(code).toBe(0);
    expect(out).toContain('kind: User\n    name: alice');
  });

  it('hands the module the arguments after --, as its own command line', async () => {
    const file = operator(
      "if (process.argv.slice(2).join(' ') !== '--namespace shop') throw new Error('argv: ' + process.argv.slice(2).join(' '));\nawait manager.run();",
    );
    const { code, err } = await run(file, '--', '--namespace', 'shop');
    expect(err).toBe('');
    expect(code).toBe(0);
  });

  it('says so when the module neither exports nor starts a manager, and when it cannot be imported', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kubereflect-rbac-'));
    writeFileSync(join(dir, 'empty.mjs'), 'export const x = 1;\n');
    const none = await run(join(dir, 'empty.mjs'), '--timeout', '0.2');
    expect(none).toMatchObject({ code: 1, err: expect.stringContaining('neither exported a Manager (as default or manager) nor started one within 0.2 s') });
    const missing = await run(join(dir, 'nope.mjs'));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/^kubereflect rbac: importing .*nope\.mjs failed: /);
    expect((await run()).code).toBe(2);
    expect((await run('a.js', '--user', 'x', '--group', 'y')).err).toContain('one at most');
  });
});
