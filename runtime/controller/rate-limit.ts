/**
 * Rate limiters for retries after a failed reconcile: how long one object
 * waits before its next attempt. The default follows client-go's controller
 * rate limiter: the larger of a per-object exponential delay (5 ms, doubling
 * with each consecutive failure, capped at 1,000 s) and an overall token
 * bucket (10 retries per second, bursts of 100) shared by every object, so a
 * mass failure cannot turn into a retry storm against the apiserver.
 * A success `forget`s the object's failures.
 */
import { systemClock, type Clock } from '../core/clock.ts';

/** Decides the delay before an object's next retry. */
export interface RateLimiter {
  /** Records one more failure of `key` and returns how long to wait before retrying it, ms. */
  when(key: string): number;
  /** The object succeeded: its next failure starts from the first delay again. */
  forget(key: string): void;
  /** Consecutive failures recorded for `key`. */
  failures(key: string): number;
}

/** Options of `exponentialRateLimiter`. */
export interface ExponentialRateLimiterOptions {
  /** The first delay, ms (default 5). */
  baseMs?: number;
  /** The cap, ms (default 1,000,000: 1,000 s). */
  maxMs?: number;
}

/**
 * Per object: `baseMs × 2^(failures − 1)`, capped at `maxMs`. Memory: one
 * entry per object that failed since its last success.
 *
 * @example
 * const limiter = exponentialRateLimiter({ baseMs: 100, maxMs: 60_000 });
 * limiter.when('shop/w1'); // 100
 * limiter.when('shop/w1'); // 200
 */
export function exponentialRateLimiter(opts: ExponentialRateLimiterOptions = {}): RateLimiter {
  const base = opts.baseMs ?? 5;
  const max = opts.maxMs ?? 1_000_000;
  const failures = new Map<string, number>();
  return {
    when(key) {
      const n = failures.get(key) ?? 0;
      failures.set(key, n + 1);
      // 2^n overflows to Infinity long after the cap; Math.min keeps it finite.
      return Math.min(max, base * 2 ** n);
    },
    forget: (key) => void failures.delete(key),
    failures: (key) => failures.get(key) ?? 0,
  };
}

/** Options of `bucketRateLimiter`. */
export interface BucketRateLimiterOptions {
  /** Sustained retries per second, for all objects together (default 10). */
  perSecond?: number;
  /** Retries allowed at once before the rate applies (default 100). */
  burst?: number;
  /** Time source (default the system clock). */
  clock?: Clock;
}

/**
 * One token bucket for all objects: each retry takes a token; when none is
 * left, the retry waits for the one it reserved. Failures are not tracked
 * per object (`failures` is always 0).
 *
 * @example
 * const overall = bucketRateLimiter({ perSecond: 5, burst: 20 });
 */
export function bucketRateLimiter(opts: BucketRateLimiterOptions = {}): RateLimiter {
  const rate = opts.perSecond ?? 10;
  const burst = opts.burst ?? 100;
  const clock = opts.clock ?? systemClock;
  if (!(rate > 0) || !(burst >= 1)) throw new RangeError(`kubereflect: a token bucket needs perSecond > 0 and burst >= 1 (got ${rate}, ${burst})`);
  let tokens = burst;
  let last = clock.now();
  return {
    when() {
      const now = clock.now();
      tokens = Math.min(burst, tokens + ((now - last) / 1000) * rate);
      last = now;
      // Reserve a token even when it is not there yet: the debt is what later callers wait behind.
      tokens -= 1;
      return tokens >= 0 ? 0 : (-tokens / rate) * 1000;
    },
    forget: () => {},
    failures: () => 0,
  };
}

/**
 * The largest delay of several limiters; every limiter records every failure.
 *
 * @example
 * const limiter = maxOfRateLimiters(exponentialRateLimiter({ baseMs: 50 }), bucketRateLimiter({ perSecond: 2 }));
 */
export function maxOfRateLimiters(...limiters: RateLimiter[]): RateLimiter {
  // Plain loops: failures and forget run for every reconcile.
  return {
    when(key) {
      let longest = 0;
      for (const l of limiters) longest = Math.max(longest, l.when(key));
      return longest;
    },
    forget(key) {
      for (const l of limiters) l.forget(key);
    },
    failures(key) {
      let most = 0;
      for (const l of limiters) most = Math.max(most, l.failures(key));
      return most;
    },
  };
}

/**
 * client-go's default controller rate limiter: per object 5 ms → 1,000 s,
 * and overall 10 per second with bursts of 100.
 *
 * @example
 * new Controller(widgets, { rateLimiter: defaultRateLimiter() });
 */
export function defaultRateLimiter(clock: Clock = systemClock): RateLimiter {
  return maxOfRateLimiters(exponentialRateLimiter(), bucketRateLimiter({ clock }));
}
