/**
 * Scenario 7: slow subscribers of the shared dispatcher, fed by a real watch
 * under churn: the root never waits, and every subscriber ends with the
 * quorum list, deletes included (`runtime/cache/shared-store.ts`).
 */
import { describe, expect, it } from 'vitest';
import { slowSubscribers } from './scenarios/dispatcher.ts';
import { faultSuite } from './suite.ts';

const suite = faultSuite();

describe('slow dispatcher subscribers under churn', () => {
  it('hold up neither the watch nor each other, and each ends with the latest of every object and every delete', async () => {
    const r = await slowSubscribers(suite.lab, { seconds: 4 });
    console.info(JSON.stringify(r));
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
    expect(r.details.rootEventsWhileStuck).toBeGreaterThan(100);
    expect(r.details.churnDeletes).toBeGreaterThan(0);
    for (const name of ['fast', 'slow', 'stuck']) expect(r.details[`${name}MatchesQuorum`], name).toBe(true);
    for (const name of ['fast', 'slow']) expect(r.details[`${name}Deletes`], name).toBeGreaterThan(0);
    // Bounded by live keys: the stuck subscriber, which had seen nothing, gets one item per live object, and no delete of what it never saw.
    expect(r.details.stuckDeletes).toBe(0);
    expect(r.details.stuckReceived).toBe(r.invariant.store);
    expect(r.details.stuckReceived as number).toBeLessThan(r.details.rootEventsWhileStuck as number);
    expect(r.duplicates).toBe(0);
  });
});
