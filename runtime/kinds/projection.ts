/**
 * `prune` and `keep` at any depth: the spec types the compiler checks, the
 * result types, and the functions a spec compiles to.
 *
 * A spec is a tree shaped like the kind: `true` names a field whole, an
 * object names fields inside it. Below an array the spec applies to every
 * element; below a map (`additionalProperties`) to every value. The types
 * are derived from the kind's type itself, so they reach every declared
 * field; at run time a spec is compiled once, when `prune`/`keep` is called,
 * into a tree of small functions: per object nothing is looked up by path.
 */
import type { Projected } from '../core/types.ts';
import { kindFields, unknownField, type KnownFields } from './fields.ts';

// ---------------------------------------------------------------------------
// Types

/** The metadata fields the runtime needs: a spec can neither prune them nor name them in `keep` (they are always kept). */
export type Identity = 'name' | 'namespace' | 'resourceVersion' | 'uid';

/** The declared keys of `T`: its properties without index signatures. */
export type KnownKeys<T> = keyof { [K in keyof T as string extends K ? never : number extends K ? never : K]: 0 };

/** True for a map: an object type with an index signature and no declared keys. */
export type IsMap<V> = string extends keyof V ? ([KnownKeys<V>] extends [never] ? true : false) : false;

/**
 * The object type a spec names fields of at a field whose value is `V`:
 * the element of an array, the value of a map, an object with declared
 * fields; `never` when the field can only be named whole.
 */
export type Inner<V> = V extends readonly (infer E)[]
  ? Inner<E>
  : V extends object
    ? IsMap<V> extends true
      ? Inner<V[string & keyof V]>
      : [KnownKeys<V>] extends [never]
        ? never
        : V
    : never;

/**
 * `true`; for a field that shares its name with a member of `Object`
 * (`constructor`, `toString`, …) also that member's type, because TypeScript
 * sees those members on every object literal. At run time only `true` names a field.
 */
// biome-ignore lint/complexity/noBannedTypes: the members of `Object` itself are what this type is about.
export type FieldFlag<Q> = Q extends keyof Object ? true | Object[Q] : true;

/** What a spec may say about a field named `Q` whose value is `V`: `true`, or `Sub` (the fields inside it) when it has any. */
export type Entry<V, Q, Sub> = FieldFlag<Q> | ([Inner<V>] extends [never] ? never : Sub);

/** A prune spec for an object of type `T`, below the top level. */
export type PruneFields<T> = { readonly [Q in KnownKeys<T>]?: Entry<T[Q], Q, PruneFields<Inner<T[Q]>>> };

/** A keep spec for an object of type `T`, below the top level. */
export type KeepFields<T> = { readonly [Q in KnownKeys<T>]?: Entry<T[Q], Q, KeepFields<Inner<T[Q]>>> };

/**
 * What `prune` accepts for a kind `K`: `true` drops a field whole; an
 * object drops fields inside it, at any depth (through arrays and maps).
 * `metadata` only takes an object, without the identity fields.
 */
export type PruneSpec<K> = {
  readonly [P in KnownKeys<K>]?: P extends 'metadata' ? MetadataPrune<Inner<K[P]>> : Entry<K[P], P, PruneFields<Inner<K[P]>>>;
};

/** A prune spec for `metadata` (of type `M`): any field but the identity ones. */
export type MetadataPrune<M> = { readonly [Q in Exclude<KnownKeys<M>, Identity>]?: Entry<M[Q & keyof M], Q, PruneFields<Inner<M[Q & keyof M]>>> };

/**
 * What `keep` accepts for a kind `K`: `true` keeps a field whole; an object
 * keeps only the fields it names inside it, at any depth. `apiVersion`,
 * `kind` and the identity fields of `metadata` are always kept.
 */
export type KeepSpec<K> = {
  readonly [P in KnownKeys<K>]?: P extends 'metadata' ? true | MetadataKeep<Inner<K[P]>> : Entry<K[P], P, KeepFields<Inner<K[P]>>>;
};

/** A keep spec for `metadata` (of type `M`): any field but the identity ones, which are always kept. */
export type MetadataKeep<M> = { readonly [Q in Exclude<KnownKeys<M>, Identity>]?: Entry<M[Q & keyof M], Q, KeepFields<Inner<M[Q & keyof M]>>> };

/**
 * `S` with every key that `Shape` (a spec type) does not have turned into
 * `never`, at every depth, so that `spec: S & Exact<S, PruneSpec<K>>`
 * rejects fields that do not exist (generic inference skips the
 * excess-property check this restores).
 */
export type Exact<S, Shape> = {
  [P in keyof S]: P extends keyof Shape ? (S[P] extends true ? S[P] : Exact<S[P], Extract<Shape[P], object>>) : never;
};

/** `T` after `prune(S)`: the fields `S` names are gone, at every depth; every other field stays, declared or not. */
export type Pruned<T, S> = Projected & PrunedObject<T, S>;

/** An object of type `T` after a prune spec `S`: without the fields `S` names `true`, the ones it goes into pruned further. */
export type PrunedObject<T, S> = {
  [P in keyof T as P extends keyof S ? (S[P] extends true ? never : P) : P]: P extends keyof S ? PrunedValue<T[P], S[P]> : T[P];
};

/** A field's value `V` after a prune spec `S`: element by element for an array, value by value for a map. */
export type PrunedValue<V, S> = V extends readonly (infer E)[]
  ? PrunedValue<E, S>[]
  : V extends object
    ? IsMap<V> extends true
      ? { [key: string]: PrunedValue<V[string & keyof V], S> }
      : PrunedObject<V, S>
    : V;

/** `T` after `keep(S)`: only the fields `S` names, at every depth, plus `apiVersion`, `kind` and the identity metadata. */
export type Kept<T, S> = Projected & {
  [P in keyof T as P extends 'apiVersion' | 'kind' | 'metadata' | keyof S ? P : never]: P extends keyof S
    ? S[P] extends true
      ? T[P]
      : KeptValue<T[P], S[P], P extends 'metadata' ? Identity : never>
    : P extends 'metadata'
      ? // biome-ignore lint/complexity/noBannedTypes: an empty spec: keep nothing below but the identity.
        KeptValue<T[P], {}, Identity>
      : T[P];
};

/** An object of type `T` after a keep spec `S`: only the fields `S` names (and `Always`), the ones it goes into kept further. */
export type KeptObject<T, S, Always> = {
  [P in keyof T as P extends keyof S | Always ? P : never]: P extends keyof S ? (S[P] extends true ? T[P] : KeptValue<T[P], S[P], never>) : T[P];
};

/** A field's value `V` after a keep spec `S`: element by element for an array, value by value for a map. */
export type KeptValue<V, S, Always> = V extends readonly (infer E)[]
  ? KeptValue<E, S, Always>[]
  : V extends object
    ? IsMap<V> extends true
      ? { [key: string]: KeptValue<V[string & keyof V], S, Always> }
      : KeptObject<V, S, Always>
    : V;

// ---------------------------------------------------------------------------
// Run time

/** A plain object, as the projections read and build them. */
export type Obj = { [key: string]: unknown };

/**
 * Where a kind's schema has maps whose values have fields a spec can name,
 * the one thing a spec cannot say by itself (`{ rules: { x: true } }` below
 * a map names `x` in every value, below an object the field `x`). Node 0 is
 * the kind; an object node lists its fields that lead to such maps, with
 * their nodes; a map node is the number of the node of its values. Arrays
 * are transparent. Generated per kind; empty for most.
 */
export type Shape = readonly ShapeNode[];
/** One node of a `Shape`. */
export type ShapeNode = number | readonly (readonly [field: string, node: number])[];

/** True for a non-null, non-array object. */
export function isObj(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Reads an own property: `constructor` of an object without one is undefined, not `Object`. */
export function own(obj: Obj, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Defines a property: `__proto__` becomes a property instead of replacing the prototype. */
export function put(obj: Obj, key: string, value: unknown): void {
  Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true });
}

const IDENTITY: readonly Identity[] = ['name', 'namespace', 'resourceVersion', 'uid'];

/**
 * A spec the types would refuse (from JavaScript, or through a cast), where
 * the run time can tell: named, with its path. A name the kind does not
 * have is one at its top level and in `metadata`; deeper, only the types
 * check names.
 */
export class ProjectionSpecError extends TypeError {
  /** `kind.verb: path: problem`, e.g. `kubereflect: Pod.prune: metadata.name: is identity: the cache needs it`. */
  constructor(kind: string, verb: 'prune' | 'keep', path: string, problem: string) {
    super(`kubereflect: ${kind}.${verb}: ${path}: ${problem}`);
    this.name = 'ProjectionSpecError';
  }
}

type Fn = (value: unknown) => unknown;
type ObjFn = (obj: Obj) => Obj;

/**
 * A spec, checked and resolved against the shape: what to do with one object.
 * `prune` copies every field but `drop` and rebuilds those of `into`; `keep`
 * copies only `fields`, whole (no value) or rebuilt.
 */
type Plan = { verb: 'prune'; drop: string[]; into: [string, Value][] } | { verb: 'keep'; fields: [string, Value | undefined][] };
/** What to do with a field's value (arrays are gone through element by element): an object's plan, or a map's values'. */
type Value = { plan: Plan } | { values: Value };

interface Planner {
  kind: string;
  verb: 'prune' | 'keep';
  shape: Shape;
}

/**
 * What a kind's specs are checked and resolved against: its name (for
 * messages), its shape, and the field names known at run time (see
 * `fields.ts`; absent for a kind value generated without them).
 */
export interface SpecTarget {
  readonly kind: string;
  readonly shape: Shape;
  readonly fields?: KnownFields | undefined;
}

/** The target of a kind's specs, from what its generated module gives: `topLevel` is its top-level field names, if the module lists them. */
export function specTarget(kind: string, shape: Shape, topLevel?: readonly string[]): SpecTarget {
  return { kind, shape, fields: kindFields(kind, topLevel) };
}

/** The node of field `name` below object node `node`, if the shape has one. */
function childNode(c: Planner, node: number | undefined, name: string): number | undefined {
  const n = node === undefined ? undefined : c.shape[node];
  if (!Array.isArray(n)) return undefined;
  for (const [field, child] of n as readonly (readonly [string, number])[]) if (field === name) return child;
  return undefined;
}

function valuePlan(c: Planner, spec: Obj, node: number | undefined, path: string, known: KnownFields | undefined): Value {
  const n = node === undefined ? undefined : c.shape[node];
  // A map's keys are not field names: what is below one is not checked.
  if (typeof n === 'number') return { values: valuePlan(c, spec, n, `${path}.*`, undefined) };
  return { plan: objectPlan(c, spec, node, path, [], known) };
}

function objectPlan(
  c: Planner,
  spec: Obj,
  node: number | undefined,
  path: string,
  always: readonly (readonly [string, Value | undefined])[],
  known: KnownFields | undefined,
): Plan {
  const named: [string, true | Obj][] = [];
  for (const k of Object.keys(spec)) {
    const v = spec[k];
    if (v === undefined) continue;
    const unknown = unknownField(known, k);
    if (unknown !== undefined) throw new ProjectionSpecError(c.kind, c.verb, join(path, k), unknown);
    if (v !== true && !isObj(v))
      throw new ProjectionSpecError(c.kind, c.verb, join(path, k), `expected true or an object of fields, got ${v === null ? 'null' : typeof v}`);
    named.push([k, v]);
  }
  const sub = (k: string, v: Obj) => valuePlan(c, v, childNode(c, node, k), join(path, k), known?.inner.get(k));
  if (c.verb === 'prune') {
    return {
      verb: 'prune',
      drop: named.filter(([, v]) => v === true).map(([k]) => k),
      into: named.filter(([, v]) => v !== true).map(([k, v]) => [k, sub(k, v as Obj)]),
    };
  }
  const fields: [string, Value | undefined][] = always.map(([k, v]) => [k, v]);
  for (const [k, v] of named) if (!always.some(([a]) => a === k)) fields.push([k, v === true ? undefined : sub(k, v)]);
  return { verb: 'keep', fields };
}

function join(path: string, k: string): string {
  return path ? `${path}.${k}` : k;
}

function rootPlan(target: SpecTarget, verb: 'prune' | 'keep', spec: unknown): Plan {
  const { kind, shape, fields } = target;
  const c: Planner = { kind, verb, shape };
  if (!isObj(spec)) throw new ProjectionSpecError(kind, verb, '(spec)', 'expected an object of fields');
  const meta = spec.metadata;
  if (verb === 'prune') {
    if (meta === true) throw new ProjectionSpecError(kind, verb, 'metadata', 'cannot be pruned whole (name the fields inside it)');
    for (const id of IDENTITY) {
      if (isObj(meta) && meta[id] !== undefined) throw new ProjectionSpecError(kind, verb, `metadata.${id}`, 'is identity: the cache needs it');
    }
    return objectPlan(c, spec, 0, '', [], fields);
  }
  if (meta !== undefined && meta !== true && !isObj(meta)) throw new ProjectionSpecError(kind, verb, 'metadata', 'expected true or an object of fields');
  const identity = IDENTITY.map((k) => [k, undefined] as const);
  const metadata: Value | undefined =
    meta === true ? undefined : { plan: objectPlan(c, meta ?? {}, childNode(c, 0, 'metadata'), 'metadata', identity, fields?.inner.get('metadata')) };
  return objectPlan(
    c,
    spec,
    0,
    '',
    [
      ['apiVersion', undefined],
      ['kind', undefined],
      ['metadata', metadata],
    ],
    fields,
  );
}

// ---------------------------------------------------------------------------
// Plans to functions: generated code, or closures where code cannot be generated

/** Names `Object.prototype` has: read through an own-property check, and `__proto__` written by `defineProperty`. */
const PROTOTYPE_KEYS: ReadonlySet<string> = new Set(Object.getOwnPropertyNames(Object.prototype));

/**
 * A plan as JavaScript: one function per object and per value, with every
 * field name a string literal, so that each projection reads and writes its
 * fields by fixed names (what the engine optimises best) and nothing is
 * looked up by name per object. Names are embedded with `JSON.stringify`
 * only, never as identifiers.
 */
function generate(root: Plan): ObjFn {
  const lines: string[] = [];
  let n = 0;
  const lit = (k: string) => JSON.stringify(k);
  const read = (obj: string, k: string) => (PROTOTYPE_KEYS.has(k) ? `(hasOwn(${obj}, ${lit(k)}) ? ${obj}[${lit(k)}] : undefined)` : `${obj}[${lit(k)}]`);
  const write = (obj: string, k: string, v: string) => (PROTOTYPE_KEYS.has(k) ? `put(${obj}, ${lit(k)}, ${v})` : `${obj}[${lit(k)}] = ${v}`);

  const value = (v: Value): string => {
    const name = `v${n++}`;
    const inner = 'plan' in v ? object(v.plan) : mapOf(value(v.values));
    lines.push(`function ${name}(v) { return Array.isArray(v) ? v.map(${name}) : typeof v === "object" && v !== null ? ${inner}(v) : v; }`);
    return name;
  };
  const mapOf = (each: string): string => {
    const name = `m${n++}`;
    lines.push(
      `function ${name}(m) { const r = {}; for (const k of Object.keys(m)) { if (k === "__proto__") put(r, k, ${each}(m[k])); else r[k] = ${each}(m[k]); } return r; }`,
    );
    return name;
  };
  const object = (plan: Plan): string => {
    const name = `o${n++}`;
    if (plan.verb === 'prune') {
      // Which fields an object has is learnt from the first one: the code for
      // them is generated then (see `specialisePrune`); later objects with
      // other fields still get every one of them.
      const into = plan.into.map(([k, v]) => [k, value(v)] as const);
      const s = `s${n++}`;
      lines.push(`let ${s};`);
      const args = `[${plan.drop.map(lit).join(', ')}], [${into.map(([k, f]) => `[${lit(k)}, ${f}]`).join(', ')}]`;
      lines.push(`function ${name}(o) { return (${s} || (${s} = specialise(o, ${args})))(o); }`);
      return name;
    }
    const fields = plan.fields.map(([k, v]) => [k, v && value(v)] as const);
    const body = ['const r = {};', 'let x;'];
    for (const [k, f] of fields) body.push(`if ((x = ${read('o', k)}) !== undefined) ${write('r', k, f ? `${f}(x)` : 'x')};`);
    body.push('return r;');
    lines.push(`function ${name}(o) { ${body.join(' ')} }`);
    return name;
  };
  const top = object(root);
  // new Function on purpose: the text holds only our code and JSON string literals.
  return new Function('hasOwn', 'put', 'specialise', `"use strict";\n${lines.join('\n')}\nreturn ${top};`)(Object.hasOwn, put, specialisePrune) as ObjFn;
}

/**
 * The straight-line code of one prune node, for the fields `first` has: each
 * is copied (or rebuilt) by its name; a loop copies the fields of later
 * objects that `first` did not have, so nothing is ever lost.
 */
function specialisePrune(first: Obj, drop: readonly string[], intoPairs: readonly (readonly [string, Fn])[]): ObjFn {
  const into = new Map(intoPairs);
  const lit = (k: string) => JSON.stringify(k);
  const known = Object.keys(first).filter((k) => !drop.includes(k) && k !== '__proto__' && !PROTOTYPE_KEYS.has(k));
  const fns = known.map((k) => into.get(k));
  const body = ['const r = {};', 'let x;'];
  known.forEach((k, i) => body.push(`if ((x = o[${lit(k)}]) !== undefined) r[${lit(k)}] = ${fns[i] ? `fns[${i}](x)` : 'x'};`));
  body.push(
    'const ks = Object.keys(o);',
    'for (let i = 0; i < ks.length; i++) { const k = ks[i]; if (seen.has(k)) continue; const f = into.get(k); put(r, k, f ? f(o[k]) : o[k]); }',
    'return r;',
  );
  const seen = new Set([...known, ...drop]);
  return new Function('fns', 'into', 'seen', 'put', `"use strict"; return function (o) { ${body.join(' ')} };`)(fns, into, seen, put) as ObjFn;
}

/** The same plan as closures: for where generating code is not allowed (e.g. `--disallow-code-generation-from-strings`). */
function interpret(plan: Plan): ObjFn {
  if (plan.verb === 'prune') {
    const drop = new Set(plan.drop);
    const into = new Map(plan.into.map(([k, v]) => [k, valueFn(v)]));
    return (o) => {
      const r: Obj = {};
      for (const k of Object.keys(o)) {
        if (drop.has(k)) continue;
        const f = into.get(k);
        set(r, k, f ? f(o[k]) : o[k]);
      }
      return r;
    };
  }
  const fields = plan.fields.map(([k, v]) => [k, v && valueFn(v)] as const);
  return (o) => {
    const r: Obj = {};
    for (const [k, f] of fields) {
      const v = own(o, k);
      if (v !== undefined) set(r, k, f ? f(v) : v);
    }
    return r;
  };
}

function valueFn(v: Value): Fn {
  let inner: ObjFn;
  if ('plan' in v) inner = interpret(v.plan);
  else {
    const each = valueFn(v.values);
    inner = (m) => {
      const r: Obj = {};
      for (const k of Object.keys(m)) set(r, k, each(m[k]));
      return r;
    };
  }
  const apply: Fn = (x) => (Array.isArray(x) ? x.map(apply) : isObj(x) ? inner(x) : x);
  return apply;
}

function set(r: Obj, k: string, v: unknown): void {
  if (k === '__proto__') put(r, k, v);
  else r[k] = v;
}

let codeGeneration: boolean | undefined;

/**
 * Which back end compiles specs from now on: `closures` forces the fallback
 * (for tests), `auto` generates code when the platform allows it. Not part
 * of the package's API.
 */
export function useProjectionBackEnd(mode: 'auto' | 'closures'): void {
  codeGeneration = mode === 'closures' ? false : undefined;
}

/** Compiles a plan: generated code when the platform allows it, closures otherwise (or when `mode` says so). */
function compile(plan: Plan, mode?: 'generated' | 'closures'): ObjFn {
  if (mode === 'closures' || codeGeneration === false) return interpret(plan);
  if (mode === 'generated') return generate(plan);
  try {
    const fn = generate(plan);
    codeGeneration = true;
    return fn;
  } catch (err) {
    if (!(err instanceof EvalError)) throw err;
    codeGeneration = false;
    return interpret(plan);
  }
}

/**
 * The function `Kind.prune(spec)` returns: it drops exactly the fields the
 * spec names and copies every other field, declared or not; objects the spec
 * does not go into are shared with the input, not copied. `mode` picks the
 * back end (tests compare both); by default generated code.
 *
 * @throws ProjectionSpecError for a spec the types would refuse, where the
 *   run time can tell: not an object, a value other than `true` or an object,
 *   `metadata` whole or an identity field, a name the target's known fields
 *   (top level, metadata) do not have.
 */
export function compilePrune(target: SpecTarget, spec: unknown, mode?: 'generated' | 'closures'): ObjFn {
  return compile(rootPlan(target, 'prune', spec), mode);
}

/**
 * The function `Kind.keep(spec)` returns: it copies only the fields the spec
 * names, plus `apiVersion`, `kind` and the identity metadata.
 *
 * @throws ProjectionSpecError as `compilePrune` does (identity fields may be
 *   named: they are kept anyway).
 */
export function compileKeep(target: SpecTarget, spec: unknown, mode?: 'generated' | 'closures'): ObjFn {
  return compile(rootPlan(target, 'keep', spec), mode);
}
