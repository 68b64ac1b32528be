/**
 * How a `Controller` is configured and what it reports: its options, those
 * of `owns()` and `watches()`, the objects `reconcile()` can name, its
 * running counts and the report of a shutdown.
 */
import type { LeaderElection } from '../scale/leader-election.ts';
import type { ShardRange } from '../scale/shard-range.ts';
import type { ShardTerm } from '../scale/shard-ring.ts';
import type { SharedStore } from '../cache/shared-store.ts';
import type { Logger } from '../core/logger.ts';
import type { ObjectRef } from '../core/object-ref.ts';
import type { Predicate } from '../cache/reflector.ts';
import type { StoreHealth } from '../cache/store.ts';
import type { KubeObject, PartialObjectMeta, Stored } from '../core/types.ts';
import type { WatcherConfig } from '../cache/watcher.ts';
import type { Clock } from '../core/clock.ts';
import type { ControllerMetrics } from './metrics.ts';
import type { RateLimiter } from './rate-limit.ts';
import type { ErrorPolicy } from './reconcile.ts';
import type { SourceError, SourceRole } from './sources.ts';

/** Options of a `Controller`. */
export interface ControllerOptions<K extends KubeObject, S extends KubeObject = K> {
  /** Names the controller in logs and metrics (default `<kind>-controller`, lower case). */
  name?: string;
  /** Reconciles running at once, at most (default 8). Never two of the same object. */
  concurrency?: number;
  /** Quiet period: a change is reconciled once the object has had no other change for this long, ms (default 0). */
  debounceMs?: number;
  /**
   * Only changes of the primary object for which this fingerprint differs
   * from the last one seen for it are reconciled. `predicates.generation`
   * skips status-only updates, so a reconcile that writes status does not
   * trigger itself forever. Owned and related objects, requeues and retries
   * always pass.
   */
  predicate?: Predicate<Stored<NoInfer<S>>>;
  /**
   * Read your own writes: after a reconcile whose writes were remembered
   * (`ctx.track(api)`, `ctx.wrote(obj)`), the next reconcile of the same
   * object waits until the controller's caches hold them — at most this
   * long, ms (default 10,000; then it runs anyway, counted in
   * `kubereflect_controller_writes_not_seen_total` and logged once). 0
   * remembers nothing. See docs/controller.md, "Reading your own writes".
   */
  readYourWritesMs?: number;
  /**
   * Abort a reconcile's `ctx.signal` once it has run this long, ms (default:
   * never), with a `ReconcileTimeoutError` as the reason; counted in
   * `controller_runtime_reconcile_timeouts_total`. A reconcile that then
   * throws is retried as any failure. As controller-runtime's
   * `ReconciliationTimeout`.
   */
  reconcileTimeoutMs?: number;
  /** Delays before retries after errors (default `defaultRateLimiter()`: per object 5 ms → 1,000 s, overall 10/s). */
  rateLimiter?: RateLimiter;
  /** What follows a failed reconcile (default: requeue after the rate limiter's delay). */
  errorPolicy?: ErrorPolicy<NoInfer<S>>;
  /** The primary watch's configuration (selectors, page size, backoff…), when the controller runs it. */
  watcher?: WatcherConfig;
  /**
   * What the controller's own watch stores of each primary object, e.g.
   * `Widget.prune({ metadata: { managedFields: true } })`: reconcile gets
   * the result. A projection that drops managedFields also has the watch
   * cut them before parsing.
   */
  transform?: (obj: K) => S;
  /**
   * Use this shared store of the primary kind (which you drive; it may hold
   * pruned objects) instead of starting a watch. Reconciles wait until it
   * has synced; if its root stream ends while the controller runs, the
   * controller stops with a `SourceError`.
   */
  store?: SharedStore<S>;
  /**
   * Reconcile only the objects whose uid hashes into a range: the primary
   * watch asks the server for the range and filters it too. Children
   * (`owns()`) and related objects (`watches()`) are watched whole (owner
   * references can change); the keys they map to outside the range find
   * nothing to reconcile. Not with `store` (shard the store you drive
   * instead).
   *
   * - A `ShardTerm` — what `ShardRing.run` hands its work — is the range of a
   *   ring member's term, and the controller follows the term: when its
   *   signal aborts (the range moved, the member stops, or its renew
   *   deadline passed) no reconcile starts any more, the `ctx.signal` of
   *   those in flight aborts, the controller shuts itself down, and `run()`
   *   resolves once every reconcile has returned — so a ring whose work is
   *   `(term) => new Controller(api, { shard: term }).run(reconcile)` hands
   *   the range over only after the last reconcile on it has ended (see
   *   docs/scale-out.md).
   * - A `ShardRange` is a fixed range, for sharding you assign yourself.
   *
   * A new range needs a new controller: the objects that left are not
   * deleted, so no finalizer runs for them.
   *
   * @example
   * await ring.run((term) => new Controller(Widget.api(client, 'shop'), { shard: term }).run(reconcile));
   */
  shard?: ShardRange | ShardTerm;
  /**
   * A term to work in: reconciles start only until this signal aborts; then
   * no reconcile starts any more, the `ctx.signal` of those in flight aborts,
   * the controller shuts itself down, and `run()` resolves once every
   * reconcile has returned. The work a `LeaderElection` hands out is such a
   * term, so `election.run((leading) => new Controller(api, { term: leading,
   * store }).run(reconcile))` gives the Lease back only after the last
   * reconcile of the term has ended — the `Manager` runs its controllers so.
   * Combines with `shard` (either ending ends the term).
   *
   * @example
   * await election.run((leading) => new Controller(widgets, { term: leading, store: warmWidgets }).run(reconcile));
   */
  term?: AbortSignal;
  /**
   * Reconcile only while this replica leads this election (one active
   * replica of several, see docs/scale-out.md). The controller runs the
   * election with `run()` — do not call the election's `run()` yourself — and
   * stops it with `shutdown()`. Its watches run and its caches stay warm
   * whether it leads or not, but no reconcile starts unless it leads. When
   * leadership ends (lost, or the renew deadline passed) it starts nothing
   * more at once and aborts the `ctx.signal` of the reconciles in flight;
   * each time it starts leading it reconciles every object (`reconcileAll`).
   * The Lease is held (and renewed, while that succeeds) until every
   * reconcile has returned: a shutdown releases it only then, and after a
   * lost term the replica campaigns again only then. Leadership changes
   * reach the election's callbacks and `metrics.leader`. One controller per
   * election.
   *
   * @example
   * const election = new LeaderElection(client, { namespace: 'shop', name: 'widget-operator' });
   * new Controller(Widget.api(client, 'shop'), { leaderElection: election });
   */
  leaderElection?: LeaderElection;
  /** Where measurements go (default nowhere; see `prometheusMetrics`). */
  metrics?: ControllerMetrics;
  /** Reconcile errors and watch errors are logged here (default `consoleLogger`). */
  logger?: Logger;
  /** Time source of the queue and the default rate limiter. */
  clock?: Clock;
}

/** Options of `owns`. */
export interface OwnsOptions<C extends KubeObject> {
  /**
   * Watch only the children's metadata (default true when the Api offers
   * `metadata()`): owner references are all that is needed. Either way, the
   * store the controller keeps of the children holds only their identity and
   * owner references, and `metadata.managedFields` is cut before parsing.
   */
  metadataOnly?: boolean;
  /** Map only through the owner reference marked `controller: true` (default true), as controller-runtime does. */
  controllerOnly?: boolean;
  /** The child watch's configuration, when the controller runs it. */
  watcher?: WatcherConfig;
  /** Use this shared store of the children (which you drive) instead of starting a watch; as `ControllerOptions.store`, it must sync and keep running. */
  store?: SharedStore<C> | SharedStore<PartialObjectMeta<C>>;
}

/** Options of `watches`. */
export interface WatchesOptions<C extends KubeObject> {
  /** The watch's configuration, when the controller runs it. */
  watcher?: WatcherConfig;
  /** Use this shared store (which you drive) instead of starting a watch; as `ControllerOptions.store`, it must sync and keep running. */
  store?: SharedStore<C>;
}

/** Names an object of the primary kind: a reference, `{ name, namespace }`, or a store key. */
export type ReconcileTarget = ObjectRef<KubeObject> | { readonly name: string; readonly namespace?: string | undefined } | string;

/** Running counts, for a status page or a live view. */
export interface ControllerStats {
  /** Reconciles ended, successful or not. */
  readonly reconciles: number;
  /** Reconciles that threw. */
  readonly failures: number;
  /** Keys waiting. */
  readonly queueDepth: number;
  /** Reconciles running. */
  readonly inFlight: number;
  /** The last reconcile error: the object's key, the message, and when (ms since the epoch). */
  readonly lastError: { readonly key: string; readonly message: string; readonly at: number } | undefined;
}

/** What `Controller.health()` says: whether its sources have synced, and whether one failed. */
export interface ControllerHealth {
  /** True once every source (the primary kind, each `owns()` and `watches()`) has listed once: reconciles start only then. */
  readonly synced: boolean;
  /** The first source that failed for good, which shut the controller down (`run()` rejects with it); undefined while none has. */
  readonly failed: SourceError | undefined;
  /** Each source, the primary kind first, then in the order they were added. */
  readonly sources: readonly SourceHealth[];
}

/** One source of a controller, as `Controller.health()` reports it. */
export interface SourceHealth {
  /** Which input: the primary kind, an `owns()` or a `watches()`. */
  readonly role: SourceRole;
  /** Its resource: the plural, with the group outside the core group (`widgets.demo.kubereflect.dev`). */
  readonly resource: string;
  /** Its store's health: `ready` once it has listed, `stale` while its watch keeps failing, the last error. */
  readonly store: StoreHealth;
  /** Set when it failed for good. */
  readonly failed: SourceError | undefined;
}

/** What `shutdown` reports. */
export interface ShutdownReport {
  /** Reconciles that were running when shutdown began and finished before the deadline. */
  readonly finished: number;
  /** Reconciles still running at the deadline: their signal was aborted and they were not waited for further. */
  readonly abandoned: number;
}
