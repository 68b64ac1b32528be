/**
 * When a controller may start reconciles: always without `leaderElection`
 * or a ring's `shard` term; with `leaderElection` only during a term of
 * leadership; with a `shard` term (a `ShardTerm` of `ShardRing.run`) only
 * until that term's signal aborts.
 *
 * A term is an abort signal: reconciles started during it get it (joined
 * with the shutdown's), so its end aborts them. Between terms the dispatch
 * loop hands the key it took back to the queue and sleeps until woken; the
 * watches go on either way, so that a new term starts from a warm cache,
 * with every object queued.
 *
 * The Lease outlives the reconciles: the work a controller hands its
 * election returns only once every reconcile has returned, so the election
 * keeps (and renews) its Lease until then — at a lost term, and at a
 * shutdown whose deadline abandoned reconciles that ignore their signal.
 * The same holds for a ring's claim: `run()` resolves only once every
 * reconcile has returned, and the ring withdraws the claim only after the
 * work it handed out (the controller's `run()`) has settled.
 */
import type { LeaderElection } from '../scale/leader-election.ts';
import { ShardRange } from '../scale/shard-range.ts';
import type { ShardTerm } from '../scale/shard-ring.ts';
import type { Logger } from '../core/logger.ts';
import type { ControllerMetrics } from './metrics.ts';
import type { QueueItem, WorkQueue } from './queue.ts';
import { priorityOf, type ReconcileReason } from './reconcile.ts';

/** The range of a controller's `shard` option, whether a fixed range or a ring's term. */
export function shardRangeOf(shard: ShardRange | ShardTerm | undefined): ShardRange | undefined {
  return shard === undefined || shard instanceof ShardRange ? shard : shard.range;
}

/** The ring's term of a controller's `shard` option, if it is one. */
export function shardTermOf(shard: ShardRange | ShardTerm | undefined): ShardTerm | undefined {
  return shard === undefined || shard instanceof ShardRange ? undefined : shard;
}

/** The signal that ends a controller's term: its `term` option, a ring's term (`shard`), both, or none. */
export function termOf(term: AbortSignal | undefined, shard: ShardRange | ShardTerm | undefined): AbortSignal | undefined {
  const ring = shardTermOf(shard)?.signal;
  return term && ring ? AbortSignal.any([term, ring]) : (term ?? ring);
}

const untilAborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) => (signal.aborted ? resolve() : signal.addEventListener('abort', () => resolve(), { once: true })));

/** The terms of one controller. */
export class Leadership {
  /** What every reconcile's signal joins: the shutdown's deadline, and a ring's term (`shard`). */
  private readonly base: AbortSignal;
  /** The signal of the reconciles started now; undefined or aborted while this replica may not start any. */
  private work: AbortSignal | undefined;
  /** Wakes the dispatch loop waiting for a term of leadership. */
  private wakeUp: (() => void) | undefined;

  /** Without `election`, one term that lasts until `abortReconciles` (or `term`: a ring's term, the `term` option) aborts. */
  constructor(
    private readonly name: string,
    private readonly election: LeaderElection | undefined,
    term: AbortSignal | undefined,
    abortReconciles: AbortSignal,
    private readonly metrics: ControllerMetrics,
    private readonly logger: Logger,
  ) {
    this.base = term ? AbortSignal.any([abortReconciles, term]) : abortReconciles;
    if (!election) this.work = this.base;
  }

  /** The signal for a reconcile started now: undefined or aborted while this replica may not start any. */
  get signal(): AbortSignal | undefined {
    return this.work;
  }

  /** True while reconciles may start: always without `leaderElection` (until a `shard` term ends), during a term with it. */
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
   * Runs the election, if any, until `stop`: each term of leadership lets
   * the dispatch loop start reconciles with the term's signal (aborted when
   * it ends) and begins with `reconcileAll`; the term's work returns only
   * once `idle` says every reconcile has returned, so the election holds
   * the Lease until then.
   */
  lead(reconcileAll: () => void, idle: () => Promise<void>): Promise<void> {
    const election = this.election;
    if (!election) return Promise.resolve();
    this.metrics.leader?.(false, election.name);
    return election.run(async (leading) => {
      this.work = AbortSignal.any([this.base, leading]);
      this.metrics.leader?.(true, election.name);
      this.logger.info(`${this.name}: ${election.identity} leads: reconciling every object`, {
        controller: this.name,
        identity: election.identity,
        leading: true,
      });
      reconcileAll();
      this.wake();
      await untilAborted(leading);
      this.metrics.leader?.(false, election.name);
      this.logger.info(`${this.name}: ${election.identity} stopped leading: no reconcile starts; the Lease is held until the running ones have returned`, {
        controller: this.name,
        identity: election.identity,
        leading: false,
      });
      await idle();
    });
  }

  /**
   * Stops the election, if any: its term ends, and it releases the Lease
   * once every reconcile has returned (the term's work waits for them).
   */
  async stop(): Promise<void> {
    const election = this.election;
    if (!election) return;
    await election.stop();
    this.metrics.leader?.(false, election.name);
  }
}

/** Returns a taken key to the queue unreconciled (this replica does not lead). */
export function giveBack(queue: WorkQueue<ReconcileReason>, item: QueueItem<ReconcileReason>): void {
  queue.done(item.key);
  queue.add(item.key, item.reason, { priority: priorityOf(item.reason), recheck: true });
}
