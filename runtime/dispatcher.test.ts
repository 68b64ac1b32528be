import { describe, expect, it } from 'vitest';
import { reflectShared, storeShared } from './dispatcher.ts';
import { reflector } from './reflector.ts';
import { store } from './store.ts';
import type { KubeObject, WatcherEvent } from './types.ts';

interface Pod extends KubeObject {
  spec?: { image: string };
}

function pod(name: string, rv = '1'): Pod {
  return { metadata: { name, namespace: 'ns', resourceVersion: rv, uid: `uid-${name}` } };
}

type Named = { readonly metadata?: { readonly name?: string; readonly resourceVersion?: string } };
const label = (p: Named | undefined) => (p ? `${p.metadata?.name}@${p.metadata?.resourceVersion}` : 'done');
const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

/** An event source the test pushes into, so the root stream stays open between steps. */
class Channel<T> implements AsyncIterable<T> {
  private items: T[] = [];
  private waiting: ((r: IteratorResult<T, undefined>) => void) | undefined;
  private ended = false;
  push(...items: T[]): void {
    for (const item of items) {
      const w = this.waiting;
      this.waiting = undefined;
      if (w) w({ done: false, value: item });
      else this.items.push(item);
    }
  }
  end(): void {
    this.ended = true;
    this.waiting?.({ done: true, value: undefined });
  }
  async *[Symbol.asyncIterator](): AsyncGenerator<T> {
    for (;;) {
      if (this.items.length > 0) yield this.items.shift()!;
      else if (this.ended) return;
      else {
        const r = await new Promise<IteratorResult<T, undefined>>((resolve) => (this.waiting = resolve));
        if (r.done) return;
        yield r.value;
      }
    }
  }
}

function settled(p: Promise<unknown>): () => boolean {
  let done = false;
  void p.then(() => (done = true));
  return () => done;
}

const listed = (...pods: Pod[]): WatcherEvent<Pod>[] => [{ type: 'Init' }, ...pods.map((object) => ({ type: 'InitApply' as const, object })), { type: 'InitDone' }];

describe('storeShared', () => {
  it('refuses a buffer that is not a positive integer', () => {
    expect(() => storeShared<Pod>({ bufferSize: 0 })).toThrow(RangeError);
    expect(() => storeShared<Pod>({ bufferSize: 1.5 })).toThrow(/positive integer/);
  });

  it('is a full store and its writer can be claimed only once', async () => {
    const { reader, writer } = storeShared<Pod>({ bufferSize: 4 });
    const root = reflectShared(writer, (async function* () { yield* listed(pod('a')); })());
    expect(() => reflector(writer, (async function* () {})())).toThrow(/already claimed by reflectShared\(\)/);
    for await (const _ of root);
    expect(reader.isReady()).toBe(true);
    expect(reader.get('ns/a')?.metadata?.name).toBe('a');
    expect(reader.filter('!app')).toHaveLength(1);
  });
});

describe('reflectShared broadcasting', () => {
  it('sends Apply objects and every stored object at InitDone, not deletes', async () => {
    const { reader, writer } = storeShared<Pod>({ bufferSize: 100 });
    const sub = reader.subscribe();
    const events: WatcherEvent<Pod>[] = [
      ...listed(pod('a'), pod('b')),
      { type: 'Apply', object: pod('c') },
      { type: 'Delete', object: pod('a', '2') },
      { type: 'Apply', object: pod('b', '3') },
      ...listed(pod('b', '3'), pod('d')), // relist: b unchanged, keeps its instance
    ];
    const seen: WatcherEvent<Pod>[] = [];
    for await (const e of reflectShared(writer, (async function* () { yield* events; })())) seen.push(e);
    expect(seen).toEqual(events);
    const got = [];
    for await (const p of sub) got.push(p);
    expect(got.slice(0, 2).map(label).sort()).toEqual(['a@1', 'b@1']);
    expect(got.slice(2, 4).map(label)).toEqual(['c@1', 'b@3']);
    expect(got.slice(4).map(label).sort()).toEqual(['b@3', 'd@1']);
    // subscribers get the stored (frozen) instances
    for (const p of got.slice(4)) expect(reader.get({ name: p.metadata!.name!, namespace: 'ns' })).toBe(p);
    expect(got.slice(4).find((p) => p.metadata?.name === 'b')).toBe(got[3]); // unchanged by the relist: same instance
    expect(Object.isFrozen(got[0])).toBe(true);
  });

  it('starts a late subscriber at the present and ends subscribers when the root ends', async () => {
    const source = new Channel<WatcherEvent<Pod>>();
    const { reader, writer } = storeShared<Pod>({ bufferSize: 10 });
    const early = reader.subscribe();
    const root = reflectShared(writer, source);
    source.push(...listed(pod('a')), { type: 'Apply', object: pod('b') });
    for (let i = 0; i < 4; i++) await root.next();
    const late = reader.subscribe();
    source.push({ type: 'Apply', object: pod('c') });
    await root.next();
    source.end();
    expect((await root.next()).done).toBe(true);

    const drain = async (it: AsyncIterable<Named>) => {
      const out: string[] = [];
      for await (const p of it) out.push(label(p));
      return out;
    };
    expect(await drain(early)).toEqual(['a@1', 'b@1', 'c@1']);
    expect(await drain(late)).toEqual(['c@1']);
    const afterEnd = reader.subscribe();
    expect((await afterEnd.next()).done).toBe(true);
  });

  it('ends a waiting subscriber when the root ends', async () => {
    const source = new Channel<WatcherEvent<Pod>>();
    const { reader, writer } = storeShared<Pod>({ bufferSize: 1 });
    const sub = reader.subscribe();
    const root = reflectShared(writer, source);
    const pending = sub.next();
    const rootDone = root.next();
    source.end();
    await rootDone;
    expect((await pending).done).toBe(true);
  });
});

describe("lag policy 'backpressure'", () => {
  it('holds the root at a full subscriber queue until the subscriber reads', async () => {
    const source = new Channel<WatcherEvent<Pod>>();
    const { reader, writer } = storeShared<Pod>({ bufferSize: 1 });
    const sub = reader.subscribe();
    const root = reflectShared(writer, source);
    source.push({ type: 'Apply', object: pod('a') }, { type: 'Apply', object: pod('b') }, { type: 'Apply', object: pod('c') });

    expect((await root.next()).value?.type).toBe('Apply'); // a went out: the queue [a] is now full
    const second = root.next();
    const secondDone = settled(second);
    for (let i = 0; i < 5; i++) await macrotask();
    expect(secondDone()).toBe(false); // stuck behind the full queue
    expect(reader.get('ns/b')).toBeDefined(); // applied, but not yet broadcast

    expect(label((await sub.next()).value)).toBe('a@1');
    await second; // room was made, so b went out and the root moved on
    const third = root.next();
    const thirdDone = settled(third);
    await macrotask();
    expect(thirdDone()).toBe(false);
    expect(label((await sub.next()).value)).toBe('b@1');
    await third;
    expect(label((await sub.next()).value)).toBe('c@1');
  });

  it('loses nothing and keeps order with two subscribers of different speeds', async () => {
    const n = 500;
    const { reader, writer } = storeShared<Pod>({ bufferSize: 1 });
    const consume = async (it: AsyncIterable<Named>, pauseEvery: number) => {
      const out: string[] = [];
      for await (const p of it) {
        out.push(p.metadata!.resourceVersion!);
        if (out.length % pauseEvery === 0) await macrotask();
      }
      return out;
    };
    const fast = consume(reader.subscribe(), 50);
    const slow = consume(reader.subscribe(), 3);
    async function* events(): AsyncGenerator<WatcherEvent<Pod>> {
      for (let i = 1; i <= n; i++) yield { type: 'Apply', object: pod(`p${i % 7}`, String(i)) };
    }
    for await (const _ of reflectShared(writer, events()));
    const expected = Array.from({ length: n }, (_, i) => String(i + 1));
    expect(await fast).toEqual(expected);
    expect(await slow).toEqual(expected);
  });

  it('stops waiting for a subscriber that stops iterating', async () => {
    const source = new Channel<WatcherEvent<Pod>>();
    const { reader, writer } = storeShared<Pod>({ bufferSize: 1 });
    const quitter = reader.subscribe();
    const root = reflectShared(writer, source);
    source.push({ type: 'Apply', object: pod('a') }, { type: 'Apply', object: pod('b') });
    await root.next();
    const blocked = root.next();
    const blockedDone = settled(blocked);
    await macrotask();
    expect(blockedDone()).toBe(false);
    for await (const _ of quitter) break; // takes a, then stops
    await blocked;
    source.push({ type: 'Apply', object: pod('c') });
    await root.next(); // no subscriber left to wait for
    expect((await quitter.next()).done).toBe(true);
  });
});

describe("lag policy 'snapshot'", () => {
  it('never stalls the root or another subscriber, and resyncs a lagging one with a snapshot', async () => {
    const source = new Channel<WatcherEvent<Pod>>();
    const { reader, writer } = storeShared<Pod>({ bufferSize: 2, lagPolicy: 'snapshot' });
    const stalled = reader.subscribe();
    const live = reader.subscribe();
    const root = reflectShared(writer, source);
    source.push(...listed(pod('a'), pod('b')));
    for (let i = 0; i < 4; i++) await root.next();
    const liveSeen: string[] = [label((await live.next()).value), label((await live.next()).value)];

    // x changes ten times and y appears; `stalled` reads nothing meanwhile
    for (let v = 1; v <= 10; v++) {
      source.push({ type: 'Apply', object: pod('x', String(v)) });
      await root.next(); // would hang here if the root waited for `stalled`
      liveSeen.push(label((await live.next()).value));
    }
    source.push({ type: 'Apply', object: pod('y') });
    await root.next();
    liveSeen.push(label((await live.next()).value));
    expect(liveSeen.slice(2)).toEqual([...Array.from({ length: 10 }, (_, i) => `x@${i + 1}`), 'y@1']);

    // `stalled` resumes: a snapshot equal to the store, then live again
    const snapshot = [];
    for (let i = 0; i < reader.size; i++) snapshot.push((await stalled.next()).value!);
    expect(snapshot.map(label).sort()).toEqual(['a@1', 'b@1', 'x@10', 'y@1']);
    expect(new Set(snapshot)).toEqual(new Set(reader.state()));
    source.push({ type: 'Apply', object: pod('z') });
    await root.next();
    expect(label((await stalled.next()).value)).toBe('z@1');
    source.end();
    await root.next();
    expect((await stalled.next()).done).toBe(true);
  });

  it('delivers without a snapshot while a subscriber keeps up', async () => {
    const { reader, writer } = storeShared<Pod>({ bufferSize: 2, lagPolicy: 'snapshot' });
    const sub = reader.subscribe();
    const events: WatcherEvent<Pod>[] = [
      { type: 'Apply', object: pod('a') },
      { type: 'Apply', object: pod('a', '2') },
    ];
    for await (const _ of reflectShared(writer, (async function* () { yield* events; })()));
    const got = [];
    for await (const p of sub) got.push(label(p));
    expect(got).toEqual(['a@1', 'a@2']); // two fit in the buffer: every version, no snapshot
  });
});

describe('plain store and shared store', () => {
  it('cannot feed reflectShared with a plain writer', () => {
    const { writer } = store<Pod>();
    // @ts-expect-error a plain Writer has no subscribers to broadcast to
    expect(() => reflectShared(writer, (async function* () {})())).toThrow();
  });
});
