/**
 * The time source of the controller's queue and rate limiters: the system
 * clock in production, a hand-driven one in the queue's unit tests, so that
 * delays of minutes are checked without waiting for them.
 */

/** Where the queue and the rate limiters read the time and set their timers. */
export interface Clock {
  /** Milliseconds, monotonic enough for delays (the system clock uses `performance.now()`). */
  now(): number;
  /** Calls `fn` after `ms`; returns a handle for `clearTimer`. */
  setTimer(fn: () => void, ms: number): unknown;
  /** Cancels a timer from `setTimer`. */
  clearTimer(handle: unknown): void;
}

/** The real clock: `performance.now()` and `setTimeout`. */
export const systemClock: Clock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => {
    const t = setTimeout(fn, Math.max(0, ms));
    return t;
  },
  clearTimer: (handle) => clearTimeout(handle as NodeJS.Timeout),
};
