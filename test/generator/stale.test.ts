/**
 * The committed output is what the generator makes today: `generated/` (the
 * core kinds of the pinned control plane) and `test/generator/generated/`
 * (the fixture CRDs) and `examples/generated/` (the sample CRD). Run
 * `npm run generate:core` / `generate:fixtures` / `generate:examples` when this fails.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generate } from '../../generator/generate.ts';
import { CRDS, readTree, ROOT } from './helpers.ts';

async function expectFresh(out: string, opts: { crd?: string[] }, command: string) {
  // Staleness only: whether the output compiles is checked by tsc over the repository and by the generator's own tests.
  const result = await generate({ ...opts, out: join(ROOT, out), runtime: join(ROOT, 'runtime/index.ts'), write: false, typecheck: false });
  const onDisk = readTree(join(ROOT, out));
  const stale = [...result.files].filter(([path, text]) => onDisk.get(path) !== text).map(([path]) => path);
  const extra = [...onDisk.keys()].filter((path) => !result.files.has(path));
  expect({ stale, extra }, `${out} is stale: run ${command}`).toEqual({ stale: [], extra: [] });
  return result;
}

describe('committed generated code', () => {
  it('generated/ holds the core kinds of the pinned control plane, up to date', async () => {
    const result = await expectFresh('generated', {}, 'npm run generate:core');
    expect(result.kinds).toBeGreaterThanOrEqual(60);
    expect(result.files.has('core/v1/pod.ts')).toBe(true);
    expect(result.files.has('apps/v1/deployment.ts')).toBe(true);
  }, 120_000);

  it('test/generator/generated/ holds the fixture CRDs, up to date', async () => {
    const crd = ['widgets.yaml', 'gadgets.yaml', 'hostile.yaml', 'pipelines.yaml'].map((f) => join(CRDS, f));
    await expectFresh('test/generator/generated', { crd }, 'npm run generate:fixtures');
  }, 120_000);

  it('examples/generated/ holds the sample Widget CRD, up to date', async () => {
    await expectFresh('examples/generated', { crd: [join(ROOT, 'examples/crds/widget.yaml')] }, 'npm run generate:examples');
  }, 120_000);

  it('is byte-identical from one run to the next', async () => {
    const opts = {
      crd: [join(CRDS, 'widgets.yaml'), join(CRDS, 'hostile.yaml')],
      out: join(ROOT, 'test/generator/generated'),
      runtime: join(ROOT, 'runtime/index.ts'),
      write: false,
      typecheck: false,
    };
    const a = await generate(opts);
    const b = await generate({ ...opts, crd: [...opts.crd].reverse() });
    expect([...b.files]).toEqual([...a.files]);
  }, 60_000);
});
