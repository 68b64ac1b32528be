/**
 * `kubereflect/queue`: the levers of a controller's work queue — the rate
 * limiters that space retries (per object, overall, or both) and the clock
 * the queue reads time from (a hand-moved one makes delays testable without
 * waiting). Pass them as `ControllerOptions.rateLimiter` and `.clock`.
 *
 * @module
 */
import './core/node-version.ts';
export type { Clock } from './core/clock.ts';
export type { RateLimiter, ExponentialRateLimiterOptions, BucketRateLimiterOptions } from './controller/rate-limit.ts';
export { exponentialRateLimiter, bucketRateLimiter, maxOfRateLimiters, defaultRateLimiter } from './controller/rate-limit.ts';
