/**
 * The work queue and the rate limiters, driven by a hand-moved clock (a
 * fake: both are pure logic over time).
 */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { HIGH_PER_LOW, WorkQueue, type QueueItem } from './queue.ts';
import { bucketRateLimiter, defaultRateLimiter, exponentialRateLimiter } from './rate-limit.ts';

const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Starts a take and reports whether (and with what) it resolved. */
function taking<R>(queue: WorkQueue<R>) {
  let got: QueueItem<R> | undefined | 'pending' = 'pending';
  const p = queue.take().then((item) => (got = item));
  return {
    get value() {
      return got;
    },
    promise: p,
  };
}

describe('WorkQueue priorities', () => {
  /** Takes every due key, one at a time (each `done` before the next), and says which in order. */
  const drain = (queue: WorkQueue<string>, limit = Infinity) => {
    const order: string[] = [];
    for (let item = queue.poll(); item && order.length < limit; item = queue.doneAndPoll(item.key)) order.push(item.key);
    return order;
  };

  it('takes a due high key before due low ones, in the order added within a priority', () => {
    const queue = new WorkQueue<string>({ concurrency: 1, clock: new FakeClock() });
    for (const k of ['l1', 'l2', 'l3']) queue.add(k, 'reconcile all', { priority: 'low' });
    queue.add('h1', 'object changed');
    queue.add('h2', 'object changed');
    expect(drain(queue)).toEqual(['h1', 'h2', 'l1', 'l2', 'l3']);
  });

  it('a change to a key that waits at low priority lifts it to high, with the change as its reason; a low repeat of a high key changes nothing', () => {
    const queue = new WorkQueue<string>({ concurrency: 1, clock: new FakeClock() });
    for (const k of ['a', 'b', 'c']) queue.add(k, 'reconcile all', { priority: 'low' });
    queue.add('c', 'object changed');
    queue.add('x', 'object changed');
    queue.add('x', 'requeue', { priority: 'low' });
    const first = queue.poll()!;
    expect([first.key, first.reason]).toEqual(['c', 'object changed']);
    expect(drain(queue).length).toBe(0); // one at a time: c is in flight
    queue.done('c');
    expect(drain(queue)).toEqual(['x', 'a', 'b']);
  });

  it('a low key queued for later keeps the earlier due time when a high add merges into it, and the reverse', () => {
    const clock = new FakeClock();
    const queue = new WorkQueue<string>({ concurrency: 1, clock });
    queue.add('a', 'requeue', { priority: 'low', delayMs: 1000 });
    queue.add('a', 'object changed', { delayMs: 5000 });
    clock.advance(1000);
    const item = queue.poll();
    expect([item?.key, item?.reason]).toEqual(['a', 'object changed']); // high, due at the earlier time
  });

  it(`does not starve low keys: while both are due, one in ${HIGH_PER_LOW + 1} taken is low`, () => {
    const queue = new WorkQueue<string>({ concurrency: 1, clock: new FakeClock() });
    for (let i = 0; i < 4; i++) queue.add(`low-${i}`, 'reconcile all', { priority: 'low' });
    // A stream of changes that never lets up: each key taken queues a new change.
    let n = 0;
    queue.add(`high-${n++}`, 'object changed');
    const order: string[] = [];
    for (let item = queue.poll(); item && order.length < 25; item = queue.doneAndPoll(item.key)) {
      order.push(item.key);
      queue.add(`high-${n++}`, 'object changed');
    }
    const lows = order.map((k, i) => (k.startsWith('low') ? i : -1)).filter((i) => i >= 0);
    expect(lows).toEqual([4, 9, 14, 19]); // every fifth, until none is left
    expect(order.filter((k) => k.startsWith('high')).length).toBe(21);
  });

  it('during a reconcile-all of 10,000 keys, a change is taken among the first few, and every low key still runs', () => {
    const queue = new WorkQueue<string>({ concurrency: 8, clock: new FakeClock() });
    for (let i = 0; i < 10_000; i++) queue.add(`ns/obj-${i}`, 'reconcile all', { priority: 'low' });
    const taken: string[] = [];
    const inFlight: string[] = [];
    // 8 workers busy with the backlog, then the change arrives.
    for (let i = 0; i < 8; i++) inFlight.push(queue.poll()!.key);
    queue.add('ns/changed', 'object changed');
    while (inFlight.length > 0) {
      const next = queue.doneAndPoll(inFlight.shift()!);
      if (next) {
        taken.push(next.key);
        inFlight.push(next.key);
      }
    }
    expect(taken.indexOf('ns/changed')).toBe(0); // the next key taken after the change
    expect(new Set(taken).size).toBe(10_000 - 8 + 1);
  });
});

describe('WorkQueue', () => {
  it('merges repeats of a queued key into one item, keeping the first reason', async () => {
    const queue = new WorkQueue<string>({ concurrency: 4, clock: new FakeClock() });
    queue.add('a', 'first');
    queue.add('a', 'second');
    queue.add('b', 'b');
    expect(queue.depth).toBe(2);
    expect((await queue.take())?.reason).toBe('first');
    expect((await queue.take())?.key).toBe('b');
    const next = taking(queue);
    await flush();
    expect(next.value).toBe('pending');
  });

  it('never hands out a key that is in flight; an add meanwhile comes back after done', async () => {
    const queue = new WorkQueue<string>({ concurrency: 4, clock: new FakeClock() });
    queue.add('a', 'one');
    const first = await queue.take();
    queue.add('a', 'changed while running');
    queue.add('a', 'again');
    const next = taking(queue);
    await flush();
    expect(next.value).toBe('pending');
    expect(queue.depth).toBe(1);
    queue.done(first!.key);
    await next.promise;
    expect(next.value).toMatchObject({ key: 'a', reason: 'changed while running' });
  });

  it('hands out at most `concurrency` keys at once', async () => {
    const queue = new WorkQueue<string>({ concurrency: 2, clock: new FakeClock() });
    for (const k of ['a', 'b', 'c']) queue.add(k, 'x');
    const a = await queue.take();
    await queue.take();
    const third = taking(queue);
    await flush();
    expect(third.value).toBe('pending');
    expect(queue.inFlight).toBe(2);
    queue.done(a!.key);
    await third.promise;
    expect(third.value).toMatchObject({ key: 'c' });
  });

  it('hands out delayed keys when they fall due, earliest first, and the earlier due time wins a merge', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue<string>({ concurrency: 4, clock });
    queue.add('late', 'x', { delayMs: 300 });
    queue.add('soon', 'x', { delayMs: 100 });
    queue.add('late', 'sooner', { delayMs: 50 });
    queue.add('soon', 'later', { delayMs: 1000 }); // merges into the earlier due time
    const t1 = taking(queue);
    await flush();
    expect(t1.value).toBe('pending');
    clock.advance(49);
    await flush();
    expect(t1.value).toBe('pending');
    clock.advance(1);
    await t1.promise;
    expect(t1.value).toMatchObject({ key: 'late', reason: 'sooner', waitedMs: 0 });
    clock.advance(60); // 'soon' fell due at 100; nobody was taking until 110
    const t2 = taking(queue);
    await t2.promise;
    expect(t2.value).toMatchObject({ key: 'soon', reason: 'x', waitedMs: 10 });
    expect(queue.depth).toBe(0);
  });

  it('keys due at once, delayed keys and keys back from flight are taken in one due-time order, then the order they were added', () => {
    const clock = new FakeClock();
    const queue = new WorkQueue<string>({ concurrency: 10, clock });
    queue.add('delayed', 'x', { delayMs: 10 }); // due at 10
    clock.advance(5);
    queue.add('a', 'x'); // due at 5
    expect(queue.poll()).toMatchObject({ key: 'a' });
    queue.add('a', 'again'); // in flight: back at done, still due at 5
    clock.advance(5);
    queue.add('b', 'x'); // due at 10, added after 'delayed'
    queue.done('a');
    expect([queue.poll(), queue.poll(), queue.poll()].map((item) => item?.key)).toEqual(['a', 'delayed', 'b']);
  });

  it('a debounced add restarts the quiet period', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue<string>({ concurrency: 1, clock });
    queue.add('a', 'x', { delayMs: 100, debounce: true });
    const t = taking(queue);
    clock.advance(80);
    queue.add('a', 'y', { delayMs: 100, debounce: true });
    clock.advance(80);
    await flush();
    expect(t.value).toBe('pending');
    clock.advance(20);
    await t.promise;
    expect(t.value).toMatchObject({ key: 'a', reason: 'y' });
  });

  it('poll hands out a due key at once, within the same limits as take', () => {
    const clock = new FakeClock();
    const queue = new WorkQueue<string>({ concurrency: 1, clock });
    expect(queue.poll()).toBeUndefined();
    queue.add('later', 'x', { delayMs: 10 });
    queue.add('now', 'x');
    expect(queue.poll()).toMatchObject({ key: 'now' });
    expect(queue.poll()).toBeUndefined(); // at the concurrency limit
    queue.done('now');
    expect(queue.poll()).toBeUndefined(); // 'later' is not due
    clock.advance(10);
    expect(queue.poll()).toMatchObject({ key: 'later', waitedMs: 0 });
  });

  it('doneAndPoll ends a key and hands the next due one to its caller, before a waiting take', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue<string>({ concurrency: 1, clock });
    queue.add('a', 'x');
    queue.add('b', 'x');
    queue.add('c', 'x', { delayMs: 10 });
    const a = await queue.take();
    const waiting = taking(queue);
    queue.add('a', 'changed while running');
    expect(queue.doneAndPoll(a!.key)).toMatchObject({ key: 'b' }); // 'b' was due before 'a' came back
    await flush();
    expect(waiting.value).toBe('pending');
    expect(queue.doneAndPoll('b')).toMatchObject({ key: 'a', reason: 'changed while running' });
    expect(queue.doneAndPoll('a')).toBeUndefined(); // 'c' is not due: the waiting take gets it when it is
    expect(queue.doneAndPoll('a')).toBeUndefined(); // not in flight: nothing to end
    clock.advance(10);
    await waiting.promise;
    expect(waiting.value).toMatchObject({ key: 'c' });
    queue.close();
    expect(queue.doneAndPoll('c')).toBeUndefined();
    expect(queue.inFlight).toBe(0);
  });

  it('close resolves a waiting take with undefined, ignores later adds, and still accepts done', async () => {
    const queue = new WorkQueue<string>({ concurrency: 1, clock: new FakeClock() });
    queue.add('a', 'x');
    const a = await queue.take();
    const t = taking(queue);
    queue.close();
    await t.promise;
    expect(t.value).toBeUndefined();
    queue.add('b', 'x');
    queue.done(a!.key);
    expect(queue.depth).toBe(0);
    expect(await queue.take()).toBeUndefined();
  });

  it('refuses a second concurrent take and a concurrency that is not a positive integer', async () => {
    expect(() => new WorkQueue({ concurrency: 0 })).toThrow(/positive integer/);
    expect(() => new WorkQueue({ concurrency: Infinity })).toThrow(/positive integer/);
    const queue = new WorkQueue<string>({ concurrency: 1, clock: new FakeClock() });
    void queue.take();
    await expect(queue.take()).rejects.toThrow(/one loop at a time/);
  });

  it('under 20,000 random adds and completions (done or doneAndPoll) over 50 keys: no key twice in flight, never above the limit, nothing lost', async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue<number>({ concurrency: 8, clock });
    const inFlight = new Set<string>();
    const lastAdded = new Map<string, number>();
    const lastSeen = new Map<string, number>();
    let maxInFlight = 0;
    let stamp = 0;
    let reading = true;
    const taken = (item: QueueItem<number>) => {
      expect(inFlight.has(item.key)).toBe(false);
      inFlight.add(item.key);
      maxInFlight = Math.max(maxInFlight, inFlight.size);
    };
    const reader = (async () => {
      while (reading) {
        const item = await queue.take();
        if (!item) return;
        taken(item);
      }
    })();
    for (let i = 0; i < 20_000; i++) {
      const key = `k${Math.floor(Math.random() * 50)}`;
      if (Math.random() < 0.6) {
        lastAdded.set(key, ++stamp);
        queue.add(key, stamp, { delayMs: Math.random() < 0.3 ? Math.floor(Math.random() * 20) : 0 });
      } else {
        const running = [...inFlight];
        const k = running[Math.floor(Math.random() * running.length)];
        if (k !== undefined) {
          inFlight.delete(k);
          lastSeen.set(k, stamp);
          if (Math.random() < 0.5) queue.done(k);
          else {
            const next = queue.doneAndPoll(k);
            if (next) taken(next);
          }
        }
      }
      if (i % 7 === 0) clock.advance(1);
      await flush();
    }
    // Drain: finish everything until nothing is left.
    for (let round = 0; round < 1000 && (queue.depth > 0 || inFlight.size > 0); round++) {
      for (const k of [...inFlight]) {
        inFlight.delete(k);
        lastSeen.set(k, stamp);
        queue.done(k);
      }
      clock.advance(25);
      await flush();
    }
    reading = false;
    queue.close();
    await reader;
    expect(maxInFlight).toBeLessThanOrEqual(8);
    expect(maxInFlight).toBeGreaterThan(1);
    // Every key was processed (taken and finished) after its last add.
    for (const [key, added] of lastAdded) expect(lastSeen.get(key), key).toBeGreaterThanOrEqual(added);
  });

  it("view() counts as client-go's queue does: an add merged into a waiting key is not an add, one while the key is in flight is; a delayed add is a retry, a debounce is not; only due keys are depth; keys in flight are timed from their take", async () => {
    const clock = new FakeClock();
    const queue = new WorkQueue<string>({ concurrency: 2, clock });
    const view = queue.view();
    expect(view.concurrency).toBe(2);
    queue.add('a', 'change');
    queue.add('a', 'change'); // merged
    queue.add('b', 'retry', { delayMs: 1000 });
    queue.add('b', 'retry', { delayMs: 500 }); // merged (sooner), still a delayed add
    queue.add('c', 'change', { delayMs: 200, debounce: true }); // a quiet period, not a retry
    expect({ adds: view.adds, retries: view.retries, due: view.dueDepth(), inFlight: view.inFlight }).toEqual({ adds: 3, retries: 2, due: 1, inFlight: 0 });
    expect((await queue.take())?.key).toBe('a');
    clock.advance(300);
    queue.add('a', 'change'); // while in flight: an add, due, waiting for the reconcile to end
    expect({ adds: view.adds, due: view.dueDepth(), inFlight: view.inFlight }).toEqual({ adds: 4, due: 2, inFlight: 1 }); // a again and c; b not due
    expect(view.inFlightSeconds()).toEqual({ total: 0.3, longest: 0.3 });
    expect((await queue.take())?.key).toBe('c');
    clock.advance(100);
    expect(view.inFlightSeconds()).toEqual({ total: 0.5, longest: 0.4 });
    queue.done('c');
    queue.done('a'); // a goes back to the queue, due
    expect({ due: view.dueDepth(), inFlight: view.inFlight, seconds: view.inFlightSeconds() }).toEqual({
      due: 1,
      inFlight: 0,
      seconds: { total: 0, longest: 0 },
    });
    queue.close();
    queue.add('d', 'change', { delayMs: 5 }); // ignored once closed
    expect({ adds: view.adds, retries: view.retries, due: view.dueDepth() }).toEqual({ adds: 4, retries: 2, due: 0 });
  });
});

describe('rate limiters', () => {
  it('per object: 5 ms doubling to the 1,000 s cap; forget starts over; objects are independent', () => {
    const limiter = exponentialRateLimiter();
    const delays = Array.from({ length: 20 }, () => limiter.when('a'));
    expect(delays.slice(0, 4)).toEqual([5, 10, 20, 40]);
    expect(delays.at(-1)).toBe(1_000_000);
    expect(delays.every((d, i) => i === 0 || d >= delays[i - 1]!)).toBe(true);
    expect(limiter.when('b')).toBe(5);
    expect(limiter.failures('a')).toBe(20);
    limiter.forget('a');
    expect(limiter.when('a')).toBe(5);
  });

  it('overall bucket: a burst passes, then retries are spaced at the rate, and tokens come back with time', () => {
    const clock = new FakeClock();
    const bucket = bucketRateLimiter({ perSecond: 10, burst: 3, clock });
    expect([bucket.when('a'), bucket.when('b'), bucket.when('c')]).toEqual([0, 0, 0]);
    expect(bucket.when('d')).toBeCloseTo(100);
    expect(bucket.when('e')).toBeCloseTo(200);
    clock.advance(1000);
    expect(bucket.when('f')).toBe(0);
  });

  it('the default is the larger of the two: one object backs off alone, a crowd is held to 10 per second', () => {
    const clock = new FakeClock();
    const limiter = defaultRateLimiter(clock);
    expect(limiter.when('x')).toBe(5);
    const crowd = Array.from({ length: 150 }, (_, i) => limiter.when(`k${i}`));
    expect(crowd.slice(0, 99).every((d) => d === 5)).toBe(true);
    expect(crowd.at(-1)).toBeGreaterThan(4_000);
  });
});
