/**
 * The store: an in-memory cache of the objects of one kind, kept by a single
 * `Writer` and read through any number of `Store` handles.
 *
 * The writer follows a watcher's events. A (re)list — `Init`, `InitApply`…,
 * `InitDone` — fills a separate buffer that replaces the live map in one step
 * at `InitDone`, so a reader never sees a half-listed store: before the first
 * `InitDone` the store is empty and not ready, and during a later relist it
 * shows the previous list until the new one is complete. `Apply` and `Delete`
 * change the live map directly; `Error` changes nothing.
 *
 * Memory: a relist would briefly hold two copies of every object (old map and
 * new buffer). With `reuseUnchanged` (the default) an object whose uid and
 * `resourceVersion` did not change keeps its stored instance, so only changed
 * objects are held twice and readers keep the identical instance they had.
 *
 * A relist that no longer contains an object the store held (or holds one of
 * that name with another uid) means the object was deleted while the watch
 * was down: `applyEvent(InitDone)` returns those objects, which `reflector()` turns
 * into `Delete` events marked `finalStateUnknown` (their last known state,
 * possibly stale), as client-go's `DeletedFinalStateUnknown`.
 *
 * Every reader can ask for the store's `health()`: when the watch last made
 * progress, the last error, how many lists it started and completed, and
 * whether it is `stale` (only errors for longer than `staleAfterMs`) or
 * `unserved` (the server does not serve the kind).
 * Progress is what only a working watch produces: a list that completed
 * (`InitDone`), an object event (`Apply`, `Delete`) or a bookmark. The start
 * of a list and its objects (`Init`, `InitApply`) are not: a relist that
 * keeps failing part-way starts again and again, and that is not a cache
 * that is up to date.
 *
 * Stored objects are frozen (top level only: `Object.freeze` is cheap, a deep
 * freeze is not) and typed `Stored<K>` — deeply read-only, with
 * `metadata.name`, `uid` and `resourceVersion` present (the writer refuses an
 * object without them) — so a reader cannot change the cache behind the
 * writer's back; `editable()` gives a copy to change and write. The store takes ownership of the objects it
 * is given: they are frozen in place.
 *
 * Memory, again: in `metadata.managedFields[*].fieldsV1` every owned field
 * ends in an empty object (`"f:name": {}`). They are about half of the
 * objects of a typical pod, and V8 spends ~56 bytes on each, so with
 * `shareManagedFieldLeaves` (the default) the store replaces them with one
 * shared, frozen empty object: the same JSON, ~40% less heap for full pods.
 *
 * Keys are `Map` keys (`namespace/name`, or the name of a cluster-scoped
 * object), so names such as `__proto__` or `constructor` are ordinary names here.
 */
import { RequestAbortedError, KubeError } from '../core/errors.ts';
import { labelMatcher } from '../core/labels.ts';
import type { LabelMatcher, LabelSelector } from '../core/labels.ts';
import { StoreIndexes, type BuiltInIndex, type Indexers } from './indexes.ts';
import { keyOf, keyFor } from '../core/object-ref.ts';
import { isNotServed } from './watcher.ts';
import { hasUnreadManagedFields } from '../wire/lazy-managed-fields.ts';
import type { ObjectRef } from '../core/object-ref.ts';
import type { KubeObject, Stored, WatcherEvent } from '../core/types.ts';
import { holdsAtLeast } from '../core/resource-version.ts';

/** Options of `store()`; `I` names the indexes. */
export interface StoreOptions<K extends KubeObject = KubeObject, I extends string = string> {
  /**
   * Secondary indexes by name (see `indexes.ts`): `reader.byIndex(name, value)`
   * finds objects in time proportional to the result. `namespace` and `owner`
   * always exist. Built on first lookup, then kept in step with every change.
   *
   * @example
   * store<Pod, 'byNode'>({ indexes: { byNode: (p) => p.spec?.nodeName } });
   */
  indexes?: Indexers<K, I>;
  /** Freeze stored objects (top level). Default true. */
  freeze?: boolean;
  /** On a relist, keep the stored instance of an object whose uid and resourceVersion are unchanged. Default true. */
  reuseUnchanged?: boolean;
  /** Replace the empty objects that end `managedFields` trees with one shared, frozen `{}` (see the module doc). Default true. */
  shareManagedFieldLeaves?: boolean;
  /** `health().stale` turns true once the watch has failed for this long without a success, ms. Default 60,000. */
  staleAfterMs?: number;
  /** What the store holds, for messages (`pods in shop`); a kind's cache sets it. */
  name?: string;
}

/**
 * What a store knows of its watch; see `Store.health()`. Times are
 * milliseconds since the epoch (`Date.now()`).
 */
export interface StoreHealth {
  /** True once the first list completed. It stays true: see `stale` for a watch that has since failed. */
  readonly ready: boolean;
  /**
   * True when the watch has made no progress for longer than `staleAfterMs`
   * since an error: errors only, or lists that started and did not complete.
   * The contents may be out of date.
   */
  readonly stale: boolean;
  /** When the watch last made progress: a list completed (`InitDone`), an object changed (`Apply`, `Delete`), or a bookmark arrived. */
  readonly lastEventAt: number | undefined;
  /** The last error the watcher reported, and when. */
  readonly lastError: KubeError | undefined;
  readonly lastErrorAt: number | undefined;
  /** When the current run of errors began (the first error since the last progress); undefined while the watch works. */
  readonly failingSince: number | undefined;
  /** Lists completed: 1 after the first list, one more per relist (and one when a kind no longer served empties the store). */
  readonly lists: number;
  /**
   * Lists started (each `Init`: the server began to answer one), including
   * those that started over or failed part-way. More than `lists` by one
   * while a list is in flight; by more when lists restart.
   */
  readonly listsStarted: number;
  /** The `resourceVersion` of the last object stored or deleted. */
  readonly resourceVersion: string | undefined;
  /**
   * True while the last thing the watcher reported is that the server does
   * not serve the kind: a 404 of its list or watch naming no object (a
   * CustomResourceDefinition not installed yet, not established yet, or
   * removed). Any other event or error clears it. A store that never listed
   * is then not ready; one that did keeps its objects until the kind has
   * been unserved for 10 s, then the watcher empties it. Either way the
   * watcher keeps asking, and the cache lists by itself when the kind is
   * served again.
   */
  readonly unserved: boolean;
}

/**
 * Told of every change to the live map, after it happened: `key` changed;
 * `gone` is set when the object at `key` was deleted (or found gone at a relist);
 * otherwise `previous` is the version of the same object the key held before
 * (undefined for a new object).
 * @internal for `shared-store.ts`
 */
export type ChangeListener<K> = (key: string, gone?: { object: K; finalStateUnknown: boolean }, previous?: K) => void;

/** How to name an object to `Store.get`: a reference, a name (plus namespace), or a `namespace/name` key. */
export type StoreLookup<K extends KubeObject> = ObjectRef<K> | { name: string; namespace?: string | undefined; kind?: never } | string;

/**
 * The state a writer and its readers share.
 * @internal exported for `shared-store.ts`; not part of the public API.
 */
export class StoreCore<K extends KubeObject> {
  /** The live objects by key. Replaced (not mutated) at each `InitDone`. */
  live = new Map<string, K>();
  /** The relist in progress, between `Init` and `InitDone`. */
  buffer: Map<string, K> | undefined;
  ready = false;
  closed = false;
  owner: string | undefined;
  readonly waiters = new Set<{ resolve: () => void; reject: (e: Error) => void }>();
  readonly listeners = new Set<ChangeListener<K>>();
  readonly indexes: StoreIndexes<K>;
  readonly freeze: boolean;
  readonly reuseUnchanged: boolean;
  readonly shareManagedFieldLeaves: boolean;
  readonly staleAfterMs: number;
  lastEventAt: number | undefined;
  lastError: KubeError | undefined;
  lastErrorAt: number | undefined;
  failingSince: number | undefined;
  lists = 0;
  listsStarted = 0;
  resourceVersion: string | undefined;
  unserved = false;
  readonly describe: string | undefined;

  constructor(opts: StoreOptions<K> = {}) {
    this.describe = opts.name;
    this.indexes = new StoreIndexes<K>(opts.indexes);
    this.freeze = opts.freeze ?? true;
    this.reuseUnchanged = opts.reuseUnchanged ?? true;
    this.shareManagedFieldLeaves = opts.shareManagedFieldLeaves ?? true;
    this.staleAfterMs = opts.staleAfterMs ?? 60_000;
  }
}

const NOTHING: readonly never[] = Object.freeze([]);

/**
 * The single writer of a store. Not shareable: a reflector `claim`s it, and a
 * second claim throws, so two watches can never fight over one cache.
 *
 * @example
 * const { reader, writer } = store<Pod>();
 * writer.applyEvent({ type: 'Apply', object: pod });
 */
export class Writer<K extends KubeObject> {
  /** @internal the state the writer and readers share */
  protected readonly core: StoreCore<K>;

  /** @internal use `store()` */
  constructor(core: StoreCore<K>) {
    this.core = core;
  }

  /**
   * Applies one watcher event. At `InitDone` it returns the objects the
   * relist found gone (deleted while the watch was down), in their last
   * stored state; otherwise nothing. Throws if the writer is closed, or if an
   * object has no `metadata.name`.
   *
   * @example
   * for (const event of [{ type: 'Init' }, { type: 'InitApply', object: pod }, { type: 'InitDone' }] as const) {
   *   writer.applyEvent(event);
   * }
   */
  applyEvent(event: WatcherEvent<K>): readonly Stored<K>[] {
    const core = this.core;
    if (core.closed) throw new Error('kubereflect: cannot apply an event to a closed store writer');
    if (event.type === 'Error') {
      // The watcher recovers by itself; the cache stays as it was.
      core.lastError = event.error;
      core.lastErrorAt = Date.now();
      core.failingSince ??= core.lastErrorAt;
      core.unserved = isNotServed(event.error);
      return NOTHING;
    }
    // Any other event is the server answering for the kind (an empty list when the watcher found it gone comes with its 404 after it).
    core.unserved = false;
    switch (event.type) {
      case 'Init':
        // Not progress: a list that starts and then fails is no sign of a working watch.
        core.buffer = new Map();
        core.listsStarted++;
        return NOTHING;
      case 'InitApply': {
        const key = keyOf(event.object);
        core.buffer ??= new Map();
        core.buffer.set(key, this.reusable(key, event.object) ?? this.own(event.object));
        core.resourceVersion = event.object.metadata?.resourceVersion ?? core.resourceVersion;
        return NOTHING;
      }
      case 'InitDone':
        this.progress();
        return this.swap();
      case 'Bookmark':
        this.progress();
        return NOTHING;
      case 'Apply': {
        // Straight into the live map; a watcher sends no Apply between Init and InitDone.
        const key = keyOf(event.object);
        const object = this.own(event.object);
        const previous = core.live.get(key);
        // Indexes first: an index function that throws leaves the store as it was.
        core.indexes.update(key, previous, object);
        core.live.set(key, object);
        this.progress();
        core.resourceVersion = event.object.metadata?.resourceVersion ?? core.resourceVersion;
        for (const listener of core.listeners) listener(key, undefined, previous);
        return NOTHING;
      }
      case 'Delete': {
        const key = keyOf(event.object);
        const stored = core.live.get(key);
        core.indexes.update(key, stored, undefined);
        core.live.delete(key);
        this.progress();
        core.resourceVersion = event.object.metadata?.resourceVersion ?? core.resourceVersion;
        // The last stored state is what consumers knew; the event's object may be shaped differently (unpruned).
        const gone = { object: stored ?? event.object, finalStateUnknown: event.finalStateUnknown === true };
        for (const listener of core.listeners) listener(key, gone);
        return NOTHING;
      }
    }
  }

  /** The watch works: it ends a run of errors. */
  private progress(): void {
    this.core.lastEventAt = Date.now();
    this.core.failingSince = undefined;
  }

  /**
   * The instance the list in progress holds for `object`'s key (between
   * `Init` and `InitDone`): `object` itself, or with `reuseUnchanged` the
   * instance already stored. Undefined outside a list.
   * @internal for `reflector.ts`
   */
  listed(object: K): Stored<K> | undefined {
    return this.core.buffer?.get(keyOf(object)) as Stored<K> | undefined;
  }

  /** Replaces the live map with the relist, and reports what it no longer holds. */
  private swap(): readonly Stored<K>[] {
    const core = this.core;
    const previous = core.live;
    // An InitDone without Init means an empty list: the whole truth is "nothing".
    const next = core.buffer ?? new Map<string, K>();
    core.indexes.rebuild(next);
    core.live = next;
    core.buffer = undefined;
    core.lists++;
    const vanished: K[] = [];
    for (const [key, old] of previous) {
      const now = next.get(key);
      if (now === undefined || now.metadata?.uid !== old.metadata?.uid) {
        vanished.push(old);
        for (const listener of core.listeners) listener(key, { object: old, finalStateUnknown: true });
      }
    }
    if (core.listeners.size > 0) {
      // Unchanged objects keep their instance (reuseUnchanged): only new or changed ones are news.
      for (const [key, obj] of next) {
        const old = previous.get(key);
        // Another uid is another object: the old one was reported gone above.
        const before = old?.metadata?.uid === obj.metadata?.uid ? old : undefined;
        if (old !== obj) for (const listener of core.listeners) listener(key, undefined, before);
      }
    }
    if (!core.ready) this.becomeReady();
    return vanished as Stored<K>[];
  }

  /**
   * Marks the writer as taken by `owner`; throws if it already was. The
   * reflector calls this so a writer cannot feed two reflectors.
   *
   * @example
   * writer.claim('my-reflector');
   * writer.claim('another'); // throws: already claimed by my-reflector
   */
  claim(owner = 'a reflector'): void {
    if (this.core.owner !== undefined) {
      throw new Error(
        `kubereflect: this store writer is already claimed by ${this.core.owner}; a store has exactly one writer (use storeShared() to share one watch)`,
      );
    }
    this.core.owner = owner;
  }

  /**
   * Closes the writer: no more events will come. The contents stay readable;
   * `waitUntilReady` rejects if the store never became ready. Idempotent.
   *
   * @example
   * try { for await (const e of stream) writer.applyEvent(e); } finally { writer.close(); }
   */
  close(): void {
    const core = this.core;
    if (core.closed) return;
    core.closed = true;
    if (core.ready) return;
    const error = neverReady();
    for (const w of core.waiters) w.reject(error);
    core.waiters.clear();
  }

  private becomeReady(): void {
    this.core.ready = true;
    for (const w of this.core.waiters) w.resolve();
    this.core.waiters.clear();
  }

  /** The already stored instance, when the relisted object is the same version of it. */
  private reusable(key: string, incoming: K): K | undefined {
    if (!this.core.reuseUnchanged) return undefined;
    const stored = this.core.live.get(key);
    const rv = incoming.metadata?.resourceVersion;
    if (stored === undefined || rv === undefined) return undefined;
    const meta = stored.metadata;
    return meta?.resourceVersion === rv && meta.uid === incoming.metadata?.uid ? stored : undefined;
  }

  private own(obj: K): K {
    requireIdentity(obj);
    if (this.core.shareManagedFieldLeaves) shareManagedFieldLeaves(obj);
    return this.core.freeze ? Object.freeze(obj) : obj;
  }
}

/** A stored object's identity is what `Stored<K>` promises: the name (checked by the key), uid and resourceVersion. */
function requireIdentity(obj: KubeObject): void {
  const meta = obj.metadata;
  const missing = !meta?.uid ? 'uid' : !meta.resourceVersion ? 'resourceVersion' : undefined;
  if (missing) {
    const name = meta?.namespace ? `${meta.namespace}/${meta.name}` : meta?.name;
    throw new TypeError(`kubereflect: ${name} has no metadata.${missing}, so a store cannot keep it (did a modify() step drop it?)`);
  }
}

const EMPTY_LEAF: Readonly<Record<string, never>> = Object.freeze({});

/** Points every empty object inside `metadata.managedFields[*].fieldsV1` at one shared frozen `{}`. */
function shareManagedFieldLeaves(obj: KubeObject): void {
  // Unparsed (lazyManagedFields): reading it here would parse it, which is what laziness saves.
  if (hasUnreadManagedFields(obj.metadata)) return;
  const entries = (obj.metadata as { managedFields?: unknown } | undefined)?.managedFields;
  if (!Array.isArray(entries)) return;
  for (const entry of entries) {
    const fields = (entry as { fieldsV1?: unknown } | null)?.fieldsV1;
    if (typeof fields === 'object' && fields !== null && !Object.isFrozen(fields)) shareLeaves(fields as Record<string, unknown>);
  }
}

function shareLeaves(node: Record<string, unknown>): void {
  for (const key in node) {
    const child = node[key];
    if (typeof child !== 'object' || child === null || child === EMPTY_LEAF) continue;
    if (isEmpty(child)) node[key] = EMPTY_LEAF;
    else if (!Object.isFrozen(child)) shareLeaves(child as Record<string, unknown>);
  }
}

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return !Array.isArray(o);
}

/**
 * A read handle on a store; share it freely. Reads are synchronous and see
 * the store as of the last event the writer applied.
 *
 * @example
 * await reader.waitUntilReady();
 * const web = reader.get({ name: 'web-0', namespace: 'shop' });
 * const frontends = reader.filter('tier=frontend');
 */
export class Store<K extends KubeObject, I extends string = string> {
  /**
   * @internal the state the writer and readers share. Typed by the base
   * object type, so that a reader is covariant in `K`: a `Store<Pod>` (or a
   * projected store) is a `Store<KubeObject>` to a helper that takes any store.
   */
  protected readonly core: StoreCore<KubeObject>;

  /** @internal use `store()` */
  constructor(core: StoreCore<K>) {
    this.core = core as unknown as StoreCore<KubeObject>;
  }

  /**
   * The object named by a reference, a `{ name, namespace }`, or a key.
   *
   * @example
   * reader.get(ObjectRef.fromObject(pod, pods));
   * reader.get({ name: 'worker-1' }); // cluster-scoped; also reader.get('worker-1')
   * reader.get('shop/web-0');
   */
  get(lookup: StoreLookup<K>): Stored<K> | undefined {
    const key = typeof lookup === 'string' ? lookup : keyFor(lookup.name, lookup.namespace);
    return this.core.live.get(key) as Stored<K> | undefined;
  }

  /**
   * Resolves with the object once the store holds it at `resourceVersion`
   * or a newer version — what you wrote, read back: `resourceVersion` is
   * the version your write returned — at once if it already does. Versions
   * are ordered as Kubernetes orders them since 1.35 (one resource's
   * versions are decimal integers, a later one larger); where they cannot
   * be ordered (another server's format), only that exact version counts.
   * Rejects with a `NotReadyError` when `timeoutMs` passes first (saying
   * what the store holds), with a `RequestAbortedError` when `signal`
   * aborts.
   *
   * @example
   * const written = await widgets.patch('w1', { type: 'merge', body: { spec: { color: 'red' } } });
   * const seen = await reader.waitForVersion('shop/w1', written.metadata!.resourceVersion!, { timeoutMs: 5_000 });
   */
  waitForVersion(lookup: StoreLookup<K>, resourceVersion: string, opts: { timeoutMs?: number; signal?: AbortSignal } = {}): Promise<Stored<K>> {
    const key = typeof lookup === 'string' ? lookup : keyFor(lookup.name, lookup.namespace);
    const core = this.core;
    const holds = () => {
      const obj = core.live.get(key) as Stored<K> | undefined;
      return obj && holdsAtLeast(obj.metadata.resourceVersion, resourceVersion) ? obj : undefined;
    };
    const now = holds();
    if (now) return Promise.resolve(now);
    const { signal, timeoutMs } = opts;
    if (signal?.aborted) return Promise.reject(new RequestAbortedError('kubereflect: waitForVersion aborted', { cause: signal.reason }));
    return new Promise<Stored<K>>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        core.listeners.delete(listener);
        signal?.removeEventListener('abort', onAbort);
        if (timer) clearTimeout(timer);
      };
      // Every change of the live map, the swap of a relist included, reaches the listeners.
      const listener: ChangeListener<KubeObject> = (changed) => {
        if (changed !== key) return;
        const obj = holds();
        if (obj) {
          done();
          resolve(obj);
        }
      };
      const onAbort = () => {
        done();
        reject(new RequestAbortedError('kubereflect: waitForVersion aborted', { cause: signal?.reason }));
      };
      core.listeners.add(listener);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined)
        timer = setTimeout(() => {
          done();
          const held = core.live.get(key)?.metadata?.resourceVersion;
          reject(
            new NotReadyError(
              `kubereflect: ${core.describe ?? 'the store'} does not hold ${key} at resourceVersion ${resourceVersion} or newer after ${timeoutMs} ms (${held === undefined ? 'it holds no such object' : `it holds ${held}`})`,
            ),
          );
        }, timeoutMs);
    });
  }

  /**
   * A snapshot of every stored object, in no particular order. Later writes do not change the array.
   *
   * @example
   * const names = reader.state().map((p) => p.metadata?.name);
   */
  state(): Stored<K>[] {
    return Array.from(this.core.live.values()) as Stored<K>[];
  }

  /**
   * A snapshot of the store key (`namespace/name`, or `name`) of every
   * stored object, in no particular order: the store's own strings, so a
   * map keyed by them compares them without reading their characters.
   *
   * @example
   * for (const key of reader.keys()) queue.add(key);
   */
  keys(): string[] {
    return Array.from(this.core.live.keys());
  }

  /**
   * The first object that satisfies `predicate`.
   *
   * @example
   * const leader = reader.find((p) => p.metadata?.labels?.role === 'leader');
   */
  find(predicate: (obj: Stored<K>) => boolean): Stored<K> | undefined {
    for (const obj of this.core.live.values()) if (predicate(obj as Stored<K>)) return obj as Stored<K>;
    return undefined;
  }

  /**
   * The objects that satisfy a predicate or match a label selector: the
   * server's syntax, the `{ matchLabels, matchExpressions }` struct, or a
   * parsed `LabelMatcher` (a bad selector throws `LabelSelectorError`).
   *
   * @example
   * reader.filter('app=web,env in (prod,staging),!legacy');
   * reader.filter(deployment.spec.selector);
   * reader.filter((p) => p.status?.phase === 'Running');
   */
  filter(selector: ((obj: Stored<K>) => boolean) | string | LabelSelector | LabelMatcher): Stored<K>[] {
    const predicate = typeof selector === 'function' ? selector : labelPredicate<K>(selector);
    const out: Stored<K>[] = [];
    for (const obj of this.core.live.values()) if (predicate(obj as Stored<K>)) out.push(obj as Stored<K>);
    return out;
  }

  /**
   * The objects an index finds under `value`, in time proportional to how
   * many there are: one of the store's own indexes, `namespace`, or `owner`
   * (an owner's uid → the objects it owns). The first lookup of an index
   * builds it. Throws `KubeError` for an unknown index name.
   *
   * @example
   * reader.byIndex('owner', replicaSet.metadata.uid); // its pods
   * reader.byIndex('byNode', 'worker-1');
   */
  byIndex(name: I | BuiltInIndex, value: string): Stored<K>[] {
    return this.core.indexes.lookup(name, value, this.core.live) as Stored<K>[];
  }

  /** The number of stored objects. */
  get size(): number {
    return this.core.live.size;
  }

  /**
   * What the store knows of its watch: when it last made progress, the last
   * error, how many lists it started and completed, whether it is stale, and
   * whether the server serves the kind at all.
   *
   * @example
   * const h = reader.health();
   * if (h.stale) console.warn(`pods cache stale since ${new Date(h.failingSince!)}: ${h.lastError?.message}`);
   * if (h.unserved) console.warn(`backups are not served (is the CRD installed?): ${h.lastError?.message}`);
   */
  health(now = Date.now()): StoreHealth {
    const c = this.core;
    return {
      ready: c.ready,
      stale: c.failingSince !== undefined && now - c.failingSince >= c.staleAfterMs,
      lastEventAt: c.lastEventAt,
      lastError: c.lastError,
      lastErrorAt: c.lastErrorAt,
      failingSince: c.failingSince,
      lists: c.lists,
      listsStarted: c.listsStarted,
      resourceVersion: c.resourceVersion,
      unserved: c.unserved,
    };
  }

  /**
   * True once the first list has completed (the first `InitDone`).
   *
   * @example
   * if (!reader.isReady()) return 'cache not synced yet';
   */
  isReady(): boolean {
    return this.core.ready;
  }

  /**
   * Resolves at the first `InitDone` (at once if that already happened).
   * Rejects with a `KubeError` if the writer closes before that; with a
   * `NotReadyError` when `timeoutMs` passes first, saying what the cache last
   * failed with (a CRD that is not installed, a missing RBAC rule: the
   * watcher's errors say which); with a `RequestAbortedError` if `signal`
   * aborts first. `health()` says the same at any time.
   *
   * @example
   * await reader.waitUntilReady({ timeoutMs: 30_000 });
   * // NotReadyError: kubereflect: backups.ops.example.com in shop not ready after 30000 ms; last error:
   * //   LIST …: 404 Not Found … — the server does not serve ops.example.com/v1 backups: is the CustomResourceDefinition backups.ops.example.com installed?
   */
  waitUntilReady(opts?: AbortSignal | { signal?: AbortSignal; timeoutMs?: number }): Promise<void> {
    const core = this.core;
    const { signal, timeoutMs } = opts instanceof AbortSignal ? { signal: opts, timeoutMs: undefined } : (opts ?? {});
    if (core.ready) return Promise.resolve();
    if (core.closed) return Promise.reject(neverReady());
    if (signal?.aborted) return Promise.reject(new RequestAbortedError('kubereflect: waitUntilReady aborted', { cause: signal.reason }));
    return new Promise<void>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const done = () => {
        signal?.removeEventListener('abort', onAbort);
        if (timer) clearTimeout(timer);
        core.waiters.delete(waiter);
      };
      const onAbort = () => {
        done();
        reject(new RequestAbortedError('kubereflect: waitUntilReady aborted', { cause: signal?.reason }));
      };
      const waiter = {
        resolve: () => (done(), resolve()),
        reject: (e: Error) => (done(), reject(e)),
      };
      core.waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          done();
          const last = core.lastError;
          reject(
            new NotReadyError(
              `kubereflect: ${core.describe ?? 'the store'} not ready after ${timeoutMs} ms; ${last ? `last error: ${last.message}` : 'no error so far: the first list has not completed'}`,
              { cause: last },
            ),
          );
        }, timeoutMs);
      }
    });
  }
}

/** `waitUntilReady({ timeoutMs })` timed out: the message says what the cache last failed with (its `cause`). */
export class NotReadyError extends KubeError {
  override name = 'NotReadyError';
  override readonly code = 'ERR_KUBE_NOT_READY';
}

function neverReady(): KubeError {
  return new KubeError('kubereflect: the store writer was closed before the first list completed (no InitDone); the store will never be ready');
}

function labelPredicate<K extends KubeObject>(selector: string | LabelSelector | LabelMatcher): (obj: Stored<K>) => boolean {
  const parsed = typeof selector === 'object' && 'matches' in selector ? selector : labelMatcher(selector);
  return (obj) => parsed.matches((obj as KubeObject).metadata?.labels);
}

/**
 * Makes an empty store: one `writer` to feed (usually through `reflector`)
 * and a `reader` to share.
 *
 * @example
 * const { reader, writer } = store<Pod>();
 * for await (const event of reflector(writer, watcher(podApi))) {
 *   if (event.type === 'InitDone') console.log(`${reader.size} pods`);
 * }
 */
export function store<K extends KubeObject, I extends string = string>(opts: StoreOptions<K, I> = {}): { reader: Store<K, I>; writer: Writer<K> } {
  const core = new StoreCore<K>(opts as StoreOptions<K>);
  return { reader: new Store(core), writer: new Writer(core) };
}
