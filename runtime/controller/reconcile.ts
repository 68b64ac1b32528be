/**
 * The reconcile contract: what your function gets (the latest stored object
 * and a context) and returns (an `Action`), and the error policy that
 * decides what follows a failure. The first thing to read about a controller.
 */
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

/** Why a key was queued: the first reason wins when repeats merge. */
export type ReconcileReason = 'object changed' | 'owned object changed' | 'related object changed' | 'requeue' | 'error retry' | 'reconcile all' | 'requested';

/** What a reconcile is told besides the object. */
export interface ReconcileContext {
  /** The object's store key (`namespace/name`, or `name`). */
  readonly key: string;
  /** Why it was queued. */
  readonly reason: ReconcileReason;
  /** Consecutive failed reconciles of this object before this one. */
  readonly failures: number;
  /** Aborted when a shutdown's deadline passes while this reconcile still runs, when this replica stops leading (`leaderElection`), or when the ring's term ends (`shard` with a `ShardTerm`): pass it to your requests. */
  readonly signal: AbortSignal;
}

/** Your reconcile: bring the world in line with `obj` (read-only: the cache's own copy) and say what next. */
export type Reconciler<K extends KubeObject> = (obj: Stored<K>, ctx: ReconcileContext) => Promise<Action> | Action;

/**
 * Decides what follows a failed reconcile. `ctx.backoffMs` is the rate
 * limiter's delay for this object (it grows with each consecutive failure);
 * the default policy requeues after it.
 */
export type ErrorPolicy<K extends KubeObject> = (error: unknown, obj: Stored<K>, ctx: ReconcileContext & { readonly backoffMs: number }) => Action;
