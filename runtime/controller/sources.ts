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
 * function's result for a related object — for the version the
 * subscription last handed out and for the new one, so a child that moves
 * from one owner to another (or loses its owner) reconciles both. Deletes
 * of other kinds are followed like any change, mapping the last known
 * state; a deleted primary object only forgets its fingerprint (cleaning up
 * is a finalizer's job).
 *
 * Readiness: `synced` resolves once every source's store has listed and
 * what the lists marked is queued; the controller takes no work before.
 * Failure: a source whose stream throws (the watcher recovers from server
 * errors by itself, so what ends it is for good: an index function or a
 * transform that threw, an object without a uid), or whose subscription
 * ends while the controller runs (a given store whose root stopped), is a
 * `SourceError`, reported once to the controller, which shuts down.
 */
import type { ListWatch } from '../client/api.ts';
import {
  type SharedStore,
  reflectShared,
  rootEnding,
  storeShared,
  type SharedSubscription,
  type SharedWriter,
  type SubscribeOptions,
} from '../cache/shared-store.ts';
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
import type { ControllerOptions, OwnsOptions, ReconcileTarget, SourceHealth, WatchesOptions } from './options.ts';
import type { WorkQueue } from './queue.ts';
import { priorityOf, type ReconcileReason } from './reconcile.ts';

/** The options of a low-priority add due now (one object, not one per add). */
const LOW = { priority: 'low' } as const;

/** Which input of a controller a source is: its primary kind, an `owns()` or a `watches()`. */
export type SourceRole = 'primary' | 'owns' | 'watches';

/**
 * A source of a controller failed for good, so its cache would stay frozen:
 * the stream feeding its store threw (an index function or a transform that
 * threw, an object without a uid or resourceVersion), or the store it was
 * given stopped (its root stream ended) while the controller ran. The
 * controller then shuts down, and `run()` rejects with this error.
 *
 * @example
 * try {
 *   await ctl.run(reconcile);
 * } catch (err) {
 *   if (err instanceof SourceError) console.error(`${err.role} ${err.resource} failed:`, err.cause);
 *   process.exit(1);
 * }
 */
export class SourceError extends KubeError {
  override name = 'SourceError';
  override readonly code = 'ERR_KUBE_SOURCE';
  /** Which input failed. */
  readonly role: SourceRole;
  /** Its resource: the plural, with the group outside the core group (`widgets.demo.kubereflect.dev`). */
  readonly resource: string;

  /** The `role` source of `resource` of controller `controller` failed; `thrown` is what its stream threw, if it threw. */
  constructor(controller: string, role: SourceRole, resource: string, thrown: { error: unknown } | undefined) {
    const why = thrown
      ? thrown.error instanceof Error
        ? thrown.error.message
        : String(thrown.error)
      : 'the stream feeding its store ended while the controller ran';
    super(`kubereflect: ${controller}: the ${role} ${resource} source failed for good: ${why}`, thrown ? { cause: thrown.error } : undefined);
    this.role = role;
    this.resource = resource;
  }
}

/** One source: its store and subscription, how a change maps to keys, and the watch when the controller runs it. */
interface Input {
  role: SourceRole;
  resource: ResourceDescriptor;
  reader: SharedStore<KubeObject>;
  subscribe(opts: SubscribeOptions): SharedSubscription<KubeObject>;
  /** Keys of primary objects to reconcile for a change of `obj`. */
  map(obj: Stored<KubeObject>): Iterable<string>;
  reason: ReconcileReason;
  /** Set when the source failed for good. */
  failed?: SourceError;
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
  private readonly subscriptions: SharedSubscription<KubeObject>[] = [];

  /** Sets up the primary source; throws for options that contradict each other. */
  constructor(
    private readonly name: string,
    api: ListWatch<K>,
    private readonly opts: ControllerOptions<K, S>,
    private readonly queue: WorkQueue<ReconcileReason>,
    private readonly metrics: ControllerMetrics,
    private readonly logger: Logger,
    /** Told once per source that fails for good, while the controller runs. */
    private readonly onFailure: (error: SourceError) => void,
  ) {
    let config =
      opts.transform && dropsManagedFields(opts.transform) ? { ...opts.watcher, stripManagedFields: opts.watcher?.stripManagedFields ?? true } : opts.watcher;
    const shard = shardRangeOf(opts.shard);
    if (shard && opts.store) throw new KubeError(`kubereflect: ${name}: shard and store do not go together (shard the store you drive instead)`);
    if (shard) config = { ...config, shardSelector: config?.shardSelector ?? shard.selector() };
    const inShard = shard ? (obj: KubeObject) => shard.has(obj.metadata?.uid ?? '') : undefined;
    const primary = source<S>(api as unknown as ListWatch<S>, opts.store, config, opts.transform as ((obj: KubeObject) => KubeObject) | undefined, inShard);
    this.reader = primary.reader;
    this.primary = { ...primary.input, role: 'primary', reason: 'object changed', map: (obj) => [keyFor(obj.metadata.name, obj.metadata.namespace)] };
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
      role: 'owns',
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
      role: 'watches',
      reason: 'related object changed',
      *map(obj) {
        for (const t of mapper(obj as Stored<C>)) yield typeof t === 'string' ? t : keyFor(t.name, t.namespace);
      },
    });
  }

  /**
   * Starts the watches the controller runs (until `stopWatches` aborts) and
   * the following of every source (until `stopping` aborts); the loops end
   * on their own, never rejecting. Hands the metrics the queue's view first
   * (`attach`): the controller starts.
   */
  start(stopWatches: AbortSignal, stopping: AbortSignal): Promise<void>[] {
    this.metrics.attach?.(this.queue.view());
    const loops: Promise<void>[] = [];
    for (const input of [this.primary, ...this.inputs]) {
      if (input.watch) loops.push(this.drive(input, stopWatches));
      loops.push(this.follow(input, input === this.primary, stopping));
    }
    return loops;
  }

  /**
   * Resolves true once every source's store has synced (listed once) and
   * what the lists marked has been followed into the queue, or false if
   * `stopping` aborts or a store closes before it synced (the source
   * failed); never rejects. Following the backlog first lets the keys the
   * last lists name merge with those already queued, instead of queuing
   * an object again while its first reconcile runs.
   */
  async synced(stopping: AbortSignal): Promise<boolean> {
    try {
      await Promise.all([this.primary, ...this.inputs].map((input) => input.reader.waitUntilReady(stopping)));
    } catch {
      return false;
    }
    // The follow loops take what is pending within microtasks; a few turns are plenty, and a busy source does not hold reconciles back.
    for (let turn = 0; turn < 10 && this.subscriptions.some((sub) => sub.pending > 0); turn++) await new Promise((resolve) => setImmediate(resolve));
    return !stopping.aborted;
  }

  /** True when every source's store has synced. */
  get isSynced(): boolean {
    return [this.primary, ...this.inputs].every((input) => input.reader.isReady());
  }

  /** Each source: its role and resource, its store's health, and its failure. */
  health(): SourceHealth[] {
    return [this.primary, ...this.inputs].map((input) => ({
      role: input.role,
      resource: resourceName(input.resource),
      store: input.reader.health(),
      failed: input.failed,
    }));
  }

  /** Ends the subscriptions: those of stores the user drives do not end with the controller's watches. */
  async end(): Promise<void> {
    for (const sub of this.subscriptions) await sub.return?.();
  }

  /** Queues `key` (merged with a queued one), after a quiet period of `debounceMs` or a delay of `delayMs`. */
  enqueue(key: string, reason: ReconcileReason, debounceMs = 0, delayMs = 0): void {
    const priority = priorityOf(reason);
    if (debounceMs > 0) this.queue.add(key, reason, { delayMs: debounceMs, debounce: true, priority });
    else this.queue.add(key, reason, delayMs > 0 ? { delayMs, priority } : priority === 'low' ? LOW : undefined);
    this.metrics.queueDepth(this.queue.depth);
  }

  /** The store of the source of `group`'s `kind` (the primary kind's first), if the controller watches that kind: where its writes show. */
  storeOf(group: string, kind: string): Store<KubeObject> | undefined {
    const primary = this.primary.resource;
    if (primary.kind === kind && primary.group === group) return this.primary.reader;
    for (const input of this.inputs) if (input.resource.kind === kind && input.resource.group === group) return input.reader;
    return undefined;
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
          logger.warn(`${this.name}: watch of ${api.resource.plural}: ${e.error.message}`, {
            controller: this.name,
            resource: api.resource.plural,
            error: e.error.message,
          });
        }
      }
    } catch (error) {
      // The watcher recovers from server and transport errors by itself: what ends it is for good (an object the store cannot keep, a transform that threw).
      if (!stopWatches.aborted) this.fail(input, { error });
    }
  }

  /**
   * Turns a source's changes into queued keys, until `stopping` aborts. For
   * a kind other than the primary, both the version this subscription was
   * last handed and the new one are mapped (the last known state for a
   * delete), so the object a child or related object named before a change
   * hears of it too.
   */
  private async follow(input: Input, primary: boolean, stopping: AbortSignal): Promise<void> {
    const subscription = input.subscribe({ previous: !primary });
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
      // Repeats merge in the queue: a key both versions name is queued once.
      this.mapAndQueue(input, e.object);
      if (e.previous !== undefined && e.previous !== e.object) this.mapAndQueue(input, e.previous);
    }
    // A subscription ends with its store's root stream: while the controller runs, that leaves its cache frozen.
    if (!stopping.aborted) this.fail(input, rootEnding(input.reader)?.thrown);
  }

  /** Marks `input` failed for good and tells the controller, once. */
  private fail(input: Input, thrown: { error: unknown } | undefined): void {
    if (input.failed) return;
    input.failed = new SourceError(this.name, input.role, resourceName(input.resource), thrown);
    this.onFailure(input.failed);
  }

  /** Queues the keys `input` maps `obj` to; a mapping that throws is logged and maps to nothing. */
  private mapAndQueue(input: Input, obj: Stored<KubeObject>): void {
    let keys: string[];
    try {
      keys = [...input.map(obj)];
    } catch (err) {
      const key = keyFor(obj.metadata.name, obj.metadata.namespace);
      this.logger.error(`${this.name}: mapping ${input.resource.plural} ${key} to objects to reconcile threw: ${(err as Error).message}`, {
        controller: this.name,
        resource: input.resource.plural,
        key,
        error: (err as Error).message,
      });
      return;
    }
    for (const key of keys) this.enqueue(key, input.reason, this.opts.debounceMs);
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
  const base = { role: 'primary' as SourceRole, resource: api.resource, reason: 'object changed' as ReconcileReason, map: () => [] };
  if (given) {
    const reader = given as unknown as SharedStore<KubeObject>;
    return { reader: given as SharedStore<C>, input: { ...base, reader, subscribe: (o) => reader.subscribe(o) } as Input };
  }
  const { reader, writer } = storeShared<C>();
  return {
    reader,
    input: {
      ...base,
      reader: reader as unknown as SharedStore<KubeObject>,
      subscribe: (o: SubscribeOptions) => (reader as unknown as SharedStore<KubeObject>).subscribe(o),
      watch: { api: api as ListWatch<KubeObject>, config, writer: writer as unknown as SharedWriter<KubeObject>, transform, keep },
    } as Input,
  };
}

/** What `owns()` keeps of a child it watches itself: its identity and owner references. */
function ownersOnly(obj: KubeObject): KubeObject {
  const m = obj.metadata ?? {};
  return { metadata: { name: m.name, namespace: m.namespace, uid: m.uid, resourceVersion: m.resourceVersion, ownerReferences: m.ownerReferences } };
}

/** A resource as kubectl names it: `configmaps`, `widgets.demo.kubereflect.dev`. */
function resourceName(resource: ResourceDescriptor): string {
  return resource.group ? `${resource.plural}.${resource.group}` : resource.plural;
}

function groupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** The events of the objects `keep` accepts (by uid, which never changes: an object never moves in or out). */
async function* only<K extends KubeObject>(events: AsyncIterable<WatcherEvent<K>>, keep: (obj: K) => boolean): AsyncGenerator<WatcherEvent<K>> {
  for await (const e of events) if (!('object' in e) || keep(e.object)) yield e;
}
