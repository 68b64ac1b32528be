/**
 * A controller's inputs: how the primary kind, the kinds it `owns()` and
 * those it `watches()` become shared stores with a subscription each, and
 * how their changes become keys on the work queue.
 *
 * Each source is a shared store: one the user drives, or one whose watch
 * the controller runs itself (`drive`). Every source is followed through a
 * subscription (`follow`): a change of a primary object queues its own key
 * if it passes the predicate (a fingerprint per key, so that e.g. a status
 * write does not re-trigger); a change of any other kind queues the keys
 * its mapping names — the controlling owner for a child, the user's
 * function's result for a related object. Deletes of other kinds are
 * followed like any change; a deleted primary object only forgets its
 * fingerprint (cleaning up is a finalizer's job).
 */
import type { ListWatch } from '../client/api.ts';
import { type SharedStore, reflectShared, storeShared, type SharedWriter, type SubscriberEvent } from '../cache/shared-store.ts';
import { KubeError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import { keyFor } from '../core/object-ref.ts';
import { modify } from '../cache/reflector.ts';
import type { KubeObject, PartialObjectMeta, ResourceDescriptor, Stored, WatcherEvent } from '../core/types.ts';
import { dropsManagedFields } from '../kinds/kind.ts';
import type { Store } from '../cache/store.ts';
import { watcher, type WatcherConfig } from '../cache/watcher.ts';
import { shardRangeOf } from './leadership.ts';
import type { ControllerMetrics } from './metrics.ts';
import type { ControllerOptions, OwnsOptions, ReconcileTarget, WatchesOptions } from './options.ts';
import type { WorkQueue } from './queue.ts';
import type { ReconcileReason } from './reconcile.ts';

/** One source: its store's subscription, how a change maps to keys, and the watch when the controller runs it. */
interface Input {
  resource: ResourceDescriptor;
  subscribe(): AsyncIterableIterator<SubscriberEvent<KubeObject>, undefined>;
  /** Keys of primary objects to reconcile for a change of `obj`. */
  map(obj: Stored<KubeObject>): Iterable<string>;
  reason: ReconcileReason;
  watch?: {
    api: ListWatch<KubeObject>;
    config: WatcherConfig | undefined;
    writer: SharedWriter<KubeObject>;
    transform: ((obj: KubeObject) => KubeObject) | undefined;
    keep?: ((obj: KubeObject) => boolean) | undefined;
  };
}

/** The sources of one controller and the entry to its queue. */
export class Sources<K extends KubeObject, S extends KubeObject> {
  /** The store of the primary kind. */
  readonly reader: Store<S>;
  private readonly primary: Input;
  private readonly inputs: Input[] = [];
  private readonly fingerprints = new Map<string, { uid: string; fingerprint: string | number }>();
  private readonly subscriptions: AsyncIterableIterator<SubscriberEvent<KubeObject>, undefined>[] = [];

  /** Sets up the primary source; throws for options that contradict each other. */
  constructor(
    private readonly name: string,
    api: ListWatch<K>,
    private readonly opts: ControllerOptions<K, S>,
    private readonly queue: WorkQueue<ReconcileReason>,
    private readonly metrics: ControllerMetrics,
    private readonly logger: Logger,
  ) {
    let config =
      opts.transform && dropsManagedFields(opts.transform) ? { ...opts.watcher, stripManagedFields: opts.watcher?.stripManagedFields ?? true } : opts.watcher;
    const shard = shardRangeOf(opts.shard);
    if (shard && opts.store) throw new KubeError(`kubereflect: ${name}: shard and store do not go together (shard the store you drive instead)`);
    if (shard) config = { ...config, shardSelector: config?.shardSelector ?? shard.selector() };
    const inShard = shard ? (obj: KubeObject) => shard.has(obj.metadata?.uid ?? '') : undefined;
    const primary = source<S>(api as unknown as ListWatch<S>, opts.store, config, opts.transform as ((obj: KubeObject) => KubeObject) | undefined, inShard);
    this.reader = primary.reader;
    this.primary = { ...primary.input, reason: 'object changed', map: (obj) => [keyFor(obj.metadata.name, obj.metadata.namespace)] };
  }

  /** Adds the children of `api`'s kind: a change maps to the owner reference of the primary kind. */
  owns<C extends KubeObject>(api: ListWatch<C> & { metadata?(): ListWatch<PartialObjectMeta<C>> }, opts: OwnsOptions<C>): void {
    const metadataOnly = opts.metadataOnly ?? api.metadata !== undefined;
    const lw = metadataOnly && api.metadata ? api.metadata() : api;
    // Only owner references are needed: the store the controller keeps for them holds nothing else, and managedFields are never parsed.
    const config = { ...opts.watcher, stripManagedFields: opts.watcher?.stripManagedFields ?? true };
    const { group, kind } = this.primary.resource;
    const controllerOnly = opts.controllerOnly ?? true;
    // Not sharded even when the controller is: owner references can change, so a child can move between owners; an owner outside the range finds nothing to reconcile.
    const { input } = source<KubeObject>(lw as ListWatch<KubeObject>, opts.store as SharedStore<KubeObject> | undefined, config, ownersOnly);
    const namespaced = this.primary.resource.namespaced;
    this.inputs.push({
      ...input,
      reason: 'owned object changed',
      *map(obj) {
        for (const ref of obj.metadata.ownerReferences ?? []) {
          if (ref.kind !== kind || groupOf(ref.apiVersion) !== group || (controllerOnly && ref.controller !== true)) continue;
          yield keyFor(ref.name, namespaced ? obj.metadata.namespace : undefined);
        }
      },
    });
  }

  /** Adds the objects of `api`'s kind: a change maps to what `mapper` names. */
  watches<C extends KubeObject>(api: ListWatch<C>, mapper: (obj: Stored<C>) => Iterable<ReconcileTarget>, opts: WatchesOptions<C>): void {
    const { input } = source<C>(api, opts.store, opts.watcher);
    this.inputs.push({
      ...(input as unknown as Input),
      reason: 'related object changed',
      *map(obj) {
        for (const t of mapper(obj as Stored<C>)) yield typeof t === 'string' ? t : keyFor(t.name, t.namespace);
      },
    });
  }

  /**
   * Starts the watches the controller runs (until `stopWatches` aborts) and
   * the following of every source (until `stopping` aborts); the loops end
   * on their own, never rejecting.
   */
  start(stopWatches: AbortSignal, stopping: AbortSignal): Promise<void>[] {
    const loops: Promise<void>[] = [];
    for (const input of [this.primary, ...this.inputs]) {
      if (input.watch) loops.push(this.drive(input, stopWatches));
      loops.push(this.follow(input, input === this.primary, stopping));
    }
    return loops;
  }

  /** Ends the subscriptions: those of stores the user drives do not end with the controller's watches. */
  async end(): Promise<void> {
    for (const sub of this.subscriptions) await sub.return?.();
  }

  /** Queues `key` (merged with a queued one), after a quiet period of `debounceMs` or a delay of `delayMs`. */
  enqueue(key: string, reason: ReconcileReason, debounceMs = 0, delayMs = 0): void {
    if (debounceMs > 0) this.queue.add(key, reason, { delayMs: debounceMs, debounce: true });
    else this.queue.add(key, reason, delayMs > 0 ? { delayMs } : undefined);
    this.metrics.queueDepth(this.queue.depth);
  }

  /** Drives a watch the controller owns: applies it to its shared store; counts relists and errors. */
  private async drive(input: Input, stopWatches: AbortSignal): Promise<void> {
    const { api, config, writer, transform, keep } = input.watch!;
    const signal = config?.signal ? AbortSignal.any([config.signal, stopWatches]) : stopWatches;
    const logger = config?.logger ?? this.logger;
    let lists = 0;
    try {
      const all = watcher(api, { logger, ...config, signal });
      const events = keep ? only(all, keep) : all;
      for await (const e of reflectShared(writer, transform ? modify(events, transform) : events)) {
        if (e.type === 'Init' && lists++ > 0) this.metrics.watchRelist(api.resource.plural);
        else if (e.type === 'Error') {
          this.metrics.watchError(api.resource.plural);
          logger.warn(`${this.name}: watch of ${api.resource.plural}: ${e.error.message}`);
        }
      }
    } catch (err) {
      // The watcher recovers from server and transport errors by itself; this is a bug or a misuse: say so.
      logger.error(`${this.name}: the watch of ${api.resource.plural} stopped: ${(err as Error).message}`);
    }
  }

  /** Turns a source's changes into queued keys, until `stopping` aborts. */
  private async follow(input: Input, primary: boolean, stopping: AbortSignal): Promise<void> {
    const subscription = input.subscribe();
    this.subscriptions.push(subscription);
    for await (const e of subscription) {
      if (stopping.aborted) break;
      const obj = e.object as Stored<S>;
      if (primary) {
        const key = keyFor(obj.metadata.name, obj.metadata.namespace);
        if (e.type === 'Delete') {
          // The object is gone: nothing to reconcile (clean up with a finalizer); forget its fingerprint.
          if (this.fingerprints.get(key)?.uid === obj.metadata.uid) this.fingerprints.delete(key);
          continue;
        }
        if (!this.passes(key, obj)) continue;
        this.enqueue(key, 'object changed', this.opts.debounceMs);
        continue;
      }
      let keys: string[];
      try {
        keys = [...input.map(obj as Stored<KubeObject>)];
      } catch (err) {
        this.logger.error(
          `${this.name}: mapping ${input.resource.plural} ${keyFor(obj.metadata.name, obj.metadata.namespace)} to objects to reconcile threw: ${(err as Error).message}`,
        );
        continue;
      }
      for (const key of keys) this.enqueue(key, input.reason, this.opts.debounceMs);
    }
  }

  /** True when the predicate's fingerprint of `obj` differs from the last one seen for its key (or there is no predicate). */
  private passes(key: string, obj: Stored<S>): boolean {
    const predicate = this.opts.predicate;
    if (!predicate) return true;
    const fingerprint = predicate(obj);
    if (fingerprint === undefined) return true;
    const seen = this.fingerprints.get(key);
    this.fingerprints.set(key, { uid: obj.metadata.uid, fingerprint });
    return seen === undefined || seen.uid !== obj.metadata.uid || seen.fingerprint !== fingerprint;
  }
}

/** A shared store for `api`: the one given, or a new one whose watch the controller runs. */
function source<C extends KubeObject>(
  api: ListWatch<C>,
  given: SharedStore<C> | undefined,
  config: WatcherConfig | undefined,
  transform?: (obj: KubeObject) => KubeObject,
  keep?: (obj: KubeObject) => boolean,
) {
  const base = { resource: api.resource, reason: 'object changed' as ReconcileReason, map: () => [] };
  if (given) {
    return { reader: given as SharedStore<C>, input: { ...base, subscribe: () => (given as unknown as SharedStore<KubeObject>).subscribe() } as Input };
  }
  const { reader, writer } = storeShared<C>();
  return {
    reader,
    input: {
      ...base,
      subscribe: () => (reader as unknown as SharedStore<KubeObject>).subscribe(),
      watch: { api: api as ListWatch<KubeObject>, config, writer: writer as unknown as SharedWriter<KubeObject>, transform, keep },
    } as Input,
  };
}

/** What `owns()` keeps of a child it watches itself: its identity and owner references. */
function ownersOnly(obj: KubeObject): KubeObject {
  const m = obj.metadata ?? {};
  return { metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, ownerReferences: m.ownerReferences } };
}

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** The events of the objects `keep` accepts (by uid, which never changes: an object never moves in or out). */
async function* only<K extends KubeObject>(events: AsyncIterable<WatcherEvent<K>>, keep: (obj: K) => boolean): AsyncGenerator<WatcherEvent<K>> {
  for await (const e of events) if (!('object' in e) || keep(e.object)) yield e;
}
