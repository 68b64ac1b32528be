/**
 * The reconcile contract: what your function gets (the latest stored object
 * and a context) and returns (an `Action`), and the error policy that
 * decides what follows a failure. The first thing to read about a controller.
 */
import { KubeError } from '../core/errors.ts';
import type { KubeObject, Stored } from '../core/types.ts';

/** What a reconcile asks for next: run again after a while, or wait until something changes. */
export type Action = { readonly type: 'requeue'; readonly afterMs: number } | { readonly type: 'awaitChange' };

/** One shared value: a reconcile that returns it allocates nothing. */
const AWAIT_CHANGE: Action = Object.freeze({ type: 'awaitChange' });

/** Makers of `Action`s. */
export const Action = {
  /**
   * Reconcile this object again after `ms` (sooner if it changes meanwhile).
   *
   * @example
   * return Action.requeue(5 * 60_000); // re-check an external system every 5 minutes
   */
  requeue: (ms: number): Action => ({ type: 'requeue', afterMs: Math.max(0, ms) }),
  /**
   * Nothing more to do until the object or something related to it changes.
   *
   * @example
   * return Action.awaitChange();
   */
  awaitChange: (): Action => AWAIT_CHANGE,
};

/**
 * Why a key was queued: the first reason wins when repeats merge (a change
 * merging into low-priority work replaces its reason, see `priorityOf`).
 */
export type ReconcileReason = 'object changed' | 'owned object changed' | 'related object changed' | 'requeue' | 'error retry' | 'reconcile all' | 'requested';

/**
 * The queue priority of a reason: what the watches saw change, and
 * `reconcile()` calls, are `high`; `reconcileAll()` (each term of
 * leadership, a resync), requeues and retries after errors are `low`, so a
 * real change is not stuck behind them (docs/controller.md, "Priorities").
 *
 * @example
 * priorityOf('object changed'); // 'high'
 * priorityOf('reconcile all'); // 'low'
 */
export function priorityOf(reason: ReconcileReason): 'high' | 'low' {
  return reason === 'reconcile all' || reason === 'requeue' || reason === 'error retry' ? 'low' : 'high';
}

/**
 * Throw it from a reconcile for an error that retrying cannot fix (a spec
 * that can never be satisfied, a permanent refusal): it is logged and
 * counted (`controller_runtime_terminal_reconcile_errors_total`) but not
 * retried — the object is reconciled again only when something changes.
 * The error policy is not consulted. As controller-runtime's `TerminalError`.
 *
 * @example
 * if (!widget.spec?.color) throw new TerminalError('spec.color is required');
 */
export class TerminalError extends KubeError {
  override name = 'TerminalError';
  override readonly code = 'ERR_KUBE_TERMINAL';
}

/**
 * The reason `ctx.signal` aborts with when a reconcile outlives the
 * controller's `reconcileTimeoutMs`; a reconcile that then throws is
 * counted as timed out (`controller_runtime_reconcile_timeouts_total`) and
 * retried as any failure.
 */
export class ReconcileTimeoutError extends KubeError {
  override name = 'ReconcileTimeoutError';
  override readonly code = 'ERR_KUBE_RECONCILE_TIMEOUT';
}

/** What a reconcile is told besides the object. */
export interface ReconcileContext {
  /** The object's store key (`namespace/name`, or `name`). */
  readonly key: string;
  /** Why it was queued. */
  readonly reason: ReconcileReason;
  /** Consecutive failed reconciles of this object before this one. */
  readonly failures: number;
  /** Aborted when a shutdown's deadline passes while this reconcile still runs, when this replica stops leading (`leaderElection`), when the ring's term ends (`shard` with a `ShardTerm`), or at the `reconcileTimeoutMs`: pass it to your requests. */
  readonly signal: AbortSignal;
  /**
   * The same Api, but its writes (`create`, `replace`, `patch`,
   * `patchStatus`, `replaceStatus`, `delete`, also through `within`) are
   * remembered: the next reconcile of this object starts only once the
   * controller's caches hold what they wrote (read your own writes; see
   * `readYourWritesMs`). Writes to a kind the controller does not watch are
   * made as usual and not waited for.
   *
   * @example
   * const widgets = ctx.track(Widget.api(client, 'shop'));
   * await widgets.patchStatus(w.metadata.name, { type: 'merge', body: { status: { count: n + 1 } } });
   */
  track<A extends object>(api: A): A;
  /**
   * Remembers a write made some other way: `written` is the object as the
   * server returned it (with `apiVersion`, `kind` and its new
   * `resourceVersion`). As `track`, the next reconcile waits until the
   * cache of that kind holds it.
   *
   * @example
   * ctx.wrote(await configMaps.create(child));
   */
  wrote(written: KubeObject): void;
}

/** Your reconcile: bring the world in line with `obj` (read-only: the cache's own copy) and say what next. */
export type Reconciler<K extends KubeObject> = (obj: Stored<K>, ctx: ReconcileContext) => Promise<Action> | Action;

/**
 * Decides what follows a failed reconcile. `ctx.backoffMs` is the rate
 * limiter's delay for this object (it grows with each consecutive failure);
 * the default policy requeues after it.
 */
export type ErrorPolicy<K extends KubeObject> = (error: unknown, obj: Stored<K>, ctx: ReconcileContext & { readonly backoffMs: number }) => Action;
