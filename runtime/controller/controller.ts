/**
 * The controller: keeps every object of one kind in line with what it asks
 * for, by calling your `reconcile` with the object as the cache holds it
 * *now* whenever it, or something related to it, changes.
 *
 * ```
 * primary watch ──┐                                   ┌─▶ reconcile(latest stored object, ctx) ─▶ Action
 * owns(child) ────┼─▶ keys ─▶ work queue (merge, one ─┤
 * watches(kind) ──┘            per key, ≤ concurrency)└─◀ requeue after / await change / error policy
 * ```
 *
 * Inputs are shared stores (`storeShared`): each source is one watch, one
 * store and a subscription, and you may pass a shared store you already
 * drive so that the controller and your own readers share one watch. The
 * primary kind's changes pass an optional predicate (e.g.
 * `predicates.generation`, so status writes do not re-trigger); children
 * map to their controlling owner through `ownerReferences` (metadata-only
 * watch by default); other kinds map through your function. Deletes reach
 * the controller: a deleted child re-triggers its owner.
 *
 * The queue (`queue.ts`) gives the guarantees: repeats merge, the same
 * object is never reconciled twice at once, at most `concurrency` at a
 * time, retries after errors back off per object (`rate-limit.ts`).
 * `shutdown` stops taking work, lets in-flight reconciles finish within a
 * deadline (then aborts their signal) and stops the watches it started.
 *
 * With `leaderElection`, reconciles start only during a term of leadership
 * (`lead`): the watches run either way, a term begins with every object
 * queued, and its end aborts the signal of the reconciles it started.
 */
import type { ListWatch } from '../client/api.ts';
import { SharedStore, reflectShared, storeShared, type SharedWriter, type SubscriberEvent } from '../cache/shared-store.ts';
import { KubeError } from '../core/errors.ts';
import type { LeaderElection } from '../scale/leader-election.ts';
import { consoleLogger, type Logger } from '../core/logger.ts';
import { keyFor } from '../core/object-ref.ts';
import { modify } from '../cache/reflector.ts';
import type { WatcherEvent } from '../core/types.ts';
import { dropsManagedFields } from '../kinds/kind.ts';
import type { Store } from '../cache/store.ts';
import type { KubeObject, PartialObjectMeta, ResourceDescriptor, Stored } from '../core/types.ts';
import { watcher, type WatcherConfig } from '../cache/watcher.ts';
import { systemClock, type Clock } from '../core/clock.ts';
import { noMetrics, type ControllerMetrics } from './metrics.ts';
import type { ControllerOptions, ControllerStats, OwnsOptions, ShutdownReport, ReconcileTarget, WatchesOptions } from './options.ts';
import { WorkQueue, type QueueItem } from './queue.ts';
import { defaultRateLimiter, type RateLimiter } from './rate-limit.ts';
import { Action, type ErrorPolicy, type ReconcileContext, type ReconcileReason, type Reconciler } from './reconcile.ts';

interface Input {
  resource: ResourceDescriptor;
  subscribe(): AsyncIterableIterator<SubscriberEvent<KubeObject>, undefined>;
  /** Keys of primary objects to reconcile for a change of `obj`. */
  map(obj: Stored<KubeObject>): Iterable<string>;
  reason: ReconcileReason;
  watch?: { api: ListWatch<KubeObject>; config: WatcherConfig | undefined; writer: SharedWriter<KubeObject>; transform: ((obj: KubeObject) => KubeObject) | undefined; keep?: ((obj: KubeObject) => boolean) | undefined };
}

/**
 * A controller for the objects of one kind.
 *
 * @example
 * const ctl = new Controller(Widget.api(client, allNamespaces), { predicate: predicates.generation })
 *   .owns(ConfigMap.api(client, allNamespaces));
 * process.once('SIGTERM', () => void ctl.shutdown({ deadlineMs: 10_000 }));
 * await ctl.run(async (widget, ctx) => {
 *   await applyConfigMapFor(widget, ctx.signal);
 *   return Action.awaitChange();
 * });
 */
export class Controller<K extends KubeObject, S extends KubeObject = K> {
  /** The store of the primary kind: what `reconcile` is handed objects from. */
  readonly reader: Store<S>;
  /** The controller's name (logs, metrics). */
  readonly name: string;
  private readonly primary: Input;
  private readonly inputs: Input[] = [];
  private readonly queue: WorkQueue<ReconcileReason>;
  private readonly rateLimiter: RateLimiter;
  private readonly metrics: ControllerMetrics;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly fingerprints = new Map<string, { uid: string; fingerprint: string | number }>();
  /** Reconciles started and not finished; `idle` is called when it drops to 0 (for a shutdown waiting on it). */
  private inFlight = 0;
  private idle: (() => void) | undefined;
  private readonly stopWatches = new AbortController();
  private readonly abortReconciles = new AbortController();
  /** Aborted when shutdown begins. */
  private readonly stopping = new AbortController();
  /** The signal of the reconciles started now; undefined or aborted while this replica does not lead. */
  private work: AbortSignal | undefined;
  /** Wakes the dispatch loop waiting for a term of leadership. */
  private wake: (() => void) | undefined;
  private readonly loops: Promise<void>[] = [];
  private readonly subscriptions: AsyncIterableIterator<SubscriberEvent<KubeObject>, undefined>[] = [];
  private counts = { reconciles: 0, failures: 0 };
  private lastError: ControllerStats['lastError'];
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private shuttingDown: Promise<ShutdownReport> | undefined;
  private ended: (() => void) | undefined;

  /**
   * A controller of the objects `api` lists and watches (or of `opts.store`,
   * a shared store you drive). Nothing happens until `run`.
   */
  constructor(
    api: ListWatch<K>,
    private readonly opts: ControllerOptions<K, S> = {},
  ) {
    this.name = opts.name ?? `${api.resource.kind.toLowerCase()}-controller`;
    this.clock = opts.clock ?? systemClock;
    this.queue = new WorkQueue<ReconcileReason>({ concurrency: opts.concurrency ?? 8, clock: this.clock });
    this.rateLimiter = opts.rateLimiter ?? defaultRateLimiter(this.clock);
    this.metrics = opts.metrics ?? noMetrics;
    this.logger = opts.logger ?? consoleLogger;
    if (!opts.leaderElection) this.work = this.abortReconciles.signal;
    let config = opts.transform && dropsManagedFields(opts.transform) ? { ...opts.watcher, stripManagedFields: opts.watcher?.stripManagedFields ?? true } : opts.watcher;
    const shard = opts.shard;
    if (shard && opts.store) throw new KubeError(`kubereflect: ${this.name}: shard and store do not go together (shard the store you drive instead)`);
    if (shard) config = { ...config, shardSelector: config?.shardSelector ?? shard.selector() };
    const inShard = shard ? (obj: KubeObject) => shard.has(obj.metadata?.uid ?? '') : undefined;
    const source = this.source<S>(api as unknown as ListWatch<S>, opts.store, config, opts.transform as ((obj: KubeObject) => KubeObject) | undefined, inShard);
    this.reader = source.reader;
    this.primary = { ...source.input, reason: 'object changed', map: (obj) => [keyFor(obj.metadata.name, obj.metadata.namespace)] };
  }

  /**
   * Also reconcile the owner of every child of `api`'s kind that changes or
   * is deleted: the owner reference of the primary kind (marked `controller:
   * true` unless `controllerOnly: false`), in the child's namespace. By
   * default only the children's metadata is watched.
   *
   * @example
   * ctl.owns(ConfigMap.api(client, allNamespaces)); // a deleted ConfigMap re-triggers its Widget
   */
  owns<C extends KubeObject>(api: ListWatch<C> & { metadata?(): ListWatch<PartialObjectMeta<C>> }, opts: OwnsOptions<C> = {}): this {
    this.mustBeNew('owns');
    const metadataOnly = opts.metadataOnly ?? api.metadata !== undefined;
    const lw = metadataOnly && api.metadata ? api.metadata() : api;
    // Only owner references are needed: the store the controller keeps for them holds nothing else, and managedFields are never parsed.
    const config = { ...opts.watcher, stripManagedFields: opts.watcher?.stripManagedFields ?? true };
    const { group, kind } = this.primary.resource;
    const controllerOnly = opts.controllerOnly ?? true;
    // Not sharded even when the controller is: owner references can change, so a child can move between owners; an owner outside the range finds nothing to reconcile.
    const { input } = this.source<KubeObject>(lw as ListWatch<KubeObject>, opts.store as SharedStore<KubeObject> | undefined, config, ownersOnly);
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
    return this;
  }

  /**
   * Also reconcile the objects `mapper` names whenever an object of `api`'s
   * kind changes or is deleted (for a delete, `mapper` gets its last known state).
   *
   * @example
   * ctl.watches(Secret.api(client, 'shop'), (secret) => widgetsUsing(secret.metadata.name));
   */
  watches<C extends KubeObject>(api: ListWatch<C>, mapper: (obj: Stored<C>) => Iterable<ReconcileTarget>, opts: WatchesOptions<C> = {}): this {
    this.mustBeNew('watches');
    const { input } = this.source<C>(api, opts.store, opts.watcher);
    this.inputs.push({
      ...(input as unknown as Input),
      reason: 'related object changed',
      *map(obj) {
        for (const t of mapper(obj as Stored<C>)) yield typeof t === 'string' ? t : keyFor(t.name, t.namespace);
      },
    });
    return this;
  }

  /**
   * Starts the watches and the reconciles; resolves once `shutdown` has
   * completed (or `signal` aborted and the shutdown it starts completed).
   * Call it once.
   *
   * @example
   * const done = ctl.run(reconcile, { signal: AbortSignal.timeout(60_000) });
   */
  run(reconcile: Reconciler<S>, opts: { signal?: AbortSignal; errorPolicy?: ErrorPolicy<S> } = {}): Promise<void> {
    this.mustBeNew('run');
    this.state = 'running';
    const errorPolicy = opts.errorPolicy ?? this.opts.errorPolicy ?? ((_e, _o, ctx) => Action.requeue(ctx.backoffMs));
    const ended = new Promise<void>((resolve) => (this.ended = resolve));
    for (const input of [this.primary, ...this.inputs]) {
      if (input.watch) this.loops.push(this.drive(input));
      this.loops.push(this.follow(input, input === this.primary));
    }
    this.loops.push(this.dispatch(reconcile, errorPolicy));
    if (this.opts.leaderElection) this.loops.push(this.lead(this.opts.leaderElection));
    if (opts.signal) {
      if (opts.signal.aborted) void this.shutdown();
      else opts.signal.addEventListener('abort', () => void this.shutdown(), { once: true });
    }
    return ended;
  }

  /**
   * Queues `target` for a reconcile now (merged with any queued one).
   *
   * @example
   * ctl.reconcile({ name: 'w1', namespace: 'shop' });
   */
  reconcile(target: ReconcileTarget): void {
    this.enqueue(typeof target === 'string' ? target : keyFor(target.name, target.namespace), 'requested');
  }

  /**
   * Queues every object in the primary store: after a change the watches
   * cannot see (an external system, a new version of the controller's logic).
   *
   * @example
   * setInterval(() => ctl.reconcileAll(), 10 * 60_000);
   */
  reconcileAll(): void {
    for (const key of this.reader.keys()) this.enqueue(key, 'reconcile all');
  }

  /**
   * Stops taking work, waits for in-flight reconciles up to `deadlineMs`
   * (default 30 s; then aborts their `ctx.signal` and stops waiting), stops
   * the election (`leaderElection`: releasing the Lease, unless reconciles
   * were abandoned — then it expires, giving them `leaseDuration` to stop),
   * stops the watches the controller started and resolves. Idempotent.
   *
   * @example
   * process.once('SIGTERM', async () => { await ctl.shutdown({ deadlineMs: 10_000 }); process.exit(0); });
   */
  shutdown(opts: { deadlineMs?: number } = {}): Promise<ShutdownReport> {
    if (this.shuttingDown) return this.shuttingDown;
    const deadlineMs = opts.deadlineMs ?? 30_000;
    this.shuttingDown = (async () => {
      this.state = 'stopping';
      this.stopping.abort();
      this.queue.close();
      this.wake?.();
      const inFlight = this.inFlight;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'deadline'>((resolve) => (timer = setTimeout(() => resolve('deadline'), deadlineMs)));
      const allDone = this.inFlight === 0 ? Promise.resolve('all' as const) : new Promise<'all'>((resolve) => (this.idle = () => resolve('all')));
      const finishedBy = await Promise.race([allDone, timedOut]);
      clearTimeout(timer);
      let abandoned = 0;
      if (finishedBy === 'deadline') {
        abandoned = this.inFlight;
        this.abortReconciles.abort(new KubeError(`kubereflect: ${this.name} shut down: the reconcile outlived the ${deadlineMs} ms deadline`));
      }
      if (this.opts.leaderElection) {
        await this.opts.leaderElection.stop({ release: abandoned === 0 });
        this.metrics.leader?.(false);
      }
      this.stopWatches.abort();
      // Subscriptions of stores the user drives do not end with our watches: end them here.
      for (const sub of this.subscriptions) await sub.return?.();
      await Promise.all(this.loops);
      this.state = 'stopped';
      this.ended?.();
      return { finished: inFlight - abandoned, abandoned };
    })();
    return this.shuttingDown;
  }

  /** Running counts: reconciles, failures, queue depth, in flight, the last error. */
  stats(): ControllerStats {
    return { ...this.counts, queueDepth: this.queue.depth, inFlight: this.queue.inFlight, lastError: this.lastError };
  }

  private mustBeNew(what: string): void {
    if (this.state !== 'new') throw new KubeError(`kubereflect: ${this.name}: ${what}() is only possible before run() (and run() only once, before shutdown())`);
  }

  /** A shared store for `api`: the one given, or a new one whose watch the controller runs. */
  private source<C extends KubeObject>(api: ListWatch<C>, given: SharedStore<C> | undefined, config: WatcherConfig | undefined, transform?: (obj: KubeObject) => KubeObject, keep?: (obj: KubeObject) => boolean) {
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

  /** Drives a watch the controller owns: applies it to its shared store; counts relists and errors. */
  private async drive(input: Input): Promise<void> {
    const { api, config, writer, transform, keep } = input.watch!;
    const signal = config?.signal ? AbortSignal.any([config.signal, this.stopWatches.signal]) : this.stopWatches.signal;
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

  /** Turns a source's changes into queued keys. */
  private async follow(input: Input, primary: boolean): Promise<void> {
    const subscription = input.subscribe();
    this.subscriptions.push(subscription);
    for await (const e of subscription) {
      if (this.state !== 'running') break;
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
        this.logger.error(`${this.name}: mapping ${input.resource.plural} ${keyFor(obj.metadata.name, obj.metadata.namespace)} to objects to reconcile threw: ${(err as Error).message}`);
        continue;
      }
      for (const key of keys) this.enqueue(key, input.reason, this.opts.debounceMs);
    }
  }

  private passes(key: string, obj: Stored<S>): boolean {
    const predicate = this.opts.predicate;
    if (!predicate) return true;
    const fingerprint = predicate(obj);
    if (fingerprint === undefined) return true;
    const seen = this.fingerprints.get(key);
    this.fingerprints.set(key, { uid: obj.metadata.uid, fingerprint });
    return seen === undefined || seen.uid !== obj.metadata.uid || seen.fingerprint !== fingerprint;
  }

  private enqueue(key: string, reason: ReconcileReason, debounceMs = 0, delayMs = 0): void {
    if (debounceMs > 0) this.queue.add(key, reason, { delayMs: debounceMs, debounce: true });
    else this.queue.add(key, reason, delayMs > 0 ? { delayMs } : undefined);
    this.metrics.queueDepth(this.queue.depth);
  }

  /**
   * Takes due keys and starts a worker for each, at most `concurrency` at
   * once (the queue's limit), only while leading. A worker goes on with the
   * next due key itself, so this loop wakes only when a key falls due while
   * a place is free.
   */
  private async dispatch(reconcile: Reconciler<S>, errorPolicy: ErrorPolicy<S>): Promise<void> {
    for (let item = await this.queue.take(); item; item = this.queue.poll() ?? (await this.queue.take())) {
      if (!this.leads()) {
        // Not leading: the key goes back and nothing starts until a term begins (which queues every object anyway).
        this.giveBack(item);
        await new Promise<void>((resolve) => (this.wake = resolve));
        continue;
      }
      void this.worker(item, reconcile, errorPolicy);
    }
  }

  /**
   * Follows the election until shutdown: each term of leadership lets the
   * dispatch loop start reconciles with the term's signal (aborted when it
   * ends) and begins with every object queued.
   */
  private async lead(election: LeaderElection): Promise<void> {
    const stopping = this.stopping.signal;
    const untilAborted = (signal: AbortSignal) => new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    const shutdown = untilAborted(stopping);
    this.metrics.leader?.(false);
    void election.run();
    while (!stopping.aborted) {
      const leading = await Promise.race([election.leading(), shutdown]);
      if (!leading || stopping.aborted) return;
      this.work = AbortSignal.any([this.abortReconciles.signal, leading]);
      this.metrics.leader?.(true);
      this.logger.info(`${this.name}: ${election.identity} leads: reconciling every object`);
      this.reconcileAll();
      this.wake?.();
      await Promise.race([untilAborted(leading), shutdown]);
      if (stopping.aborted) return; // shutdown stops the election after the reconciles in flight
      this.metrics.leader?.(false);
      this.logger.info(`${this.name}: ${election.identity} stopped leading: no reconcile starts until it leads again`);
    }
  }

  /** True while reconciles may start: always without `leaderElection`, during a term with it. */
  private leads(): boolean {
    return this.work !== undefined && !this.work.aborted;
  }

  /** Returns a taken key to the queue unreconciled. */
  private giveBack(item: QueueItem<ReconcileReason>): void {
    this.queue.done(item.key);
    this.queue.add(item.key, item.reason);
  }

  /**
   * Reconciles `item`, then each key due when the last one ends, until none
   * is or this replica no longer leads (then the key goes back, as in
   * `dispatch`); never rejects. The reconcile is awaited here, not in a
   * function of its own: one promise less per reconcile.
   */
  private async worker(first: QueueItem<ReconcileReason>, reconcile: Reconciler<S>, errorPolicy: ErrorPolicy<S>): Promise<void> {
    this.inFlight++;
    for (let item: QueueItem<ReconcileReason> | undefined = first; item; item = this.queue.doneAndPoll(item.key)) {
      const key = item.key;
      const work = this.work;
      if (!work || work.aborted) {
        this.giveBack(item);
        break;
      }
      try {
        this.metrics.queueWait(item.waitedMs / 1000);
        this.metrics.queueDepth(this.queue.depth);
        // The latest stored version, read now: never a copy from when the key was queued.
        const obj = this.reader.get(key);
        if (!obj) {
          this.rateLimiter.forget(key); // gone: nothing to reconcile, nothing to retry
          continue;
        }
        const ctx: ReconcileContext = { key, reason: item.reason, failures: this.rateLimiter.failures(key), signal: work };
        const started = this.clock.now();
        let action: Action;
        try {
          action = await reconcile(obj, ctx);
        } catch (error) {
          this.failed(error, obj, ctx, started, errorPolicy);
          continue;
        }
        this.succeeded(key, action, started);
      } catch (err) {
        // What reconcile and the error policy throw is handled above: this is a bug (a metrics or logger call threw).
        this.logger.error(`${this.name}: internal error while reconciling ${key}: ${(err as Error)?.message ?? String(err)}`);
      }
    }
    if (--this.inFlight === 0) this.idle?.();
  }

  private succeeded(key: string, action: Action, started: number): void {
    this.rateLimiter.forget(key);
    this.metrics.reconciled('success', (this.clock.now() - started) / 1000);
    this.counts.reconciles++;
    if (action?.type === 'requeue') this.queue.add(key, 'requeue', { delayMs: action.afterMs });
    else if (action?.type !== 'awaitChange') this.logger.warn(`${this.name}: reconcile of ${key} returned ${JSON.stringify(action)}, not an Action; waiting for a change`);
  }

  private failed(error: unknown, obj: Stored<S>, ctx: ReconcileContext, started: number, errorPolicy: ErrorPolicy<S>): void {
    const key = ctx.key;
    this.counts.failures++;
    this.counts.reconciles++;
    const message = error instanceof Error ? error.message : String(error);
    this.lastError = { key, message, at: Date.now() };
    this.metrics.reconciled('error', (this.clock.now() - started) / 1000);
    const backoffMs = this.rateLimiter.when(key);
    let action: Action;
    try {
      action = errorPolicy(error, obj, { ...ctx, backoffMs });
    } catch (policyError) {
      this.logger.error(`${this.name}: the error policy threw for ${key}: ${(policyError as Error).message}; retrying after ${Math.round(backoffMs)} ms`);
      action = Action.requeue(backoffMs);
    }
    this.logger.warn(`${this.name}: reconcile of ${key} failed (${ctx.failures + 1} in a row): ${message}${action.type === 'requeue' ? `; retry in ${Math.round(action.afterMs)} ms` : ''}`);
    if (action.type === 'requeue') this.queue.add(key, 'error retry', { delayMs: action.afterMs });
  }
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
