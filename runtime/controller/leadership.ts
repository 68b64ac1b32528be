/**
 * When a controller may start reconciles: always without `leaderElection`,
 * only during a term of leadership with it.
 *
 * A term is an abort signal: reconciles started during it get it (joined
 * with the shutdown's), so its end aborts them. Between terms the dispatch
 * loop hands the key it took back to the queue and sleeps until woken; the
 * watches go on either way, so that a new term starts from a warm cache,
 * with every object queued.
 */
import type { LeaderElection } from '../scale/leader-election.ts';
import type { Logger } from '../core/logger.ts';
import type { ControllerMetrics } from './metrics.ts';
import type { QueueItem, WorkQueue } from './queue.ts';
import type { ReconcileReason } from './reconcile.ts';

/** The terms of one controller. */
export class Leadership {
  /** The signal of the reconciles started now; undefined or aborted while this replica does not lead. */
  private work: AbortSignal | undefined;
  /** Wakes the dispatch loop waiting for a term of leadership. */
  private wakeUp: (() => void) | undefined;

  /** Without `election`, one term that lasts until `abortReconciles` aborts. */
  constructor(
    private readonly name: string,
    private readonly election: LeaderElection | undefined,
    private readonly abortReconciles: AbortSignal,
    private readonly metrics: ControllerMetrics,
    private readonly logger: Logger,
  ) {
    if (!election) this.work = abortReconciles;
  }

  /** The signal for a reconcile started now: undefined or aborted while this replica does not lead. */
  get signal(): AbortSignal | undefined {
    return this.work;
  }

  /** True while reconciles may start: always without `leaderElection`, during a term with it. */
  leads(): boolean {
    return this.work !== undefined && !this.work.aborted;
  }

  /** Resolves at the next `wake`: when a term begins, or the controller shuts down. */
  asleep(): Promise<void> {
    return new Promise<void>((resolve) => (this.wakeUp = resolve));
  }

  /** Wakes the dispatch loop if it waits in `asleep`. */
  wake(): void {
    this.wakeUp?.();
  }

  /**
   * Follows the election until `stopping` aborts: each term of leadership
   * lets the dispatch loop start reconciles with the term's signal (aborted
   * when it ends) and begins with `reconcileAll`.
   */
  async lead(stopping: AbortSignal, reconcileAll: () => void): Promise<void> {
    const election = this.election;
    if (!election) return;
    const untilAborted = (signal: AbortSignal) =>
      new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));
    const shutdown = untilAborted(stopping);
    this.metrics.leader?.(false);
    void election.run();
    while (!stopping.aborted) {
      const leading = await Promise.race([election.leading(), shutdown]);
      if (!leading || stopping.aborted) return;
      this.work = AbortSignal.any([this.abortReconciles, leading]);
      this.metrics.leader?.(true);
      this.logger.info(`${this.name}: ${election.identity} leads: reconciling every object`);
      reconcileAll();
      this.wake();
      await Promise.race([untilAborted(leading), shutdown]);
      if (stopping.aborted) return; // shutdown stops the election after the reconciles in flight
      this.metrics.leader?.(false);
      this.logger.info(`${this.name}: ${election.identity} stopped leading: no reconcile starts until it leads again`);
    }
  }

  /**
   * Stops the election, if any: releasing the Lease when `release`, else
   * letting it expire (reconciles abandoned at a shutdown's deadline may
   * still run: the Lease's duration gives them time to stop).
   */
  async stop(release: boolean): Promise<void> {
    if (!this.election) return;
    await this.election.stop({ release });
    this.metrics.leader?.(false);
  }
}

/** Returns a taken key to the queue unreconciled (this replica does not lead). */
export function giveBack(queue: WorkQueue<ReconcileReason>, item: QueueItem<ReconcileReason>): void {
  queue.done(item.key);
  queue.add(item.key, item.reason);
}
