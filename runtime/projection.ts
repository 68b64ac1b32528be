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
import type { Projected } from './types.ts';

// ---------------------------------------------------------------------------
// Types

/** The metadata fields the runtime needs: a spec can neither prune them nor name them in `keep` (they are always kept). */
export type Identity = 'name' | 'namespace' | 'resourceVersion' | 'uid';

/** The declared keys of `T`: its properties without index signatures. */
export type KnownKeys<T> = keyof { [K in keyof T as string extends K ? never : number extends K ? never : K]: 0 };

/** True for a map: an object type with an index signature and no declared keys. */
type IsMap<V> = string extends keyof V ? ([KnownKeys<V>] extends [never] ? true : false) : false;

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
      : [KnownKeys<V>] extends [never] ? never : V
    : never;

/**
 * `true`; for a field that shares its name with a member of `Object`
 * (`constructor`, `toString`, …) also that member's type, because TypeScript
 * sees those members on every object literal. At run time only `true` names a field.
 */
export type FieldFlag<Q> = Q extends keyof Object ? true | Object[Q] : true;

/** What a spec may say about a field whose value is `V`: `true`, or the fields inside it. */
type Entry<V, Q, Sub> = FieldFlag<Q> | ([Inner<V>] extends [never] ? never : Sub);

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

type MetadataPrune<M> = { readonly [Q in Exclude<KnownKeys<M>, Identity>]?: Entry<M[Q & keyof M], Q, PruneFields<Inner<M[Q & keyof M]>>> };

/**
 * What `keep` accepts for a kind `K`: `true` keeps a field whole; an object
 * keeps only the fields it names inside it, at any depth. `apiVersion`,
 * `kind` and the identity fields of `metadata` are always kept.
 */
export type KeepSpec<K> = {
  readonly [P in KnownKeys<K>]?: P extends 'metadata' ? true | MetadataKeep<Inner<K[P]>> : Entry<K[P], P, KeepFields<Inner<K[P]>>>;
};

type MetadataKeep<M> = { readonly [Q in Exclude<KnownKeys<M>, Identity>]?: Entry<M[Q & keyof M], Q, KeepFields<Inner<M[Q & keyof M]>>> };

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

type PrunedObject<T, S> = {
  [P in keyof T as P extends keyof S ? (S[P] extends true ? never : P) : P]: P extends keyof S ? PrunedValue<T[P], S[P]> : T[P];
};

type PrunedValue<V, S> = V extends readonly (infer E)[]
  ? PrunedValue<E, S>[]
  : V extends object
    ? IsMap<V> extends true ? { [key: string]: PrunedValue<V[string & keyof V], S> } : PrunedObject<V, S>
    : V;

/** `T` after `keep(S)`: only the fields `S` names, at every depth, plus `apiVersion`, `kind` and the identity metadata. */
export type Kept<T, S> = Projected & {
  [P in keyof T as P extends 'apiVersion' | 'kind' | 'metadata' | keyof S ? P : never]: P extends keyof S
    ? S[P] extends true ? T[P] : KeptValue<T[P], S[P], P extends 'metadata' ? Identity : never>
    : P extends 'metadata' ? KeptValue<T[P], {}, Identity> : T[P];
};

type KeptObject<T, S, Always> = {
  [P in keyof T as P extends keyof S | Always ? P : never]: P extends keyof S ? (S[P] extends true ? T[P] : KeptValue<T[P], S[P], never>) : T[P];
};

type KeptValue<V, S, Always> = V extends readonly (infer E)[]
  ? KeptValue<E, S, Always>[]
  : V extends object
    ? IsMap<V> extends true ? { [key: string]: KeptValue<V[string & keyof V], S, Always> } : KeptObject<V, S, Always>
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

/** A spec the types would refuse (from JavaScript, or through a cast): named, with its path. */
export class ProjectionSpecError extends TypeError {
  constructor(kind: string, verb: 'prune' | 'keep', path: string, problem: string) {
    super(`kubereflect: ${kind}.${verb}: ${path}: ${problem}`);
    this.name = 'ProjectionSpecError';
  }
}

type Fn = (value: unknown) => unknown;
type ObjFn = (obj: Obj) => Obj;

interface Compiler {
  kind: string;
  verb: 'prune' | 'keep';
  shape: Shape;
}

/** The node of field `name` below object node `node`, if the shape has one. */
function childNode(c: Compiler, node: number | undefined, name: string): number | undefined {
  if (node === undefined) return undefined;
  const n = c.shape[node];
  if (!Array.isArray(n)) return undefined;
  for (const [field, child] of n as readonly (readonly [string, number])[]) if (field === name) return child;
  return undefined;
}

/** A function for a field's value: arrays element by element, maps value by value, objects by `objectFn`. */
function valueFn(c: Compiler, spec: Obj, node: number | undefined, path: string): Fn {
  const n = node === undefined ? undefined : c.shape[node];
  if (typeof n === 'number') {
    const each = valueFn(c, spec, n, `${path}.*`);
    const map: ObjFn = (m) => {
      const r: Obj = {};
      for (const k of Object.keys(m)) set(r, k, each(m[k]));
      return r;
    };
    return arraysThrough(map);
  }
  return arraysThrough(c.verb === 'prune' ? pruneObject(c, spec, node, path) : keepObject(c, spec, node, path, []));
}

function arraysThrough(fn: ObjFn): Fn {
  const apply: Fn = (v) => (Array.isArray(v) ? v.map(apply) : isObj(v) ? fn(v) : v);
  return apply;
}

function set(r: Obj, k: string, v: unknown): void {
  if (k === '__proto__') put(r, k, v);
  else r[k] = v;
}

function entries(c: Compiler, spec: Obj, path: string): [string, unknown][] {
  if (!isObj(spec)) throw new ProjectionSpecError(c.kind, c.verb, path || '(spec)', 'expected an object of fields');
  const out: [string, unknown][] = [];
  for (const k of Object.keys(spec)) {
    const v = spec[k];
    if (v === undefined) continue;
    if (v !== true && !isObj(v)) throw new ProjectionSpecError(c.kind, c.verb, join(path, k), `expected true or an object of fields, got ${v === null ? 'null' : typeof v}`);
    out.push([k, v]);
  }
  return out;
}

function join(path: string, k: string): string {
  return path ? `${path}.${k}` : k;
}

/** Copies every field but the dropped ones; rebuilds the ones the spec goes into. */
function pruneObject(c: Compiler, spec: Obj, node: number | undefined, path: string): ObjFn {
  const drop = new Set<string>();
  const into = new Map<string, Fn>();
  for (const [k, v] of entries(c, spec, path)) {
    if (v === true) drop.add(k);
    else into.set(k, valueFn(c, v as Obj, childNode(c, node, k), join(path, k)));
  }
  if (!into.size) {
    return (o) => {
      const r: Obj = {};
      for (const k of Object.keys(o)) if (!drop.has(k)) set(r, k, o[k]);
      return r;
    };
  }
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

/** Copies only the named fields (and those of `always`); rebuilds the ones the spec goes into. */
function keepObject(c: Compiler, spec: Obj, node: number | undefined, path: string, always: readonly (readonly [string, Fn | undefined])[]): ObjFn {
  const fields: (readonly [string, Fn | undefined])[] = [...always];
  for (const [k, v] of entries(c, spec, path)) {
    if (always.some(([a]) => a === k)) continue;
    fields.push([k, v === true ? undefined : valueFn(c, v as Obj, childNode(c, node, k), join(path, k))]);
  }
  return (o) => {
    const r: Obj = {};
    for (const [k, f] of fields) {
      const v = own(o, k);
      if (v !== undefined) set(r, k, f ? f(v) : v);
    }
    return r;
  };
}

/**
 * The function `Kind.prune(spec)` returns: it drops exactly the fields the
 * spec names and copies every other field, declared or not; objects the spec
 * does not go into are shared with the input, not copied.
 */
export function compilePrune(kind: string, shape: Shape, spec: unknown): ObjFn {
  const c: Compiler = { kind, verb: 'prune', shape };
  if (!isObj(spec)) throw new ProjectionSpecError(kind, 'prune', '(spec)', 'expected an object of fields');
  const meta = spec.metadata;
  if (meta === true) throw new ProjectionSpecError(kind, 'prune', 'metadata', 'cannot be pruned whole (name the fields inside it)');
  for (const id of IDENTITY) {
    if (isObj(meta) && meta[id] !== undefined) throw new ProjectionSpecError(kind, 'prune', `metadata.${id}`, 'is identity: the cache needs it');
  }
  return pruneObject(c, spec, 0, '');
}

/**
 * The function `Kind.keep(spec)` returns: it copies only the fields the spec
 * names, plus `apiVersion`, `kind` and the identity metadata.
 */
export function compileKeep(kind: string, shape: Shape, spec: unknown): ObjFn {
  const c: Compiler = { kind, verb: 'keep', shape };
  if (!isObj(spec)) throw new ProjectionSpecError(kind, 'keep', '(spec)', 'expected an object of fields');
  const meta = spec.metadata;
  if (meta !== undefined && meta !== true && !isObj(meta)) throw new ProjectionSpecError(kind, 'keep', 'metadata', 'expected true or an object of fields');
  const identity = IDENTITY.map((k) => [k, undefined] as const);
  const metaFn = meta === true ? undefined : arraysThrough(keepObject(c, meta ?? {}, childNode(c, 0, 'metadata'), 'metadata', identity));
  return keepObject(c, spec, 0, '', [['apiVersion', undefined], ['kind', undefined], ['metadata', metaFn]]);
}
