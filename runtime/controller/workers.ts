/**
 * Where reconciles run: the dispatch loop takes due keys off the work queue
 * and starts a worker for each, at most the queue's concurrency at once,
 * and a worker calls the user's reconcile with the object as the store
 * holds it at that moment, then acts on the result (a requeue, a wait for a
 * change, a retry after an error with the error policy's delay).
 *
 * This is the controller's hot path, tuned for CPU per reconcile (see the
 * controller benchmark's notes): a worker goes on with the next due key
 * itself instead of going back through the dispatch loop, the reconcile is
 * awaited in the worker's own loop, and the failure path is a method of its
 * own so that it stays out of the optimised worker. Keep closures, promises
 * and lookups out of `worker`.
 */
import type { Logger } from '../core/logger.ts';
import type { Store } from '../cache/store.ts';
import type { KubeObject, Stored } from '../core/types.ts';
import type { Clock } from '../core/clock.ts';
import { giveBack, type Leadership } from './leadership.ts';
import type { ControllerMetrics } from './metrics.ts';
import type { ControllerStats } from './options.ts';
import type { QueueItem, WorkQueue } from './queue.ts';
import type { RateLimiter } from './rate-limit.ts';
import {
  Action,
  type ErrorPolicy,
  priorityOf,
  type ReconcileContext,
  type ReconcileReason,
  type Reconciler,
  ReconcileTimeoutError,
  TerminalError,
} from './reconcile.ts';
import { RECHECK_MS, type Writes } from './writes.ts';

/**
 * What a reconcile is handed as `ctx`: one object per reconcile, its
 * methods on the prototype (no closure per reconcile). `backoffMs` is set
 * for the error policy.
 */
class Context implements ReconcileContext {
  backoffMs = 0;
  constructor(
    readonly key: string,
    readonly reason: ReconcileReason,
    readonly failures: number,
    readonly signal: AbortSignal,
    private readonly writes: Writes,
  ) {}

  track<A extends object>(api: A): A {
    return this.writes.track(this.key, api);
  }

  wrote(written: KubeObject): void {
    this.writes.wrote(this.key, written);
  }
}

/** The workers of one controller and what they count. */
export class Workers<S extends KubeObject> {
  /** Reconciles ended, and those of them that threw. */
  readonly counts = { reconciles: 0, failures: 0 };
  /** The last reconcile error. */
  lastError: ControllerStats['lastError'];
  /** Reconciles started and not finished; the `idle` waiters are called when it drops to 0 (a shutdown, a term of leadership waiting on it). */
  private running = 0;
  private idle: (() => void)[] = [];

  constructor(
    private readonly name: string,
    private readonly queue: WorkQueue<ReconcileReason>,
    private readonly reader: Store<S>,
    private readonly rateLimiter: RateLimiter,
    private readonly metrics: ControllerMetrics,
    private readonly logger: Logger,
    private readonly clock: Clock,
    private readonly leadership: Leadership,
    /** What the reconciles wrote, waited for before the next reconcile of each key. */
    private readonly writes: Writes,
    /** Abort a reconcile's signal after this long, ms (0: never). */
    private readonly timeoutMs: number,
  ) {}

  /** Reconciles started and not finished. */
  get inFlight(): number {
    return this.running;
  }

  /** Resolves once no reconcile runs. */
  untilIdle(): Promise<void> {
    return this.running === 0 ? Promise.resolve() : new Promise<void>((resolve) => this.idle.push(resolve));
  }

  /**
   * Takes due keys and starts a worker for each, at most `concurrency` at
   * once (the queue's limit), only while leading; ends when the queue is
   * closed. A worker goes on with the next due key itself, so this loop
   * wakes only when a key falls due while a place is free.
   */
  async dispatch(reconcile: Reconciler<S>, errorPolicy: ErrorPolicy<S>): Promise<void> {
    for (let item = await this.queue.take(); item; item = this.queue.poll() ?? (await this.queue.take())) {
      if (!this.leadership.leads()) {
        // Not leading: the key goes back and nothing starts until a term begins (which queues every object anyway).
        giveBack(this.queue, item);
        await this.leadership.asleep();
        continue;
      }
      void this.worker(item, reconcile, errorPolicy);
    }
  }

  /**
   * Reconciles `item`, then each key due when the last one ends, until none
   * is or this replica no longer leads (then the key goes back, as in
   * `dispatch`); never rejects. The reconcile is awaited here, not in a
   * function of its own: one promise less per reconcile.
   */
  private async worker(first: QueueItem<ReconcileReason>, reconcile: Reconciler<S>, errorPolicy: ErrorPolicy<S>): Promise<void> {
    this.running++;
    for (let item: QueueItem<ReconcileReason> | undefined = first; item; item = this.queue.doneAndPoll(item.key)) {
      const key = item.key;
      const work = this.leadership.signal;
      if (!work || work.aborted) {
        giveBack(this.queue, item);
        break;
      }
      try {
        this.metrics.queueWait(item.waitedMs / 1000);
        this.metrics.queueDepth(this.queue.depth);
        // The latest stored version, read now: never a copy from when the key was queued.
        const obj = this.reader.get(key);
        if (!obj) {
          this.rateLimiter.forget(key); // gone: nothing to reconcile, nothing to retry
          this.writes.forget(key);
          continue;
        }
        if (this.writes.size > 0 && !this.writes.caughtUp(key)) {
          // The caches do not hold what the last reconcile of this object wrote yet: look again shortly (the key stays queued).
          this.queue.add(key, item.reason, { delayMs: RECHECK_MS, priority: priorityOf(item.reason), recheck: true });
          continue;
        }
        const timer = this.timeoutMs > 0 ? new AbortController() : undefined;
        const ctx = new Context(key, item.reason, this.rateLimiter.failures(key), timer ? this.timed(work, timer) : work, this.writes);
        const started = this.clock.now();
        let action: Action;
        try {
          action = await reconcile(obj, ctx);
        } catch (error) {
          this.failed(error, obj, ctx, started, errorPolicy);
          continue;
        } finally {
          if (timer) timer.abort(); // ends the timeout's timer (see `timed`)
        }
        this.succeeded(key, action, started);
      } catch (err) {
        // What reconcile and the error policy throw is handled above: this is a bug (a metrics or logger call threw).
        const message = (err as Error)?.message ?? String(err);
        this.logger.error(`${this.name}: internal error while reconciling ${key}: ${message}`, { controller: this.name, key, error: message });
      }
    }
    if (--this.running === 0 && this.idle.length > 0) for (const resolve of this.idle.splice(0)) resolve();
  }

  /**
   * `work` joined with a timeout of `timeoutMs` on the controller's clock:
   * it aborts with a `ReconcileTimeoutError` then (counted); aborting `done`
   * (when the reconcile returns) clears the timer.
   */
  private timed(work: AbortSignal, done: AbortController): AbortSignal {
    const timeout = new AbortController();
    const handle = this.clock.setTimer(() => {
      this.metrics.reconcileTimedOut?.();
      timeout.abort(new ReconcileTimeoutError(`kubereflect: ${this.name}: the reconcile outlived its ${this.timeoutMs} ms timeout`));
    }, this.timeoutMs);
    done.signal.addEventListener('abort', () => this.clock.clearTimer(handle), { once: true });
    return AbortSignal.any([work, timeout.signal]);
  }

  private succeeded(key: string, action: Action, started: number): void {
    this.rateLimiter.forget(key);
    const requeue = action?.type === 'requeue';
    // controller-runtime's results: a requeue now, a requeue after a while, or success (awaitChange, and what is not an Action).
    this.metrics.reconciled(requeue ? (action.afterMs > 0 ? 'requeue_after' : 'requeue') : 'success', (this.clock.now() - started) / 1000);
    this.counts.reconciles++;
    if (requeue) this.queue.add(key, 'requeue', { delayMs: action.afterMs, priority: 'low' });
    else if (action?.type !== 'awaitChange')
      this.logger.warn(`${this.name}: reconcile of ${key} returned ${JSON.stringify(action)}, not an Action; waiting for a change`, {
        controller: this.name,
        key,
      });
  }

  private failed(error: unknown, obj: Stored<S>, ctx: Context, started: number, errorPolicy: ErrorPolicy<S>): void {
    const key = ctx.key;
    this.counts.failures++;
    this.counts.reconciles++;
    const message = error instanceof Error ? error.message : String(error);
    this.lastError = { key, message, at: Date.now() };
    this.metrics.reconciled('error', (this.clock.now() - started) / 1000);
    if (error instanceof TerminalError) {
      // Not retried: the object is reconciled again when something changes.
      this.rateLimiter.forget(key);
      this.metrics.terminalError?.();
      this.logger.error(`${this.name}: reconcile of ${key} failed for good (a TerminalError, not retried): ${message}`, {
        controller: this.name,
        key,
        error: message,
        durationMs: Math.round(this.clock.now() - started),
      });
      return;
    }
    const backoffMs = this.rateLimiter.when(key);
    ctx.backoffMs = backoffMs;
    let action: Action;
    try {
      action = errorPolicy(error, obj, ctx);
    } catch (policyError) {
      this.logger.error(`${this.name}: the error policy threw for ${key}: ${(policyError as Error).message}; retrying after ${Math.round(backoffMs)} ms`, {
        controller: this.name,
        key,
        error: (policyError as Error).message,
        retryInMs: Math.round(backoffMs),
      });
      action = Action.requeue(backoffMs);
    }
    this.logger.warn(
      `${this.name}: reconcile of ${key} failed (${ctx.failures + 1} in a row): ${message}${action.type === 'requeue' ? `; retry in ${Math.round(action.afterMs)} ms` : ''}`,
      {
        controller: this.name,
        key,
        error: message,
        failures: ctx.failures + 1,
        durationMs: Math.round(this.clock.now() - started),
        retryInMs: action.type === 'requeue' ? Math.round(action.afterMs) : undefined,
      },
    );
    if (action.type === 'requeue') this.queue.add(key, 'error retry', { delayMs: action.afterMs, priority: 'low' });
    else this.metrics.terminalError?.();
  }
}
