/**
 * Scenarios 2 and 5 against real kube-apiservers: the reflector's apiserver
 * SIGKILLed and restarted, etcd compacted under a watch (410) and between
 * list pages (expired continue token), a token rotated by an exec plugin
 * (401, refresh) and a forbidden watch (403). They share one second
 * kube-apiserver on the plane's etcd, with a token file that also lists the
 * rotation's tokens, so restarting it disturbs no other test. The proxy only
 * counts requests here (and, for 2b, holds a watch silent); every answer is
 * the real server's.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExtraApiserver, type ExtraApiserver } from '../controlplane/plane.ts';
import { apiserverKill, continueExpired, watchCompacted } from './scenarios/apiserver.ts';
import { execRotation, forbidden, rotationTokens, tokenFileWith } from './scenarios/credentials.ts';
import { reconnectStorm } from './scenarios/storm.ts';
import { faultSuite } from './suite.ts';

const suite = faultSuite();
const tokens = rotationTokens();
let extra: ExtraApiserver;
let dir: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kubereflect-faults-'));
  extra = await startExtraApiserver(suite.lab.plane, 'faults', [`--token-auth-file=${tokenFileWith(suite.lab, tokens, dir)}`]);
});
afterAll(async () => {
  await extra?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('many reflectors through an apiserver restart', () => {
  it('8. 200 reflectors on one client: every one converges, with a bounded number of retries each while the server is down', async () => {
    const r = await reconnectStorm(suite.lab, extra, { reflectors: 200 });
    console.info(JSON.stringify(r));
    // Before the client's streams had their own connections, only 32 of 200 ever watched (the rest queued silently).
    expect(r.converged).toBe(r.reflectors);
    // Each recovers with a list and a watch, after a few backoff steps (800 ms, 1.6 s, 3.2 s…) while the server is down.
    expect(r.requests).toBeGreaterThanOrEqual(2 * r.reflectors);
    expect(r.requests).toBeLessThanOrEqual(6 * r.reflectors);
    // No second in which every reflector sent its list and watch twice over.
    expect(r.peakPerSecond).toBeLessThan(2 * r.reflectors);
  }, 240_000);
});

describe('server-side failures under churn', () => {
  it('2a. survives its kube-apiserver being SIGKILLed and restarted, with bounded retries while it is down', async () => {
    const r = await apiserverKill(suite.lab, extra);
    console.info(JSON.stringify(r));
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
    expect(r.duplicates).toBe(0);
    expect(r.errors.TransportError).toBeGreaterThan(0);
    expect(r.relists).toBe(r.expired);
    // Down for 1.5 s plus the restart; at most one try per 50–500 ms backoff step, not a hot loop.
    expect(r.details.requestsWhileDown).toBeGreaterThan(0);
    expect(r.details.requestsWhileDown).toBeLessThan(60);
    expect(r.leaks).toEqual([]);
  });

  it('2a, shared: a subscriber of a shared store ends with the store after the apiserver restart', async () => {
    const r = await apiserverKill(suite.lab, extra, { shared: true });
    console.info(JSON.stringify(r));
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
    expect(r.details.subscriberViewMatchesStore, 'the subscriber ends with the store').toBe(true);
    expect(r.details.subscriberDeletes).toBeGreaterThan(0);
  });

  it('2b, shared: a subscriber of a shared store hears every delete of the watch gap and ends with the store', async () => {
    const r = await watchCompacted(suite.lab, { shared: true });
    console.info(JSON.stringify(r));
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
    expect(r.details.subscriberViewMatchesStore, 'the subscriber ends with the store').toBe(true);
    expect(r.details.subscriberDeletes).toBeGreaterThan(0);
    expect(r.relists).toBeGreaterThanOrEqual(1);
  });

  it('2b. relists after etcd compaction makes its watch position too old (410)', async () => {
    const r = await watchCompacted(suite.lab);
    console.info(JSON.stringify(r));
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
    expect(r.duplicates).toBe(0);
    expect(r.relists).toBeGreaterThanOrEqual(1);
    expect(r.relists).toBe(r.expired);
    expect(r.leaks).toEqual([]);
  });

  it('2c. starts the list over when its continue token has expired', async () => {
    const r = await continueExpired(suite.lab);
    console.info(JSON.stringify(r));
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
    expect(r.faults['etcd compacted between list pages']).toBe(1);
    // At least the one we caused (another test's compaction may expire a token of the relist too); each logged once.
    expect(r.details.status410).toBeGreaterThanOrEqual(1);
    expect(r.details.continueExpiredLogged).toBe(r.details.status410);
    expect(r.relists).toBeGreaterThanOrEqual(1);
    expect(r.relists).toBe(r.expired);
    expect(r.duplicates).toBe(0);
    expect(r.leaks).toEqual([]);
  });
});

describe('credentials', () => {
  it('5a. drops a credential the server refuses (401), asks the exec plugin again, and keeps rotating', async () => {
    const r = await execRotation(suite.lab, extra, tokens);
    console.info(JSON.stringify(r));
    expect(r.details.status401).toBe(1);
    expect(r.details.unauthorizedErrors).toBe(1);
    expect(r.details.pluginCalls).toBeGreaterThanOrEqual(3);
    expect(r.details.tokensAccepted).toBeGreaterThanOrEqual(2);
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
    expect(r.duplicates).toBe(0);
    expect(r.leaks).toEqual([]);
  });

  it('5b. surfaces a forbidden watch as a typed 403, one try per backoff step', async () => {
    const r = await forbidden(suite.lab, { seconds: 3 });
    console.info(JSON.stringify(r));
    expect(r.details.ready).toBe(false);
    // Every answer was a typed 403 (the last request may have been in flight when the watcher stopped).
    expect(Object.keys(r.errors)).toEqual(['ApiError 403']);
    expect(r.details.forbiddenErrors).toBe(r.errors['ApiError 403']);
    expect(r.details.forbiddenErrors).toBeGreaterThanOrEqual(r.requests - 1);
    // 3 s of 50 → 500 ms steps (±20 %) is about 9 tries; a hot loop would be thousands.
    expect(r.requests).toBeGreaterThanOrEqual(3);
    expect(r.requests).toBeLessThanOrEqual(15);
    expect(r.leaks).toEqual([]);
  });
});
