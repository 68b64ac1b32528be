/**
 * The time source of the controller's queue and rate limiters, of leader
 * election and of the shard ring: the system clock in production, a
 * hand-driven one in their unit tests, so that delays of minutes are checked
 * without waiting for them.
 */

/** Where the queue, the rate limiters and the Lease users read the time and set their timers. */
export interface Clock {
  /** Milliseconds, monotonic enough for delays (the system clock uses `performance.now()`). */
  now(): number;
  /**
   * Milliseconds since the Unix epoch, for timestamps written into objects
   * (a Lease's `renewTime`), which other processes and people read; never
   * used to measure a delay. `Date.now()` when absent.
   */
  wallNow?(): number;
  /** Calls `fn` after `ms`; returns a handle for `clearTimer`. */
  setTimer(fn: () => void, ms: number): unknown;
  /** Cancels a timer from `setTimer`. */
  clearTimer(handle: unknown): void;
}

/** The real clock: `performance.now()`, `Date.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, Math.max(0, ms));
    return t;
  },
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * Lets the process exit while the timer of `handle` (from `setTimer`) is
 * pending: a watchdog timer must not keep a process alive that has nothing
 * else to do. Handles without `unref` (a fake clock's) are left as they are.
 * @internal
 */
export function unrefTimer(handle: unknown): void {
  (handle as { unref?: () => void } | null | undefined)?.unref?.();
}
