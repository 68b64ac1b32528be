import { describe, expect, it } from 'vitest';
import { reflectShared, storeShared, type SubscriberEvent } from './shared-store.ts';
import type { KubeObject, Stored, WatcherEvent } from '../core/types.ts';

interface Pod extends KubeObject {
  spec?: { image: string };
}

function pod(name: string, rv = '1', uid = `uid-${name}`): Pod {
  return { metadata: { name, namespace: 'ns', resourceVersion: rv, uid } };
}

const label = (e: SubscriberEvent<Pod> | undefined) =>
  e ? `${e.type === 'Delete' ? (e.finalStateUnknown ? 'gone:' : 'deleted:') : ''}${e.object.metadata.name}@${e.object.metadata.resourceVersion}` : 'done';
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

function _settled(p: Promise<unknown>): () => boolean {
  let done = false;
  void p.then(() => (done = true));
  return () => done;
}

async function* from<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

const listed = (...pods: Pod[]): WatcherEvent<Pod>[] => [
  { type: 'Init' },
  ...pods.map((object) => ({ type: 'InitApply' as const, object })),
  { type: 'InitDone' },
];

type Read = Promise<IteratorResult<SubscriberEvent<Pod>, undefined>>;
const inFlight = new WeakMap<object, Read>();

/** Reads what a subscription has now, without waiting for more; a read left waiting is picked up by the next call. */
async function drain(sub: AsyncIterator<SubscriberEvent<Pod>, undefined>): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const read = inFlight.get(sub) ?? sub.next();
    inFlight.set(sub, read);
    const r = await Promise.race([read, macrotask().then(() => 'idle' as const)]);
    if (r === 'idle') return out;
    inFlight.delete(sub);
    out.push(label(r.done ? undefined : r.value));
    if (r.done) return out;
  }
}

describe('storeShared: each subscriber is a work queue of keys', () => {
  it('starts a subscriber with every stored object, then the latest version of what changes', async () => {
    const { reader, writer } = storeShared<Pod>();
    const events = new Channel<WatcherEvent<Pod>>();
    const root = (async () => {
      for await (const _ of reflectShared(writer, events)) {
        /* drive */
      }
    })();
    const early = reader.subscribe();
    events.push(...listed(pod('a'), pod('b')));
    await macrotask();
    expect(await drain(early)).toEqual(['a@1', 'b@1']);
    const late = reader.subscribe();
    // early has a read waiting, which takes a@2 at once; then c and a are dirty, in that order.
    // late reads nothing until all three changes are in: a is dirty once, and read at its latest.
    events.push({ type: 'Apply', object: pod('a', '2') }, { type: 'Apply', object: pod('c', '1') }, { type: 'Apply', object: pod('a', '3') });
    await macrotask();
    expect(await drain(early)).toEqual(['a@2', 'c@1', 'a@3']);
    expect(await drain(late)).toEqual(['a@3', 'b@1', 'c@1']);
    events.end();
    await root;
    expect(await drain(early)).toEqual(['done']);
  });

  it('delivers a delete with the last stored state, and a relist delete marked final state unknown', async () => {
    const { reader, writer } = storeShared<Pod>();
    const events = new Channel<WatcherEvent<Pod>>();
    const seen: WatcherEvent<Stored<Pod>>[] = [];
    const root = (async () => {
      for await (const e of reflectShared(writer, events)) seen.push(e);
    })();
    const sub = reader.subscribe();
    events.push(...listed(pod('a'), pod('b'), pod('c')));
    await macrotask();
    expect(await drain(sub)).toEqual(['a@1', 'b@1', 'c@1']);
    events.push({ type: 'Apply', object: pod('a', '2') }, { type: 'Delete', object: pod('a', '3') });
    await macrotask();
    // The waiting read took a@2; the delete reports the last stored state (the event's own object may be shaped otherwise).
    expect(await drain(sub)).toEqual(['a@2', 'deleted:a@2']);
    // The watch was down while b went away and c was deleted and made again (new uid).
    events.push(...listed(pod('c', '7', 'uid-c2')));
    await macrotask();
    expect(await drain(sub)).toEqual(['gone:b@1', 'gone:c@1', 'c@7']);
    // The root stream tells its own consumer too, after the InitDone.
    expect(
      seen.slice(-2).map((e) => (e.type === 'Delete' ? `${e.finalStateUnknown}:${e.object.metadata?.name}@${e.object.metadata?.resourceVersion}` : e.type)),
    ).toEqual(['true:b@1', 'true:c@1']);
    events.end();
    await root;
  });

  it('never makes the root wait: a subscriber that never reads holds up neither the store nor the others', async () => {
    const { reader, writer } = storeShared<Pod>();
    const stuck = reader.subscribe();
    const live = reader.subscribe();
    const events: WatcherEvent<Pod>[] = [...listed(...Array.from({ length: 100 }, (_, i) => pod(`p${i}`)))];
    for (let rv = 2; rv <= 1000; rv++) events.push({ type: 'Apply', object: pod(`p${rv % 100}`, String(rv)) });
    let passed = 0;
    for await (const _ of reflectShared(writer, from(events))) passed++;
    expect(passed).toBe(events.length);
    expect(reader.get('ns/p0')?.metadata.resourceVersion).toBe('1000');
    // Bounded by keys, not events: 100 objects, 999 updates → 100 items, each the latest.
    const got = await drain(live);
    expect(got.slice(0, -1)).toHaveLength(100);
    expect(got.at(-1)).toBe('done');
    expect(got).toContain('p0@1000');
    expect(got).toContain('p99@999');
    expect((await drain(stuck)).length).toBe(101);
  });

  it('starves no slow subscriber under churn on a few hot objects (the snapshot policy saw 5 of 1,000)', async () => {
    const { reader, writer } = storeShared<Pod>();
    const events = new Channel<WatcherEvent<Pod>>();
    const root = (async () => {
      for await (const _ of reflectShared(writer, events)) {
        /* drive */
      }
    })();
    events.push(...listed(...Array.from({ length: 1000 }, (_, i) => pod(`p${i}`))));
    await macrotask();
    const slow = reader.subscribe();
    const distinct = new Set<string>();
    let rv = 2;
    // Ten hot objects change before every single read of the slow subscriber.
    for (let read = 0; read < 1200; read++) {
      for (let hot = 0; hot < 10; hot++) events.push({ type: 'Apply', object: pod(`p${hot}`, String(rv++)) });
      await macrotask();
      const r = await slow.next();
      if (!r.done) distinct.add(r.value.object.metadata.name);
    }
    expect(distinct.size).toBe(1000);
    events.end();
    await root;
  });

  it('removes a subscriber that stops, and ends subscriptions made after the root ended', async () => {
    const { reader, writer } = storeShared<Pod>();
    const quitter = reader.subscribe();
    await quitter.return!();
    for await (const _ of reflectShared(writer, from(listed(pod('a'))))) {
      /* drive */
    }
    expect(await quitter.next()).toEqual({ done: true, value: undefined });
    expect(await drain(reader.subscribe())).toEqual(['a@1', 'done']);
  });

  it('bounds an idle subscriber by live keys: what is made and deleted while it is idle leaves nothing pending; a delete of what it knew still reaches it', async () => {
    const { reader, writer } = storeShared<Pod>();
    const events = new Channel<WatcherEvent<Pod>>();
    const root = (async () => {
      for await (const _ of reflectShared(writer, events)) {
        /* drive */
      }
    })();
    const known = Array.from({ length: 10 }, (_, i) => pod(`k${i}`));
    events.push(...listed(...known));
    await macrotask();
    const sub = reader.subscribe();
    // It takes what it knows, then leaves no read waiting: idle from here on.
    for (let i = 0; i < known.length; i++) expect((await sub.next()).done).toBe(false);
    expect(sub.pending).toBe(0);
    const n = 1_000;
    for (let i = 0; i < n; i++) events.push({ type: 'Apply', object: pod(`n${i}`) });
    await macrotask();
    expect(sub.pending).toBe(n); // live keys it has not taken
    for (let i = 0; i < n; i++) events.push({ type: 'Delete', object: pod(`n${i}`, '2') });
    for (let i = 0; i < 5; i++) events.push({ type: 'Delete', object: pod(`k${i}`, '2') });
    events.push({ type: 'Apply', object: pod('k5', '2') });
    // Deleted, made again (another uid) and deleted again before the next read: it hears of the one it knew.
    events.push(
      { type: 'Delete', object: pod('k9', '3') },
      { type: 'Apply', object: pod('k9', '4', 'uid-k9-b') },
      { type: 'Delete', object: pod('k9', '5', 'uid-k9-b') },
    );
    await macrotask();
    expect(reader.size).toBe(4);
    // The n objects it never saw are forgotten; the 6 deleted ones it knew and the changed one wait.
    expect(sub.pending).toBe(7);
    expect(await drain(sub)).toEqual(['deleted:k0@1', 'deleted:k1@1', 'deleted:k2@1', 'deleted:k3@1', 'deleted:k4@1', 'k5@2', 'deleted:k9@1']);
    events.end();
    await root;
  });

  it('with { previous: true }, hands out with each event the version this subscriber was last handed', async () => {
    const { reader, writer } = storeShared<Pod>();
    const events = new Channel<WatcherEvent<Pod>>();
    const root = (async () => {
      for await (const _ of reflectShared(writer, events)) {
        /* drive */
      }
    })();
    const sub = reader.subscribe({ previous: true });
    const plain = reader.subscribe();
    const read = async () => {
      const r = await sub.next();
      if (r.done) return 'done';
      const e = r.value;
      return `${label(e)}<${e.previous ? `${e.previous.metadata.name}@${e.previous.metadata.resourceVersion}` : 'none'}${e.type === 'Delete' && e.previous === e.object ? ' (same)' : ''}`;
    };
    events.push(...listed(pod('a'), pod('b'), pod('c')));
    await macrotask();
    expect([await read(), await read(), await read()]).toEqual(['a@1<none', 'b@1<none', 'c@1<none']);
    // Two changes before it reads: it gets the latest, and what it knew.
    events.push({ type: 'Apply', object: pod('a', '2') }, { type: 'Apply', object: pod('a', '3') });
    await macrotask();
    expect(await read()).toEqual('a@3<a@1');
    // Changed, then deleted before it read the change: the delete's last stored state, and what it knew.
    events.push({ type: 'Apply', object: pod('a', '4') }, { type: 'Delete', object: pod('a', '5') });
    // Deleted while clean: what it knew is what went.
    events.push({ type: 'Delete', object: pod('b', '6') });
    // A new object: nothing before it.
    events.push({ type: 'Apply', object: pod('d', '7') });
    await macrotask();
    expect([await read(), await read(), await read()]).toEqual(['deleted:a@4<a@3', 'deleted:b@1<b@1 (same)', 'd@7<none']);
    // Found gone at a relist and made again (another uid): the old one's delete, then the new one as new.
    events.push(...listed(pod('c', '8', 'uid-c2'), pod('d', '7')));
    await macrotask();
    expect([await read(), await read()]).toEqual(['gone:c@1<c@1 (same)', 'c@8<none']);
    expect(sub.pending).toBe(0);
    // Without the option nothing is kept. This one read nothing so far: what came and went meanwhile is no news to it.
    const plainly: string[] = [];
    while (plain.pending > 0) {
      const r = await plain.next();
      if (!r.done) plainly.push(`${label(r.value)}<${r.value.previous === undefined ? 'none' : 'kept'}`);
    }
    expect(plainly).toEqual(['d@7<none', 'c@8<none']);

    events.end();
    await root;
  });

  it('refuses two reads in flight on one subscription', async () => {
    const { reader } = storeShared<Pod>();
    const sub = reader.subscribe();
    void sub.next();
    await expect(sub.next()).rejects.toThrow(/one consumer at a time/);
  });
});
