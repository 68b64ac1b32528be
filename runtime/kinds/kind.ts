/**
 * What generated kind modules build on: the `allNamespaces` marker, the typed
 * per-kind Apis, the kind values (`namespacedKind`, `clusterKind`) with
 * their `prune` and `keep` (see `projection.ts`) and their cache factories. Generated code imports it as
 * part of the runtime, so a fix here reaches every generated module without
 * regenerating.
 */
import { Api } from '../client/api.ts';
import type { Client } from '../client/client.ts';
import { consoleLogger } from '../core/logger.ts';
import { ObjectRef, type KindTag } from '../core/object-ref.ts';
import { modify, reflector } from '../cache/reflector.ts';
import type { Indexers } from '../cache/indexes.ts';
import { inShard, type ShardRange } from '../scale/shard-range.ts';
import { store, type Store, type StoreOptions } from '../cache/store.ts';
import { compileKeep, compilePrune, isObj, specTarget, type Exact, type KeepSpec, type Kept, type PruneSpec, type Pruned, type Shape } from './projection.ts';
import type { HasMetadata, KubeObject, PartialObjectMeta, ResourceDescriptor, Stored, WatcherEvent } from '../core/types.ts';
import type { DeleteOptions, ListWatch, Patch, WriteOptions } from '../client/api.ts';
import type { Status } from '../core/errors.ts';
import { describeSource, watcher, type WatcherConfig } from '../cache/watcher.ts';

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
export type ApiMethod =
  | 'get'
  | 'getIfExists'
  | 'list'
  | 'watch'
  | 'metadata'
  | 'create'
  | 'replace'
  | 'patch'
  | 'delete'
  | 'getStatus'
  | 'replaceStatus'
  | 'patchStatus';
/** The members of `Api` every kind's Api has, whatever its verbs. */
export type ApiCore = 'client' | 'resource' | 'namespace' | 'apiVersion' | 'path';

/** The Api of a cluster-scoped kind, with the methods `M` its verbs allow. */
export type ClusterApi<K extends KubeObject, M extends ApiMethod> = Pick<Api<K>, M | ApiCore>;

/** The methods of `Api` that read objects from the server: what a namespaced Api types with `metadata.namespace` present. */
export type ReadMethod = 'get' | 'getIfExists' | 'list' | 'watch' | 'getStatus';

/**
 * The Api of a namespaced kind, with the methods `M` its verbs allow; `within`
 * moves it to another namespace. What it reads is typed with
 * `metadata.namespace` present (the server always sets it), so a controller
 * or cache built on it hands out objects whose namespace is a `string`; what
 * it writes may leave the namespace out (the Api's is used).
 */
export type NamespacedApi<K extends KubeObject, M extends ApiMethod> = Pick<Api<K>, Exclude<M, ReadMethod> | ApiCore> &
  Pick<Api<K & InNamespace>, Extract<M, ReadMethod>> &
  Within<K, M>;

/** `within`: the same Api in another namespace, or (with `allNamespaces`) in all of them. */
export interface Within<K extends KubeObject, M extends ApiMethod> {
  /** The same Api in another namespace. */
  within(namespace: string): NamespacedApi<K, M>;
  /** The same Api in all namespaces: lists and watches across them; calls on one object need a namespace. */
  within(namespace: AllNamespaces): AllNamespacesApi<K, M>;
  /** Either, decided at run time: typed as the Api of all namespaces. */
  within(namespace: string | AllNamespaces): AllNamespacesApi<K, M>;
}

/** The methods that name one object by its name alone, which an Api of all namespaces cannot place. */
export type ByNameMethod = 'get' | 'getIfExists' | 'getStatus' | 'replace' | 'replaceStatus' | 'patch' | 'patchStatus' | 'delete';

/** What an Api of all namespaces writes to one object: the namespace is required (`patch(name, p, { namespace })`). */
export type InSomeNamespace<K extends KubeObject, M extends ApiMethod> = ('patch' extends M
  ? {
      /** Patches the object `name` in `opts.namespace`. */
      patch(name: string, patch: Patch<K>, opts: WriteOptions & { namespace: string }): Promise<K>;
    }
  : unknown) &
  ('patchStatus' extends M
    ? {
        /** Patches the `status` of the object `name` in `opts.namespace`. */
        patchStatus(name: string, patch: Patch<K>, opts: WriteOptions & { namespace: string }): Promise<K>;
      }
    : unknown) &
  ('delete' extends M
    ? {
        /** Deletes the object `name` in `opts.namespace`. */
        delete(name: string, opts: DeleteOptions & { namespace: string }): Promise<K | Status>;
      }
    : unknown);

/**
 * The Api of a namespaced kind across all namespaces (`Kind.api(client,
 * allNamespaces)`): it lists, watches and creates (in the object's
 * namespace); `patch`, `patchStatus` and `delete` take the namespace as an
 * option; `get`, `replace` and the other calls on one object by name do not
 * compile — `api.within(namespace).get(name)` does.
 */
export type AllNamespacesApi<K extends KubeObject, M extends ApiMethod> = Pick<Api<K>, Exclude<M, ReadMethod | ByNameMethod> | ApiCore> &
  Pick<Api<K & InNamespace>, Extract<M, Exclude<ReadMethod, ByNameMethod>>> &
  InSomeNamespace<K, M> &
  Within<K, M>;

// ---------------------------------------------------------------------------
// Kinds

/** What every kind's value has. */
export interface KindBase<K extends KubeObject> {
  /** Where the kind lives on the server and what it supports. */
  readonly resource: ResourceDescriptor;
  /** `v1`, `apps/v1`, … */
  readonly apiVersion: string;
  /**
   * The reference of an object of this kind (keeps its uid and
   * resourceVersion): a full, stored, pruned, kept or metadata-only one. An
   * object typed as another kind does not compile.
   */
  refFrom(obj: HasMetadata & { readonly kind?: KindTag<K>['kind'] | 'PartialObjectMetadata' }): ObjectRef<K>;
  /**
   * A function that drops the fields `spec` names (at any depth: through
   * arrays element by element and maps value by value) and
   * builds a new object of the rest — every other field, including fields
   * the schema does not declare (a newer server's); its result type has no
   * such fields, and is `Projected`, so the write verbs refuse it.
   *
   * @throws ProjectionSpecError, naming the path, for a spec the types
   *   refuse that reaches it anyway (from JavaScript, through a cast) where
   *   the run time can tell: a value other than `true` or an object,
   *   `metadata` whole or an identity field, a name that is not a field of
   *   the kind's top level or of its `metadata`.
   *
   * @example
   * const slim = Pod.prune({ status: true, metadata: { managedFields: true } });
   */
  prune<const S extends PruneSpec<K>>(spec: S & Exact<S, PruneSpec<K>>): (obj: K) => Pruned<K, S>;
  /**
   * A function that keeps only the fields `spec` names (at any depth),
   * plus `apiVersion`, `kind` and `metadata.name`, `namespace`, `uid`,
   * `resourceVersion`; its result type has only those, and is `Projected`,
   * so the write verbs refuse it.
   *
   * @throws ProjectionSpecError as `prune` does (identity fields may be
   *   named: they are kept anyway).
   *
   * @example
   * const placement = Pod.keep({ spec: { nodeName: true }, status: { phase: true } });
   */
  keep<const S extends KeepSpec<K>>(spec: S & Exact<S, KeepSpec<K>>): (obj: K) => Kept<K, S>;
}

/** Options of a kind's `cache` and `metadataCache`. */
export interface CacheOptions {
  /** Selectors, page size, list semantics, backoff… of the watcher. */
  watcher?: WatcherConfig;
  store?: StoreOptions;
  /** Stops the cache's watch (as `stop()` does). */
  signal?: AbortSignal;
  /**
   * Hold only the objects whose uid hashes into this range (a `ShardRing`
   * member's): the store, the events and the transform see nothing else. The
   * range is asked of the server too (`shardSelector`): one that shards
   * (1.36+ with `ShardedListAndWatch`) sends only those objects; another
   * sends all and the cache filters them.
   */
  shard?: ShardRange;
}

/**
 * A kind's cache: a watcher, a `reflector()` and a store, wired (what
 * `Pod.cache(api)` returns). Iterate it (or call `run()`) to drive the watch;
 * `reader` sees the store. Iterate it once. `stop()` ends the watch and the
 * iteration.
 */
export interface KindCache<R extends KubeObject, I extends string = never> extends AsyncIterable<WatcherEvent<Stored<R>>> {
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
  cache<R extends KubeObject, I extends string = never>(
    api: ListWatch<K>,
    opts: CacheOptions & { transform: (obj: K) => R; indexes?: Indexers<R & N, I> },
  ): KindCache<R & N, I>;
  /** A cache of whole objects (the overload order matters: the one with `transform` must come first for its `indexes` to be typed). */
  cache<I extends string = never>(api: ListWatch<K>, opts?: CacheOptions & { indexes?: Indexers<K & N, I> }): KindCache<K & N, I>;
  /** A cache of metadata-only objects: names, labels and owners without specs. */
  metadataCache<I extends string = never>(
    api: ListWatch<K> & Pick<Api<K>, 'metadata'>,
    opts?: CacheOptions & { indexes?: Indexers<PartialObjectMeta<K> & N, I> },
  ): KindCache<PartialObjectMeta<K> & N, I>;
}

/** `Watchable<K>` when the verbs `M` include list and watch. */
export type WatchableIf<K extends KubeObject, M, N = unknown> = 'list' | 'watch' extends M ? Watchable<K, N> : unknown;

/** The value of a namespaced kind, e.g. `Pod`. */
export type NamespacedKind<K extends KubeObject, M extends ApiMethod> = KindBase<K> & {
  /** The kind's Api in `namespace`. */
  api(client: Client, namespace: string): NamespacedApi<K, M>;
  /** The kind's Api in all namespaces: lists and watches across them; calls on one object need a namespace (`within(ns)`, or `{ namespace }` for `patch` and `delete`). */
  api(client: Client, namespace: AllNamespaces): AllNamespacesApi<K, M>;
  /** Either, decided at run time: typed as the Api of all namespaces, whose calls on one object name the namespace. */
  api(client: Client, namespace: string | AllNamespaces): AllNamespacesApi<K, M>;
  /** A reference to the object `name` in `namespace`. */
  ref(name: string, namespace: string): ObjectRef<K>;
} & WatchableIf<K, M, InNamespace>;

/** The value of a cluster-scoped kind, e.g. `Node`: its Api takes no namespace. */
export type ClusterKind<K extends KubeObject, M extends ApiMethod> = KindBase<K> & {
  /** The kind's Api. */
  api(client: Client): ClusterApi<K, M>;
  /** A reference to the object `name`. */
  ref(name: string): ObjectRef<K>;
} & WatchableIf<K, M>;

/** What the generated module of a kind hands to `namespacedKind` or `clusterKind`. */
export interface KindDefinition {
  apiVersion: string;
  resource: ResourceDescriptor;
  /** Where the kind has maps whose values prune and keep can go into. */
  shape: Shape;
  /**
   * The kind's top-level fields (its schema's properties), whose `metadata`
   * is `ObjectMeta`: `prune` and `keep` then refuse a spec naming another
   * field there or in `metadata`. Without it (modules generated before it
   * existed, or a kind whose top level is open), no name is checked.
   */
  fields?: readonly string[];
}

const DROPS_MANAGED_FIELDS: unique symbol = Symbol('kubereflect.dropsManagedFields');

function marked<F extends (obj: never) => unknown>(fn: F, drops: boolean): F {
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

/** What a spec says about `metadata.managedFields`. */
function managedFieldsSpec(spec: unknown): unknown {
  const meta = isObj(spec) ? spec.metadata : undefined;
  return isObj(meta) && Object.hasOwn(meta, 'managedFields') ? meta.managedFields : undefined;
}

class KindApi<K extends KubeObject> extends Api<K> {
  override within(namespace: string | AllNamespaces | undefined): KindApi<K> {
    return new KindApi<K>(this.client, this.resource, namespace === allNamespaces ? undefined : namespace);
  }
}

/** Builds the value of a namespaced kind. */
export function namespacedKind<K extends KubeObject, M extends ApiMethod>(def: KindDefinition): NamespacedKind<K, M> {
  return kindValue<K>(def) as unknown as NamespacedKind<K, M>;
}

/** Builds the value of a cluster-scoped kind. */
export function clusterKind<K extends KubeObject, M extends ApiMethod>(def: KindDefinition): ClusterKind<K, M> {
  return kindValue<K>(def) as unknown as ClusterKind<K, M>;
}

function kindValue<K extends KubeObject>(def: KindDefinition) {
  const { resource } = def;
  const target = specTarget(resource.kind, def.shape, def.fields);
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
    refFrom: (obj: HasMetadata) => ObjectRef.fromObject(obj as K, resource),
    prune: (spec: unknown) => marked(compilePrune(target, spec), managedFieldsSpec(spec) === true),
    // keep drops managedFields unless it names it (whole or inside) or keeps all metadata.
    keep: (spec: unknown) => marked(compileKeep(target, spec), isObj(spec) && spec.metadata !== true && managedFieldsSpec(spec) === undefined),
    cache: (api: ListWatch<K>, opts: CacheOptions & { transform?: (obj: K) => KubeObject; indexes?: Indexers<KubeObject> } = {}) =>
      reflect(api, opts, opts.transform),
    metadataCache: (api: Pick<Api<K>, 'metadata'>, opts: CacheOptions & { indexes?: Indexers<KubeObject> } = {}) => reflect(api.metadata(), opts),
  };
}

function reflect<K extends KubeObject, R extends KubeObject>(
  source: ListWatch<K>,
  opts: CacheOptions & { indexes?: Indexers<KubeObject> },
  transform?: (obj: K) => R,
): KindCache<R, string> {
  const stopper = new AbortController();
  const signals = [stopper.signal, opts.signal, opts.watcher?.signal].filter((s): s is AbortSignal => s !== undefined);
  const signal = AbortSignal.any(signals);
  const { reader, writer } = store<R>({ name: describeSource(source), ...opts.store, indexes: { ...opts.store?.indexes, ...opts.indexes } as Indexers<R> });
  // What the transform throws away need not be parsed: managedFields is cut from the bytes instead.
  const stripManagedFields = opts.watcher?.stripManagedFields ?? dropsManagedFields(transform);
  // A shard is asked of the server (which sends only its objects where it shards) and filtered here (where it does not).
  const shardSelector = opts.watcher?.shardSelector ?? opts.shard?.selector();
  const all = watcher(source, { ...opts.watcher, stripManagedFields, ...(shardSelector ? { shardSelector } : {}), signal });
  const events = opts.shard ? inShard(all, opts.shard) : all;
  const stream = reflector(writer, transform ? modify(events, transform) : (events as unknown as AsyncIterable<WatcherEvent<R>>));
  let taken = false;
  const take = () => {
    if (taken) throw new Error(`kubereflect: the cache of ${source.resource.kind} can be iterated once`);
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
