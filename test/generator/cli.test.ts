/**
 * The command line: bad input ends with a non-zero exit and a message naming
 * the file and where; a schema-less CRD version is a warning; a good run
 * prints progress on stderr and a summary.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CRDS, runCli, tempDir } from './helpers.ts';

const RUNTIME = './runtime/index.ts';

describe('kubereflect generate', () => {
  it('names the file, line and column of invalid YAML', async () => {
    const out = tempDir();
    const r = await runCli(['generate', '--crd', join(CRDS, 'invalid/bad-yaml.yaml'), '--out', out, '--quiet']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/invalid\/bad-yaml\.yaml:\d+:\d+: invalid YAML/);
    expect(existsSync(join(out, 'index.ts'))).toBe(false);
  });

  it("names the file and document of an alias to another document's anchor", async () => {
    const r = await runCli(['generate', '--crd', join(CRDS, 'invalid/cross-alias.yaml'), '--out', tempDir(), '--quiet']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/invalid\/cross-alias\.yaml:9: invalid YAML: Unresolved alias/);
  });

  it('names the document that is not a CRD, with its line', async () => {
    const r = await runCli(['generate', '--crd', join(CRDS, 'invalid/not-a-crd.yaml'), '--out', tempDir(), '--quiet']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/invalid\/not-a-crd\.yaml:16: not a CustomResourceDefinition: found a ConfigMap/);
  });

  it('names both inputs that define one kind differently', async () => {
    const r = await runCli([
      'generate',
      '--crd',
      join(CRDS, 'invalid/conflict-a.yaml'),
      '--crd',
      join(CRDS, 'invalid/conflict-b.yaml'),
      '--out',
      tempDir(),
      '--quiet',
    ]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/conflict-b\.yaml:1: kind fixtures\.kubereflect\.dev\/v1\/Twin is defined differently here and in .*conflict-a\.yaml:1/);
  });

  it('warns about a CRD version without a schema and types its spec unknown', async () => {
    const out = tempDir();
    const r = await runCli(['generate', '--crd', join(CRDS, 'schemaless.yaml'), '--out', out, '--runtime', RUNTIME, '--quiet', '--no-typecheck']);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/warning: .*schemaless\.yaml:2: version v1 of Blob has no schema/);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(join(out, 'fixtures.kubereflect.dev/v1/blob.ts'), 'utf8')).toMatch(/spec\?: unknown;/);
  });

  it('prints whole lines: each warning and progress line on stderr ends in a newline, the summary in the singular for one kind', async () => {
    const out = tempDir();
    const r = await runCli(['generate', '--crd', join(CRDS, 'schemaless.yaml'), '--out', out, '--runtime', RUNTIME, '--no-typecheck']);
    expect(r.code).toBe(0);
    expect(r.err.endsWith('\n')).toBe(true);
    const lines = r.err.slice(0, -1).split('\n');
    for (const line of lines) expect(line).toMatch(/^kubereflect: /);
    expect(lines).toContainEqual(expect.stringMatching(/^kubereflect: warning: .*schemaless\.yaml:2: version v1 of Blob has no schema/));
    expect(lines).toContainEqual(expect.stringMatching(/^kubereflect: 1 kind, \d+ schemas?, \d+ nested types? named$/));
    expect(r.out).toMatch(/^kubereflect: 1 kind in \d+ files \(\d+ written, 0 removed\) in .*, \d+\.\d s\n$/);
  });

  it('says when a cluster is unreachable', async () => {
    const dir = tempDir();
    const kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'current-context: nowhere',
        'clusters: [{ name: nowhere, cluster: { server: "https://127.0.0.1:1", insecure-skip-tls-verify: true } }]',
        'users: [{ name: nobody, user: { token: t } }]',
        'contexts: [{ name: nowhere, context: { cluster: nowhere, user: nobody } }]',
      ].join('\n'),
    );
    const r = await runCli(['generate', '--from-cluster', '--kubeconfig', kubeconfig, '--out', join(dir, 'out'), '--quiet']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/https:\/\/127\.0\.0\.1:1: the cluster is unreachable/);
  });

  it('rejects a glob that matches nothing, an unknown option and a bad pattern', async () => {
    expect((await runCli(['generate', '--crd', join(CRDS, 'nothing-*.yaml'), '--out', tempDir(), '--quiet'])).err).toMatch(/no CRD files match/);
    const unknown = await runCli(['generate', '--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.err).toMatch(/Unknown option '--bogus'/);
    const pattern = await runCli(['generate', '--crd', join(CRDS, 'gadgets.yaml'), '--include', 'a/b/c/d', '--out', tempDir(), '--quiet']);
    expect(pattern.code).toBe(1);
    expect(pattern.err).toMatch(/a kind pattern is group\/version\/kind/);
  });

  it('refuses an --include that matches no kind, naming it and the close kinds', async () => {
    const crds = ['--crd', join(CRDS, 'widgets.yaml'), '--crd', join(CRDS, 'gadgets.yaml')];
    const typo = await runCli(['generate', ...crds, '--include', 'fixtures.kubereflect.dev/v1/Widgit', '--out', tempDir(), '--quiet']);
    expect(typo.code).toBe(1);
    expect(typo.err).toBe('kubereflect: error: --include fixtures.kubereflect.dev/v1/Widgit matches no kind; close: fixtures.kubereflect.dev/v1/Widget\n');
    // One pattern of several that matches nothing is as much a typo.
    const oneOfTwo = await runCli([
      'generate',
      ...crds,
      '--include',
      'fixtures.kubereflect.dev/v1/Gadget',
      '--include',
      'core/v1/Pod',
      '--out',
      tempDir(),
      '--quiet',
    ]);
    expect(oneOfTwo.code).toBe(1);
    expect(oneOfTwo.err).toMatch(
      /--include core\/v1\/Pod matches no kind; the inputs have fixtures\.kubereflect\.dev\/v1\/Gadget, .*fixtures\.kubereflect\.dev\/v1\/Widget/,
    );
  });

  it('refuses an --exclude that leaves no kind, and inputs that define none', async () => {
    const out = tempDir();
    const all = await runCli(['generate', '--crd', join(CRDS, 'widgets.yaml'), '--exclude', '*/v1/*', '--exclude', '*/v1beta1', '--out', out, '--quiet']);
    expect(all.code).toBe(1);
    expect(all.err).toBe('kubereflect: error: --exclude */v1/*, --exclude */v1beta1 leave no kind of the 2 the inputs have\n');
    // A CRD whose only version is not served defines no kind.
    const unserved = join(tempDir(), 'unserved.yaml');
    writeFileSync(unserved, (await import('node:fs')).readFileSync(join(CRDS, 'schemaless.yaml'), 'utf8').replace('served: true', 'served: false'));
    const none = await runCli(['generate', '--crd', unserved, '--out', out, '--quiet']);
    expect(none.code).toBe(1);
    expect(none.err).toMatch(/^kubereflect: error: CRDs .*unserved\.yaml: the inputs define no kind: nothing to generate\n$/);
    expect(existsSync(join(out, 'index.ts'))).toBe(false);
  });

  it('generates from a glob with include/exclude, with progress and a summary', async () => {
    const out = tempDir();
    const r = await runCli([
      'generate',
      '--crd',
      join(CRDS, '{gadgets,widgets}.yaml'),
      '--exclude',
      '*/v1beta1/*',
      '--include',
      'fixtures.kubereflect.dev/*/*',
      '--out',
      out,
      '--runtime',
      RUNTIME,
    ]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/loaded 3 CRDs/);
    expect(r.err).toMatch(/type-checking/);
    expect(r.out).toMatch(/3 kinds in \d+ files .* s\n$/);
    expect(existsSync(join(out, 'fixtures.kubereflect.dev/v1/widget.ts'))).toBe(true);
    expect(existsSync(join(out, 'fixtures.kubereflect.dev/v1beta1/widget.ts'))).toBe(false);
  });

  it('asks for --out in one line, and never writes into a default folder', async () => {
    const r = await runCli(['generate', '--crd', join(CRDS, 'widgets.yaml')]);
    expect(r.code).toBe(2);
    expect(r.err).toBe(
      'kubereflect: --out DIR is required: the folder to write the generated modules into, e.g. --out src/kube (kubereflect generate --help lists the options)\n',
    );
    expect(r.out).toBe('');
  });

  it('type-checks an --out outside any project against the runtime next to the generator, and says so', async () => {
    const out = tempDir();
    const r = await runCli(['generate', '--crd', join(CRDS, 'widgets.yaml'), '--out', out]);
    expect(r.code).toBe(0);
    expect(r.err).toMatch(/'kubereflect' is not installed where the output goes; checked against .*runtime\/index\.ts\./);
    const { readFileSync } = await import('node:fs');
    expect(readFileSync(join(out, 'fixtures.kubereflect.dev/v1/widget.ts'), 'utf8')).toMatch(/import \* as \$ from "kubereflect\/kind";/);
  });

  it('prints usage', async () => {
    const r = await runCli(['generate', '--help']);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/--from-cluster/);
  });
});

describe('kubereflect generate --watch', () => {
  it('regenerates with the type check on every change, prints one line per run, and keeps watching after an error', async () => {
    const { main } = await import('../../generator/cli.ts');
    const { readFileSync, mkdirSync } = await import('node:fs');
    const dir = tempDir('kubereflect-watch-');
    mkdirSync(join(dir, 'crds'));
    const crdFile = join(dir, 'crds', 'widget.yaml');
    const widget = readFileSync(join(CRDS, 'widgets.yaml'), 'utf8');
    writeFileSync(crdFile, widget);
    const out = join(dir, 'out');
    const lines: string[] = [];
    let notify = () => {};
    const io = {
      out: (s: string) => {
        lines.push(s);
        notify();
      },
      err: (s: string) => {
        lines.push(s);
        notify();
      },
      signal: new AbortController().signal,
    };
    const ac = new AbortController();
    io.signal = ac.signal;
    const waitFor = (re: RegExp, from: number) =>
      new Promise<string>((resolveLine, reject) => {
        const timer = setTimeout(() => reject(new Error(`no line matching ${re} in:\n${lines.join('')}`)), 50_000);
        const check = () => {
          const hit = lines.slice(from).find((l) => re.test(l));
          if (hit) {
            clearTimeout(timer);
            resolveLine(hit);
          }
        };
        notify = check;
        check();
      });
    const done = main(['generate', '--crd', join(dir, 'crds'), '--out', out, '--runtime', RUNTIME, '--watch'], io);
    await waitFor(/first run: \d+ kinds?, \d+ files? written/, 0);
    const widgetFile = join(out, 'fixtures.kubereflect.dev/v1/widget.ts');
    expect(readFileSync(widgetFile, 'utf8')).not.toContain('watchedField');

    let mark = lines.length;
    writeFileSync(crdFile, widget.replace(/(\n(\s+)properties:\n)/, '$1$2  watchedField:\n$2    type: string\n'));
    await waitFor(/widget\.yaml changed: \d+ kinds?, \d+ files? written, 0 removed, type-checked/, mark);
    expect(readFileSync(join(out, 'fixtures.kubereflect.dev/v1/types.ts'), 'utf8') + readFileSync(widgetFile, 'utf8')).toContain('watchedField');

    mark = lines.length;
    const before = readFileSync(widgetFile, 'utf8');
    writeFileSync(crdFile, 'kind: [unclosed');
    await waitFor(/widget\.yaml changed: error: .*widget\.yaml.*invalid YAML.*\(nothing written; still watching\)/, mark);
    expect(readFileSync(widgetFile, 'utf8')).toBe(before);

    mark = lines.length;
    writeFileSync(crdFile, widget);
    await waitFor(/widget\.yaml changed: \d+ kinds/, mark);
    ac.abort();
    expect(await done).toBe(0);
  }, 120_000);

  it('refuses --watch without file inputs', async () => {
    const r = await runCli(['generate', '--out', tempDir(), '--watch']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/--watch needs --crd or --openapi inputs to watch/);
  });
});
