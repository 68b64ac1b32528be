/**
 * What a controller reports about itself, as a small interface so that any
 * metrics library can sit behind it (`prometheus.ts` adapts it to
 * prom-client, under controller-runtime's metric names).
 *
 * Two kinds of report. Calls on the controller's path as things happen: a
 * reconcile ended, a key was taken off the queue, a watch relisted. And a
 * view of the work queue, handed over once when the controller starts
 * (`attach`), for what is cheaper to read when the metrics are collected
 * than to push at every change: the keys due, those in flight and for how
 * long, the adds and retries so far (client-go computes its unfinished-work
 * gauges the same way, at intervals, from the start times it keeps).
 */

/**
 * How a reconcile ended, as controller-runtime's `result` label names it:
 * `error` (it threw), `requeue` (it returned `Action.requeue(0)`),
 * `requeue_after` (`Action.requeue(ms)` with `ms > 0`), or `success`
 * (`Action.awaitChange()`).
 */
export type ReconcileResult = 'success' | 'error' | 'requeue' | 'requeue_after';

/**
 * The name `ReconcileResult` had before 0.3.0, when it was only `success`
 * or `error` (a requeue counted as a success).
 *
 * @deprecated Use `ReconcileResult`.
 */
export type ReconcileOutcome = ReconcileResult;

/**
 * The controller's work queue as its metrics read it when they are
 * collected. Every member is a read of the queue's own state, at most a
 * walk over the keys it holds; nothing of it costs the controller anything
 * between two reads.
 */
export interface ControllerView {
  /** The controller's `concurrency`: the most reconciles it runs at once. */
  readonly concurrency: number;
  /** Keys being reconciled now: taken off the queue and not yet done (controller-runtime's active workers). */
  readonly inFlight: number;
  /**
   * Adds so far that put a key in the queue: an add merged into an entry
   * already waiting for the same key does not count (as in client-go, where
   * an add of a key already waiting is not counted). A delayed add counts
   * when it is made, not when it falls due.
   */
  readonly adds: number;
  /** Adds so far with a delay (a requeue after a while, a retry after an error; not a debounce's quiet period), merged or not. */
  readonly retries: number;
  /**
   * Keys due and waiting for a worker, including those added again while
   * their reconcile runs; keys queued for later are not counted until they
   * fall due (client-go's depth). Walks the queued keys.
   */
  dueDepth(): number;
  /** How long the keys in flight have been in flight, seconds: their sum and the longest (both 0 with none). Walks the keys in flight. */
  inFlightSeconds(): { total: number; longest: number };
}

/**
 * The controller's measurements. Every method is called synchronously on
 * the controller's path, so keep them cheap (increment, observe, set).
 * The optional ones came later: an implementation written before them
 * still fits.
 */
export interface ControllerMetrics {
  /** A reconcile ended, after `seconds`, with `result`. */
  reconciled(result: ReconcileResult, seconds: number): void;
  /**
   * A key was taken from the queue `seconds` after it fell due (queue wait):
   * added with no delay, that is since the add; added while its previous
   * reconcile ran, since that add too.
   */
  queueWait(seconds: number): void;
  /** Keys waiting in the queue (due or not, not counting those in flight) changed to `depth`. */
  queueDepth(depth: number): void;
  /** A watch the controller runs relisted (`resource`: its plural, e.g. `configmaps`). */
  watchRelist(resource: string): void;
  /** A watch the controller runs reported an error (it recovers by itself). */
  watchError(resource: string): void;
  /**
   * Whether this replica leads, for a controller with `leaderElection`:
   * false when it starts, then at every change (a controller without an
   * election never calls it). `lease` is the election's Lease name, which
   * client-go's `leader_election_master_status` is labelled by.
   */
  leader?(leading: boolean, lease: string): void;
  /**
   * A reconcile failed and the error policy does not retry it (it returned
   * `Action.awaitChange()`): controller-runtime's terminal error. Called
   * after `reconciled('error', …)` for the same reconcile.
   */
  terminalError?(): void;
  /**
   * A reconcile outlived `reconcileTimeoutMs` (its signal aborted then):
   * controller-runtime's reconcile timeout. Called as it times out.
   */
  reconcileTimedOut?(): void;
  /**
   * A reconcile started though the caches did not yet hold what the last
   * reconcile of its object wrote, because it had waited `readYourWritesMs`
   * (a slow or stalled watch).
   */
  writesNotSeen?(): void;
  /**
   * The controller started (`run()`): `view` reads its queue from now on,
   * for the values best read when collected. Called once per run; a later
   * controller handed the same metrics replaces the view.
   */
  attach?(view: ControllerView): void;
}

/** Metrics that go nowhere: the default; spread it to implement only some (`{ ...noMetrics, reconciled: (r) => … }`). */
export const noMetrics: ControllerMetrics = {
  reconciled: () => {},
  queueWait: () => {},
  queueDepth: () => {},
  watchRelist: () => {},
  watchError: () => {},
  leader: () => {},
  terminalError: () => {},
  reconcileTimedOut: () => {},
  writesNotSeen: () => {},
  attach: () => {},
};
