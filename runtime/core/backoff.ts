/**
 * Backoff policies: how long to wait after a failure before trying again.
 * The default is the one client-go and kube-rs use: exponential from 800 ms
 * to 30 s, factor 2, reset after 120 s without failures, with jitter: each
 * delay ±50 % (client-go spreads its reflector's delays over [d, 2d]; this
 * keeps the mean at d with as wide a spread).
 */
import { systemClock, type Clock } from './clock.ts';
import { jitter } from './jitter.ts';

/** A stateful backoff: ask `next()` after each failure, `reset()` after a success. */
export interface Backoff {
  /** Milliseconds to wait before the next attempt. */
  next(): number;
  /** Forget earlier failures. */
  reset(): void;
}

/** Makes a fresh `Backoff`; each watcher owns one. */
export type BackoffPolicy = () => Backoff;

/** Parameters of `exponentialBackoff`. */
export interface ExponentialBackoffOptions {
  /** First delay, ms (default 800). */
  initialMs?: number;
  /** Largest delay, ms (default 30 000). */
  maxMs?: number;
  /** Growth per failure (default 2). */
  factor?: number;
  /**
   * Randomise each delay by ±`jitter` of itself (default 0.5; 0 disables).
   * Wide on purpose: many watchers that failed together (an apiserver
   * restart) must not come back in the same second.
   */
  jitter?: number;
  /** A failure that comes this long after the previous one starts over from `initialMs` (default 120 000). */
  resetAfterMs?: number;
  /** Source of time, for tests. */
  now?: () => number;
  /** Source of randomness in [0, 1), for tests. */
  random?: () => number;
}

/**
 * Exponential backoff with jitter and a reset after a quiet period.
 *
 * @example
 * const b = exponentialBackoff({ initialMs: 100, maxMs: 1000 })();
 * b.next(); // ≈100
 * b.next(); // ≈200
 */
export function exponentialBackoff(opts: ExponentialBackoffOptions = {}): BackoffPolicy {
  const { initialMs = 800, maxMs = 30_000, factor = 2, jitter: fraction = 0.5, resetAfterMs = 120_000 } = opts;
  const now = opts.now ?? Date.now;
  const random = opts.random ?? Math.random;
  return () => {
    let current = 0;
    let lastFailure = -Infinity;
    return {
      next() {
        const t = now();
        if (t - lastFailure >= resetAfterMs) current = 0;
        lastFailure = t;
        current = current === 0 ? initialMs : Math.min(maxMs, current * factor);
        return Math.max(0, Math.round(jitter(current, { below: fraction, above: fraction }, random)));
      },
      reset() {
        current = 0;
        lastFailure = -Infinity;
      },
    };
  };
}

/** The default policy: exponential 800 ms → 30 s, factor 2, jitter, reset after 120 s healthy. */
export const defaultBackoff: BackoffPolicy = exponentialBackoff();

/** A constant delay; handy in tests. */
export function constantBackoff(ms: number): BackoffPolicy {
  return () => ({ next: () => ms, reset: () => {} });
}

/**
 * Sleeps `ms` on `clock` (the system clock unless a test drives its own),
 * or less if `signal` aborts first.
 * @internal
 */
export function sleep(ms: number, signal?: AbortSignal, clock: Clock = systemClock): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted || ms <= 0) return resolve();
    const done = () => {
      clock.clearTimer(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = clock.setTimer(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
