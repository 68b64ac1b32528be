/**
 * The exponential backoff's delays (growth, cap, ±jitter, reset after a
 * quiet period) and `sleep` on a hand-moved clock (a fake: both are pure
 * logic over time).
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { exponentialBackoff, sleep } from './backoff.ts';

describe('exponentialBackoff', () => {
  it('doubles from initialMs up to maxMs, spread by ±jitter of each delay', () => {
    let r = 0.5;
    const b = exponentialBackoff({ initialMs: 100, maxMs: 1000, jitter: 0.2, now: () => 0, random: () => r })();
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([100, 200, 400, 800, 1000]);
    r = 0;
    expect(b.next()).toBe(800);
    r = 1 - 2 ** -53;
    expect(b.next()).toBe(1200);
  });

  it('starts over after a quiet period of resetAfterMs, or after reset()', () => {
    let t = 0;
    const b = exponentialBackoff({ initialMs: 100, jitter: 0, resetAfterMs: 1000, now: () => t })();
    expect([b.next(), b.next(), b.next()]).toEqual([100, 200, 400]);
    t = 999;
    expect(b.next()).toBe(800);
    t = 1999;
    expect(b.next()).toBe(100);
    b.next();
    b.reset();
    expect(b.next()).toBe(100);
  });
});

describe('sleep', () => {
  it('waits on the clock it is given', async () => {
    const clock = new FakeClock();
    let done = false;
    void sleep(1000, undefined, clock).then(() => (done = true));
    await clock.advanceAsync(999);
    expect(done).toBe(false);
    await clock.advanceAsync(1);
    expect(done).toBe(true);
    expect(clock.pending).toBe(0);
  });

  it('ends early when its signal aborts, and leaves no timer behind', async () => {
    const clock = new FakeClock();
    const ac = new AbortController();
    let done = false;
    void sleep(60_000, ac.signal, clock).then(() => (done = true));
    await clock.advanceAsync(10);
    ac.abort();
    await clock.advanceAsync(0);
    expect(done).toBe(true);
    expect(clock.pending).toBe(0);
  });

  it('returns at once for an aborted signal or no time', async () => {
    const clock = new FakeClock();
    await sleep(1000, AbortSignal.abort(), clock);
    await sleep(0, undefined, clock);
    expect(clock.pending).toBe(0);
  });
});
