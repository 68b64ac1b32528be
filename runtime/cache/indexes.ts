/**
 * Secondary indexes of a store: find a controller's children by owner uid,
 * pods by node, objects by namespace, in time proportional to what is found
 * rather than to the store's size.
 *
 * An index is a function from an object to the values it is found under.
 * Indexes are built on first use (`Store.byIndex`) and from then on kept in
 * step by the writer, in the same synchronous step as the live map — every
 * `Apply`, every `Delete`, and the swap of a relist — so a lookup never sees
 * an index that disagrees with `get`. An index nobody asks for costs nothing.
 * Two are always available: `namespace` and `owner` (every
 * `metadata.ownerReferences[*].uid`).
 */
import { KubeError } from '../core/errors.ts';
import type { KubeObject, Stored } from '../core/types.ts';

/**
 * Gives the values an object is found under: one, several, or none
 * (`undefined` entries are skipped). It must be pure and must not throw: the
 * writer calls it again on the old object to remove it.
 */
export type IndexFunction<K extends KubeObject> = (obj: Stored<K>) => string | undefined | readonly (string | undefined)[];

/** Named index functions, as a store or a reflector is given them. */
export type Indexers<K extends KubeObject, I extends string = string> = { readonly [N in I]: IndexFunction<K> };

/** The names every store can be looked up by, besides its own indexes. */
export type BuiltInIndex = 'namespace' | 'owner';

const BUILT_IN: Indexers<KubeObject, BuiltInIndex> = {
  namespace: (obj) => obj.metadata.namespace,
  owner: (obj) => (obj.metadata.ownerReferences ?? []).map((r) => r.uid),
};

/** value → (key → object) */
type Index<K> = Map<string, Map<string, K>>;

/** @internal the indexes of one store, held by its shared state */
export class StoreIndexes<K extends KubeObject> {
  private readonly functions = new Map<string, IndexFunction<K>>();
  private readonly built = new Map<string, Index<K>>();

  constructor(indexers: Indexers<K> = {}) {
    for (const [name, fn] of Object.entries(BUILT_IN)) this.functions.set(name, fn as IndexFunction<K>);
    for (const [name, fn] of Object.entries(indexers)) {
      if (typeof fn !== 'function') throw new TypeError(`kubereflect: index ${JSON.stringify(name)} is not a function`);
      this.functions.set(name, fn);
    }
  }

  /** The objects found under `value` in index `name`, building the index from `live` on first use. */
  lookup(name: string, value: string, live: ReadonlyMap<string, K>): K[] {
    let index = this.built.get(name);
    if (!index) {
      const fn = this.functions.get(name);
      if (!fn) throw new KubeError(`kubereflect: no index named ${JSON.stringify(name)} (known: ${[...this.functions.keys()].join(', ')})`);
      index = new Map();
      for (const [key, obj] of live) add(index, key, obj, valuesOf(name, fn, key, obj));
      this.built.set(name, index);
    }
    const bucket = index.get(value);
    return bucket ? Array.from(bucket.values()) : [];
  }

  /**
   * Moves `key` from `old`'s values to `next`'s in every built index. The new
   * values are computed before anything changes, so an index function that
   * throws leaves every index as it was.
   */
  update(key: string, old: K | undefined, next: K | undefined): void {
    if (this.built.size === 0) return;
    const changes: [Index<K>, string[], string[]][] = [];
    for (const [name, index] of this.built) {
      const fn = this.functions.get(name)!;
      changes.push([index, old ? valuesOf(name, fn, key, old) : [], next ? valuesOf(name, fn, key, next) : []]);
    }
    for (const [index, before, after] of changes) {
      remove(index, key, before);
      if (next) add(index, key, next, after);
    }
  }

  /** Rebuilds every built index for `live` (a relist about to be swapped in); all or nothing. */
  rebuild(live: ReadonlyMap<string, K>): void {
    const fresh = new Map<string, Index<K>>();
    for (const name of this.built.keys()) {
      const fn = this.functions.get(name)!;
      const index: Index<K> = new Map();
      for (const [key, obj] of live) add(index, key, obj, valuesOf(name, fn, key, obj));
      fresh.set(name, index);
    }
    for (const [name, index] of fresh) this.built.set(name, index);
  }
}

function valuesOf<K extends KubeObject>(name: string, fn: IndexFunction<K>, key: string, obj: K): string[] {
  let got: ReturnType<IndexFunction<K>>;
  try {
    got = fn(obj as Stored<K>);
  } catch (err) {
    throw new KubeError(`kubereflect: index ${JSON.stringify(name)} threw on ${key}: ${(err as Error).message}`, { cause: err });
  }
  const list = typeof got === 'string' || got === undefined ? [got] : got;
  return [...new Set(list.filter((v): v is string => typeof v === 'string'))];
}

function add<K>(index: Index<K>, key: string, obj: K, values: readonly string[]): void {
  for (const value of values) {
    let bucket = index.get(value);
    if (!bucket) index.set(value, (bucket = new Map()));
    bucket.set(key, obj);
  }
}

function remove<K>(index: Index<K>, key: string, values: readonly string[]): void {
  for (const value of values) {
    const bucket = index.get(value);
    if (!bucket) continue;
    bucket.delete(key);
    if (bucket.size === 0) index.delete(value);
  }
}
