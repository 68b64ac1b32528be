/**
 * Relists: staleness while they keep failing, never below the last synced
 * resourceVersion, the streaming list's fallback, and a paginated list a
 * slow consumer cannot stretch past its continue token — against the real
 * kube-apiserver. Where a scenario needs a condition the one local server
 * will not produce on demand (503s, a lagging watch cache, a proxy that
 * drops `sendInitialEvents`), the fault proxy fakes it; each scenario in
 * `scenarios/relist.ts` says which. The first tests pin what the real
 * server does in the places those fakes imitate.
 */
import { describe, expect, it } from 'vitest';
import { Api } from '../../runtime/client/api.ts';
import { ApiError } from '../../runtime/core/errors.ts';
import { compareResourceVersions } from '../../runtime/core/resource-version.ts';
import type { WatchEvent } from '../../runtime/core/types.ts';
import { configMaps, type ConfigMap } from './harness.ts';
import { scenarioNamespace } from './scenarios/common.ts';
import { failingRelists, laggingWatchCache, slowConsumer, streamingIgnored } from './scenarios/relist.ts';
import { faultSuite } from './suite.ts';

const suite = faultSuite();

/** The events of one watch request, until the server ends it. */
async function watchAll(api: Api<ConfigMap>, o: Parameters<Api<ConfigMap>['watch']>[0]): Promise<WatchEvent<ConfigMap>[]> {
  const out: WatchEvent<ConfigMap>[] = [];
  for await (const e of api.watch(o)) out.push(e);
  return out;
}
const endBookmark = (e: WatchEvent<ConfigMap>) => e.type === 'BOOKMARK' && e.object.metadata?.annotations?.['k8s.io/initial-events-end'] === 'true';

describe('what kube-apiserver 1.37 does where the fakes imitate it', () => {
  it('answers a list at a resourceVersion its watch cache has not reached with 504 "Too large resource version", after waiting', async () => {
    const ns = await scenarioNamespace(suite.lab, 'faults-rvpin', false, 3);
    const api = new Api<ConfigMap>(suite.lab.admin, configMaps, ns);
    const now = (await api.list({ limit: 1 })).metadata.resourceVersion!;
    const ahead = String(BigInt(now) + 1_000_000n);
    const t0 = performance.now();
    const err = await api.list({ limit: 10, resourceVersion: ahead, resourceVersionMatch: 'NotOlderThan' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const waitedMs = performance.now() - t0;
    console.info(JSON.stringify({ ahead, waitedMs: Math.round(waitedMs), status: (err as ApiError | undefined)?.status }));
    expect(err).toBeInstanceOf(ApiError);
    const e = err as ApiError;
    expect(e.statusCode).toBe(504);
    expect(e.reason).toBe('Timeout');
    expect(e.status.message).toMatch(/Too large resource version/);
    expect(e.status.details?.causes?.map((c) => c.reason)).toContain('ResourceVersionTooLarge');
    // It waits for the cache to catch up first (3 s in the apiserver), then gives up.
    expect(waitedMs).toBeGreaterThanOrEqual(2_500);
  });

  it('answers a list at a version it has, NotOlderThan, with that version or a newer one', async () => {
    const ns = await scenarioNamespace(suite.lab, 'faults-rvpin', false, 3);
    const api = new Api<ConfigMap>(suite.lab.admin, configMaps, ns);
    const first = (await api.list({})).metadata.resourceVersion!;
    await api.create({ metadata: { name: 'later' } });
    const again = await api.list({ limit: 10, resourceVersion: first, resourceVersionMatch: 'NotOlderThan' });
    expect(compareResourceVersions(again.metadata.resourceVersion!, first)).toBeGreaterThanOrEqual(0);
    expect(again.items.map((c) => c.metadata?.name)).toContain('later');
  });

  it('turns a plain watch from "" with bookmarks into a streaming list (initial-events-end bookmark included); without bookmarks it sends the ADDED events alone', async () => {
    const ns = await scenarioNamespace(suite.lab, 'faults-rvpin', false, 3);
    const api = new Api<ConfigMap>(suite.lab.admin, configMaps, ns);
    const kinds = (events: WatchEvent<ConfigMap>[]) => events.map((e) => (endBookmark(e) ? 'END' : e.type));
    // With the WatchList gate on, the apiserver defaults sendInitialEvents to true for a watch at "" or "0" (apimachinery's SetListOptionsDefaults).
    const plain = kinds(await watchAll(api, { resourceVersion: '', allowWatchBookmarks: true, timeoutSeconds: 4 }));
    const streamed = kinds(
      await watchAll(api, { resourceVersion: '', resourceVersionMatch: 'NotOlderThan', sendInitialEvents: true, allowWatchBookmarks: true, timeoutSeconds: 4 }),
    );
    // What a proxy that forwards only a plain watch's parameters gets: the ADDED events, no bookmark of any kind.
    const bare = kinds(await watchAll(api, { resourceVersion: '', allowWatchBookmarks: false, timeoutSeconds: 4 }));
    console.info(JSON.stringify({ plain, streamed, bare }));
    expect(plain.slice(0, 4)).toEqual(['ADDED', 'ADDED', 'ADDED', 'END']);
    expect(streamed.slice(0, 4)).toEqual(['ADDED', 'ADDED', 'ADDED', 'END']);
    expect(bare).toEqual(['ADDED', 'ADDED', 'ADDED']);
  });
});

describe('staleness while relists keep failing (503 for 1.5 s, staleAfterMs 300)', () => {
  for (const initialList of ['ListWatch', 'StreamingList'] as const) {
    it(`${initialList}: turns stale before the first list and during a relist, and counts one Init per list, not per attempt`, async () => {
      const r = await failingRelists(suite.lab, { initialList });
      console.info(JSON.stringify(r));
      const [cold, relist] = r.details.phases as { firstStaleAfterMs?: number; clearedDuringOutage: number; unavailable: number; inits: number }[];
      for (const phase of [cold!, relist!]) {
        // Several attempts failed in each outage…
        expect(phase.unavailable).toBeGreaterThanOrEqual(3);
        // …and the store said stale once 300 ms had passed without progress, and stayed stale until the outage ended.
        expect(phase.firstStaleAfterMs).toBeDefined();
        expect(phase.firstStaleAfterMs!).toBeGreaterThanOrEqual(280);
        expect(phase.clearedDuringOutage).toBe(0);
      }
      // One list, then one relist: attempts that failed before the server answered are not lists.
      expect(cold!.inits).toBe(1);
      expect(relist!.inits).toBe(2);
      expect(r.relists).toBe(1);
      expect(r.details).toMatchObject({ staleAtEnd: false, lists: 2, listsStarted: 2 });
      expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
      expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
      expect(r.leaks).toEqual([]);
    });
  }
});

describe('listSemantic Any behind a lagging watch cache', () => {
  it('relists at the last synced version, falls back to quorum when the cache is behind it, and never rolls back', async () => {
    const r = await laggingWatchCache(suite.lab);
    console.info(JSON.stringify(r));
    const d = r.details as { relistAsked: string[]; deletedBackAtRelist: boolean; rolledBack: boolean; newestBeforeRelist: string };
    // client-go's order: the last synced version, NotOlderThan; the cache cannot serve it; then a quorum read.
    expect(d.relistAsked).toHaveLength(2);
    const [first, second] = d.relistAsked;
    const [rv, match] = first!.split(' ');
    expect(match).toBe('NotOlderThan');
    expect(compareResourceVersions(rv!, d.newestBeforeRelist)).toBeGreaterThanOrEqual(0);
    expect(second).toBe('quorum');
    expect(r.details.olderListWarned).toBe(0);
    expect(d.deletedBackAtRelist).toBe(false);
    expect(d.rolledBack).toBe(false);
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
  });

  it('refuses a list older than the version it asked for (a server that ignores NotOlderThan) and reads at quorum', async () => {
    const r = await laggingWatchCache(suite.lab, { ignoresNotOlderThan: true });
    console.info(JSON.stringify(r));
    const d = r.details as { relistAsked: string[]; deletedBackAtRelist: boolean; rolledBack: boolean };
    expect(d.relistAsked.at(-1)).toBe('quorum');
    expect(d.deletedBackAtRelist).toBe(false);
    expect(d.rolledBack).toBe(false);
    expect(r.details.olderListWarned).toBe(1);
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
  });
});

describe('a streaming list the server does not stream', () => {
  it('falls back to a paginated list when a proxy forwards only a plain watch (no initial-events-end bookmark within 1 s)', async () => {
    const r = await streamingIgnored(suite.lab, { how: 'strip' });
    console.info(JSON.stringify(r));
    expect(r.details.readyAfterMs).toBeDefined();
    expect(r.details.streamingRequests).toBe(1);
    expect(r.details.listRequests).toBeGreaterThanOrEqual(1);
    expect(r.details.fallbackLogged).toBe(1);
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
  });

  it('falls back to a paginated list when the initial-events-end bookmark never comes, under churn', async () => {
    const r = await streamingIgnored(suite.lab, { how: 'dropBookmark', churn: true });
    console.info(JSON.stringify(r));
    expect(r.details.readyAfterMs).toBeDefined();
    expect(r.details.listRequests).toBeGreaterThanOrEqual(1);
    expect(r.details.fallbackLogged).toBeGreaterThanOrEqual(1);
    expect(r.invariant.ok, JSON.stringify(r.invariant)).toBe(true);
    expect(r.details.streamViewMatchesStore, 'a consumer of the stream ends with the store').toBe(true);
  });
});

describe('a slow consumer of a paginated list', () => {
  it('cannot make the list outlive its continue token: 100 objects in pages of 10, 50 ms of work per event, tokens that live 3 s', async () => {
    const r = await slowConsumer(suite.lab);
    console.info(JSON.stringify(r));
    expect(r.readyAfterMs).toBeDefined();
    // The pages are read ahead of the consumer (100 events are 5 s of its work): the list is done before its token expires.
    expect(r.expiredContinues).toBe(0);
    expect(r.firstPages).toBe(1);
    expect(r.size).toBe(r.truth);
    expect(r.invariantOk).toBe(true);
  }, 90_000);
});
