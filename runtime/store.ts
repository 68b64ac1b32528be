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
 * Stored objects are frozen (top level only: `Object.freeze` is cheap, a deep
 * freeze is not) and typed `DeepReadonly`, so a reader cannot change the
 * cache behind the writer's back. The store takes ownership of the objects it
 * is given: they are frozen in place.
 *
 * Memory, again: in `metadata.managedFields[*].fieldsV1` every owned field
 * ends in an empty object (`"f:name": {}`). They are about half of the
 * objects of a typical pod, and V8 spends ~56 bytes on each, so with
 * `shareManagedFieldLeaves` (the default) the store replaces them with one
 * shared, frozen empty object: the same JSON, ~40% less heap for full pods.
 *
 * Keys are `Map` keys (`namespace/name`), so names such as `__proto__` or
 * `constructor` are ordinary names here.
 */
import { AbortedError, KubeError } from './errors.ts';
import { parseLabelSelector } from './labels.ts';
import type { LabelSelector } from './labels.ts';
import { objectKey } from './object-ref.ts';
import type { ObjectRef } from './object-ref.ts';
import type { DeepReadonly, KubeObject, WatcherEvent } from './types.ts';

/** Options of `store()`. */
export interface StoreOptions {
  /** Freeze stored objects (top level). Default true. */
  freeze?: boolean;
  /** On a relist, keep the stored instance of an object whose uid and resourceVersion are unchanged. Default true. */
  reuseUnchanged?: boolean;
  /** Replace the empty objects that end `managedFields` trees with one shared, frozen `{}` (see the module doc). Default true. */
  shareManagedFieldLeaves?: boolean;
}

/** How to name an object to `Store.get`: a reference, a name (plus namespace), or a `namespace/name` key. */
export type StoreLookup<K extends KubeObject> =
  | ObjectRef<K>
  | { name: string; namespace?: string | undefined; kind?: never }
  | string;

/**
 * The state a writer and its readers share.
 * @internal exported for `dispatcher.ts`; not part of the public API.
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
  readonly freeze: boolean;
  readonly reuseUnchanged: boolean;
  readonly shareManagedFieldLeaves: boolean;

  constructor(opts: StoreOptions = {}) {
    this.freeze = opts.freeze ?? true;
    this.reuseUnchanged = opts.reuseUnchanged ?? true;
    this.shareManagedFieldLeaves = opts.shareManagedFieldLeaves ?? true;
  }
}

/**
 * The single writer of a store. Not shareable: a reflector `claim`s it, and a
 * second claim throws, so two watches can never fight over one cache.
 *
 * @example
 * const { reader, writer } = store<Pod>();
 * writer.apply({ type: 'Apply', object: pod });
 */
export class Writer<K extends KubeObject> {
  /** @internal use `store()` */
  constructor(protected readonly core: StoreCore<K>) {}

  /**
   * Applies one watcher event. Throws if the writer is closed, or if an
   * object has no `metadata.name`.
   *
   * @example
   * for (const event of [{ type: 'Init' }, { type: 'InitApply', object: pod }, { type: 'InitDone' }] as const) {
   *   writer.apply(event);
   * }
   */
  apply(event: WatcherEvent<K>): void {
    const core = this.core;
    if (core.closed) throw new Error('kubereflect: cannot apply an event to a closed store writer');
    switch (event.type) {
      case 'Init':
        core.buffer = new Map();
        break;
      case 'InitApply': {
        const key = objectKey(event.object);
        core.buffer ??= new Map();
        core.buffer.set(key, this.reusable(key, event.object) ?? this.own(event.object));
        break;
      }
      case 'InitDone':
        // An InitDone without Init means an empty list: the whole truth is "nothing".
        core.live = core.buffer ?? new Map();
        core.buffer = undefined;
        if (!core.ready) this.becomeReady();
        break;
      case 'Apply':
        // Straight into the live map; a watcher sends no Apply between Init and InitDone.
        core.live.set(objectKey(event.object), this.own(event.object));
        break;
      case 'Delete':
        core.live.delete(objectKey(event.object));
        break;
      case 'Error':
        break; // the watcher recovers by itself; the cache stays as it was
    }
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
      throw new Error(`kubereflect: this store writer is already claimed by ${this.core.owner}; a store has exactly one writer (use storeShared() to share one watch)`);
    }
    this.core.owner = owner;
  }

  /**
   * Closes the writer: no more events will come. The contents stay readable;
   * `waitUntilReady` rejects if the store never became ready. Idempotent.
   *
   * @example
   * try { for await (const e of stream) writer.apply(e); } finally { writer.close(); }
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
    if (this.core.shareManagedFieldLeaves) shareManagedFieldLeaves(obj);
    return this.core.freeze ? Object.freeze(obj) : obj;
  }
}

const EMPTY_LEAF: Readonly<Record<string, never>> = Object.freeze({});

/** Points every empty object inside `metadata.managedFields[*].fieldsV1` at one shared frozen `{}`. */
function shareManagedFieldLeaves(obj: KubeObject): void {
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
export class Store<K extends KubeObject> {
  /** @internal use `store()` */
  constructor(protected readonly core: StoreCore<K>) {}

  /**
   * The object named by a reference, a `{ name, namespace }`, or a key.
   *
   * @example
   * reader.get(ObjectRef.fromObject(pod, pods));
   * reader.get({ name: 'worker-1' }); // cluster-scoped
   * reader.get('shop/web-0');
   */
  get(lookup: StoreLookup<K>): DeepReadonly<K> | undefined {
    const key = typeof lookup === 'string' ? lookup : `${lookup.namespace ?? ''}/${lookup.name}`;
    return this.core.live.get(key) as DeepReadonly<K> | undefined;
  }

  /**
   * A snapshot of every stored object, in no particular order. Later writes do not change the array.
   *
   * @example
   * const names = reader.state().map((p) => p.metadata?.name);
   */
  state(): DeepReadonly<K>[] {
    return Array.from(this.core.live.values()) as DeepReadonly<K>[];
  }

  /**
   * The first object that satisfies `predicate`.
   *
   * @example
   * const leader = reader.find((p) => p.metadata?.labels?.role === 'leader');
   */
  find(predicate: (obj: DeepReadonly<K>) => boolean): DeepReadonly<K> | undefined {
    for (const obj of this.core.live.values()) if (predicate(obj as DeepReadonly<K>)) return obj as DeepReadonly<K>;
    return undefined;
  }

  /**
   * The objects that satisfy a predicate or match a label selector (the
   * server's syntax, see `labels.ts`; a bad selector throws `LabelSelectorError`).
   *
   * @example
   * reader.filter('app=web,env in (prod,staging),!legacy');
   * reader.filter((p) => p.status?.phase === 'Running');
   */
  filter(selector: ((obj: DeepReadonly<K>) => boolean) | string | LabelSelector): DeepReadonly<K>[] {
    const predicate = typeof selector === 'function' ? selector : labelPredicate<K>(selector);
    const out: DeepReadonly<K>[] = [];
    for (const obj of this.core.live.values()) if (predicate(obj as DeepReadonly<K>)) out.push(obj as DeepReadonly<K>);
    return out;
  }

  /** The number of stored objects. */
  get size(): number {
    return this.core.live.size;
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
   * Rejects with a `KubeError` if the writer closes before that, or with an
   * `AbortedError` if `signal` aborts first.
   *
   * @example
   * await reader.waitUntilReady(AbortSignal.timeout(30_000));
   */
  waitUntilReady(signal?: AbortSignal): Promise<void> {
    const core = this.core;
    if (core.ready) return Promise.resolve();
    if (core.closed) return Promise.reject(neverReady());
    if (signal?.aborted) return Promise.reject(new AbortedError('kubereflect: waitUntilReady aborted', { cause: signal.reason }));
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        core.waiters.delete(waiter);
        reject(new AbortedError('kubereflect: waitUntilReady aborted', { cause: signal?.reason }));
      };
      const waiter = {
        resolve: () => (signal?.removeEventListener('abort', onAbort), resolve()),
        reject: (e: Error) => (signal?.removeEventListener('abort', onAbort), reject(e)),
      };
      core.waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
}

function neverReady(): KubeError {
  return new KubeError('kubereflect: the store writer was closed before the first list completed (no InitDone); the store will never be ready');
}

function labelPredicate<K extends KubeObject>(selector: string | LabelSelector): (obj: DeepReadonly<K>) => boolean {
  const parsed = typeof selector === 'string' ? parseLabelSelector(selector) : selector;
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
export function store<K extends KubeObject>(opts: StoreOptions = {}): { reader: Store<K>; writer: Writer<K> } {
  const core = new StoreCore<K>(opts);
  return { reader: new Store(core), writer: new Writer(core) };
}
