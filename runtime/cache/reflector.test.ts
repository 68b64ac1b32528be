import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Backoff } from '../core/backoff.ts';
import { ApiError, KubeError } from '../core/errors.ts';
import type { ListOptions, ListWatch, WatchOptions } from '../client/api.ts';
import { silentLogger } from '../core/logger.ts';
import { appliedObjects, modify, predicateFilter, predicates, reflector, streamBackoff, touchedObjects } from './reflector.ts';
import { store } from './store.ts';
import { watcher } from './watcher.ts';
import type { HasMetadata } from '../core/types.ts';
import type { KubeObject, ObjectList, Stored, WatcherEvent, WatchEvent } from '../core/types.ts';

interface Pod extends KubeObject {
  spec?: { image: string };
}

function pod(name: string, meta: { rv?: string; uid?: string; generation?: number; labels?: Record<string, string> } = {}): Pod {
  return {
    metadata: { name, namespace: 'ns', resourceVersion: meta.rv ?? '1', uid: meta.uid ?? `uid-${name}`, generation: meta.generation, labels: meta.labels },
    spec: { image: 'nginx' },
  };
}

async function* from<T>(items: Iterable<T>): AsyncGenerator<T> {
  yield* items;
}

async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const item of stream) out.push(item);
  return out;
}

const names = (objects: readonly HasMetadata[]) => objects.map((o) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`);

afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe('reflector', () => {
  it('applies each event, yields it unchanged, and closes the writer at the end', async () => {
    const { reader, writer } = store<Pod>();
    const events: WatcherEvent<Pod>[] = [
      { type: 'Init' },
      { type: 'InitApply', object: pod('a') },
      { type: 'InitDone' },
      { type: 'Apply', object: pod('b') },
      { type: 'Delete', object: pod('a') },
    ];
    const seen: WatcherEvent<Stored<Pod>>[] = [];
    for await (const e of reflector(writer, from(events))) {
      seen.push(e);
      if (e.type === 'InitDone') expect(reader.get('ns/a')).toBeDefined();
    }
    expect(seen).toHaveLength(events.length);
    seen.forEach((e, i) => expect(e).toBe(events[i]));
    expect(names(reader.state())).toEqual(['b@1']);
    expect(() => writer.applyEvent({ type: 'Init' })).toThrow(/closed/);
  });

  it('yields, after a relist, a Delete marked finalStateUnknown for each object that vanished meanwhile', async () => {
    const { reader, writer } = store<Pod>();
    const events: WatcherEvent<Pod>[] = [
      { type: 'Init' },
      { type: 'InitApply', object: pod('a') },
      { type: 'InitApply', object: pod('b') },
      { type: 'InitDone' },
      { type: 'Apply', object: pod('b', { rv: '2' }) },
      // The watch was down; the relist no longer has b.
      { type: 'Init' },
      { type: 'InitApply', object: pod('a') },
      { type: 'InitDone' },
    ];
    const seen = (await collect(reflector(writer, from(events)))).map((e) =>
      e.type === 'Delete' ? `Delete ${e.object.metadata.name}@${e.object.metadata.resourceVersion} ${e.finalStateUnknown}` : e.type,
    );
    expect(seen).toEqual(['Init', 'InitApply', 'InitApply', 'InitDone', 'Apply', 'Init', 'InitApply', 'InitDone', 'Delete b@2 true']);
    expect(names(reader.state())).toEqual(['a@1']);
    // touchedObjects hears of it too.
    const again = store<Pod>();
    const touched = await collect(touchedObjects(reflector(again.writer, from(events))));
    expect(names(touched).at(-1)).toBe('b@2');
  });

  it('claims its writer at once', () => {
    const { writer } = store<Pod>();
    reflector(writer, from([]));
    expect(() => reflector(writer, from([]))).toThrow(/already claimed by reflector\(\)/);
  });

  it('closes the writer when the stream throws, so waiters learn the store will never be ready', async () => {
    const { reader, writer } = store<Pod>();
    const waiting = reader.waitUntilReady();
    async function* failing(): AsyncGenerator<WatcherEvent<Pod>> {
      yield { type: 'Init' };
      throw new Error('stream broke');
    }
    await expect(collect(reflector(writer, failing()))).rejects.toThrow('stream broke');
    await expect(waiting).rejects.toThrow(/closed before the first list completed/);
  });

  it('closes the writer and stops the source when the consumer stops', async () => {
    const { writer } = store<Pod>();
    let sourceFinished = false;
    async function* source(): AsyncGenerator<WatcherEvent<Pod>> {
      try {
        for (;;) yield { type: 'Apply', object: pod('a') };
      } finally {
        sourceFinished = true;
      }
    }
    for await (const e of reflector(writer, source())) if (e.type === 'Apply') break;
    expect(sourceFinished).toBe(true);
    expect(() => writer.applyEvent({ type: 'Init' })).toThrow(/closed/);
  });
});

/**
 * A list source whose continue tokens expire `tokenMs` after the first page
 * of their list, as the real server's do once etcd compacts past the list's
 * revision (every 5 minutes by default: too slow for a unit test, hence the
 * fake). Its watches stay open and silent.
 */
class ExpiringPages implements ListWatch<Pod> {
  readonly resource = { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true };
  readonly namespace = 'ns';
  firstPages = 0;
  expired = 0;
  constructor(
    private readonly objects: Pod[],
    private readonly tokenMs: number,
  ) {}

  async list(o: ListOptions = {}): Promise<ObjectList<Pod>> {
    const limit = o.limit ?? 500;
    let from = 0;
    let started = Date.now();
    if (o.continue) {
      const [at, offset] = o.continue.split(':').map(Number);
      if (Date.now() - at! > this.tokenMs) {
        this.expired++;
        throw new ApiError(
          'GET /api/v1/namespaces/ns/pods',
          { kind: 'Status', code: 410, reason: 'Expired', message: 'continue parameter is too old' },
          { code: 410 },
        );
      }
      started = at!;
      from = offset!;
    } else this.firstPages++;
    const items = this.objects.slice(from, from + limit).map((p) => structuredClone(p));
    const next = from + limit < this.objects.length ? `${started}:${from + limit}` : undefined;
    return { metadata: { resourceVersion: '1000', continue: next }, items };
  }

  watch(o: WatchOptions = {}): AsyncIterable<WatchEvent<Pod>> {
    return (async function* () {
      await new Promise<void>((resolve) => o.signal?.addEventListener('abort', () => resolve(), { once: true }));
    })();
  }
}

describe('reflector: a list read ahead of a slow consumer', () => {
  it('completes a paginated list whose continue tokens outlive the list, not the consumer, and hands every event over in order', async () => {
    const objects = Array.from({ length: 100 }, (_, i) => pod(`p${String(i).padStart(3, '0')}`, { rv: String(i + 1) }));
    // Pages of 10, tokens good for 200 ms, a consumer that takes 5 ms per event: 100 events are 500 ms of work.
    const source = new ExpiringPages(objects, 200);
    const { reader, writer } = store<Pod>();
    const ac = new AbortController();
    const seen: string[] = [];
    const sameInstance: boolean[] = [];
    const consumer = (async () => {
      for await (const e of reflector(writer, watcher(source, { pageSize: 10, logger: silentLogger, signal: ac.signal }))) {
        seen.push(e.type === 'InitApply' ? e.object.metadata.name : e.type);
        if (e.type === 'InitApply') sameInstance.push(reader.get(`ns/${e.object.metadata.name}`) === e.object);
        await new Promise((r) => setTimeout(r, 5));
      }
    })();
    try {
      await reader.waitUntilReady(AbortSignal.timeout(5_000));
    } finally {
      console.info(`list restarts ${source.firstPages - 1}, expired continue tokens ${source.expired}, events seen ${seen.length}`);
    }
    expect(reader.size).toBe(100);
    expect(source.expired).toBe(0);
    expect(source.firstPages).toBe(1);
    await vi.waitFor(() => expect(seen).toHaveLength(102), { timeout: 5_000 });
    expect(seen).toEqual(['Init', ...objects.map((p) => p.metadata?.name), 'InitDone']);
    // What the consumer gets is what the store holds.
    expect(sameInstance.every(Boolean)).toBe(true);
    ac.abort();
    await consumer;
  });
});

describe('reflector: what a list hands over', () => {
  it('passes Init and Error on at once, the objects at InitDone, and never those of an attempt that started over or did not finish', async () => {
    const { reader, writer } = store<Pod>();
    const error = new KubeError('page 2: 503');
    const events: WatcherEvent<Pod>[] = [
      { type: 'Init' },
      { type: 'InitApply', object: pod('a') },
      { type: 'Error', error },
      // The continue token expired: the list starts over.
      { type: 'Init' },
      { type: 'InitApply', object: pod('b') },
      { type: 'InitDone' },
      { type: 'Apply', object: pod('b', { rv: '2' }) },
      // A relist the stream abandons before its InitDone.
      { type: 'Init' },
      { type: 'InitApply', object: pod('c') },
    ];
    const seen: string[] = [];
    for await (const e of reflector(writer, from(events))) {
      seen.push(e.type === 'InitApply' || e.type === 'Apply' ? `${e.type}:${e.object.metadata.name}` : e.type);
      if (e.type === 'Error') expect(reader.isReady()).toBe(false); // passed on before the list is done
    }
    expect(seen).toEqual(['Init', 'Error', 'Init', 'InitApply:b', 'InitDone', 'Apply:b', 'Init']);
    expect(names(reader.state())).toEqual(['b@2']);
  });

  it('hands over the instance the store kept for an unchanged object, not the relisted copy', async () => {
    const { reader, writer } = store<Pod>();
    const first = pod('a', { rv: '5' });
    const again = pod('a', { rv: '5' });
    const handed: unknown[] = [];
    for await (const e of reflector(
      writer,
      from<WatcherEvent<Pod>>([
        { type: 'Init' },
        { type: 'InitApply', object: first },
        { type: 'InitDone' },
        { type: 'Init' },
        { type: 'InitApply', object: again },
        { type: 'InitDone' },
      ]),
    )) {
      if (e.type === 'InitApply') handed.push(e.object);
    }
    expect(handed).toEqual([first, first]);
    expect(handed[1]).toBe(first);
    expect(reader.get('ns/a')).toBe(first);
  });
});

describe('appliedObjects and touchedObjects', () => {
  const error = new KubeError('watch failed');
  const events: WatcherEvent<Pod>[] = [
    { type: 'Init' },
    { type: 'InitApply', object: pod('a') },
    { type: 'InitDone' },
    { type: 'Error', error },
    { type: 'Apply', object: pod('b') },
    { type: 'Delete', object: pod('a', { rv: '2' }) },
  ];

  it('appliedObjects yields InitApply and Apply objects and hands errors to onError', async () => {
    const errors: KubeError[] = [];
    expect(names(await collect(appliedObjects(from(events), (e) => errors.push(e))))).toEqual(['a@1', 'b@1']);
    expect(errors).toEqual([error]);
  });

  it('touchedObjects also yields deleted objects', async () => {
    const errors: KubeError[] = [];
    expect(names(await collect(touchedObjects(from(events), (e) => errors.push(e))))).toEqual(['a@1', 'b@1', 'a@2']);
    expect(errors).toEqual([error]);
  });

  it('logs errors as warnings by default', async () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => {});
    await collect(appliedObjects(from(events)));
    await collect(touchedObjects(from(events)));
    expect(warn).toHaveBeenCalledTimes(2);
    expect(warn).toHaveBeenCalledWith('kubereflect:', 'watch failed');
  });
});

describe('modify', () => {
  it('maps objects of InitApply, Apply and Delete and passes other events through', async () => {
    const error = new KubeError('x');
    const init = { type: 'Init' } as const;
    const events: WatcherEvent<Pod>[] = [
      init,
      { type: 'InitApply', object: pod('a') },
      { type: 'Apply', object: pod('b') },
      { type: 'Delete', object: pod('c') },
      { type: 'Error', error },
    ];
    const slim = await collect(modify(from(events), (p) => ({ metadata: { name: p.metadata?.name?.toUpperCase() } })));
    expect(slim[0]).toBe(init);
    expect(slim.slice(1, 4)).toEqual([
      { type: 'InitApply', object: { metadata: { name: 'A' } } },
      { type: 'Apply', object: { metadata: { name: 'B' } } },
      { type: 'Delete', object: { metadata: { name: 'C' } } },
    ]);
    expect(slim[4]).toEqual({ type: 'Error', error });
    // the pruned type flows on: `spec` is gone at compile time
    const first = slim[1];
    // @ts-expect-error spec was pruned away
    if (first?.type === 'InitApply') void first.object.spec;
  });

  it('keeps finalStateUnknown on the deletes a reflector found at a relist', async () => {
    const { writer } = store<Pod>();
    const events: WatcherEvent<Pod>[] = [
      { type: 'Init' },
      { type: 'InitApply', object: pod('a') },
      { type: 'InitApply', object: pod('b') },
      { type: 'InitDone' },
      { type: 'Apply', object: pod('a', { rv: '2' }) },
      { type: 'Delete', object: pod('a', { rv: '3' }) },
      // The watch was down; the relist no longer has b.
      { type: 'Init' },
      { type: 'InitDone' },
    ];
    const deletes = (await collect(modify(reflector(writer, from(events)), (p) => ({ metadata: { name: p.metadata?.name } })))).filter(
      (e) => e.type === 'Delete',
    );
    expect(deletes).toEqual([
      { type: 'Delete', object: { metadata: { name: 'a' } } },
      { type: 'Delete', object: { metadata: { name: 'b' } }, finalStateUnknown: true },
    ]);
  });
});

describe('predicateFilter', () => {
  it('passes an object when its generation changes and blocks it otherwise', async () => {
    const input = [
      pod('a', { generation: 1, rv: '1' }),
      pod('a', { generation: 1, rv: '2' }), // status update: blocked
      pod('b', { generation: 1, rv: '3' }), // another object: passes
      pod('a', { generation: 2, rv: '4' }), // spec change: passes
      pod('a', { generation: 2, rv: '5' }),
    ];
    expect(names(await collect(predicateFilter(from(input), predicates.generation)))).toEqual(['a@1', 'b@3', 'a@4']);
  });

  it('passes a recreated object (new uid) with the same generation', async () => {
    const input = [pod('a', { generation: 1, uid: 'u1', rv: '1' }), pod('a', { generation: 1, uid: 'u2', rv: '9' })];
    expect(names(await collect(predicateFilter(from(input), predicates.generation)))).toEqual(['a@1', 'a@9']);
  });

  it('forgets an object not seen for ttlMs', async () => {
    let now = 0;
    const clock = () => now;
    async function* timed(): AsyncGenerator<Pod> {
      yield pod('a', { generation: 1, rv: '1' });
      now = 999;
      yield pod('a', { generation: 1, rv: '2' }); // within the TTL: blocked, and refreshes lastSeen
      now = 1_998;
      yield pod('a', { generation: 1, rv: '3' }); // 999 ms after last seen: still blocked
      now = 2_998;
      yield pod('a', { generation: 1, rv: '4' }); // 1000 ms after last seen: expired, passes
    }
    expect(names(await collect(predicateFilter(timed(), predicates.generation, { ttlMs: 1000, now: clock })))).toEqual(['a@1', 'a@4']);
  });

  it('lets objects through when the predicate cannot tell', async () => {
    const input = [pod('a'), pod('a')];
    expect(names(await collect(predicateFilter(from(input), () => undefined)))).toEqual(['a@1', 'a@1']);
  });

  it('fingerprints with the ready-made predicates', () => {
    expect(predicates.generation(pod('a', { generation: 3, rv: '7' }))).toBe('g:3');
    expect(predicates.generation(pod('a', { rv: '7' }))).toBe('rv:7'); // no generation: any change counts
    expect(predicates.generation({})).toBeUndefined();
    expect(predicates.resourceVersion(pod('a', { rv: '7' }))).toBe('7');
    expect(predicates.labels(pod('a', { labels: { x: '1', y: '2' } }))).toBe(predicates.labels(pod('a', { labels: { y: '2', x: '1' } })));
    expect(predicates.labels(pod('a', { labels: { x: '1' } }))).not.toBe(predicates.labels(pod('a', { labels: { x: '2' } })));
    expect(predicates.labels(pod('a'))).toBe(predicates.labels(pod('a', { labels: {} })));
    expect(predicates.annotations({ metadata: { annotations: { a: 'b' } } })).not.toBe(predicates.annotations({ metadata: {} }));
    expect(predicates.finalizers({ metadata: { finalizers: ['x'] } })).not.toBe(predicates.finalizers({ metadata: { finalizers: ['x', 'y'] } }));
  });

  it('filters on labels across frozen objects', async () => {
    const input = [
      pod('a', { labels: { app: 'web' }, rv: '1' }),
      pod('a', { labels: { app: 'web' }, rv: '2' }),
      pod('a', { labels: { app: 'api' }, rv: '3' }),
    ].map((p) => Object.freeze(p));
    expect(names(await collect(predicateFilter(from(input), predicates.labels)))).toEqual(['a@1', 'a@3']);
  });
});

describe('streamBackoff', () => {
  /** A policy that hands out the given delays and records its calls. */
  function scripted(delays: number[]) {
    const calls: string[] = [];
    const policy = (): Backoff => ({
      next: () => (calls.push('next'), delays.shift() ?? 0),
      reset: () => void calls.push('reset'),
    });
    return { policy, calls };
  }

  function settled<T>(p: Promise<T>): () => boolean {
    let done = false;
    void p.then(() => (done = true));
    return () => done;
  }

  it('waits the policy delay after an error and at least retryAfterSeconds, and resets on success', async () => {
    vi.useFakeTimers();
    const throttled = new ApiError('GET /api/v1/pods', { code: 429, reason: 'TooManyRequests' }, { retryAfterSeconds: 5 });
    const events: WatcherEvent<Pod>[] = [
      { type: 'Apply', object: pod('a') },
      { type: 'Error', error: new KubeError('first') },
      { type: 'Error', error: throttled },
      { type: 'Apply', object: pod('b') },
    ];
    const { policy, calls } = scripted([100, 200]);
    const stream = streamBackoff(from(events), policy);

    expect((await stream.next()).value).toBe(events[0]);
    expect((await stream.next()).value).toBe(events[1]); // errors are yielded at once
    const second = stream.next();
    const secondDone = settled(second);
    await vi.advanceTimersByTimeAsync(99);
    expect(secondDone()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((await second).value).toBe(events[2]);

    const third = stream.next();
    const thirdDone = settled(third);
    await vi.advanceTimersByTimeAsync(4_999); // the policy says 200 ms, the server said 5 s
    expect(thirdDone()).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect((await third).value).toBe(events[3]);
    expect(calls).toEqual(['reset', 'next', 'next', 'reset']);
    expect((await stream.next()).done).toBe(true);
  });

  it('does not wait when the consumer stops after an error', async () => {
    vi.useFakeTimers();
    const { policy } = scripted([60_000]);
    const stream = streamBackoff(from<WatcherEvent<Pod>>([{ type: 'Error', error: new KubeError('x') }, { type: 'Init' }]), policy);
    await stream.next();
    const stopped = stream.return(undefined);
    const stoppedDone = settled(stopped);
    await vi.advanceTimersByTimeAsync(0);
    expect(stoppedDone()).toBe(true);
  });
});
