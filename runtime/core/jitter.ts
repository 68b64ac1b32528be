/**
 * Jitter: a delay spread at random, so that processes started together do
 * not keep acting together — replicas retrying a Lease, watchers
 * reconnecting, clients backing off from the same outage.
 *
 * One primitive, `jitter`, scales a value by a factor drawn uniformly from
 * [1 − below, 1 + above). The callers differ only in the spread they pass:
 * - client-go's `wait.Jitter(d, f)` — up to `f` more, never less — is
 *   `{ above: f }`: the retry periods of leader election (0.2) and of the
 *   shard ring (0.1).
 * - A backoff that may land either side of its nominal delay is
 *   `{ below: f, above: f }` (`exponentialBackoff`'s ±0.2).
 * - `{ below: 1 }` is a plain draw from [0, value): the watcher adds the
 *   floor of one from [0, ⌊s/4⌋ + 1) to its request timeout of s seconds,
 *   so that each whole second of [s, s + ⌊s/4⌋] is equally likely.
 */

/** How far `jitter` may move a value, as fractions of it; each defaults to 0. */
export interface JitterSpread {
  /** The value may shrink by up to this fraction of itself. */
  below?: number;
  /** The value may grow by up to this fraction of itself. */
  above?: number;
}

/**
 * `value` scaled by a factor drawn uniformly from [1 − `below`, 1 + `above`)
 * (the top is excluded as it is from the draw, up to floating-point
 * rounding); `random` is a source of numbers in [0, 1), `Math.random`
 * unless a test passes its own.
 *
 * @example
 * jitter(2000, { above: 0.2 });              // in [2000, 2400): client-go's wait.Jitter(2s, 0.2)
 * jitter(800, { below: 0.2, above: 0.2 });   // in [640, 960)
 * jitter(73, { below: 1 });                  // in [0, 73)
 */
export function jitter(value: number, spread: JitterSpread, random: () => number = Math.random): number {
  const { below = 0, above = 0 } = spread;
  return value * (1 - below + (below + above) * random());
}
