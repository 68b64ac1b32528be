/**
 * The shared dispatcher: one watch feeding one store and any number of
 * subscribers, so that several consumers of the same kind cost one watch and
 * one cache instead of one each.
 *
 * `storeShared()` makes the store; `reflectShared()` is the root stream: it
 * applies each event like `reflector()` and then broadcasts to every
 * subscriber the object of each `Apply` and, at each `InitDone`, every stored
 * object (after the swap, so subscribers catch up with a relist). Subscribers
 * receive the stored, frozen instances.
 *
 * - Deletes are not broadcast (as in kube-rs): a subscriber sees objects that
 *   exist; one that must react to a deletion should use finalizers or look the
 *   object up in the store.
 * - A subscriber starts at the present: it gets what is broadcast after it
 *   subscribed, with no replay. To start from the current state, read
 *   `reader.state()` first or subscribe before the root starts.
 * - A subscriber ends when the root stream ends (after draining what was
 *   already queued for it), and is removed when it stops iterating.
 *
 * What happens when a subscriber reads slower than the root produces is the
 * `lagPolicy`:
 *
 * - `'backpressure'` (default, as kube-rs): when any subscriber has
 *   `bufferSize` objects waiting, the root waits until it reads one. Nothing
 *   is dropped and every subscriber sees every object in order, but the
 *   slowest subscriber sets the pace of all — including the store, which is
 *   not updated while the root waits — and a subscriber that neither reads
 *   nor stops stalls everything.
 * - `'snapshot'`: a subscriber that falls more than `bufferSize` objects
 *   behind loses its queue; on its next read it receives a fresh snapshot of
 *   every stored object and continues live from there. The root and the
 *   other subscribers never wait, and each subscriber's queue stays within
 *   `bufferSize`; the price is that a lagging subscriber skips intermediate
 *   versions (it sees the latest state, not every change) and re-receives
 *   objects that did not change.
 */
import { Store, StoreCore, Writer } from './store.ts';
import type { StoreOptions } from './store.ts';
import type { DeepReadonly, KubeObject, WatcherEvent } from './types.ts';

/** What a dispatcher does about a subscriber that falls behind; see the module doc. */
export type LagPolicy = 'backpressure' | 'snapshot';

/** Options of `storeShared()`. */
export interface SharedStoreOptions extends StoreOptions {
  /** Objects that may wait for each subscriber (at least 1). */
  bufferSize: number;
  /** Default `'backpressure'`. */
  lagPolicy?: LagPolicy;
}

type Result<T> = IteratorResult<T, undefined>;
const DONE: Result<never> = Object.freeze({ done: true, value: undefined });

/** One subscriber's queue and iterator. */
class Subscription<T> implements AsyncIterableIterator<T, undefined> {
  private queue: T[] = [];
  /** Set when the queue overflowed (snapshot policy): the next read starts with a snapshot. */
  private lagged = false;
  private snapshot: T[] | undefined;
  private snapshotAt = 0;
  /** Reads waiting for an object; only non-empty while the queue is empty. */
  private readonly reads: ((r: Result<T>) => void)[] = [];
  /** The root, waiting for this queue to have room (backpressure policy). */
  private readonly roomWaiters: (() => void)[] = [];
  private ended = false;
  private closed = false;

  constructor(private readonly hub: Hub<T>) {}

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<Result<T>> {
    if (this.closed) return Promise.resolve(DONE);
    if (this.lagged) {
      this.lagged = false;
      this.snapshot = this.hub.snapshot();
      this.snapshotAt = 0;
    }
    if (this.snapshot) {
      if (this.snapshotAt < this.snapshot.length) return Promise.resolve({ done: false, value: this.snapshot[this.snapshotAt++]! });
      this.snapshot = undefined;
    }
    if (this.queue.length > 0) {
      const value = this.queue.shift()!;
      this.wakeRoot();
      return Promise.resolve({ done: false, value });
    }
    if (this.ended) return Promise.resolve(DONE);
    return new Promise((resolve) => this.reads.push(resolve));
  }

  /** Stops this subscription: called by `break` in a `for await`. */
  return(): Promise<Result<T>> {
    if (!this.closed) {
      this.closed = true;
      this.queue = [];
      this.snapshot = undefined;
      this.hub.remove(this);
      for (const read of this.reads.splice(0)) read(DONE);
      this.wakeRoot();
    }
    return Promise.resolve(DONE);
  }

  /** True when the root must wait before offering another object. */
  isFull(): boolean {
    return this.queue.length >= this.hub.bufferSize;
  }

  room(): Promise<void> {
    return new Promise((resolve) => this.roomWaiters.push(resolve));
  }

  offer(value: T): void {
    const read = this.reads.shift();
    if (read) return read({ done: false, value });
    if (this.lagged) return; // the snapshot taken at the next read will include this object
    if (this.hub.policy === 'snapshot' && this.isFull()) {
      this.queue = [];
      this.snapshot = undefined;
      this.lagged = true;
      return;
    }
    this.queue.push(value);
  }

  end(): void {
    this.ended = true;
    for (const read of this.reads.splice(0)) read(DONE);
  }

  private wakeRoot(): void {
    for (const wake of this.roomWaiters.splice(0)) wake();
  }
}

/** The subscriber list of one shared store. */
class Hub<T> {
  private readonly subscribers = new Set<Subscription<T>>();
  private ended = false;

  constructor(
    private readonly core: StoreCore<KubeObject>,
    readonly bufferSize: number,
    readonly policy: LagPolicy,
  ) {}

  subscribe(): Subscription<T> {
    const sub = new Subscription(this);
    if (this.ended) sub.end();
    else this.subscribers.add(sub);
    return sub;
  }

  remove(sub: Subscription<T>): void {
    this.subscribers.delete(sub);
  }

  snapshot(): T[] {
    return Array.from(this.core.live.values()) as T[];
  }

  /** Offers `value` to every subscriber; returns a promise only when it has to wait for room. */
  send(value: T): Promise<void> | undefined {
    if (this.policy === 'backpressure' && this.firstFull()) return this.sendWhenRoom(value);
    for (const sub of this.subscribers) sub.offer(value);
    return undefined;
  }

  end(): void {
    this.ended = true;
    for (const sub of this.subscribers) sub.end();
    this.subscribers.clear();
  }

  private async sendWhenRoom(value: T): Promise<void> {
    // Only the root fills queues and it is waiting here, so once a queue has room it keeps it.
    for (let full = this.firstFull(); full; full = this.firstFull()) await full.room();
    for (const sub of this.subscribers) sub.offer(value);
  }

  private firstFull(): Subscription<T> | undefined {
    for (const sub of this.subscribers) if (sub.isFull()) return sub;
    return undefined;
  }
}

let hubOf: <K extends KubeObject>(writer: SharedWriter<K>) => Hub<DeepReadonly<K>>;

/**
 * The writer of a shared store. Feed it with `reflectShared` (a plain
 * `reflector` would update the store without broadcasting).
 *
 * @example
 * const { reader, writer } = storeShared<Pod>({ bufferSize: 64 });
 * const root = reflectShared(writer, watcher(podApi));
 */
export class SharedWriter<K extends KubeObject> extends Writer<K> {
  // An ES private field keeps the hub out of the public type and makes a plain Writer not assignable here.
  readonly #hub: Hub<DeepReadonly<K>>;
  static {
    hubOf = (writer) => writer.#hub;
  }

  /** @internal use `storeShared()` */
  constructor(core: StoreCore<K>, hub: Hub<DeepReadonly<K>>) {
    super(core);
    this.#hub = hub;
  }
}

/**
 * A store reader that can also `subscribe` to the objects the root broadcasts.
 *
 * @example
 * for await (const pod of reader.subscribe()) reconcile(pod);
 */
export class SharedStore<K extends KubeObject> extends Store<K> {
  readonly #hub: Hub<DeepReadonly<K>>;

  /** @internal use `storeShared()` */
  constructor(core: StoreCore<K>, hub: Hub<DeepReadonly<K>>) {
    super(core);
    this.#hub = hub;
  }

  /**
   * A new subscription, starting at the present. It ends when the root
   * stream ends; stop it early with `break` (or `return()`).
   *
   * @example
   * const pods = reader.subscribe();
   * for await (const pod of pods) {
   *   if (pod.metadata?.labels?.app === 'web') notify(pod);
   * }
   */
  subscribe(): AsyncIterableIterator<DeepReadonly<K>, undefined> {
    return this.#hub.subscribe();
  }
}

/**
 * Makes a store whose updates can be shared with many subscribers.
 * Throws a `RangeError` when `bufferSize` is not a positive integer.
 *
 * @example
 * const { reader, writer } = storeShared<Pod>({ bufferSize: 128, lagPolicy: 'snapshot' });
 * const a = reader.subscribe();
 * const b = reader.subscribe();
 * for await (const _ of reflectShared(writer, watcher(podApi))) {}
 */
export function storeShared<K extends KubeObject>(opts: SharedStoreOptions): { reader: SharedStore<K>; writer: SharedWriter<K> } {
  const { bufferSize, lagPolicy = 'backpressure' } = opts;
  if (!Number.isInteger(bufferSize) || bufferSize < 1) {
    throw new RangeError(`kubereflect: storeShared bufferSize must be a positive integer, got ${bufferSize}`);
  }
  const core = new StoreCore<K>(opts);
  const hub = new Hub<DeepReadonly<K>>(core, bufferSize, lagPolicy);
  return { reader: new SharedStore(core, hub), writer: new SharedWriter(core, hub) };
}

/**
 * Like `reflector`, and also broadcasts to the subscribers: each `Apply`'s
 * object, and every stored object at each `InitDone`. The root must be
 * driven (iterated) for anything to happen; when it ends, throws or is
 * stopped, subscriptions end and the writer closes.
 *
 * @example
 * const { reader, writer } = storeShared<Pod>({ bufferSize: 64 });
 * const root = reflectShared(writer, watcher(podApi));
 * void (async () => { for await (const _ of root) {} })();
 * for await (const pod of reader.subscribe()) reconcile(pod);
 */
export function reflectShared<K extends KubeObject>(
  writer: SharedWriter<K>,
  stream: AsyncIterable<WatcherEvent<K>>,
): AsyncGenerator<WatcherEvent<K>, void, undefined> {
  writer.claim('reflectShared()');
  return reflectAndBroadcast(writer, hubOf(writer), stream);
}

async function* reflectAndBroadcast<K extends KubeObject>(writer: SharedWriter<K>, hub: Hub<DeepReadonly<K>>, stream: AsyncIterable<WatcherEvent<K>>) {
  try {
    for await (const event of stream) {
      writer.apply(event);
      if (event.type === 'Apply') {
        // The store froze and kept this very instance, so subscribers get the stored object.
        const wait = hub.send(event.object as DeepReadonly<K>);
        if (wait) await wait;
      } else if (event.type === 'InitDone') {
        for (const obj of hub.snapshot()) {
          const wait = hub.send(obj);
          if (wait) await wait;
        }
      }
      yield event;
    }
  } finally {
    hub.end();
    writer.close();
  }
}
