/**
 * Scenario 6: bad bytes. The fault proxy (`proxy.ts`) splices malformed,
 * truncated, unknown, invalid-UTF-8 and 10 MB input into real list and watch
 * responses — input the real kube-apiserver cannot be made to send, hence the
 * fake bytes; all the surrounding events are the real server's.
 */
import { describe, expect, it } from 'vitest';
import { badBytes } from './scenarios/bad-bytes.ts';
import { faultSuite } from './suite.ts';

const suite = faultSuite();

describe('bad bytes from the server', () => {
  it('turns each into a typed error, resumes the watch without a relist, and keeps the store right', async () => {
    const r = await badBytes(suite.lab);
    console.info(JSON.stringify({ ...r, details: r.details }));
    expect(r.details.failedInputs).toEqual([]);
    expect(r.details.handled).toBe(9);
    expect(r.details.biggestObject).toBe(10 * 1024 * 1024);
    expect(r.errors.DecodeError).toBeGreaterThanOrEqual(7);
    expect(r.errors['ApiError 599']).toBe(1);
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
    expect(r.duplicates).toBe(0);
    expect(r.relists).toBe(r.expired);
    expect(r.leaks).toEqual([]);
  });
});
