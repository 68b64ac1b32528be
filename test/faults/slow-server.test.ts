/**
 * Scenarios 3 and 4: a server that stalls, trickles, or pushes back with 429,
 * 500, or a 410 on every watch. The real kube-apiserver does none of these on demand, so the fault
 * proxy (`proxy.ts`) holds, slows or answers those requests itself; every
 * other byte is the real server's.
 */
import { describe, expect, it } from 'vitest';
import { stalls } from './scenarios/stalls.ts';
import { persistentGone, throttling } from './scenarios/throttling.ts';
import { faultSuite } from './suite.ts';

const suite = faultSuite();

describe('a slow server', () => {
  it('3. times out a stalled list page, a silenced watch and a watch whose head never comes, and resumes each without a relist', async () => {
    const r = await stalls(suite.lab);
    console.info(JSON.stringify(r));
    expect(r.details.listTimeouts).toBeGreaterThanOrEqual(1);
    expect(r.details.idleTimeouts).toBeGreaterThanOrEqual(1);
    expect(r.details.headerTimeouts).toBeGreaterThanOrEqual(1);
    expect(r.details.appliedWhileSlow).toBeGreaterThan(0);
    expect(r.relists).toBe(r.expired);
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
    expect(r.duplicates).toBe(0);
    expect(r.leaks).toEqual([]);
  });

  it('4. waits out every Retry-After, backs off on 500s, and keeps the request count bounded', async () => {
    const r = await throttling(suite.lab, { seconds: 3 });
    console.info(JSON.stringify(r));
    const d = r.details as {
      firstPageRequests: number;
      gapsAfterListRetryAfter: number[];
      watchRequestsUnder429: number;
      minGapUnder429: number;
      watchRequestsUnder500: number;
      retryAfterSeen: number;
    };
    // The first page: three 500s (the watcher backs off), two 429s (the client waits 1 s each), then the page.
    expect(d.firstPageRequests).toBe(6);
    expect(r.errors['ApiError 500']).toBeGreaterThanOrEqual(3);
    // No request before the server's Retry-After has passed (lower bounds only: a slow machine only adds).
    for (const gap of d.gapsAfterListRetryAfter) expect(gap).toBeGreaterThanOrEqual(990);
    expect(d.minGapUnder429).toBeGreaterThanOrEqual(990);
    expect(d.retryAfterSeen).toBeGreaterThanOrEqual(2);
    // 3 s under 429 Retry-After: 1 is at most 4 tries; under 500s the 50 → 500 ms backoff makes about 9.
    expect(d.watchRequestsUnder429).toBeGreaterThanOrEqual(2);
    expect(d.watchRequestsUnder429).toBeLessThanOrEqual(4);
    expect(d.watchRequestsUnder500).toBeGreaterThanOrEqual(3);
    expect(d.watchRequestsUnder500).toBeLessThanOrEqual(15);
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
    expect(r.relists).toBe(r.expired);
    expect(r.duplicates).toBe(0);
    expect(r.leaks).toEqual([]);
  });

  it('4b. relists at once after a 410, but backs off while every watch keeps answering 410', async () => {
    const r = await persistentGone(suite.lab, { seconds: 3 });
    console.info(JSON.stringify(r));
    // 3 s of 410s: one relist at once, then one per 50 → 500 ms backoff step: about 9. Without the backoff: about 100.
    expect(r.details.relistsUnderGone).toBeGreaterThanOrEqual(3);
    expect(r.details.relistsUnderGone).toBeLessThanOrEqual(15);
    expect(r.relists).toBe(r.expired);
    expect(
      Object.keys(r.errors).every((k) => k === 'TransportError'),
      JSON.stringify(r.errors),
    ).toBe(true);
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
    expect(r.duplicates).toBe(0);
    expect(r.leaks).toEqual([]);
  });
});
