/**
 * Named nested types and shared definitions, on the fixture that reproduces
 * the patterns of real CRDs (test/fixtures/crds/pipelines.yaml): names from
 * paths, arrays and maps, collisions, one declaration for identical schemas
 * across kinds and versions, and the same output whatever the input order.
 */
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generate } from '../../generator/generate.ts';
import { pascal } from '../../generator/model/hoist.ts';
import { CRDS, RUNTIME } from './helpers.ts';

const opts = { out: '/tmp/kubereflect-named-types', runtime: RUNTIME, write: false, typecheck: false };

describe('named types', async () => {
  const { files } = await generate({ ...opts, crd: [join(CRDS, 'pipelines.yaml')] });
  const types = files.get('shapes.kubereflect.dev/v1/types.ts')!;
  const declared = [...types.matchAll(/^export interface (\w+)/gm)].map((m) => m[1]!);

  it('names every nested object after its path: properties, array items, map values', () => {
    expect(declared).toEqual(
      expect.arrayContaining([
        'PipelineSpec',
        'PipelineSpecSteps',
        'PipelineSpecStepsEnv',
        'PipelineSpecStepsRetry',
        'PipelineSpecStepsOnFailure',
        'PipelineSpecStepsOnFailureSteps',
        'PipelineSpecMatrix',
        'PipelineSpecStagesValue',
        'PipelineStatus',
        'PipelineStatusConditions',
        'PipelineTemplateSpec',
      ]),
    );
    expect(types).toContain('matrix?: PipelineSpecMatrix[][];'); // arrays of arrays: the item is named after the property
    expect(types).toMatch(/stages\?: \{\s+\[key: string\]: PipelineSpecStagesValue;\s+\};/);
  });

  it('resolves a name collision in a fixed order, outer before inner', () => {
    expect(types).toMatch(/export interface PipelineSpecFoo \{\s+bar\?: PipelineSpecFooBar;/); // spec.foo.bar
    expect(types).toContain('fooBar?: PipelineSpecFooBar_2;'); // spec.fooBar, met after spec.foo's insides
  });

  it('declares identical schemas once: within a kind, across kinds and across versions', () => {
    expect(declared.filter((d) => d === 'PipelineSpec')).toHaveLength(1);
    expect(declared.some((d) => d.startsWith('PipelineTemplateSpecTemplate'))).toBe(false);
    // The topmost shared object of a path keeps its own name, as an alias of the one declaration.
    expect(types).toMatch(/export interface PipelineTemplateSpec \{[^}]*template\?: PipelineTemplateSpecTemplate;[^}]*steps\?: PipelineSpecSteps\[\];/);
    expect(types).toContain('export type PipelineTemplateSpecTemplate = PipelineSpec;');
    expect(types).toMatch(
      /export interface PipelineSpecStepsOnFailureSteps \{[^}]*env\?: PipelineSpecStepsEnv\[\];[^}]*retry\?: PipelineSpecStepsOnFailureStepsRetry;/,
    );
    expect(types).toContain('export type PipelineSpecStepsOnFailureStepsRetry = PipelineSpecStepsRetry;');
    const beta = files.get('shapes.kubereflect.dev/v1beta1/pipeline.ts')!;
    expect(beta).toContain('import type { PipelineSpec, PipelineStatus } from "../../shapes.kubereflect.dev/v1/types.ts";');
    expect(files.has('shapes.kubereflect.dev/v1beta1/types.ts')).toBe(false);
    expect([...beta.matchAll(/^export interface (\w+)/gm)].map((m) => m[1])).toEqual(['Pipeline']);
  });

  it("keeps every use site's documentation while sharing the type", () => {
    expect(types).toMatch(/\/\*\* What the pipeline runs\. \*\/\s+template\?: PipelineTemplateSpecTemplate;/);
    expect(types).toMatch(
      /Validation rules \(CEL, checked by the server\):\n \* - `size\(self\.steps\) <= 50`: at most 50 steps\n \*\/\nexport interface PipelineSpec /,
    );
  });

  it('is the same whatever the order of the inputs', async () => {
    const crd = [join(CRDS, 'pipelines.yaml'), join(CRDS, 'widgets.yaml'), join(CRDS, 'gadgets.yaml')];
    const a = await generate({ ...opts, crd });
    const b = await generate({ ...opts, crd: [...crd].reverse() });
    expect([...b.files]).toEqual([...a.files]);
  });

  it('makes PascalCase words of any property name', () => {
    expect(pascal('fooBar')).toBe('FooBar');
    expect(pascal('x-foo.bar')).toBe('XFooBar');
    expect(pascal('$ref')).toBe('Ref');
    expect(pascal('--')).toBe('Field');
  });
});
