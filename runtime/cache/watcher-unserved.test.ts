/**
 * A kind that comes and goes, against a scripted server (the real one is in
 * test/integration/kinds-come-and-go.test.ts): a CRD not installed yet, then
 * installed; removed under a synced cache; re-added. Time is faked, so that
 * minutes of waiting are checked in milliseconds: what is checked is the
 * event sequence (one `Error` per run of 404s, the empty list that empties the
 * cache), the waits (capped for 404s) and what the store and a subscriber end
 * up with.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { ListOptions, ListWatch, WatchOptions } from '../client/api.ts';
import { exponentialBackoff } from '../core/backoff.ts';
import { ApiError, TransportError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { KubeObject, ObjectList, Stored, WatcherEvent, WatchEvent } from '../core/types.ts';
import { reflectShared, storeShared, type SubscriberEvent } from './shared-store.ts';
import { UNSERVED_CONFIRM_MS, UNSERVED_RETRY_MAX_MS, watcher, type WatcherConfig } from './watcher.ts';

const resource = { group: 'comego.example.com', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true };
const CRD = 'widgets.comego.example.com';

/** What the apiserver answers for a resource it does not serve: 404, no object named. */
const notServed = (verb: string) =>
  new ApiError(
    `${verb} widgets.comego.example.com in ns`,
    { kind: 'Status', code: 404, reason: 'NotFound', message: 'the server could not find the requested resource' },
    { code: 404 },
  );

let uids = 0;
const widget = (name: string, rv: string): KubeObject => ({ metadata: { name, namespace: 'ns', uid: `uid-${name}-${++uids}`, resourceVersion: rv } });

/**
 * A server whose kind is served or not, as the test says. While served, a
 * list answers the objects and a watch stays open (it ends when the kind is
 * removed, as the apiserver ends the watches of a removed CRD); while not,
 * both answer 404. `failNext` makes the next requests fail otherwise.
 */
class Server implements ListWatch<KubeObject> {
  readonly resource = resource;
  readonly namespace = 'ns';
  served = false;
  objects: KubeObject[] = [];
  rv = 10;
  lists: number[] = [];
  watches = 0;
  failNext: Error[] = [];
  private ends = new Set<() => void>();

  async list(_opts?: ListOptions): Promise<ObjectList<KubeObject>> {
    this.lists.push(Date.now());
    const fail = this.failNext.shift();
    if (fail) throw fail;
    if (!this.served) throw notServed('LIST');
    return { metadata: { resourceVersion: String(this.rv) }, items: this.objects.map((o) => structuredClone(o)) };
  }

  watch(opts: WatchOptions = {}): AsyncIterable<WatchEvent<KubeObject>> {
    this.watches++;
    const server = this;
    return (async function* () {
      const fail = server.failNext.shift();
      if (fail) throw fail;
      if (!server.served) throw notServed('WATCH');
      if (opts.sendInitialEvents) {
        // A streaming list: the objects as ADDED, then the end bookmark.
        for (const o of server.objects) yield { type: 'ADDED', object: structuredClone(o) } as WatchEvent<KubeObject>;
        yield {
          type: 'BOOKMARK',
          object: { metadata: { resourceVersion: String(server.rv), annotations: { 'k8s.io/initial-events-end': 'true' } } },
        } as WatchEvent<KubeObject>;
      }
      await new Promise<void>((resolve) => {
        server.ends.add(resolve);
        opts.signal?.addEventListener('abort', () => resolve());
      });
    })();
  }

  /** The CRD is removed: no more serving, open watches end (their DELETED events missed: the watch was down meanwhile). */
  remove(): void {
    this.served = false;
    for (const end of this.ends) end();
    this.ends.clear();
  }
}

const capture = (): Logger & { lines: string[] } => {
  const lines: string[] = [];
  return { lines, debug: () => {}, info: (m) => void lines.push(m), warn: (m) => void lines.push(m), error: (m) => void lines.push(m) };
};

/** A shared store fed by a watcher of `server`, with one subscriber; everything each of them saw. */
function follow(server: Server, config: WatcherConfig = {}) {
  const stop = new AbortController();
  const logger = capture();
  const { reader, writer } = storeShared<KubeObject>();
  const events: WatcherEvent<Stored<KubeObject>>[] = [];
  const heard: SubscriberEvent<KubeObject>[] = [];
  // No jitter in the backoff itself: 800 ms, 1.6 s, 3.2 s, … 30 s; the cap for 404s brings its own.
  const root = reflectShared(writer, watcher(server, { signal: stop.signal, logger, backoff: exponentialBackoff({ jitter: 0 }), ...config }));
  const driving = (async () => {
    for await (const e of root) events.push(e);
  })();
  const listening = (async () => {
    for await (const e of reader.subscribe()) heard.push(e);
  })();
  const errors = () => events.filter((e) => e.type === 'Error').map((e) => e.error.message);
  return {
    reader,
    events,
    heard,
    logger,
    errors,
    async stop() {
      stop.abort();
      await vi.advanceTimersByTimeAsync(0);
      await driving;
      await listening;
    },
  };
}

/** Moves the fake time on by `ms`, in steps, so that every timer and the promises behind it run. */
async function pass(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe('a kind not served yet', () => {
  it('waits without spinning (404s retried every 4–5 s at most), says so once, and lists within 5 s of being served', async () => {
    const server = new Server();
    const cache = follow(server);
    await pass(10 * 60_000); // ten minutes for a CRD
    const waited = server.lists.length;
    // 800 ms, 1.6 s, 3.2 s, then 4–5 s: 600 s / 5 s ≈ 120 lists at least, 600 s / 4 s ≈ 150 at most.
    expect(waited).toBeGreaterThanOrEqual(3 + 590_000 / UNSERVED_RETRY_MAX_MS - 1);
    expect(waited).toBeLessThanOrEqual(4 + 600_000 / (0.8 * UNSERVED_RETRY_MAX_MS));
    const gaps = server.lists.slice(1).map((t, i) => t - server.lists[i]!);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(UNSERVED_RETRY_MAX_MS);
    expect(server.watches).toBe(0);
    // One report for the whole wait, naming the CRD; the watcher itself adds no line per retry.
    expect(cache.errors()).toHaveLength(1);
    expect(cache.errors()[0]).toContain(`the server does not serve comego.example.com/v1 widgets: is the CustomResourceDefinition ${CRD} installed?`);
    expect(cache.logger.lines).toEqual([]);
    expect(cache.reader.health()).toMatchObject({ ready: false, unserved: true, lists: 0, listsStarted: 0 });
    expect(cache.reader.health().lastError?.message).toContain(CRD);

    server.served = true;
    server.objects = [widget('a', '5'), widget('b', '6')];
    const servedAt = Date.now();
    await pass(UNSERVED_RETRY_MAX_MS);
    expect(cache.reader.isReady()).toBe(true);
    expect(server.lists.at(-1)! - servedAt).toBeLessThanOrEqual(UNSERVED_RETRY_MAX_MS);
    expect(cache.reader.size).toBe(2);
    expect(cache.reader.health()).toMatchObject({ ready: true, unserved: false, lists: 1 });
    expect(cache.heard.map((e) => `${e.type}:${e.object.metadata.name}`).sort()).toEqual(['Apply:a', 'Apply:b']);
    await cache.stop();
  });

  it('reports a run of 404s again after another failure broke it, and after the kind was served in between', async () => {
    const server = new Server();
    const cache = follow(server);
    await pass(20_000);
    server.failNext.push(new TransportError('LIST widgets', new Error('ECONNRESET')));
    await pass(60_000); // the transport error waits the ordinary backoff, grown by the 404s (up to 30 s)
    expect(cache.errors().map((m) => m.replace(/:.*/s, ''))).toEqual([
      'LIST widgets.comego.example.com in ns',
      'LIST widgets',
      'LIST widgets.comego.example.com in ns',
    ]);
    expect(cache.reader.health().unserved).toBe(true);
    await cache.stop();
  });
});

describe('a kind removed under a synced cache', () => {
  it.each([
    ['list + watch', 'ListWatch'],
    ['streaming lists', 'StreamingList'],
  ] as const)(
    'with %s: keeps its objects through a short run of 404s, then, unserved for 10 s, empties: Deletes, a subscriber told, unserved',
    async (_, initialList) => {
      const server = new Server();
      server.served = true;
      server.objects = [widget('a', '5'), widget('b', '6')];
      const cache = follow(server, { initialList });
      // Long enough that the watch ending is not taken for a watch that failed at once (no event within half its timeout).
      await pass(150_000);
      expect(cache.reader.size).toBe(2);

      server.remove();
      await pass(UNSERVED_CONFIRM_MS - 1_000);
      // Not served, said once, but not yet taken as gone: the objects stay.
      expect(cache.reader.size).toBe(2);
      expect(cache.reader.health().unserved).toBe(true);
      expect(cache.errors()).toHaveLength(1);
      expect(cache.errors()[0]).toMatch(
        /^WATCH .*404.*the server no longer serves comego\.example\.com\/v1 widgets \(was the CustomResourceDefinition widgets\.comego\.example\.com removed\?\)/,
      );
      expect(cache.heard.filter((e) => e.type === 'Delete')).toEqual([]);

      await pass(UNSERVED_RETRY_MAX_MS + 1_000);
      expect(cache.reader.size).toBe(0);
      expect(cache.reader.health()).toMatchObject({ ready: true, unserved: true, lists: 2 });
      const deletes = cache.events.filter((e) => e.type === 'Delete');
      expect(deletes.map((e) => [e.object.metadata.name, e.finalStateUnknown]).sort()).toEqual([
        ['a', true],
        ['b', true],
      ]);
      expect(
        cache.heard
          .filter((e) => e.type === 'Delete')
          .map((e) => [e.object.metadata.name, e.type === 'Delete' && e.finalStateUnknown])
          .sort(),
      ).toEqual([
        ['a', true],
        ['b', true],
      ]);
      // The empty list is the relist path: Init, InitDone, the Deletes, then the 404 saying the cache is empty.
      const tail = cache.events.slice(-5).map((e) => e.type);
      expect(tail).toEqual(['Init', 'InitDone', 'Delete', 'Delete', 'Error']);
      expect(cache.errors()).toHaveLength(2);
      expect(cache.errors()[1]).toContain(
        `the server has not served comego.example.com/v1 widgets for 10 s (the CustomResourceDefinition ${CRD} was removed): the cache of widgets.comego.example.com in ns is now empty until the kind is served again`,
      );

      // Minutes more of waiting: nothing more said, nothing more emptied, no spinning.
      const before = server.lists.length + server.watches; // a streaming list is a watch request
      await pass(5 * 60_000);
      expect(cache.errors()).toHaveLength(2);
      expect(cache.events.filter((e) => e.type === 'InitDone')).toHaveLength(2);
      // Still asking, every 4–5 s.
      expect(server.lists.length + server.watches - before).toBeGreaterThanOrEqual(300_000 / UNSERVED_RETRY_MAX_MS - 1);
      expect(server.lists.length + server.watches - before).toBeLessThanOrEqual(300_000 / (0.8 * UNSERVED_RETRY_MAX_MS) + 1);

      // Re-added with other objects: listed again, ready with them.
      server.served = true;
      server.objects = [widget('c', '40')];
      await pass(UNSERVED_RETRY_MAX_MS);
      expect(cache.reader.state().map((o) => o.metadata.name)).toEqual(['c']);
      expect(cache.reader.health()).toMatchObject({ ready: true, unserved: false, lists: 3 });
      expect(cache.heard.at(-1)).toMatchObject({ type: 'Apply', object: { metadata: { name: 'c' } } });
      await cache.stop();
    },
  );

  it('does not empty the cache when the 404s stop within 10 s: the relist finds the objects still there', async () => {
    const server = new Server();
    server.served = true;
    server.objects = [widget('a', '5')];
    const cache = follow(server);
    await pass(100);
    // What a kube-apiserver that restarts answers for custom resources until it has loaded its CRDs.
    server.failNext.push(new TransportError('WATCH widgets', new Error('ECONNREFUSED')));
    server.remove();
    await pass(6_000);
    expect(cache.reader.health().unserved).toBe(true);
    server.served = true;
    await pass(UNSERVED_RETRY_MAX_MS);
    expect(cache.reader.size).toBe(1);
    expect(cache.events.filter((e) => e.type === 'Delete')).toEqual([]);
    expect(cache.heard.filter((e) => e.type === 'Delete')).toEqual([]);
    expect(cache.reader.health()).toMatchObject({ unserved: false, lists: 2 });
    await cache.stop();
  });
});
