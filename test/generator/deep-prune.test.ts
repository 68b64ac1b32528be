/**
 * prune and keep below the second level: through arrays (every element),
 * maps (every value) and arrays of arrays, typed exactly at every depth; and
 * a property test: for random objects and random specs built from the
 * fixture's schema, the compiled projection equals a reference
 * implementation written over JSON paths.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import { useProjectionBackEnd } from '../../runtime/kinds/projection.ts';
import { Pod } from '../../generated/core/v1/pod.ts';
import { Pipeline } from './generated/shapes.kubereflect.dev/v1/pipeline.ts';
import type { PipelineSpecSteps, PipelineStatusConditions } from './generated/shapes.kubereflect.dev/v1/types.ts';
import { mulberry32 } from '../support/random.ts';
import { CRDS, ROOT } from './helpers.ts';

const pod: Pod = {
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: 'web-0', namespace: 'shop', uid: 'u', resourceVersion: '1', managedFields: [{ manager: 'kubectl', fieldsV1: { 'f:spec': {} } }] },
  spec: {
    containers: [
      { name: 'app', image: 'nginx', env: [{ name: 'A', value: '1' }], resources: { limits: { cpu: '1' } } },
      { name: 'sidecar', image: 'envoy' },
    ],
  },
  status: { conditions: [{ type: 'Ready', status: 'True', message: 'long text', lastTransitionTime: '2026-01-01T00:00:00Z' }] },
};

describe('prune at any depth', () => {
  it('drops a field from every element of an array, typed', () => {
    const noEnv = Pod.prune({ spec: { containers: { env: true } }, metadata: { managedFields: { fieldsV1: true } } });
    const out = noEnv(pod);
    expect(out.spec?.containers).toEqual([
      { name: 'app', image: 'nginx', resources: { limits: { cpu: '1' } } },
      { name: 'sidecar', image: 'envoy' },
    ]);
    expect(out.metadata?.managedFields).toEqual([{ manager: 'kubectl' }]);
    expect(out.status).toBe(pod.status); // not gone into: shared
    expect(pod.spec?.containers[0]?.env).toHaveLength(1); // the input is left alone
    type Container = NonNullable<typeof out.spec>['containers'][number];
    expectTypeOf<Container>().not.toHaveProperty('env');
    expectTypeOf<Container>().toHaveProperty('image');
    expectTypeOf<NonNullable<NonNullable<typeof out.metadata>['managedFields']>[number]>().not.toHaveProperty('fieldsV1');
    // @ts-expect-error env was pruned from every container
    void out.spec?.containers[0]?.env;
  });

  it('goes through maps value by value and through arrays of arrays', () => {
    const p: Pipeline = {
      metadata: { name: 'p', namespace: 'ns' },
      spec: {
        stages: { build: { timeout: '1m', steps: [{ name: 'a', image: 'x', env: [{ name: 'E', value: 'v' }] }] }, test: { timeout: '2m' } },
        matrix: [[{ value: 'a', weight: 1 }], [{ value: 'b', weight: 2 }, { value: 'c' }]],
      },
    };
    const out = Pipeline.prune({ spec: { stages: { steps: { env: { value: true } } }, matrix: { weight: true } } })(p);
    expect(out.spec?.stages).toEqual({ build: { timeout: '1m', steps: [{ name: 'a', image: 'x', env: [{ name: 'E' }] }] }, test: { timeout: '2m' } });
    expect(out.spec?.matrix).toEqual([[{ value: 'a' }], [{ value: 'b' }, { value: 'c' }]]);
    expectTypeOf<NonNullable<NonNullable<typeof out.spec>['matrix']>[number][number]>().toEqualTypeOf<{ value?: string }>();
    type Env = NonNullable<NonNullable<NonNullable<NonNullable<typeof out.spec>['stages']>[string]['steps']>[number]['env']>[number];
    expectTypeOf<Env>().toEqualTypeOf<{ name?: string }>();
  });

  it('rejects wrong paths at every depth (checked by tsc)', () => {
    const typeOnly = () => {
      // @ts-expect-error no such field in a container
      Pod.prune({ spec: { containers: { evn: true } } });
      // @ts-expect-error no such field three levels down (an env var)
      Pod.prune({ spec: { containers: { env: { nam: true } } } });
      // @ts-expect-error a string has nothing inside it to name, however deep
      Pod.prune({ spec: { containers: { env: { name: { length: true } } } } });
      // @ts-expect-error a map of strings (labels) can only be named whole
      Pod.prune({ metadata: { labels: { app: true } } });
      // @ts-expect-error below a map of objects, the values' fields: not a key of the map
      Pipeline.prune({ spec: { stages: { build: true } } });
      // @ts-expect-error through arrays of arrays: no such field in a cell
      Pipeline.prune({ spec: { matrix: { wieght: true } } });
      // @ts-expect-error only `true` names a field, at any depth
      Pod.prune({ status: { conditions: { message: false } } });
      // @ts-expect-error identity cannot be pruned
      Pod.prune({ metadata: { uid: true } });
      // @ts-expect-error nor named in keep
      Pod.keep({ metadata: { name: true } });
      // @ts-expect-error keep: no such field in a condition
      Pod.keep({ status: { conditions: { typ: true } } });
    };
    void typeOnly;
    expect(() => Pod.prune({ spec: { containers: { env: 1 } } } as never)).toThrow(
      'kubereflect: Pod.prune: spec.containers.env: expected true or an object of fields, got number',
    );
  });
});

describe('keep at any depth', () => {
  it('keeps only the named fields of every element, typed', () => {
    const slim = Pod.keep({ status: { conditions: { type: true, status: true } }, spec: { containers: { name: true } } });
    const out = slim(pod);
    expect(out).toEqual({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'web-0', namespace: 'shop', uid: 'u', resourceVersion: '1' },
      spec: { containers: [{ name: 'app' }, { name: 'sidecar' }] },
      status: { conditions: [{ type: 'Ready', status: 'True' }] },
    });
    type Condition = NonNullable<NonNullable<typeof out.status>['conditions']>[number];
    expectTypeOf<keyof Condition>().toEqualTypeOf<'type' | 'status'>();
    expectTypeOf<keyof NonNullable<typeof out.spec>['containers'][number]>().toEqualTypeOf<'name'>();
  });

  it('keeps map keys and the named fields of each value', () => {
    const p: Pipeline = { metadata: { name: 'p', namespace: 'ns' }, spec: { stages: { build: { timeout: '1m', steps: [] } }, schedule: 'daily' } };
    const out = Pipeline.keep({ spec: { stages: { timeout: true } } })(p);
    expect(out.spec).toEqual({ stages: { build: { timeout: '1m' } } });
    expectTypeOf<keyof NonNullable<NonNullable<typeof out.spec>['stages']>[string]>().toEqualTypeOf<'timeout'>();
  });

  it('names nested types users can write down', () => {
    const first = (steps: readonly PipelineSpecSteps[]) => steps[0]?.name;
    const ready = (c: PipelineStatusConditions) => c.type === 'Ready' && c.status === 'True';
    expect(first([{ name: 'a' }])).toBe('a');
    expect(ready({ type: 'Ready', status: 'True' })).toBe(true);
  });
});

// ---------------------------------------------------------------------------
// The property test

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type Schema = {
  type?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
  nullable?: boolean;
  enum?: string[];
};

const crd = parse(readFileSync(join(CRDS, 'pipelines.yaml'), 'utf8').split('\n---\n')[0]!) as { spec: { versions: { schema: { openAPIV3Schema: Schema } }[] } };
const ROOT_SCHEMA: Schema = (() => {
  const s = crd.spec.versions[0]!.schema.openAPIV3Schema;
  // As the generator sees a CRD: metadata is ObjectMeta (only the fields this test uses).
  const meta: Schema = {
    type: 'object',
    properties: {
      name: { type: 'string' },
      namespace: { type: 'string' },
      uid: { type: 'string' },
      resourceVersion: { type: 'string' },
      labels: { type: 'object', additionalProperties: { type: 'string' } },
    },
  };
  return { ...s, properties: { apiVersion: { type: 'string' }, kind: { type: 'string' }, metadata: meta, ...s.properties } };
})();

const isMap = (s: Schema) => !s.properties && typeof s.additionalProperties === 'object';
/** The schema whose fields a spec names at a field of schema `s` (through arrays and maps), if any. */
function inner(s: Schema): Schema | undefined {
  if (s.items) return inner(s.items);
  if (isMap(s)) return inner(s.additionalProperties as Schema);
  return s.properties ? s : undefined;
}

function randomObject(r: () => number, s: Schema, depth = 0): Json {
  if (s.nullable && r() < 0.1) return null;
  if (s.items) return Array.from({ length: Math.floor(r() * 3) }, () => randomObject(r, s.items!, depth + 1));
  if (isMap(s)) {
    const out: Record<string, Json> = {};
    for (let i = Math.floor(r() * 3); i > 0; i--) out[`k${Math.floor(r() * 5)}`] = randomObject(r, s.additionalProperties as Schema, depth + 1);
    return out;
  }
  if (s.properties) {
    const out: Record<string, Json> = {};
    for (const [k, p] of Object.entries(s.properties)) if (r() < 0.7) out[k] = randomObject(r, p, depth + 1);
    if (r() < 0.3) out[`undeclared${Math.floor(r() * 3)}`] = r() < 0.5 ? { deep: [1, { x: 'y' }] } : 'u'; // a newer server's field
    return out;
  }
  if (s.enum) return s.enum[Math.floor(r() * s.enum.length)]!;
  return s.type === 'integer' ? Math.floor(r() * 100) : s.type === 'boolean' ? r() < 0.5 : `s${Math.floor(r() * 1000)}`;
}

type Spec = { [key: string]: true | Spec };
const IDENTITY = ['name', 'namespace', 'uid', 'resourceVersion'];

function randomSpec(r: () => number, s: Schema, top: boolean): Spec {
  const out: Spec = {};
  for (const [k, p] of Object.entries(s.properties ?? {})) {
    if (top && k === 'metadata') {
      const m: Spec = {};
      for (const mk of Object.keys(p.properties!)) if (!IDENTITY.includes(mk) && r() < 0.3) m[mk] = true;
      if (Object.keys(m).length) out[k] = m;
      continue;
    }
    if (r() > 0.4) continue;
    const sub = inner(p);
    out[k] = sub && r() < 0.6 ? randomSpec(r, sub, false) : true;
  }
  return out;
}

/** Every node of `value` with the names a spec uses to reach it (array indexes and map keys are not names). */
function* nodes(
  value: Json,
  s: Schema | undefined,
  path: (string | number)[] = [],
  names: string[] = [],
): Generator<{ path: (string | number)[]; names: string[]; value: Json }> {
  yield { path, names, value };
  if (Array.isArray(value)) {
    for (const [i, v] of value.entries()) yield* nodes(v, s?.items, [...path, i], names);
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (s && isMap(s)) yield* nodes(v, s.additionalProperties as Schema, [...path, k], names);
      else yield* nodes(v, s?.properties?.[k], [...path, k], s?.properties?.[k] ? [...names, k] : [...names, `?${k}`]);
    }
  }
}

/**
 * The name paths a spec ends in `true` at; an empty object (go into the
 * field, name nothing inside) ends in a name no field has.
 */
function specPaths(spec: Spec, prefix: string[] = []): string[][] {
  if (prefix.length && !Object.keys(spec).length) return [[...prefix, '\0']];
  return Object.entries(spec).flatMap(([k, v]) => (v === true ? [[...prefix, k]] : specPaths(v, [...prefix, k])));
}

const startsWith = (a: string[], b: string[]) => b.length <= a.length && b.every((x, i) => a[i] === x);
const equal = (a: string[], b: string[]) => a.length === b.length && startsWith(a, b);
const clone = (v: Json): Json => JSON.parse(JSON.stringify(v)) as Json;

function setAt(root: Json, path: (string | number)[], value: Json): void {
  let at = root as Record<string | number, Json>;
  for (const seg of path.slice(0, -1)) at = at[seg] as Record<string | number, Json>;
  at[path[path.length - 1]!] = value;
}

/** prune over paths: a copy, without every node whose names are a spec path. */
function referencePrune(obj: Json, spec: Spec): Json {
  const drop = specPaths(spec);
  const out = clone(obj);
  const doomed = [...nodes(obj, ROOT_SCHEMA)].filter(
    (n) => n.names.length && typeof n.path[n.path.length - 1] === 'string' && drop.some((d) => equal(n.names, d)),
  );
  // Deepest first, so that deleting never moves another doomed node.
  for (const n of doomed.reverse()) {
    let at = out as Record<string | number, Json>;
    for (const seg of n.path.slice(0, -1)) at = at[seg] as Record<string | number, Json>;
    delete at[n.path[n.path.length - 1]!];
  }
  return out;
}

/** keep over paths: the nodes inside a kept path whole, and the containers on the way to one. */
function referenceKeep(obj: Json, spec: Spec): Json {
  const meta = spec.metadata;
  const kept = [...specPaths(spec).filter((p) => !(p[0] === 'metadata' && meta !== true)), ['apiVersion'], ['kind'], ...IDENTITY.map((i) => ['metadata', i])];
  if (meta !== undefined && meta !== true) kept.push(...specPaths(meta, ['metadata']));
  const out: Json = {};
  let whole: (string | number)[] | undefined;
  for (const n of nodes(obj, ROOT_SCHEMA)) {
    if (!n.path.length) continue;
    if (whole && whole.length <= n.path.length && whole.every((x, i) => n.path[i] === x)) continue; // inside a node kept whole
    if (kept.some((p) => equal(n.names, p)) && typeof n.path[n.path.length - 1] === 'string') {
      setAt(out, n.path, clone(n.value));
      whole = n.path;
    } else if (kept.some((p) => startsWith(p, n.names) && p.length > n.names.length)) {
      const v = n.value;
      setAt(out, n.path, Array.isArray(v) ? [] : v !== null && typeof v === 'object' ? {} : v);
    }
  }
  return out;
}

describe.each(['auto', 'closures'] as const)('the property test (%s back end): compiled projections equal a reference over JSON paths', (backEnd) => {
  beforeAll(() => useProjectionBackEnd(backEnd));
  afterAll(() => useProjectionBackEnd('auto'));

  it('prune and keep agree with the reference for 1,000 random specs, each over 3 random objects', () => {
    const r = mulberry32(0x5eed);
    for (let i = 0; i < 1000; i++) {
      const spec = randomSpec(r, ROOT_SCHEMA, true);
      const keepSpec = randomSpec(r, ROOT_SCHEMA, true);
      if (r() < 0.2) keepSpec.metadata = true;
      const prune = Pipeline.prune(spec as never);
      const keep = Pipeline.keep(keepSpec as never);
      // One function, several objects: the first may lack fields the next ones have (or have fields they lack).
      for (let j = 0; j < 3; j++) {
        const obj = randomObject(r, ROOT_SCHEMA) as Record<string, Json>;
        obj.metadata = { name: `p${i}`, namespace: 'ns', uid: `u${i}`, resourceVersion: String(i), ...(r() < 0.5 ? { labels: { a: 'b' } } : {}) };
        const before = JSON.stringify(obj);
        expect(prune(obj as never), `prune ${JSON.stringify(spec)} of ${before}`).toEqual(referencePrune(obj, spec));
        expect(keep(obj as never), `keep ${JSON.stringify(keepSpec)} of ${before}`).toEqual(referenceKeep(obj, keepSpec));
        expect(JSON.stringify(obj)).toBe(before); // the input is never changed
      }
    }
  });

  it('keeps undeclared fields at every depth under prune', () => {
    const r = mulberry32(7);
    let seen = 0;
    for (let i = 0; i < 300; i++) {
      const obj = randomObject(r, ROOT_SCHEMA);
      const spec = randomSpec(r, ROOT_SCHEMA, true);
      const out = Pipeline.prune(spec as never)(obj as never) as unknown as Json;
      const undeclared = (v: Json): string[] => [...nodes(v, ROOT_SCHEMA)].filter((n) => n.names.at(-1)?.startsWith('?')).map((n) => JSON.stringify(n.path));
      // Every undeclared field that is not inside a pruned field is still there.
      const expected = undeclared(referencePrune(obj, spec));
      seen += expected.length;
      expect(undeclared(out)).toEqual(expected);
    }
    expect(seen).toBeGreaterThan(100);
  });
});

describe('generated code and hostile field names', () => {
  it('copies fields named like code or like Object members as data, from the first object on', () => {
    const hostile = JSON.parse(
      `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","namespace":"n","__proto__":{"polluted":true},"constructor":"c","\\"]; globalThis.pwned = 1; //":"x"},"status":{"phase":"Running"}}`,
    ) as Pod;
    const pruned = Pod.prune({ status: true, metadata: { labels: true } })(hostile) as unknown as { metadata: Record<string, unknown> };
    expect(Object.getPrototypeOf(pruned.metadata)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(pruned.metadata, '__proto__')?.value).toEqual({ polluted: true });
    expect(pruned.metadata.constructor).toBe('c');
    expect(pruned.metadata['"]; globalThis.pwned = 1; //']).toBe('x');
    expect((globalThis as { pwned?: number }).pwned).toBeUndefined();
    expect(({} as { polluted?: boolean }).polluted).toBeUndefined();
    // A second object without those fields does not inherit them.
    const plain = Pod.prune({ status: true, metadata: { labels: true } });
    plain(hostile);
    expect(Object.hasOwn(plain(pod).metadata!, 'constructor')).toBe(false);
  });
});

describe('where code cannot be generated', () => {
  it('falls back to closures with the same results (node --disallow-code-generation-from-strings)', () => {
    const script = `
      const { Pod } = await import('./generated/core/v1/pod.ts');
      const pod = { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', namespace: 'n', managedFields: [{ manager: 'm', fieldsV1: {} }] }, spec: { containers: [{ name: 'c', env: [] }] }, status: { phase: 'Running' } };
      let generated = true;
      try { new Function('return 1'); } catch { generated = false; }
      const out = Pod.prune({ spec: { containers: { env: true } }, metadata: { managedFields: { fieldsV1: true } } })(pod);
      const kept = Pod.keep({ status: { phase: true } })(pod);
      console.log(JSON.stringify({ generated, out, kept }));`;
    const r = spawnSync(process.execPath, ['--disallow-code-generation-from-strings', '--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(JSON.parse(r.stdout)).toEqual({
      generated: false,
      out: {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'a', namespace: 'n', managedFields: [{ manager: 'm' }] },
        spec: { containers: [{ name: 'c' }] },
        status: { phase: 'Running' },
      },
      kept: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'a', namespace: 'n' }, status: { phase: 'Running' } },
    });
  });
});
