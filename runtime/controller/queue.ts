/**
 * The controller's work queue: object keys waiting for a reconcile, each
 * with the time it becomes due. Its guarantees are the controller's:
 *
 * - **Repeats merge.** A key is queued at most once; a second `add` keeps the
 *   earlier due time (a change is never delayed by a retry scheduled later),
 *   except a debounced `add`, which restarts the key's quiet period.
 * - **One at a time per key.** A key handed out by `take` is in flight until
 *   `done`; an `add` meanwhile is remembered and queued at `done`, so the
 *   same object is never reconciled twice at once and no change is lost.
 * - **Bounded concurrency.** `take` hands out at most `concurrency` keys
 *   that are not yet `done`.
 * - **Fair.** Due keys are taken in due-time order (then in the order they
 *   were added), so a hot object cannot starve the others.
 * - **Two priorities.** An `add` is `high` (the default) or `low`. Due
 *   high keys go before due low ones, so a change is not stuck behind a
 *   backlog of low work; a key queued at both is high (the higher one wins a
 *   merge, with the earlier due time). Low keys are not starved: while both
 *   are due, every `HIGH_PER_LOW`-th key taken is a low one.
 * - **Closing** (`close`) stops handing out keys: a waiting `take` resolves
 *   `undefined`, and later `add`s are ignored. Keys in flight may still be `done`.
 *
 * A worker that finishes a key takes its next one with `doneAndPoll`, in
 * the same call: while keys are due, no promise and no wake-up of the loop
 * waiting in `take` per key.
 *
 * For its metrics the queue counts its adds and delayed adds, and keeps
 * the time each key in flight was taken: `view()` reads them (and the keys
 * due) when the metrics are collected, so none of it is a call per add.
 *
 * Memory: one entry per queued key, plus one per key in flight. Pure logic:
 * the time comes from a `Clock`, which the unit tests drive by hand.
 */
import { systemClock, type Clock } from '../core/clock.ts';
import type { ControllerView } from './metrics.ts';

/** What a `take` hands out. */
export interface QueueItem<R = string> {
  readonly key: string;
  /** Why it was queued: the reason of the `add` that decided its due time. */
  readonly reason: R;
  /** How long it waited past its due time before being taken, ms (queue wait). */
  readonly waitedMs: number;
}

/** Options of one `add`. */
export interface AddOptions {
  /** Due after this long, ms (default 0: now). */
  delayMs?: number;
  /** Restart the key's wait: it becomes due `delayMs` from now even if it was due sooner (a quiet period). */
  debounce?: boolean;
  /** `high` (default) or `low`: due high keys are taken first (see the module doc). */
  priority?: 'high' | 'low';
  /** A key put back to be looked at again (it waits for something): not counted as an add or a retry in `view()`. */
  recheck?: boolean;
}

/** While both priorities have keys due, one key in this many taken is a low one: low work slows, never stops. */
export const HIGH_PER_LOW = 4;

interface Entry<R> {
  readonly key: string;
  readonly due: number;
  readonly reason: R;
  readonly seq: number;
  readonly low: boolean;
}

/** A min-heap of entries by (due, seq); an entry the queue no longer holds for its key is stale and skipped. */
class DueHeap<R> {
  private readonly items: Entry<R>[] = [];

  peek(): Entry<R> | undefined {
    return this.items[0];
  }

  push(item: Entry<R>): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(a[i]!, a[parent]!)) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): void {
    const a = this.items;
    const last = a.pop()!;
    if (a.length === 0) return;
    a[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && before(a[l]!, a[m]!)) m = l;
      if (r < a.length && before(a[r]!, a[m]!)) m = r;
      if (m === i) return;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }
}

/**
 * Entries in (due, seq) order, as keys due at once arrive: taking the first
 * costs O(1) where the heap costs O(log n), and most keys are queued due at
 * once (a change, `reconcileAll`). Stale entries are skipped as in the heap.
 */
class DueFifo<R> {
  private items: (Entry<R> | undefined)[] = [];
  private head = 0;

  peek(): Entry<R> | undefined {
    return this.items[this.head];
  }

  last(): Entry<R> | undefined {
    return this.head < this.items.length ? this.items[this.items.length - 1] : undefined;
  }

  push(item: Entry<R>): void {
    this.items.push(item);
  }

  shift(): void {
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.items.length) {
      // Drop the taken front once it is most of the array.
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

const before = (x: { due: number; seq: number }, y: { due: number; seq: number }) => x.due < y.due || (x.due === y.due && x.seq < y.seq);

/** The queued entries of one priority: those due at once when added in a FIFO, the others in a heap. Either may hold stale entries. */
class Lane<R> {
  readonly fifo = new DueFifo<R>();
  readonly heap = new DueHeap<R>();

  /** Files a queued entry: at the end of the FIFO when `atOnce` and that keeps it in order, else in the heap. */
  order(entry: Entry<R>, atOnce: boolean): void {
    const last = this.fifo.last();
    if (atOnce && (!last || !before(entry, last))) this.fifo.push(entry);
    else this.heap.push(entry);
  }

  /** The earliest entry still current (`queued` holds it for its key), stale ones dropped on the way. */
  earliest(queued: Map<string, Entry<R>>): Entry<R> | undefined {
    let first = this.fifo.peek();
    while (first && queued.get(first.key) !== first) {
      this.fifo.shift();
      first = this.fifo.peek();
    }
    let top = this.heap.peek();
    while (top && queued.get(top.key) !== top) {
      this.heap.pop();
      top = this.heap.peek();
    }
    if (!first || !top) return first ?? top;
    return before(first, top) ? first : top;
  }

  /** Removes `top`, the entry `earliest` returned. */
  remove(top: Entry<R>): void {
    if (top === this.fifo.peek()) this.fifo.shift();
    else this.heap.pop();
  }
}

/**
 * A de-duplicating, time-ordered queue of keys with at most `concurrency`
 * keys in flight and never the same key twice in flight. `R` is the type of
 * the reason each `add` gives. Read it from one loop: one `take` at a time.
 *
 * @example
 * const queue = new WorkQueue<string>({ concurrency: 2 });
 * queue.add('shop/w1', 'object changed');
 * const item = await queue.take(); // { key: 'shop/w1', reason: 'object changed', waitedMs: 0 }
 * queue.done(item!.key);
 */
export class WorkQueue<R = string> {
  /** Keys handed out at once, at most. */
  readonly concurrency: number;
  private readonly clock: Clock;
  private readonly queued = new Map<string, Entry<R>>();
  /** The queued entries by priority. */
  private readonly high = new Lane<R>();
  private readonly low = new Lane<R>();
  /** High keys taken since the last low one, while low keys were due (see `HIGH_PER_LOW`). */
  private highStreak = 0;
  /** The keys in flight, each with the time it was taken. */
  private readonly inFlightKeys = new Map<string, number>();
  /** Keys added while in flight: queued again at `done`. */
  private readonly again = new Map<string, Entry<R>>();
  private waiter: ((item: QueueItem<R> | undefined) => void) | undefined;
  private timer: { handle: unknown; at: number } | undefined;
  private seq = 0;
  private closed = false;
  /** Adds that made an entry (not merged into one), and adds with a delay (not a debounce): see `view()`. */
  private added = 0;
  private delayed = 0;

  /** A queue handing out at most `concurrency` keys at once (a positive integer). */
  constructor(opts: { concurrency: number; clock?: Clock }) {
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1) {
      throw new RangeError(`kubereflect: concurrency must be a positive integer (got ${opts.concurrency})`);
    }
    this.concurrency = opts.concurrency;
    this.clock = opts.clock ?? systemClock;
  }

  /** Keys waiting (due or not), not counting those in flight. */
  get depth(): number {
    return this.queued.size + this.again.size;
  }

  /** Keys taken and not yet `done`. */
  get inFlight(): number {
    return this.inFlightKeys.size;
  }

  /** True when `key` is queued or in flight. */
  has(key: string): boolean {
    return this.queued.has(key) || this.inFlightKeys.has(key);
  }

  /** Queues `key` (see the module doc for how repeats merge). Ignored once closed. */
  add(key: string, reason: R, opts?: AddOptions): void {
    if (this.closed) return;
    const delayMs = Math.max(0, opts?.delayMs ?? 0);
    if (delayMs > 0 && !opts?.debounce && !opts?.recheck) this.delayed++;
    let due = this.clock.now() + delayMs;
    let low = opts?.priority === 'low';
    const target = this.inFlightKeys.has(key) ? this.again : this.queued;
    const current = target.get(key);
    if (current === undefined) {
      if (!opts?.recheck) this.added++;
    } else {
      // A merge: the higher priority wins, and (unless debounced) the earlier due time; nothing gained, nothing changes.
      low &&= current.low;
      if (!opts?.debounce) {
        if (current.due <= due && current.low === low) return;
        due = Math.min(due, current.due);
      }
    }
    const entry = { key, due, reason, seq: this.seq++, low };
    target.set(key, entry);
    if (target === this.queued) this.order(entry, due <= this.clock.now());
    this.pump();
  }

  /**
   * The next due key, once one is due and fewer than `concurrency` are in
   * flight; `undefined` once the queue is closed. One `take` at a time.
   */
  take(): Promise<QueueItem<R> | undefined> {
    if (this.closed) return Promise.resolve(undefined);
    if (this.waiter) return Promise.reject(new Error('kubereflect: a work queue is read by one loop at a time; await each take()'));
    return new Promise((resolve) => {
      this.waiter = resolve;
      this.pump();
    });
  }

  /**
   * The next due key at once, or `undefined` when none is due, `concurrency`
   * keys are in flight, a `take` is waiting, or the queue is closed. Lets a
   * loop drain due keys without a promise per key.
   */
  poll(): QueueItem<R> | undefined {
    if (this.waiter || this.closed || this.inFlightKeys.size >= this.concurrency) return undefined;
    const top = this.earliest();
    const now = this.clock.now();
    if (!top || top.due > now) return undefined;
    return this.hand(top, now);
  }

  /** Ends the processing of `key`: it may be handed out again, at once if it was added meanwhile. */
  done(key: string): void {
    if (this.release(key)) this.pump();
  }

  /**
   * `done(key)`, then the next due key for the caller at once, within the
   * same limits as `poll` (a waiting `take` does not stand in the way: the
   * caller takes the place `key` leaves); `undefined` when none is due.
   */
  doneAndPoll(key: string): QueueItem<R> | undefined {
    if (!this.release(key)) return undefined;
    const top = this.closed ? undefined : this.earliest();
    const now = this.clock.now();
    if (top && top.due <= now) return this.hand(top, now);
    this.pump();
    return undefined;
  }

  /** Stops handing out keys: a waiting `take` gets `undefined`, later `add`s are ignored. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.queued.clear();
    this.again.clear();
    if (this.timer) this.clock.clearTimer(this.timer.handle);
    this.timer = undefined;
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter?.(undefined);
  }

  /**
   * What the controller's metrics read of the queue when they are collected
   * (see `ControllerView`): a view, not a copy — each read is of the queue
   * as it is then.
   */
  view(): ControllerView {
    const queue = this;
    return {
      concurrency: queue.concurrency,
      get inFlight() {
        return queue.inFlightKeys.size;
      },
      get adds() {
        return queue.added;
      },
      get retries() {
        return queue.delayed;
      },
      dueDepth() {
        const now = queue.clock.now();
        let due = 0;
        for (const entry of queue.queued.values()) if (entry.due <= now) due++;
        for (const entry of queue.again.values()) if (entry.due <= now) due++;
        return due;
      },
      inFlightSeconds() {
        const now = queue.clock.now();
        let total = 0;
        let longest = 0;
        for (const taken of queue.inFlightKeys.values()) {
          total += now - taken;
          if (now - taken > longest) longest = now - taken;
        }
        return { total: total / 1000, longest: longest / 1000 };
      },
    };
  }

  /** Takes `key` out of flight, queueing it again if it was added meanwhile; false if it was not in flight. */
  private release(key: string): boolean {
    if (!this.inFlightKeys.delete(key)) return false;
    const pending = this.again.get(key);
    if (pending) {
      this.again.delete(key);
      if (!this.closed) {
        this.queued.set(key, pending);
        this.order(pending, false);
      }
    }
    return true;
  }

  /** Files a queued entry in its priority's lane. */
  private order(entry: Entry<R>, atOnce: boolean): void {
    (entry.low ? this.low : this.high).order(entry, atOnce);
  }

  /** Hands the earliest due key to a waiting `take`, or sets a timer for when one falls due. */
  private pump(): void {
    if (!this.waiter || this.closed || this.inFlightKeys.size >= this.concurrency) return;
    const top = this.earliest();
    if (!top) return;
    const now = this.clock.now();
    if (top.due > now) {
      this.wakeAt(top.due);
      return;
    }
    const waiter = this.waiter;
    this.waiter = undefined;
    waiter(this.hand(top, now));
  }

  /** Moves `top`, what `earliest` returned, in flight (`now`: the time it is taken). */
  private hand(top: Entry<R>, now: number): QueueItem<R> {
    if (top.low) {
      this.low.remove(top);
      this.highStreak = 0;
    } else {
      this.high.remove(top);
      this.highStreak++;
    }
    this.queued.delete(top.key);
    this.inFlightKeys.set(top.key, now);
    return { key: top.key, reason: top.reason, waitedMs: now - top.due };
  }

  /**
   * The entry to take next: a due high one before a due low one — except
   * that while both are due, a low one goes after `HIGH_PER_LOW` high ones
   * in a row — or, when none is due, the one due first.
   */
  private earliest(): Entry<R> | undefined {
    const high = this.high.earliest(this.queued);
    const low = this.low.earliest(this.queued);
    if (!high || !low) return high ?? low;
    const now = this.clock.now();
    const highDue = high.due <= now;
    const lowDue = low.due <= now;
    if (highDue && lowDue) return this.highStreak >= HIGH_PER_LOW ? low : high;
    if (highDue || lowDue) return highDue ? high : low;
    return before(high, low) ? high : low;
  }

  private wakeAt(at: number): void {
    if (this.timer && this.timer.at <= at) return;
    if (this.timer) this.clock.clearTimer(this.timer.handle);
    const handle = this.clock.setTimer(() => {
      if (this.timer?.handle === handle) this.timer = undefined;
      this.pump();
    }, at - this.clock.now());
    this.timer = { handle, at };
  }
}
