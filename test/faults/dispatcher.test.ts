/**
 * Scenario 7: a slow subscriber of the shared dispatcher, fed by a real
 * watch under churn; both lag policies hold as `runtime/dispatcher.ts`
 * documents them.
 */
import { describe, expect, it } from 'vitest';
import { slowSubscriber } from './scenarios/dispatcher.ts';
import { faultSuite } from './suite.ts';

const suite = faultSuite();

describe('a slow dispatcher subscriber under churn', () => {
  it("'backpressure': every subscriber gets every object in order, and the slow one sets the pace", async () => {
    const r = await slowSubscriber(suite.lab, 'backpressure', { seconds: 4 });
    console.info(JSON.stringify(r));
    expect(r.details.inOrderAndComplete).toBe(true);
    expect(r.details.fastReceived).toBeGreaterThan(100);
    expect(r.details.maxLeadOfFast).toBeLessThanOrEqual(16 + 1);
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.duplicates).toBe(0);
  });

  it("'snapshot': a subscriber that never reads holds up nobody, and gets one fresh snapshot instead of a backlog", async () => {
    const r = await slowSubscriber(suite.lab, 'snapshot', { seconds: 4 });
    console.info(JSON.stringify(r));
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.fastSawLatest).toBe(true);
    expect(r.details.broadcast).toBeGreaterThan(100);
    expect(r.details.stuckGotSnapshot).toBe(true);
    expect(r.details.stuckBacklogAfterSnapshot).toBe(0);
    expect(r.duplicates).toBe(0);
  });
});
