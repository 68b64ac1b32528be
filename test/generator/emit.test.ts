/**
 * The stages one by one: paths → resources, names (a kind module's own among
 * them), the shape, the template discipline, schema → TypeScript with the
 * Kubernetes corrections, file headers, and snapshots of the emitted modules
 * for small fixtures (review a generator change by reading the snapshot diff).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Handlebars from 'handlebars';
import { describe, expect, it } from 'vitest';
import { generate } from '../../generator/generate.ts';
import { buildModel, OBJECT_META, parsePath, REF_PREFIX, resourcesOfPaths, type SchemaEntry } from '../../generator/model/model.ts';
import { docComment, propertyKey, toIdentifier } from '../../generator/model/names.ts';
import { loadTemplate } from '../../generator/emit/render.ts';
import type { JsonObject } from '../../generator/input/load.ts';
import { place, type PlacedKind } from '../../generator/model/place.ts';
import { shapeKinds } from '../../generator/emit/shape.ts';
import { convertTypes } from '../../generator/emit/schema-types.ts';
import { CRDS, ROOT, tempDir } from './helpers.ts';

describe('resources from OpenAPI paths', () => {
  const doc = JSON.parse(readFileSync(join(ROOT, 'generator/openapi/v3/api/v1.json'), 'utf8')) as JsonObject;
  const resources = resourcesOfPaths(doc.paths as JsonObject);
  const byKind = (kind: string) => resources.find((r) => r.kind === kind);

  it('reads plural, scope, verbs and subresources', () => {
    expect(byKind('Pod')).toMatchObject({ group: '', version: 'v1', plural: 'pods', namespaced: true });
    expect(byKind('Pod')!.verbs).toEqual(['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch']);
    expect(byKind('Pod')!.subresources).toContain('status');
    expect(byKind('Namespace')).toMatchObject({ plural: 'namespaces', namespaced: false });
    expect(byKind('Namespace')!.verbs).not.toContain('deletecollection');
    expect(byKind('Binding')!.verbs).toEqual(['create']);
  });

  it('parses path shapes', () => {
    expect(parsePath('/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale')).toEqual({
      group: 'apps',
      version: 'v1',
      plural: 'deployments',
      namespaced: true,
      named: true,
      subresource: 'scale',
    });
    expect(parsePath('/api/v1/namespaces/{name}')).toEqual({ group: '', version: 'v1', plural: 'namespaces', namespaced: false, named: true });
    expect(parsePath('/apis/apps/v1/watch/deployments')).toBeUndefined();
  });
});

describe('names', () => {
  it('makes safe identifiers and keys', () => {
    expect(toIdentifier('a-b')).toBe('a_b');
    expect(toIdentifier('123')).toBe('_123');
    expect(toIdentifier('class')).toBe('class_');
    expect(propertyKey('__proto__')).toBe('"__proto__"');
    expect(propertyKey('"q"')).toBe('"\\"q\\""');
  });

  it('keeps comment text inside its comment', () => {
    expect(docComment('a */ b\r\nc\u2028d')).toBe('/**\n * a *\\/ b\n * c\n * d\n */\n');
  });
});

const object = (properties: JsonObject): JsonObject => ({ type: 'object', properties });
const mapOf = (values: JsonObject): JsonObject => ({ type: 'object', additionalProperties: values });

/** Generates the kind `Foo` (t.example.com/v1) whose schema is `root`; returns its files. */
async function generateFoo(root: JsonObject, opts: { typecheck?: boolean } = {}): Promise<Map<string, string>> {
  const file = join(tempDir(), 'foo.json');
  writeFileSync(
    file,
    JSON.stringify({
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      spec: {
        group: 't.example.com',
        scope: 'Namespaced',
        names: { kind: 'Foo', plural: 'foos' },
        versions: [{ name: 'v1', served: true, schema: { openAPIV3Schema: root } }],
      },
    }),
  );
  return (
    await generate({ crd: [file], out: join(tempDir(), 'out'), runtime: join(ROOT, 'runtime/index.ts'), write: false, typecheck: opts.typecheck ?? false })
  ).files;
}

describe('the names a kind module adds', () => {
  it('go to the kind before any schema: schemas named FooMethods and FooApi yield, and the output compiles', async () => {
    const files = await generateFoo(object({ methods: object({ verbs: { type: 'string' } }), api: object({ url: { type: 'string' } }) }), { typecheck: true });
    const kind = files.get('t.example.com/v1/foo.ts')!;
    expect(kind).toContain("export type FooMethods = 'create' | 'delete' | 'get' | 'getIfExists' | 'list' | 'metadata' | 'patch' | 'replace' | 'watch';");
    expect(kind).toContain('export type FooApi = $.NamespacedApi<Foo, FooMethods>;');
    expect(kind).toContain('export const Foo: $.NamespacedKind<Foo, FooMethods> =');
    expect(kind).toContain('methods?: FooMethods_2;');
    expect(kind).toContain('api?: FooApi_2;');
    expect(files.get('t.example.com/v1/types.ts')).toMatch(/export interface FooMethods_2 \{\s+verbs\?: string;/);
  });
});

describe('the shape', () => {
  const shapeOf = (files: Map<string, string>) => /\n {2}shape: (\[[\s\S]*?\]),\n\}\);/.exec(files.get('t.example.com/v1/foo.ts')!)![1];
  const rule = object({ name: { type: 'string' } });

  it('one node a line, numbered in path order, with its path beside it', async () => {
    const files = await generateFoo(
      object({
        spec: object({
          zones: mapOf(object({ zone: { type: 'string' } })),
          labels: mapOf({ type: 'string' }),
          arms: { type: 'array', items: object({ rules: mapOf(rule) }) },
        }),
      }),
    );
    expect(shapeOf(files)).toBe(
      [
        '[',
        '    [["spec", 1]], // 0: Foo',
        '    [["arms", 2], ["zones", 5]], // 1: spec',
        '    [["rules", 3]], // 2: spec.arms',
        '    4, // 3: spec.arms.rules (map)',
        '    [], // 4: spec.arms.rules.*',
        '    6, // 5: spec.zones (map)',
        '    [], // 6: spec.zones.*',
        '  ]',
      ].join('\n'),
    );
  });

  it('does not depend on the order of properties, nor change for fields that lead to no map', async () => {
    const a = await generateFoo(object({ spec: object({ b: mapOf(rule), a: mapOf(rule) }) }));
    const b = await generateFoo(object({ spec: object({ a: mapOf(rule), x: { type: 'string' }, b: mapOf(rule) }) }));
    expect(shapeOf(b)).toBe(shapeOf(a));
    expect(shapeOf(a)).toContain('[["a", 2], ["b", 4]], // 1: spec');
    expect(shapeOf(a)).toContain('3, // 4: spec.b (map)'); // the values of both maps are one schema: one node, numbered at spec.a.*
  });

  it('keeps field names inside their comments', async () => {
    const files = await generateFoo(object({ spec: object({ 'x */ y\nz\u2028w': mapOf(rule) }) }), { typecheck: true });
    expect(shapeOf(files)).toContain('    3, // 2: spec.x *\\/ y z w (map)\n');
  });

  it('stays [] for a kind without maps whose values have fields', async () => {
    expect(shapeOf(await generateFoo(object({ spec: object({ labels: mapOf({ type: 'string' }) }) })))).toBe('[]');
  });
});

describe('the top-level field names', () => {
  const fieldsOf = (files: Map<string, string>) => /\n {2}fields: (\[.*\]),\n/.exec(files.get('t.example.com/v1/foo.ts')!)?.[1];

  it('are listed sorted, whatever the order of the properties, with the ones the generator adds', async () => {
    const files = await generateFoo(object({ status: object({ a: { type: 'string' } }), spec: object({ b: { type: 'string' } }), data: { type: 'string' } }));
    expect(fieldsOf(files)).toBe('["apiVersion", "data", "kind", "metadata", "spec", "status"]');
  });

  it('are not listed for a kind whose top level preserves unknown fields: the runtime then checks no name', async () => {
    const files = await generateFoo({ ...object({ spec: object({ b: { type: 'string' } }) }), 'x-kubernetes-preserve-unknown-fields': true });
    expect(fieldsOf(files)).toBeUndefined();
    expect(files.get('t.example.com/v1/foo.ts')).toContain('  shape: [],\n');
  });

  it('are not listed for a kind whose metadata is not ObjectMeta', () => {
    const meta: JsonObject = { type: 'object', properties: { name: { type: 'string' } } };
    const schemas = new Map<string, SchemaEntry>([
      ['t.Own', { schema: { type: 'object', properties: { metadata: meta, spec: { type: 'string' } } }, origin: 'inline' }],
      ['t.Std', { schema: { type: 'object', properties: { metadata: { $ref: `${REF_PREFIX}${OBJECT_META}` } } }, origin: 'inline' }],
      [OBJECT_META, { schema: meta, origin: 'inline' }],
    ]);
    const kinds = ['Own', 'Std'].map((kind) => ({ schemaId: `t.${kind}`, apiVersion: 't/v1', kind }) as PlacedKind);
    const shapes = shapeKinds({ kinds: [], schemas, warnings: [] }, kinds);
    expect(shapes.get('t.Own')!.fields).toBeUndefined();
    expect(shapes.get('t.Std')!.fields).toEqual(['apiVersion', 'kind', 'metadata']);
  });
});

describe('the template discipline', () => {
  const hb = Handlebars.create();
  it('rejects plain, triple-stash and unknown mustaches', () => {
    expect(() => loadTemplate(hb, 't', 'const x = {{name}};')).toThrow(/t:1: \{\{name\}\} must call/);
    expect(() => loadTemplate(hb, 't', '{{{code x}}}')).toThrow(/triple-stash/);
    expect(() => loadTemplate(hb, 't', '{{#with x}}{{/with}}')).toThrow(/block \{\{#with\}\}/);
    expect(() => loadTemplate(hb, 't', '{{> partial}}')).toThrow(/PartialStatement/);
  });
});

/** Converts one CRD's schema and returns the kind's declaration. */
function convert(schema: JsonObject): string {
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    spec: {
      group: 't.example.com',
      scope: 'Namespaced',
      names: { kind: 'T', plural: 'ts' },
      versions: [{ name: 'v1', served: true, schema: { openAPIV3Schema: { type: 'object', properties: { spec: schema } } } }],
    },
  } as JsonObject;
  const model = buildModel([{ type: 'crd', origin: 'inline', from: 'inline', crd }]);
  const types = convertTypes(model, place(model));
  return types.get('t.example.com/v1/t')!.declarations[0]!.code.replace(/\s+/g, ' ');
}

describe('schema to TypeScript, knowing Kubernetes', () => {
  it('int-or-string', () => {
    expect(convert({ type: 'object', properties: { a: { 'x-kubernetes-int-or-string': true }, b: { type: 'string', format: 'int-or-string' } } })).toContain(
      'spec?: { a?: number | string; b?: number | string; }',
    );
  });
  it('preserve-unknown-fields and free-form objects, never Record<string, never>', () => {
    const out = convert({
      type: 'object',
      properties: {
        free: { type: 'object' },
        open: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true },
        any: { 'x-kubernetes-preserve-unknown-fields': true },
        mixed: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, properties: { k: { type: 'string' } } },
      },
    });
    expect(out).toContain(
      'free?: { [key: string]: unknown; }; open?: { [key: string]: unknown; }; any?: unknown; mixed?: { k?: string; [key: string]: unknown; };',
    );
    expect(out).not.toContain('never');
  });
  it('embedded resources get apiVersion, kind and ObjectMeta', () => {
    expect(
      convert({
        type: 'object',
        properties: {
          e: { type: 'object', 'x-kubernetes-embedded-resource': true, properties: { spec: { type: 'object', properties: { x: { type: 'integer' } } } } },
        },
      }),
    ).toContain('e?: { apiVersion?: string; kind?: string; metadata?: ObjectMeta; spec?: { x?: number; }; };');
  });
  it('enums, nullable, defaults that stay optional, required, maps and arrays of objects', () => {
    const out = convert({
      type: 'object',
      required: ['r'],
      properties: {
        e: { type: 'string', enum: ['a', 'b'] },
        n: { type: 'integer', nullable: true },
        d: { type: 'integer', default: 3 },
        r: { type: 'string' },
        m: { type: 'object', additionalProperties: { type: 'integer' } },
        l: {
          type: 'array',
          items: { type: 'object', properties: { i: { type: 'array', items: { type: 'object', properties: { j: { type: 'boolean' } } } } } },
        },
      },
    });
    expect(out).toContain('e?: "a" | "b";');
    expect(out).toContain('n?: number | null;');
    expect(out).toContain('/** @default 3 */ d?: number;');
    expect(out).toContain('r: string;');
    expect(out).toContain('m?: { [key: string]: number; };');
    expect(out).toContain('l?: { i?: { j?: boolean; }[]; }[];');
  });
  it('validation-only oneOf/anyOf are left out; typed ones become unions and intersections', () => {
    expect(convert({ type: 'object', properties: { a: { type: 'string' } }, oneOf: [{ required: ['a'] }] })).toContain('spec?: { a?: string; };');
    expect(convert({ oneOf: [{ type: 'string' }, { type: 'object', properties: { x: { type: 'string' } } }] })).toContain('spec?: string | { x?: string; };');
    expect(
      convert({
        allOf: [
          { type: 'object', properties: { x: { type: 'string' } } },
          { type: 'object', properties: { y: { type: 'integer' } } },
        ],
      }),
    ).toContain('spec?: { x?: string; } & { y?: number; };');
  });
});

describe('file headers', () => {
  it('name the CRD file without a line, which messages keep', async () => {
    const file = join(tempDir(), 'gadgets.yaml');
    const text = readFileSync(join(CRDS, 'gadgets.yaml'), 'utf8');
    const run = async (yaml: string) => {
      writeFileSync(file, yaml);
      return (
        await generate({ crd: [file], out: join(ROOT, 'test/generator/generated'), runtime: join(ROOT, 'runtime/index.ts'), write: false, typecheck: false })
      ).files;
    };
    const before = await run(text);
    const after = await run(`# three lines\n# above\n# the documents\n${text}`);
    expect([...after]).toEqual([...before]);
    expect(before.get('fixtures.kubereflect.dev/v1/sprocket.ts')).toMatch(/Generated by kubereflect from \S*gadgets\.yaml\. Do not edit\./);
    await expect(run(`# three lines\n# above\n# the documents\n${text}\n---\nkind: ConfigMap\n`)).rejects.toThrow(
      /gadgets\.yaml:\d+: not a CustomResourceDefinition/,
    );
  });
});

describe('snapshots of emitted modules', () => {
  it('a cluster-scoped kind, and one with a status subresource', async () => {
    const { files } = await generate({
      crd: [join(CRDS, 'gadgets.yaml')],
      out: join(ROOT, 'test/generator/generated'),
      runtime: join(ROOT, 'runtime/index.ts'),
      write: false,
      typecheck: false,
    });
    await expect(files.get('fixtures.kubereflect.dev/v1/gadget.ts')).toMatchFileSnapshot('./__snapshots__/gadget.ts.snap');
    await expect(files.get('fixtures.kubereflect.dev/v1/sprocket.ts')).toMatchFileSnapshot('./__snapshots__/sprocket.ts.snap');
    await expect(files.get('fixtures.kubereflect.dev/v1/index.ts')).toMatchFileSnapshot('./__snapshots__/group-index.ts.snap');
  });
});
