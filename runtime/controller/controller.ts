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
 * watch by default); other kinds map through your function, both for the
 * version seen before a change and the new one (a re-parented child
 * reconciles its old owner and its new one). Deletes reach the controller:
 * a deleted child re-triggers its owner. No reconcile starts before every
 * source has synced; a source that fails for good (`SourceError`) shuts the
 * controller down and `run()` rejects with it.
 *
 * The queue (`queue.ts`) gives the guarantees: repeats merge, the same
 * object is never reconciled twice at once, at most `concurrency` at a
 * time, retries after errors back off per object (`rate-limit.ts`).
 * The inputs are in `sources.ts`, the reconciles run in `workers.ts`, and
 * the terms of leadership are in `leadership.ts`; this file wires them.
 * `shutdown` stops taking work, lets in-flight reconciles finish within a
 * deadline (then aborts their signal) and stops the watches it started.
 *
 * With `leaderElection`, reconciles start only during a term of leadership
 * (`lead`): the watches run either way, a term begins with every object
 * queued, and its end aborts the signal of the reconciles it started.
 */
import type { ListWatch } from '../client/api.ts';
import { KubeError } from '../core/errors.ts';
import { consoleLogger, type Logger } from '../core/logger.ts';
import { keyFor } from '../core/object-ref.ts';
import type { Store } from '../cache/store.ts';
import type { KubeObject, PartialObjectMeta, Stored } from '../core/types.ts';
import { systemClock } from '../core/clock.ts';
import { Leadership, termOf } from './leadership.ts';
import { noMetrics } from './metrics.ts';
import type { ControllerHealth, ControllerOptions, ControllerStats, OwnsOptions, ShutdownReport, ReconcileTarget, WatchesOptions } from './options.ts';
import { WorkQueue } from './queue.ts';
import { defaultRateLimiter } from './rate-limit.ts';
import { Action, type ErrorPolicy, type ReconcileReason, type Reconciler } from './reconcile.ts';
import { type SourceError, Sources } from './sources.ts';
import { Workers } from './workers.ts';
import { Writes } from './writes.ts';

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
  private readonly queue: WorkQueue<ReconcileReason>;
  private readonly sources: Sources<K, S>;
  private readonly leadership: Leadership;
  /** The signal that ends this controller's term (`term`, a ring's `shard` term), if any. */
  private readonly term: AbortSignal | undefined;
  private readonly workers: Workers<S>;
  private readonly stopWatches = new AbortController();
  private readonly abortReconciles = new AbortController();
  /** Aborted when shutdown begins. */
  private readonly stopping = new AbortController();
  private readonly loops: Promise<void>[] = [];
  private readonly logger: Logger;
  private state: 'new' | 'running' | 'stopping' | 'stopped' = 'new';
  private shuttingDown: Promise<ShutdownReport> | undefined;
  private ended: (() => void) | undefined;
  /** The first source that failed for good while running: what `run()` rejects with. */
  private failure: SourceError | undefined;

  /**
   * A controller of the objects `api` lists and watches (or of `opts.store`,
   * a shared store you drive). Nothing happens until `run`.
   */
  constructor(
    api: ListWatch<K>,
    private readonly opts: ControllerOptions<K, S> = {},
  ) {
    this.name = opts.name ?? `${api.resource.kind.toLowerCase()}-controller`;
    const clock = opts.clock ?? systemClock;
    this.queue = new WorkQueue<ReconcileReason>({ concurrency: opts.concurrency ?? 8, clock });
    const rateLimiter = opts.rateLimiter ?? defaultRateLimiter(clock);
    const metrics = opts.metrics ?? noMetrics;
    const logger = opts.logger ?? consoleLogger;
    this.logger = logger;
    this.term = termOf(opts.term, opts.shard);
    this.leadership = new Leadership(this.name, opts.leaderElection, this.term, this.abortReconciles.signal, metrics, logger);
    this.sources = new Sources(this.name, api, opts, this.queue, metrics, logger, (error) => this.sourceFailed(error));
    this.reader = this.sources.reader;
    const sources = this.sources;
    const writes = new Writes(this.name, (group, kind) => sources.storeOf(group, kind), opts.readYourWritesMs ?? 10_000, clock, metrics, logger);
    this.workers = new Workers(this.name, this.queue, this.reader, rateLimiter, metrics, logger, clock, this.leadership, writes, opts.reconcileTimeoutMs ?? 0);
  }

  /**
   * Also reconcile the owner of every child of `api`'s kind that changes or
   * is deleted: the owner reference of the primary kind (marked `controller:
   * true` unless `controllerOnly: false`), in the child's namespace. A
   * change maps both the version of the child seen before and the new one:
   * a child re-parented from one owner to another reconciles both, and an
   * orphaned one (its reference removed) its old owner. By default only the
   * children's metadata is watched.
   *
   * @example
   * ctl.owns(ConfigMap.api(client, allNamespaces)); // a deleted ConfigMap re-triggers its Widget
   */
  owns<C extends KubeObject>(api: ListWatch<C> & { metadata?(): ListWatch<PartialObjectMeta<C>> }, opts: OwnsOptions<C> = {}): this {
    this.mustBeNew('owns');
    this.sources.owns(api, opts);
    return this;
  }

  /**
   * Also reconcile the objects `mapper` names whenever an object of `api`'s
   * kind changes or is deleted: for a change, what it names for the version
   * seen before and for the new one (so the object it named before hears of
   * it too); for a delete, what it names for the last known state.
   *
   * @example
   * ctl.watches(Secret.api(client, 'shop'), (secret) => widgetsUsing(secret.metadata.name));
   */
  watches<C extends KubeObject>(api: ListWatch<C>, mapper: (obj: Stored<C>) => Iterable<ReconcileTarget>, opts: WatchesOptions<C> = {}): this {
    this.mustBeNew('watches');
    this.sources.watches(api, mapper, opts);
    return this;
  }

  /**
   * Starts the watches, and the reconciles once every source has synced;
   * resolves once the controller has stopped: `shutdown` has completed
   * (`signal` aborting, or the term — `term`, a `shard` term — ending, starts one), every
   * reconcile it started has returned — abandoned ones too — and the
   * `leaderElection` Lease is released. If a source fails for good (its cache
   * would stay frozen), the controller shuts itself down (the default
   * deadline) and `run()` rejects with a `SourceError` naming it. Call it once.
   *
   * @example
   * const done = ctl.run(reconcile, { signal: AbortSignal.timeout(60_000) });
   */
  run(reconcile: Reconciler<S>, opts: { signal?: AbortSignal; errorPolicy?: ErrorPolicy<S> } = {}): Promise<void> {
    this.mustBeNew('run');
    this.state = 'running';
    const errorPolicy = opts.errorPolicy ?? this.opts.errorPolicy ?? ((_e, _o, ctx) => Action.requeue(ctx.backoffMs));
    const ended = new Promise<void>((resolve, reject) => (this.ended = () => (this.failure ? reject(this.failure) : resolve())));
    this.loops.push(...this.sources.start(this.stopWatches.signal, this.stopping.signal));
    this.loops.push(this.reconcileOnceSynced(reconcile, errorPolicy));
    if (this.opts.leaderElection)
      this.loops.push(
        this.leadership.lead(
          () => this.reconcileAll(),
          () => this.workers.untilIdle(),
        ),
      );
    for (const signal of [opts.signal, this.term]) {
      if (!signal) continue;
      if (signal.aborted) void this.shutdown();
      else signal.addEventListener('abort', () => void this.shutdown(), { once: true });
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
    this.sources.enqueue(typeof target === 'string' ? target : keyFor(target.name, target.namespace), 'requested');
  }

  /**
   * Queues every object in the primary store: after a change the watches
   * cannot see (an external system, a new version of the controller's logic).
   *
   * @example
   * setInterval(() => ctl.reconcileAll(), 10 * 60_000);
   */
  reconcileAll(): void {
    const sources = this.sources;
    for (const key of this.reader.keys()) sources.enqueue(key, 'reconcile all');
  }

  /**
   * Stops taking work, waits for in-flight reconciles up to `deadlineMs`
   * (default 30 s; then aborts their `ctx.signal` and stops waiting), stops
   * the election (`leaderElection`) and the watches the controller started,
   * and resolves with the report. The election keeps its Lease — renewing
   * it — until every reconcile has returned, and only then releases it: with
   * none abandoned that is before this resolves; with reconciles abandoned
   * (still running past the deadline, their signal aborted) this resolves at
   * the deadline and the Lease goes once they return, when `run()` resolves.
   * Exiting the process ends them too: its Lease then expires. Idempotent.
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
      this.leadership.wake();
      const inFlight = this.workers.inFlight;
      const idle = this.workers.untilIdle();
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'deadline'>((resolve) => (timer = setTimeout(() => resolve('deadline'), deadlineMs)));
      const finishedBy = await Promise.race([idle, timedOut]);
      clearTimeout(timer);
      let abandoned = 0;
      if (finishedBy === 'deadline') {
        abandoned = this.workers.inFlight;
        this.abortReconciles.abort(new KubeError(`kubereflect: ${this.name} shut down: the reconcile outlived the ${deadlineMs} ms deadline`));
      }
      // The election's term ends now; its work returns, and the Lease goes, once every reconcile has returned (idle).
      const released = this.leadership.stop();
      this.stopWatches.abort();
      const stopped = Promise.all([idle, released, this.sources.end(), ...this.loops]).then(() => {
        this.state = 'stopped';
        this.ended?.();
      });
      if (abandoned === 0) await stopped;
      return { finished: inFlight - abandoned, abandoned };
    })();
    return this.shuttingDown;
  }

  /** Running counts: reconciles, failures, queue depth, in flight, the last error. */
  stats(): ControllerStats {
    return { ...this.workers.counts, queueDepth: this.queue.depth, inFlight: this.queue.inFlight, lastError: this.workers.lastError };
  }

  /**
   * Whether every source has synced (reconciles start only then), which
   * source failed for good if one did, and each source's store health
   * (ready, stale, its last error): for a readiness probe.
   *
   * @example
   * app.get('/readyz', (_req, res) => void res.status(ctl.health().synced && !ctl.health().failed ? 200 : 503).end());
   */
  health(): ControllerHealth {
    return { synced: this.sources.isSynced, failed: this.failure, sources: this.sources.health() };
  }

  /** Waits until every source has synced, then takes work off the queue (what was queued meanwhile waits there, merged). */
  private async reconcileOnceSynced(reconcile: Reconciler<S>, errorPolicy: ErrorPolicy<S>): Promise<void> {
    if (!(await this.sources.synced(this.stopping.signal))) return; // shut down, or a source failed before it synced
    this.logger.info(`${this.name}: every source has synced; reconciling`, { controller: this.name });
    await this.workers.dispatch(reconcile, errorPolicy);
  }

  /** A source failed for good while running: say so, shut down, and have `run()` reject with it. */
  private sourceFailed(error: SourceError): void {
    if (this.state !== 'running' || this.failure) return;
    this.failure = error;
    this.logger.error(`${error.message}; shutting down`, { controller: this.name, source: error.role, resource: error.resource, error: error.message });
    void this.shutdown();
  }

  private mustBeNew(what: string): void {
    if (this.state !== 'new')
      throw new KubeError(`kubereflect: ${this.name}: ${what}() is only possible before run() (and run() only once, before shutdown())`);
  }
}
