/**
 * `--from-cluster` with a kubeconfig that cannot select a cluster: the
 * message says which context is missing from which file and lists the
 * contexts there are (names only: no server, user or credential of the file
 * appears). These fail before any connection, so no apiserver is needed.
 */
import { writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { runCli, tempDir } from './helpers.ts';

const SECRET = 'sekret-token-0123456789';

function kubeconfig(dir: string, name: string, opts: { contexts: string[]; current?: string; clusters?: string[] }): string {
  const file = join(dir, name);
  const clusters = opts.clusters ?? ['local'];
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      ...(opts.current ? [`current-context: ${opts.current}`] : []),
      'clusters:',
      ...clusters.map((c) => `  - { name: ${c}, cluster: { server: "https://127.0.0.1:1", insecure-skip-tls-verify: true } }`),
      'users:',
      `  - { name: user-${name}, user: { token: ${SECRET} } }`,
      'contexts:',
      ...opts.contexts.map((c) => `  - { name: ${c}, context: { cluster: local, user: user-${name} } }`),
    ].join('\n'),
  );
  return file;
}

const saved = { KUBECONFIG: process.env.KUBECONFIG, HOME: process.env.HOME };
afterEach(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
});

async function generate(args: string[]) {
  const r = await runCli(['generate', '--from-cluster', ...args, '--out', join(tempDir(), 'out'), '--quiet']);
  expect(r.err).not.toContain(SECRET);
  expect(r.err).not.toContain('127.0.0.1');
  return r;
}

describe('a kubeconfig that selects no cluster', () => {
  it('names a --context the file does not have, and the contexts it has', async () => {
    const file = kubeconfig(tempDir(), 'config', { contexts: ['viewer', 'admin'], current: 'admin' });
    const r = await generate(['--kubeconfig', file, '--context', 'prod']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`kubereflect: error: context "prod" not found in ${file}; contexts: admin, viewer\n`);
  });

  it('looks in every file of $KUBECONFIG, as the client does', async () => {
    const dir = tempDir();
    const a = kubeconfig(dir, 'a', { contexts: ['admin', 'viewer'], current: 'admin' });
    const b = kubeconfig(dir, 'b', { contexts: ['cert-admin'], clusters: ['other'] });
    process.env.KUBECONFIG = [a, b].join(delimiter);
    const r = await generate(['--context', 'prod']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`kubereflect: error: context "prod" not found in ${a}, ${b}; contexts: admin, cert-admin, viewer\n`);
  });

  it('says when there is no kubeconfig at all', async () => {
    delete process.env.KUBECONFIG;
    process.env.HOME = tempDir();
    const r = await generate(['--context', 'prod']);
    expect(r.code).toBe(1);
    expect(r.err).toBe(
      `kubereflect: error: context "prod" not found: there is no kubeconfig ($KUBECONFIG is not set and ${join(process.env.HOME, '.kube', 'config')} does not exist)\n`,
    );
  });

  it('says when the file has no current-context, or one it does not define', async () => {
    const dir = tempDir();
    const none = kubeconfig(dir, 'none', { contexts: ['admin', 'viewer'] });
    const r = await generate(['--kubeconfig', none]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`kubereflect: error: ${none} has no current-context: pass --context (contexts: admin, viewer)\n`);
    const gone = kubeconfig(dir, 'gone', { contexts: ['admin'], current: 'old' });
    const g = await generate(['--kubeconfig', gone]);
    expect(g.err).toBe(`kubereflect: error: current-context "old" not found in ${gone}; contexts: admin\n`);
  });

  it("says when a context's cluster is not in the file", async () => {
    const file = kubeconfig(tempDir(), 'config', { contexts: ['admin'], current: 'admin', clusters: ['elsewhere'] });
    const r = await generate(['--kubeconfig', file]);
    expect(r.code).toBe(1);
    expect(r.err).toBe(`kubereflect: error: context "admin" names cluster "local", which ${file} does not define; clusters: elsewhere\n`);
  });
});
