/**
 * The shared dispatcher: one watch feeding one store and any number of
 * subscribers, so that several consumers of the same kind cost one watch and
 * one cache instead of one each.
 *
 * `storeShared()` makes the store; `reflectShared()` is the root stream: it
 * applies each event like `reflector()` (including the `finalStateUnknown`
 * deletes after a relist) and tells every subscriber which keys changed.
 *
 * Each subscriber is a work queue of keys, as client-go's workqueue: a key
 * that changes is marked dirty once, however often it changes before the
 * subscriber takes it; taking a key hands out the object the store holds
 * *then* (the latest version, never a stale queued copy), or — when the
 * object is gone — a `Delete` with its last stored state. So:
 *
 * - The root never waits for a subscriber: the watch and the store go on at
 *   the server's pace however slow a subscriber is.
 * - A subscriber's memory is bounded by the live keys, not by the event
 *   rate nor by every key ever touched: one entry per live key it has not
 *   taken since it changed, plus one per object it was handed that has since
 *   been deleted (until it takes that `Delete`). An object made and deleted
 *   while the subscriber was idle leaves nothing behind. Keys are taken in
 *   the order they first became dirty, so none waits behind a hot one.
 * - Every subscriber eventually sees the latest version of every live object
 *   and a `Delete` for every object it was handed that went away (one whose
 *   name was reused by a new object — another uid — first gets a `Delete` of
 *   the old one). Intermediate versions that were overtaken before it read
 *   them are skipped, and so is an object that came and went in between.
 * - With `subscribe({ previous: true })` each event also carries the version
 *   the subscriber was last handed, which is what the store held when the key
 *   became dirty (for a clean key, the subscriber knows what the store holds).
 * - When the root stream throws, `rootEnding()` keeps what it threw, so a
 *   controller can tell a store that failed for good from one stopped.
 * - A subscriber starts with every stored object (all keys dirty once the
 *   store is ready), then hears of changes. It ends when the root stream ends
 *   (after taking the keys still dirty), and is removed when it stops iterating.
 */
import { reflectInto } from './reflector.ts';
import { Store, StoreCore, Writer } from './store.ts';
import type { StoreOptions } from './store.ts';
import type { KubeObject, Stored, WatcherEvent } from '../core/types.ts';

/**
 * What a subscriber receives: the latest stored version of an object that
 * changed, or the last stored state of one that was deleted (`finalStateUnknown`
 * when the delete was found at a relist rather than seen on the watch).
 *
 * `previous`, for a subscription made with `{ previous: true }`: the version
 * of the same object (same uid) this subscriber was last handed, so that it
 * can compare what it knew with what is now (an owner reference that moved,
 * a label that changed). Undefined for an object new to the subscriber, and
 * always for a subscription without the option. For a `Delete` it is often
 * `object` itself.
 */
export type SubscriberEvent<K extends KubeObject> =
  | { readonly type: 'Apply'; readonly object: Stored<K>; readonly previous?: Stored<K> | undefined }
  | { readonly type: 'Delete'; readonly object: Stored<K>; readonly finalStateUnknown: boolean; readonly previous?: Stored<K> | undefined };

/** Options of `SharedStore.subscribe`. */
export interface SubscribeOptions {
  /**
   * Hand out with each event the version this subscriber was last handed
   * (`previous`). Costs, per key changed and not yet taken, a reference to
   * that version (kept alive until it is taken). Default false.
   */
  previous?: boolean;
}

/**
 * A subscription to a shared store: read it with `for await` (from one loop).
 *
 * @example
 * const sub = reader.subscribe();
 * setInterval(() => console.log(`${sub.pending} pods changed and not yet handled`), 10_000);
 * for await (const event of sub) await handle(event);
 */
export interface SharedSubscription<K extends KubeObject> extends AsyncIterableIterator<SubscriberEvent<K>, undefined> {
  /** Keys waiting to be taken: the subscriber's backlog, at most one per key however often it changed. */
  readonly pending: number;
}

type Result<T> = IteratorResult<T, undefined>;
const DONE: Result<never> = Object.freeze({ done: true, value: undefined });

/** The first delete of an object this subscriber knew, since the key was last taken. */
class Gone<K> {
  constructor(
    readonly object: K,
    readonly finalStateUnknown: boolean,
    /** What the subscriber was last handed, when it keeps it. */
    readonly previous: K | undefined,
  ) {}
}

/** A dirty key whose object this subscriber was never handed: if it goes before it is taken, there is nothing to tell. */
const UNSEEN: unique symbol = Symbol('unseen');
/** A dirty key whose object this subscriber knew, when it does not keep what it was handed. */
const KNOWN: unique symbol = Symbol('known');

/**
 * One subscriber: its dirty keys and its iterator.
 *
 * What it knows rests on one invariant: for a key that is not dirty, the
 * subscriber was last handed exactly what the store holds at the key (or
 * nothing, when the key is empty). So when a key first becomes dirty, the
 * version the store held just before is the one the subscriber knows.
 */
class Subscription<K extends KubeObject> implements SharedSubscription<K> {
  /**
   * Dirty keys in the order they became dirty: `UNSEEN` for an object it
   * never saw, the version it was last handed (or `KNOWN`) for one it knew,
   * or a `Gone` for the first delete of one it knew. An unseen key that is
   * deleted leaves the map, so it holds the live keys plus the deletes of
   * objects it had been handed, never every key ever touched.
   */
  private readonly dirty = new Map<string, K | Gone<K> | typeof UNSEEN | typeof KNOWN>();
  /** A key whose new object must follow the `Delete` of the old one just handed out. */
  private carry: string | undefined;
  /** A read waiting for a key; only set while nothing is dirty. */
  private waiting: ((r: Result<SubscriberEvent<K>>) => void) | undefined;
  private ended = false;
  private closed = false;

  constructor(
    private readonly core: StoreCore<K>,
    private readonly onClose: (sub: Subscription<K>) => void,
    private readonly keepsPrevious: boolean,
  ) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  get pending(): number {
    return this.dirty.size + (this.carry === undefined ? 0 : 1);
  }

  next(): Promise<Result<SubscriberEvent<K>>> {
    if (this.closed) return Promise.resolve(DONE);
    const item = this.take();
    if (item) return Promise.resolve({ done: false, value: item });
    if (this.ended) return Promise.resolve(DONE);
    if (this.waiting) return Promise.reject(new Error('kubereflect: a subscription is read by one consumer at a time; await each next()'));
    return new Promise((resolve) => (this.waiting = resolve));
  }

  /** Stops this subscription: called by `break` in a `for await`. */
  return(): Promise<Result<SubscriberEvent<K>>> {
    if (!this.closed) {
      this.closed = true;
      this.dirty.clear();
      this.carry = undefined;
      this.onClose(this);
      this.wake(DONE);
    }
    return Promise.resolve(DONE);
  }

  /**
   * Marks `key` dirty (the root calls this for every change): `gone` for a
   * delete, else `previous`, the version the key held before (none for a new object).
   */
  mark(key: string, gone?: { object: K; finalStateUnknown: boolean }, previous?: K): void {
    if (this.carry === key) {
      // The object about to follow a Delete was never handed out: its later changes are read when it is, its delete is no news.
      if (gone) this.carry = undefined;
      return;
    }
    const pending = this.dirty.get(key);
    if (pending === undefined) {
      // Not dirty: the store held what this subscriber knows (the invariant above).
      if (gone) this.dirty.set(key, new Gone(gone.object, gone.finalStateUnknown, this.keepsPrevious ? gone.object : undefined));
      else this.dirty.set(key, previous === undefined ? UNSEEN : this.keepsPrevious ? previous : KNOWN);
    } else if (gone && !(pending instanceof Gone)) {
      // Gone before this subscriber ever saw it: nothing to tell, nothing to keep.
      if (pending === UNSEEN) this.dirty.delete(key);
      // The first delete is the one to report: it removed what this subscriber last knew.
      else this.dirty.set(key, new Gone(gone.object, gone.finalStateUnknown, pending === KNOWN ? undefined : pending));
    }
    if (this.waiting) {
      const item = this.take();
      if (item) this.wake({ done: false, value: item });
    }
  }

  end(): void {
    this.ended = true;
    if (this.dirty.size === 0 && this.carry === undefined) this.wake(DONE);
  }

  private wake(result: Result<SubscriberEvent<K>>): void {
    const waiting = this.waiting;
    this.waiting = undefined;
    waiting?.(result);
  }

  /** The next event, from the dirty keys and the store as it is now. */
  private take(): SubscriberEvent<K> | undefined {
    if (this.carry !== undefined) {
      const key = this.carry;
      this.carry = undefined;
      const current = this.core.live.get(key);
      if (current) return { type: 'Apply', object: current as Stored<K>, previous: undefined };
    }
    for (const [key, pending] of this.dirty) {
      this.dirty.delete(key);
      const current = this.core.live.get(key);
      if (pending instanceof Gone) {
        if (current === undefined || current.metadata?.uid !== pending.object.metadata?.uid) {
          if (current !== undefined) this.carry = key;
          return {
            type: 'Delete',
            object: pending.object as Stored<K>,
            finalStateUnknown: pending.finalStateUnknown,
            previous: pending.previous as Stored<K> | undefined,
          };
        }
        return { type: 'Apply', object: current as Stored<K>, previous: pending.previous as Stored<K> | undefined };
      }
      if (current !== undefined) {
        const previous = pending === UNSEEN || pending === KNOWN ? undefined : (pending as Stored<K>);
        return { type: 'Apply', object: current as Stored<K>, previous };
      }
      // Neither stored nor deleted since last taken (added and removed within one relist): nothing to say.
    }
    return undefined;
  }
}

/** The subscribers of one shared store, fed by the store's change listener. */
class Hub<K extends KubeObject> {
  private readonly subscribers = new Set<Subscription<K>>();
  /** Set when the root stream ended: with what it threw, if it threw. */
  ending: { thrown?: { error: unknown } } | undefined;
  private get ended(): boolean {
    return this.ending !== undefined;
  }

  constructor(private readonly core: StoreCore<K>) {
    core.listeners.add((key, gone, previous) => {
      for (const sub of this.subscribers) sub.mark(key, gone, previous);
    });
  }

  subscribe(opts: SubscribeOptions): Subscription<K> {
    const sub = new Subscription(this.core, (s) => this.subscribers.delete(s), opts.previous === true);
    if (this.core.ready) for (const key of this.core.live.keys()) sub.mark(key);
    if (this.ended) sub.end();
    else this.subscribers.add(sub);
    return sub;
  }

  end(thrown?: { error: unknown }): void {
    this.ending = thrown ? { thrown } : {};
    for (const sub of this.subscribers) sub.end();
    this.subscribers.clear();
  }
}

let hubOf: <K extends KubeObject>(writer: SharedWriter<K>) => Hub<K>;
let storeHub: <K extends KubeObject>(store: SharedStore<K>) => Hub<K>;

/**
 * How the root stream of `store` ended: undefined while it has not, else
 * with what it threw (an index function or a transform that threw, an
 * object without a uid), if it threw. The controller uses it to tell a
 * source that failed for good.
 * @internal not part of the public API
 */
export function rootEnding<K extends KubeObject>(store: SharedStore<K>): { readonly thrown?: { readonly error: unknown } } | undefined {
  return storeHub(store).ending;
}

/**
 * The writer of a shared store. Feed it with `reflectShared`, which also
 * ends the subscriptions when the watch ends.
 *
 * @example
 * const { reader, writer } = storeShared<Pod>();
 * const root = reflectShared(writer, watcher(podApi));
 */
export class SharedWriter<K extends KubeObject> extends Writer<K> {
  // An ES private field keeps the hub out of the public type and makes a plain Writer not assignable here.
  readonly #hub: Hub<K>;
  static {
    hubOf = (writer) => writer.#hub;
  }

  /** @internal use `storeShared()` */
  constructor(core: StoreCore<K>, hub: Hub<K>) {
    super(core);
    this.#hub = hub;
  }
}

/**
 * A store reader that can also `subscribe` to the changes of the store.
 *
 * @example
 * for await (const event of reader.subscribe()) {
 *   if (event.type === 'Apply') reconcile(event.object);
 *   else forget(event.object);
 * }
 */
export class SharedStore<K extends KubeObject> extends Store<K> {
  readonly #hub: Hub<K>;
  static {
    storeHub = (store) => store.#hub;
  }

  /** @internal use `storeShared()` */
  constructor(core: StoreCore<K>, hub: Hub<K>) {
    super(core);
    this.#hub = hub;
  }

  /**
   * A new subscription: every stored object (once the store is ready), then
   * every change, as the latest version of each changed object and a
   * `Delete` for each object that went away (none for an object that came
   * and went before this subscriber took it). With `{ previous: true }`,
   * each event also carries the version this subscriber was last handed.
   * It ends when the root stream ends; stop it early with `break` (or
   * `return()`). Read it from one loop.
   *
   * @example
   * for await (const { type, object } of reader.subscribe()) {
   *   if (type === 'Apply' && object.metadata.labels?.app === 'web') notify(object);
   * }
   * for await (const e of reader.subscribe({ previous: true })) {
   *   if (e.previous?.metadata.labels?.app !== e.object.metadata.labels?.app) relabelled(e.object);
   * }
   */
  subscribe(opts: SubscribeOptions = {}): SharedSubscription<K> {
    return this.#hub.subscribe(opts);
  }
}

/**
 * Makes a store whose changes can be shared with many subscribers.
 *
 * @example
 * const { reader, writer } = storeShared<Pod>();
 * const a = reader.subscribe();
 * const b = reader.subscribe();
 * for await (const _ of reflectShared(writer, watcher(podApi))) {}
 */
export function storeShared<K extends KubeObject>(opts: StoreOptions = {}): { reader: SharedStore<K>; writer: SharedWriter<K> } {
  const core = new StoreCore<K>(opts);
  const hub = new Hub<K>(core);
  return { reader: new SharedStore(core, hub), writer: new SharedWriter(core, hub) };
}

/**
 * Like `reflector`, and also marks each changed key dirty for every
 * subscriber. The root must be driven (iterated) for anything to happen; it
 * never waits for subscribers. When it ends, throws or is stopped,
 * subscriptions end (after their dirty keys) and the writer closes.
 *
 * @example
 * const { reader, writer } = storeShared<Pod>();
 * const root = reflectShared(writer, watcher(podApi));
 * void (async () => { for await (const _ of root) {} })();
 * for await (const event of reader.subscribe()) handle(event);
 */
export function reflectShared<K extends KubeObject>(
  writer: SharedWriter<K>,
  stream: AsyncIterable<WatcherEvent<K>>,
): AsyncGenerator<WatcherEvent<Stored<K>>, void, undefined> {
  writer.claim('reflectShared()');
  const hub = hubOf(writer);
  // The store's change listener marks the keys; nothing here waits.
  return reflectInto(writer, stream, (thrown) => hub.end(thrown));
}
