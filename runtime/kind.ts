/**
 * What generated kind modules build on: the `allNamespaces` marker, the typed
 * per-kind Apis, the pruning types (`PruneSpec`, `KeepSpec`, `Exact`,
 * `Pruned`, `Kept`) and plans, the kind values (`namespacedKind`,
 * `clusterKind`) and their cache factories. Generated code imports it as
 * part of the runtime, so a fix here reaches every generated module without
 * regenerating.
 */
import { Api } from './api.ts';
import type { Client } from './client.ts';
import { consoleLogger } from './logger.ts';
import { ObjectRef, type KindTag } from './object-ref.ts';
import { modify, reflector } from './reflector.ts';
import type { Indexers } from './indexes.ts';
import { store, type Store, type StoreOptions } from './store.ts';
import type { KubeObject, PartialObjectMeta, Projected, ResourceDescriptor, Stored, WatcherEvent } from './types.ts';
import type { ListWatch } from './api.ts';
import { watcher, type WatcherConfig } from './watcher.ts';

/**
 * Passed to a namespaced kind's `api()` instead of a namespace: the Api then
 * lists and watches across all namespaces. A symbol, so it cannot be mistaken
 * for a namespace name or for a forgotten argument.
 *
 * @example
 * const everywhere = Pod.api(client, allNamespaces);
 */
export const allNamespaces: unique symbol = Symbol('kubereflect.allNamespaces');
/** The type of `allNamespaces`. */
export type AllNamespaces = typeof allNamespaces;

/** The methods of `Api` a kind's verbs can give it. */
export type ApiMethod = 'get' | 'getOpt' | 'list' | 'watch' | 'metadata' | 'create' | 'replace' | 'patch' | 'delete' | 'getStatus' | 'replaceStatus' | 'patchStatus';
/** The members of `Api` every kind's Api has, whatever its verbs. */
export type ApiCore = 'client' | 'resource' | 'namespace' | 'apiVersion' | 'path';

/** The Api of a cluster-scoped kind, with the methods `M` its verbs allow. */
export type ClusterApi<K extends KubeObject, M extends ApiMethod> = Pick<Api<K>, M | ApiCore>;

/** The Api of a namespaced kind, with the methods `M` its verbs allow; `within` moves it to another namespace. */
export type NamespacedApi<K extends KubeObject, M extends ApiMethod> = Pick<Api<K>, M | ApiCore> & {
  /** The same Api in another namespace, or in all of them. */
  within(namespace: string | AllNamespaces): NamespacedApi<K, M>;
};

// ---------------------------------------------------------------------------
// Pruning, typed

/** The metadata fields the runtime needs: a spec can neither prune them nor name them in `keep` (they are always kept). */
export type Identity = 'name' | 'namespace' | 'resourceVersion' | 'uid';

/**
 * What `prune` accepts for a kind whose fields are `F`: `true` drops a whole
 * field; an object drops fields one level down. `metadata` only takes an
 * object, without the identity fields.
 */
export type PruneSpec<F> = {
  readonly [P in keyof F]?: P extends 'metadata'
    ? { readonly [Q in Exclude<keyof F[P], Identity>]?: FieldFlag<Q> }
    : F[P] extends true ? true : true | { readonly [Q in keyof F[P]]?: FieldFlag<Q> };
};

/**
 * `true`; for a field that shares its name with a member of `Object`
 * (`constructor`, `toString`, …) also that member's type, because TypeScript
 * sees those members on every object literal. At run time only `true` names a field.
 */
export type FieldFlag<Q> = Q extends keyof Object ? true | Object[Q] : true;

/**
 * What `keep` accepts for a kind whose fields are `F`: `true` keeps a whole
 * field; an object keeps only the named fields one level down. `apiVersion`,
 * `kind` and the identity fields of `metadata` are always kept.
 */
export type KeepSpec<F> = {
  readonly [P in keyof F]?: F[P] extends true
    ? true
    : true | { readonly [Q in P extends 'metadata' ? Exclude<keyof F[P], Identity> : keyof F[P]]?: FieldFlag<Q> };
};

/**
 * `S` with every key that `Shape` does not have turned into `never`, so that
 * `spec: S & Exact<S, Shape>` rejects fields that do not exist (generic
 * inference skips the excess-property check this restores).
 */
export type Exact<S, Shape> = S extends object
  ? { [K in keyof S]: K extends keyof Shape ? Exact<S[K], Exclude<NonNullable<Shape[K]>, boolean>> : never }
  : S;

/** `V` without the keys `K`, when it is an object. */
export type Without<V, K extends PropertyKey> = V extends object ? Omit<V, K> : V;
/** `V` with only the keys `K`, when it is an object. */
export type Only<V, K extends PropertyKey> = V extends object ? Pick<V, K & keyof V> : V;

/** `T` after `prune(S)`: the fields `S` names are gone, at both levels; every other field stays, declared or not. */
export type Pruned<T, S> = Projected & {
  [P in keyof T as P extends keyof S ? (S[P] extends true ? never : P) : P]: P extends keyof S ? Without<T[P], keyof S[P]> : T[P];
};

/** `T` after `keep(S)`: only the fields `S` names, plus `apiVersion`, `kind` and the identity metadata. */
export type Kept<T, S> = Projected & {
  [P in keyof T as P extends 'apiVersion' | 'kind' | 'metadata' | keyof S ? P : never]: P extends keyof S
    ? S[P] extends true ? T[P] : Only<T[P], (P extends 'metadata' ? Identity : never) | keyof S[P]>
    : P extends 'metadata' ? Only<T[P], Identity> : T[P];
};

// ---------------------------------------------------------------------------
// Pruning, at run time

/** A plain object, as the projections read and build them. */
export type Obj = { [key: string]: unknown };

/** The fields of a kind, in projection order: a name, or a name and the names of its fields. */
export type Layout = readonly (readonly [string] | readonly [string, readonly string[]])[];

/**
 * A kind's straight-line projection: given the flags of a plan (see
 * `planPrune`), it returns the function that builds the projected object.
 */
export type Projection = (flags: readonly boolean[]) => (obj: Obj) => Obj;

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

function entry(spec: unknown, key: string): unknown {
  return isObj(spec) && Object.hasOwn(spec, key) ? spec[key] : undefined;
}

/**
 * The flags of `prune(spec)`, in layout order: per field "in the result",
 * then for an object field "rebuild it" and per child "in the result".
 * Walks the spec once, when `prune` is called, never per object.
 */
export function planPrune(layout: Layout, spec: unknown): boolean[] {
  const flags: boolean[] = [];
  for (const [name, children] of layout) {
    const s = entry(spec, name);
    flags.push(s !== true);
    if (!children) continue;
    flags.push(isObj(s));
    for (const c of children) flags.push(entry(s, c) !== true);
  }
  return flags;
}

const IDENTITY: ReadonlySet<string> = new Set<Identity>(['name', 'namespace', 'resourceVersion', 'uid']);

/** The flags of `keep(spec)`, in the same order as `planPrune`'s. */
export function planKeep(layout: Layout, spec: unknown): boolean[] {
  const flags: boolean[] = [];
  for (const [name, children] of layout) {
    const s = entry(spec, name);
    const always = name === 'apiVersion' || name === 'kind' || name === 'metadata';
    flags.push(always || s !== undefined);
    if (!children) continue;
    const rebuild = name === 'metadata' ? s !== true : isObj(s);
    flags.push(rebuild);
    for (const c of children) flags.push(entry(s, c) === true || (name === 'metadata' && IDENTITY.has(c)));
  }
  return flags;
}

// ---------------------------------------------------------------------------
// Kinds

/** Anything a reference can be made from: a full, pruned, kept, metadata-only or stored object. */
export interface RefSource {
  readonly metadata?: { readonly name?: string; readonly namespace?: string; readonly uid?: string; readonly resourceVersion?: string } | undefined;
}

/** What every kind's value has. */
export interface KindBase<K extends KubeObject, F> {
  /** Where the kind lives on the server and what it supports. */
  readonly resource: ResourceDescriptor;
  /** `v1`, `apps/v1`, … */
  readonly apiVersion: string;
  /**
   * The reference of an object of this kind (keeps its uid and
   * resourceVersion): a full, stored, pruned, kept or metadata-only one. An
   * object typed as another kind does not compile.
   */
  refFrom(obj: RefSource & { readonly kind?: KindTag<K>['kind'] | 'PartialObjectMetadata' }): ObjectRef<K>;
  /**
   * A function that drops the fields `spec` names (two levels deep) and
   * builds a new object of the rest — every other field, including fields
   * the schema does not declare (a newer server's); its result type has no
   * such fields, and is `Projected`, so the write verbs refuse it.
   *
   * @example
   * const slim = Pod.prune({ status: true, metadata: { managedFields: true } });
   */
  prune<const S extends PruneSpec<F>>(spec: S & Exact<S, PruneSpec<F>>): (obj: K) => Pruned<K, S>;
  /**
   * A function that keeps only the fields `spec` names (two levels deep),
   * plus `apiVersion`, `kind` and `metadata.name`, `namespace`, `uid`,
   * `resourceVersion`; its result type has only those, and is `Projected`,
   * so the write verbs refuse it.
   *
   * @example
   * const placement = Pod.keep({ spec: { nodeName: true }, status: { phase: true } });
   */
  keep<const S extends KeepSpec<F>>(spec: S & Exact<S, KeepSpec<F>>): (obj: K) => Kept<K, S>;
}

/** Options of a kind's `cache` and `metadataCache`. */
export interface CacheOptions {
  /** Selectors, page size, list semantics, backoff… of the watcher. */
  watcher?: WatcherConfig;
  store?: StoreOptions;
  /** Stops the cache's watch (as `stop()` does). */
  signal?: AbortSignal;
}

/**
 * A kind's cache: a watcher, a `reflector()` and a store, wired (what
 * `Pod.cache(api)` returns). Iterate it (or call `run()`) to drive the watch;
 * `reader` sees the store. Iterate it once. `stop()` ends the watch and the
 * iteration.
 */
export interface Cache<R extends KubeObject, I extends string = never> extends AsyncIterable<WatcherEvent<Stored<R>>> {
  /** The store: reads, health, and lookups by the cache's indexes (`byIndex`). */
  readonly reader: Store<R, I>;
  /**
   * Drives the watch until `stop()` or the signal; resolves then. `Error`
   * events go to the watcher's logger (default: warnings on the console);
   * iterate the cache instead to handle them yourself.
   */
  run(): Promise<void>;
  /** Ends the watch; `run()` and the iteration then end. */
  stop(): void;
}

/** The cache factories of a kind that can be listed and watched. */
/** What every object of a namespaced kind's cache has: its namespace. */
export interface InNamespace {
  readonly metadata: { readonly namespace: string };
}

/**
 * The cache factories of a kind; `N` is what its stored objects have beyond
 * `Stored` (`InNamespace` for a namespaced kind).
 */
export interface Watchable<K extends KubeObject, N = unknown> {
  /**
   * A cache (api + watcher + reflector + store, wired) whose store holds
   * `transform`ed objects (e.g. through `prune` or `keep`).
   *
   * @example
   * const pods = Pod.cache(Pod.api(client, 'shop'), { transform: Pod.keep({ status: { phase: true } }) });
   * void pods.run();
   * await pods.reader.waitUntilReady();
   *
   * With `indexes`, give `transform` a function made beforehand (not a
   * `prune`/`keep` call written inline), so that TypeScript knows the stored
   * type when it types the index functions.
   *
   * @example
   * // with an index
   * const placement = Pod.keep({ spec: { nodeName: true } });
   * const pods = Pod.cache(api, { transform: placement, indexes: { byNode: (p) => p.spec?.nodeName } });
   * pods.reader.byIndex('byNode', 'worker-1');
   */
  cache<R extends KubeObject, I extends string = never>(api: ListWatch<K>, opts: CacheOptions & { transform: (obj: K) => R; indexes?: Indexers<R & N, I> }): Cache<R & N, I>;
  /** A cache of whole objects (the overload order matters: the one with `transform` must come first for its `indexes` to be typed). */
  cache<I extends string = never>(api: ListWatch<K>, opts?: CacheOptions & { indexes?: Indexers<K & N, I> }): Cache<K & N, I>;
  /** A cache of metadata-only objects: names, labels and owners without specs. */
  metadataCache<I extends string = never>(
    api: ListWatch<K> & Pick<Api<K>, 'metadata'>,
    opts?: CacheOptions & { indexes?: Indexers<PartialObjectMeta<K> & N, I> },
  ): Cache<PartialObjectMeta<K> & N, I>;
}

/** `Watchable<K>` when the verbs `M` include list and watch. */
export type WatchableIf<K extends KubeObject, M, N = unknown> = 'list' | 'watch' extends M ? Watchable<K, N> : unknown;

/** The value of a namespaced kind, e.g. `Pod`. */
export type NamespacedKind<K extends KubeObject, F, M extends ApiMethod> = KindBase<K, F> & {
  /** The kind's Api in `namespace`, or in all namespaces with `allNamespaces`. */
  api(client: Client, namespace: string | AllNamespaces): NamespacedApi<K, M>;
  /** A reference to the object `name` in `namespace`. */
  ref(name: string, namespace: string): ObjectRef<K>;
} & WatchableIf<K, M, InNamespace>;

/** The value of a cluster-scoped kind, e.g. `Node`: its Api takes no namespace. */
export type ClusterKind<K extends KubeObject, F, M extends ApiMethod> = KindBase<K, F> & {
  /** The kind's Api. */
  api(client: Client): ClusterApi<K, M>;
  /** A reference to the object `name`. */
  ref(name: string): ObjectRef<K>;
} & WatchableIf<K, M>;

/** What the generated module of a kind hands to `namespacedKind` or `clusterKind`. */
export interface KindDefinition {
  apiVersion: string;
  resource: ResourceDescriptor;
  layout: Layout;
  project: Projection;
}

const DROPS_MANAGED_FIELDS: unique symbol = Symbol('kubereflect.dropsManagedFields');

function marked<F extends (obj: Obj) => Obj>(fn: F, drops: boolean): F {
  if (drops) Object.defineProperty(fn, DROPS_MANAGED_FIELDS, { value: true });
  return fn;
}

/**
 * True when `transform` is a kind's `prune` or `keep` function whose result
 * has no `metadata.managedFields`. A kind's cache then sets the
 * watcher's `stripManagedFields`, so that field is never parsed; call this
 * to do the same when wiring `watcher` and `modify` by hand.
 *
 * @example
 * const slim = Pod.prune({ metadata: { managedFields: true } });
 * const events = modify(watcher(api, { stripManagedFields: dropsManagedFields(slim) }), slim);
 */
export function dropsManagedFields(transform: unknown): boolean {
  return typeof transform === 'function' && (transform as { [DROPS_MANAGED_FIELDS]?: boolean })[DROPS_MANAGED_FIELDS] === true;
}

/**
 * Wraps a prune projection so that it also copies the fields the layout does
 * not declare, at the top level and inside every field it rebuilds: prune
 * drops exactly what it names. The sets are made once per `prune` call.
 */
function keepUndeclared(layout: Layout, spec: unknown, projection: (obj: Obj) => Obj): (obj: Obj) => Obj {
  const declared = new Set(layout.map(([name]) => name));
  const rebuilt: [string, ReadonlySet<string>][] = [];
  for (const [name, children] of layout) if (children && isObj(entry(spec, name))) rebuilt.push([name, new Set(children)]);
  return (obj) => {
    const out = projection(obj);
    copyOthers(obj, out, declared);
    for (const [name, children] of rebuilt) {
      const from = own(obj, name);
      const to = own(out, name);
      if (isObj(from) && isObj(to) && from !== to) copyOthers(from, to, children);
    }
    return out;
  };
}

function copyOthers(from: Obj, to: Obj, declared: ReadonlySet<string>): void {
  for (const key of Object.keys(from)) if (!declared.has(key)) put(to, key, from[key]);
}

class KindApi<K extends KubeObject> extends Api<K> {
  override within(namespace: string | AllNamespaces | undefined): KindApi<K> {
    return new KindApi<K>(this.client, this.resource, namespace === allNamespaces ? undefined : namespace);
  }
}

/** Builds the value of a namespaced kind. */
export function namespacedKind<K extends KubeObject, F, M extends ApiMethod>(def: KindDefinition): NamespacedKind<K, F, M> {
  return kindValue<K>(def) as unknown as NamespacedKind<K, F, M>;
}

/** Builds the value of a cluster-scoped kind. */
export function clusterKind<K extends KubeObject, F, M extends ApiMethod>(def: KindDefinition): ClusterKind<K, F, M> {
  return kindValue<K>(def) as unknown as ClusterKind<K, F, M>;
}

function kindValue<K extends KubeObject>(def: KindDefinition) {
  const { resource, layout, project } = def;
  return {
    resource,
    apiVersion: def.apiVersion,
    api(client: Client, namespace?: string | AllNamespaces) {
      if (resource.namespaced && namespace === undefined) {
        throw new TypeError(`kubereflect: ${resource.kind} is namespaced: pass a namespace, or allNamespaces`);
      }
      return new KindApi<K>(client, resource, namespace === allNamespaces ? undefined : namespace);
    },
    ref: (name: string, namespace?: string) => ObjectRef.of<K>(resource, name, namespace),
    refFrom: (obj: RefSource) => ObjectRef.fromObject(obj as K, resource),
    prune: (spec: unknown) => marked(keepUndeclared(layout, spec, project(planPrune(layout, spec))), entry(entry(spec, 'metadata'), 'managedFields') === true),
    keep: (spec: unknown) => {
      const meta = entry(spec, 'metadata');
      return marked(project(planKeep(layout, spec)), meta !== true && entry(meta, 'managedFields') !== true);
    },
    cache: (api: ListWatch<K>, opts: CacheOptions & { transform?: (obj: K) => KubeObject; indexes?: Indexers<KubeObject> } = {}) => reflect(api, opts, opts.transform),
    metadataCache: (api: Pick<Api<K>, 'metadata'>, opts: CacheOptions & { indexes?: Indexers<KubeObject> } = {}) => reflect(api.metadata(), opts),
  };
}

function reflect<K extends KubeObject, R extends KubeObject>(
  source: ListWatch<K>,
  opts: CacheOptions & { indexes?: Indexers<KubeObject> },
  transform?: (obj: K) => R,
): Cache<R, string> {
  const stopper = new AbortController();
  const signals = [stopper.signal, opts.signal, opts.watcher?.signal].filter((s): s is AbortSignal => s !== undefined);
  const signal = AbortSignal.any(signals);
  const { reader, writer } = store<R>({ ...opts.store, indexes: { ...opts.store?.indexes, ...opts.indexes } as Indexers<R> });
  // What the transform throws away need not be parsed: managedFields is cut from the bytes instead.
  const stripManagedFields = opts.watcher?.stripManagedFields ?? dropsManagedFields(transform);
  const events = watcher(source, { ...opts.watcher, stripManagedFields, signal });
  const stream = reflector(writer, transform ? modify(events, transform) : (events as unknown as AsyncIterable<WatcherEvent<R>>));
  let taken = false;
  const take = () => {
    if (taken) throw new Error(`kubereflect: a reflection of ${source.resource.kind} can be iterated once`);
    taken = true;
    return stream;
  };
  return {
    reader,
    [Symbol.asyncIterator]: take,
    async run() {
      // The reflector applies each event to the store; errors (the watcher recovers from them) are logged, never dropped.
      const logger = opts.watcher?.logger ?? consoleLogger;
      for await (const e of take()) if (e.type === 'Error') logger.warn(e.error.message);
    },
    stop: () => stopper.abort(),
  };
}
