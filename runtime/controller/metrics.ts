/**
 * What a controller reports about itself, as a small interface so that any
 * metrics library can sit behind it (`prometheus.ts` adapts it to
 * prom-client).
 */

/** How a reconcile ended. */
export type ReconcileOutcome = 'success' | 'error';

/**
 * The controller's measurements. Every method is called synchronously on
 * the controller's path, so keep them cheap (increment, observe, set).
 */
export interface ControllerMetrics {
  /** A reconcile ended, after `seconds`. */
  reconciled(result: ReconcileOutcome, seconds: number): void;
  /** A key was taken from the queue `seconds` after it fell due (queue wait). */
  queueWait(seconds: number): void;
  /** Keys waiting in the queue (not counting those in flight) changed to `depth`. */
  queueDepth(depth: number): void;
  /** A watch the controller runs relisted (`resource`: its plural, e.g. `configmaps`). */
  watchRelist(resource: string): void;
  /** A watch the controller runs reported an error (it recovers by itself). */
  watchError(resource: string): void;
  /**
   * Whether this replica leads, for a controller with `leaderElection`:
   * false when it starts, then at every change (a controller without an
   * election never calls it). Optional, so that implementations written
   * before it still fit.
   */
  leader?(leading: boolean): void;
}

/** Metrics that go nowhere: the default. */
export const noMetrics: ControllerMetrics = {
  reconciled: () => {},
  queueWait: () => {},
  queueDepth: () => {},
  watchRelist: () => {},
  watchError: () => {},
  leader: () => {},
};
