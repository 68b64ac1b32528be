/**
 * A clock the unit tests move by hand (a fake: the queue, the rate limiters,
 * leader election and the shard ring are pure logic over time, so their
 * delays are checked without waiting).
 */
import type { Clock } from '../../runtime/core/clock.ts';

/** Where the fake wall clock starts: a fixed instant, so that Lease timestamps are reproducible. */
const EPOCH = Date.UTC(2025, 0, 1);

/** A `Clock` that stands still until a test moves it; its timers fire as it passes them. */
export class FakeClock implements Clock {
  private t = 0;
  private nextId = 1;
  private readonly timers = new Map<number, { at: number; fn: () => void }>();

  now(): number {
    return this.t;
  }

  /** The wall clock moves with `now()`, so that timestamps written into objects change as time passes. */
  wallNow(): number {
    return EPOCH + this.t;
  }

  setTimer(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn });
    return id;
  }

  clearTimer(handle: unknown): void {
    this.timers.delete(handle as number);
  }

  /** Timers still pending. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (let next = this.due(end); next; next = this.due(end)) this.fire(next);
    this.t = end;
  }

  /**
   * Like `advance`, for code that awaits between timers (a request, then a
   * sleep): lets pending promises settle first, and again after each timer
   * fires, so that the timers they set in turn fire on the way too.
   */
  async advanceAsync(ms: number): Promise<void> {
    const end = this.t + ms;
    await settle();
    for (let next = this.due(end); next; next = this.due(end)) {
      this.fire(next);
      await settle();
    }
    this.t = end;
  }

  /**
   * Awaits `work`, moving time forward `stepMs` at a time meanwhile (as
   * `advanceAsync`), for work that waits on this clock; gives up moving it
   * after `maxMs`, leaving `work` to the test's own timeout.
   */
  async drive<T>(work: Promise<T>, stepMs = 100, maxMs = 600_000): Promise<T> {
    let done = false;
    const result = work.finally(() => (done = true));
    for (let moved = 0; !done && moved < maxMs; moved += stepMs) await this.advanceAsync(stepMs);
    return result;
  }

  /** The earliest timer due by `end` (the first set, of timers due at once). */
  private due(end: number): [number, { at: number; fn: () => void }] | undefined {
    let next: [number, { at: number; fn: () => void }] | undefined;
    for (const e of this.timers) if (e[1].at <= end && (!next || e[1].at < next[1].at)) next = e;
    return next;
  }

  private fire([id, timer]: [number, { at: number; fn: () => void }]): void {
    this.timers.delete(id);
    this.t = Math.max(this.t, timer.at);
    timer.fn();
  }
}

/**
 * Lets every pending promise chain run to its next real wait. One
 * macrotask turn drains the microtask queue, including microtasks queued
 * while it drains; a few turns leave room for code that hops through
 * `setImmediate` itself.
 */
export async function settle(): Promise<void> {
  for (let i = 0; i < 3; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}
