/**
 * Scenario 1: connections cut at random points of lists and watches, under
 * churn, against the real kube-apiserver through the fault proxy (`proxy.ts`),
 * which only drops connections here — every byte delivered is the server's.
 */
import { describe, expect, it } from 'vitest';
import { connectionCuts } from './scenarios/cuts.ts';
import { faultSuite } from './suite.ts';

const suite = faultSuite();

describe('connection cuts under churn', () => {
  it('converges to a quorum list with no ghosts, losses or replays, and never relists without a 410', async () => {
    const r = await connectionCuts(suite.lab, { seconds: 6 });
    console.info(JSON.stringify(r));
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
    expect(r.duplicates).toBe(0);
    expect(r.faults['list page cut at a random byte']).toBeGreaterThan(0);
    expect(r.faults['watch cut at a random byte']).toBeGreaterThan(0);
    expect(r.details.watchCutMidEvent).toBeGreaterThan(0);
    // A cut watch resumes from its resourceVersion: the only relists are those a 410 asked for.
    expect(r.relists).toBe(r.expired);
    expect(
      Object.keys(r.errors).every((k) => k === 'TransportError' || k === 'RequestTimeoutError'),
      JSON.stringify(r.errors),
    ).toBe(true);
    expect(r.errors.TransportError).toBeGreaterThan(0);
    expect(r.leaks).toEqual([]);
  });

  it('delivers every change and delete to a shared-store subscriber through the cuts', async () => {
    const r = await connectionCuts(suite.lab, { seconds: 5, shared: true });
    console.info(JSON.stringify(r));
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
    expect(r.details.subscriberViewMatchesStore, 'the subscriber ends with the store').toBe(true);
    expect(r.details.subscriberDeletes).toBeGreaterThan(0);
    expect(r.duplicates).toBe(0);
  });

  for (const mode of [{ initialList: 'StreamingList' as const }, { metadataOnly: true }]) {
    it(`converges the same way with ${mode.metadataOnly ? 'a metadata-only watcher' : 'a streaming list'}`, async () => {
      const r = await connectionCuts(suite.lab, { seconds: 5, ...mode });
      console.info(JSON.stringify(r));
      expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
      expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
      expect(r.duplicates).toBe(0);
      expect(r.faults['watch cut at a random byte']).toBeGreaterThan(0);
      if (mode.initialList)
        expect(r.details.listRequests).toBe(0); // a streaming list never pages
      else expect(r.relists).toBe(r.expired);
      expect(
        Object.keys(r.errors).every((k) => k === 'TransportError' || k === 'RequestTimeoutError'),
        JSON.stringify(r.errors),
      ).toBe(true);
      expect(r.leaks).toEqual([]);
    });
  }
});
