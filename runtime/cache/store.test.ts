import { describe, expect, it, vi } from 'vitest';
import { ApiError, RequestAbortedError, KubeError } from '../core/errors.ts';
import { parseLabelSelector } from '../core/labels.ts';
import { ObjectRef, keyOf } from '../core/object-ref.ts';
import { reflector } from './reflector.ts';
import { store } from './store.ts';
import type { Store } from './store.ts';
import type { KubeObject, WatcherEvent } from '../core/types.ts';
import { mulberry32 } from '../../test/support/random.ts';

interface Pod {
  apiVersion?: 'v1';
  kind?: 'Pod';
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string> };
  spec?: { containers: { name: string }[] };
}
interface Node {
  apiVersion?: 'v1';
  kind?: 'Node';
  metadata?: { name?: string; uid?: string; resourceVersion?: string };
  spec?: { unschedulable: boolean };
}

const pods = { group: '', version: 'v1', kind: 'Pod' };

function pod(name: string, namespace: string | undefined, resourceVersion: string, extra: { uid?: string; labels?: Record<string, string> } = {}): Pod {
  return { metadata: { name, namespace, resourceVersion, uid: extra.uid ?? `uid-${namespace}-${name}`, labels: extra.labels } };
}

function list<K>(objects: K[]): WatcherEvent<K>[] {
  return [{ type: 'Init' }, ...objects.map((object) => ({ type: 'InitApply' as const, object })), { type: 'InitDone' }];
}

/** `key@resourceVersion` of every stored object, sorted: a comparable picture of the store. */
function picture(reader: Store<Pod>): string {
  return reader
    .state()
    .map((p) => `${keyOf(p)}@${p.metadata?.resourceVersion}`)
    .sort()
    .join(' ');
}

const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('store writer', () => {
  it('shows nothing until the first InitDone, then the whole list at once', () => {
    const { reader, writer } = store<Pod>();
    writer.applyEvent({ type: 'Init' });
    writer.applyEvent({ type: 'InitApply', object: pod('a', 'ns', '1') });
    expect(reader.size).toBe(0);
    expect(reader.isReady()).toBe(false);
    expect(reader.get('ns/a')).toBeUndefined();
    writer.applyEvent({ type: 'InitApply', object: pod('b', 'ns', '1') });
    writer.applyEvent({ type: 'InitDone' });
    expect(reader.isReady()).toBe(true);
    expect(picture(reader)).toBe('ns/a@1 ns/b@1');
  });

  it('applies Apply and Delete to the live map and ignores Error', () => {
    const { reader, writer } = store<Pod>();
    for (const e of list([pod('a', 'ns', '1')])) writer.applyEvent(e);
    writer.applyEvent({ type: 'Apply', object: pod('b', 'ns', '2') });
    writer.applyEvent({ type: 'Apply', object: pod('a', 'ns', '3') });
    expect(picture(reader)).toBe('ns/a@3 ns/b@2');
    writer.applyEvent({ type: 'Delete', object: pod('a', 'ns', '4') });
    writer.applyEvent({ type: 'Error', error: new KubeError('boom') });
    expect(picture(reader)).toBe('ns/b@2');
  });

  it('treats InitDone without Init as an empty list, and a later relist keeps readiness', () => {
    const { reader, writer } = store<Pod>();
    writer.applyEvent({ type: 'Apply', object: pod('a', 'ns', '1') });
    writer.applyEvent({ type: 'InitDone' });
    expect(reader.size).toBe(0);
    expect(reader.isReady()).toBe(true);
    writer.applyEvent({ type: 'Init' });
    expect(reader.isReady()).toBe(true);
  });

  it('freezes stored objects unless told not to', () => {
    const frozen = store<Pod>();
    const p = pod('a', 'ns', '1');
    frozen.writer.applyEvent({ type: 'Apply', object: p });
    expect(Object.isFrozen(frozen.reader.get('ns/a'))).toBe(true);
    expect(() => ((p as { kind?: string }).kind = 'X')).toThrow(TypeError);

    const loose = store<Pod>({ freeze: false });
    loose.writer.applyEvent({ type: 'Apply', object: pod('a', 'ns', '1') });
    expect(Object.isFrozen(loose.reader.get('ns/a'))).toBe(false);
  });

  it('shares the empty leaves of managedFields and keeps the same JSON', () => {
    const withFields = (name: string) => ({
      metadata: {
        name,
        namespace: 'ns',
        resourceVersion: '1',
        uid: `uid-${name}`,
        managedFields: [
          { manager: 'kubelet', fieldsV1: { 'f:status': { 'f:phase': {}, 'f:conditions': { 'k:{"type":"Ready"}': { '.': {}, 'f:status': {} } } } } },
          { manager: 'empty', fieldsV1: {} },
          { manager: 'no-fields' },
        ],
      },
      spec: { containers: [], emptyMap: {}, emptyList: [] },
    });
    const { reader, writer } = store<Pod>();
    for (const e of list([withFields('a') as Pod])) writer.applyEvent(e);
    writer.applyEvent({ type: 'Apply', object: withFields('b') as Pod });
    type Stored = { metadata: { managedFields: { fieldsV1?: Tree }[] }; spec: { emptyMap: object; emptyList: unknown[] } };
    type Tree = { [key: string]: Tree };
    const at = (o: unknown, ...path: string[]) => path.reduce((node, key) => node[key]!, (o as Stored).metadata.managedFields[0]!.fieldsV1!);
    const [a, b] = [reader.get('ns/a'), reader.get('ns/b')];
    expect(JSON.stringify(a)).toBe(JSON.stringify(withFields('a')));
    expect(JSON.stringify(b)).toBe(JSON.stringify(withFields('b')));
    const leaf = at(a, 'f:status', 'f:phase');
    expect(Object.isFrozen(leaf)).toBe(true);
    expect(at(b, 'f:status', 'f:conditions', 'k:{"type":"Ready"}', '.')).toBe(leaf);
    // Only managedFields: empty objects elsewhere are the object's own, and stay mutable.
    const spec = (a as unknown as Stored).spec;
    expect(spec.emptyMap).not.toBe(leaf);
    expect(Object.isFrozen(spec.emptyMap)).toBe(false);
    expect(Array.isArray(spec.emptyList)).toBe(true);

    const { reader: plain, writer: plainWriter } = store<Pod>({ shareManagedFieldLeaves: false });
    plainWriter.applyEvent({ type: 'Apply', object: withFields('c') as Pod });
    expect(at(plain.get('ns/c'), 'f:status', 'f:phase')).not.toBe(leaf);
  });

  it('can be claimed once, and refuses events once closed', () => {
    const { writer } = store<Pod>();
    writer.claim('first');
    expect(() => writer.claim('second')).toThrow(/already claimed by first/);
    writer.close();
    writer.close();
    expect(() => writer.applyEvent({ type: 'Init' })).toThrow(/closed/);
  });

  it('matches a simple Map model after 100,000 random events with relists', () => {
    const random = mulberry32(20240611);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const namespaces = [undefined, 'a', 'b'];
    const names = Array.from({ length: 300 }, (_, i) => `n${i}`);
    const model = new Map<string, Pod>();
    const { reader, writer } = store<Pod>();
    let rv = 0;
    let relists = 0;
    for (const e of list<Pod>([])) writer.applyEvent(e);

    for (let i = 0; i < 100_000; i++) {
      const roll = random();
      if (roll < 0.0005) {
        // A relist after missed events: some objects changed or vanished meanwhile.
        for (const [key, p] of model) {
          const r = random();
          if (r < 0.05) model.delete(key);
          else if (r < 0.1) model.set(key, pod(p.metadata!.name!, p.metadata!.namespace, String(++rv)));
        }
        for (const e of list([...model.values()].map((p) => structuredClone(p)))) writer.applyEvent(e);
        relists++;
      } else if (roll < 0.7) {
        const p = pod(pick(names), pick(namespaces), String(++rv));
        model.set(keyOf(p), p);
        writer.applyEvent({ type: 'Apply', object: structuredClone(p) });
      } else {
        const p = pod(pick(names), pick(namespaces), String(++rv));
        model.delete(keyOf(p));
        writer.applyEvent({ type: 'Delete', object: p });
      }
    }

    expect(relists).toBeGreaterThan(20);
    const state = reader.state();
    const keys = state.map(keyOf);
    expect(new Set(keys).size).toBe(keys.length);
    expect(reader.size).toBe(model.size);
    for (const [key, p] of model) expect(reader.get(key)).toEqual(p);
  });
});

describe('relist', () => {
  const oldList = () => [pod('a', 'ns', '1'), pod('b', 'ns', '1'), pod('c', 'ns', '1')];
  const newList = () => [pod('b', 'ns', '2'), pod('c', 'ns', '1'), pod('d', 'ns', '1')];

  it('never shows a reader a mix of the old and the new list', async () => {
    const { reader, writer } = store<Pod>();
    async function* events(): AsyncGenerator<WatcherEvent<Pod>> {
      yield* list(oldList());
      for (const e of list(newList())) {
        await macrotask(); // lets the poller run between every two events
        yield e;
      }
      await macrotask();
    }
    const seen: { relisted: boolean; picture: string }[] = [];
    let listed = false;
    let relisted = false;
    let running = true;
    const poller = (async () => {
      while (running) {
        if (listed) seen.push({ relisted, picture: picture(reader) });
        await macrotask();
      }
    })();
    let initDones = 0;
    for await (const e of reflector(writer, events())) {
      if (e.type === 'InitDone' && ++initDones === 1) listed = true;
      else if (e.type === 'InitDone') relisted = true;
    }
    running = false;
    await poller;

    const during = seen.filter((s) => !s.relisted);
    const after = seen.filter((s) => s.relisted);
    expect(during.length).toBeGreaterThanOrEqual(4); // one read at least between each two events of the relist
    expect(after.length).toBeGreaterThanOrEqual(1);
    for (const s of during) expect(s.picture).toBe('ns/a@1 ns/b@1 ns/c@1');
    for (const s of after) expect(s.picture).toBe('ns/b@2 ns/c@1 ns/d@1');
  });

  it('keeps the stored instance of unchanged objects', () => {
    const { reader, writer } = store<Pod>();
    for (const e of list(oldList())) writer.applyEvent(e);
    const before = { b: reader.get('ns/b'), c: reader.get('ns/c') };
    const incoming = newList();
    for (const e of list(incoming)) writer.applyEvent(e);
    expect(reader.get('ns/c')).toBe(before.c);
    expect(reader.get('ns/c')).not.toBe(incoming[1]);
    expect(reader.get('ns/b')).not.toBe(before.b);
    expect(reader.get('ns/b')).toBe(incoming[0]);
  });

  it('does not reuse an instance whose uid changed', () => {
    const { reader, writer } = store<Pod>();
    for (const e of list([pod('a', 'ns', '1', { uid: 'u1' })])) writer.applyEvent(e);
    const before = reader.get('ns/a');
    for (const e of list([pod('a', 'ns', '1', { uid: 'u2' })])) writer.applyEvent(e);
    expect(reader.get('ns/a')).not.toBe(before);
    expect(reader.get('ns/a')?.metadata?.uid).toBe('u2');
  });

  it('stores the new instances with reuseUnchanged: false', () => {
    const { reader, writer } = store<Pod>({ reuseUnchanged: false });
    for (const e of list(oldList())) writer.applyEvent(e);
    const before = reader.get('ns/c');
    const incoming = newList();
    for (const e of list(incoming)) writer.applyEvent(e);
    expect(reader.get('ns/c')).not.toBe(before);
    expect(reader.get('ns/c')).toBe(incoming[1]);
  });
});

describe('store reader', () => {
  it('stores prototype-like names as ordinary names', () => {
    const protoBefore = Object.getOwnPropertyNames(Object.prototype).sort();
    const { reader, writer } = store<Pod>();
    const names = ['__proto__', 'constructor', 'hasOwnProperty'];
    for (const name of names) {
      writer.applyEvent({ type: 'Apply', object: pod(name, 'ns', '1') });
      writer.applyEvent({ type: 'Apply', object: pod(name, undefined, '2') });
    }
    expect(reader.size).toBe(6);
    for (const name of names) {
      expect(reader.get({ name, namespace: 'ns' })?.metadata?.resourceVersion).toBe('1');
      expect(reader.get({ name })?.metadata?.resourceVersion).toBe('2');
      expect(reader.get(`ns/${name}`)?.metadata?.name).toBe(name);
    }
    expect(reader.get('ns/toString')).toBeUndefined();
    expect(reader.get({ name: 'valueOf' })).toBeUndefined();
    writer.applyEvent({ type: 'Delete', object: pod('__proto__', 'ns', '3') });
    expect(reader.get({ name: '__proto__', namespace: 'ns' })).toBeUndefined();
    expect(reader.get({ name: '__proto__' })).toBeDefined();
    expect(Object.getOwnPropertyNames(Object.prototype).sort()).toEqual(protoBefore);
    expect(({} as Record<string, unknown>).resourceVersion).toBeUndefined();
  });

  it('keeps a cluster-scoped and a namespaced object of the same name apart', () => {
    const { reader, writer } = store<Pod>();
    writer.applyEvent({ type: 'Apply', object: pod('web', undefined, '1') });
    writer.applyEvent({ type: 'Apply', object: pod('web', 'default', '2') });
    expect(reader.size).toBe(2);
    expect(reader.get({ name: 'web' })?.metadata?.resourceVersion).toBe('1');
    expect(reader.get({ name: 'web', namespace: 'default' })?.metadata?.resourceVersion).toBe('2');
    writer.applyEvent({ type: 'Delete', object: pod('web', undefined, '3') });
    expect(reader.get({ name: 'web', namespace: 'default' })).toBeDefined();
    expect(reader.get({ name: 'web' })).toBeUndefined();
  });

  it('keys a cluster-scoped object by its bare name', () => {
    const { reader, writer } = store<Pod>();
    writer.applyEvent({ type: 'Apply', object: pod('worker-1', undefined, '1') });
    expect(reader.get('worker-1')?.metadata.name).toBe('worker-1');
    expect(reader.get('/worker-1')).toBeUndefined();
  });

  it('refuses an object without a uid or a resourceVersion, naming it', () => {
    const { reader, writer } = store<Pod>();
    expect(() => writer.applyEvent({ type: 'Apply', object: { metadata: { name: 'a', namespace: 'ns', resourceVersion: '1' } } })).toThrow(
      /ns\/a has no metadata\.uid/,
    );
    expect(() => writer.applyEvent({ type: 'Apply', object: { metadata: { name: 'b', uid: 'u' } } })).toThrow(/b has no metadata\.resourceVersion/);
    expect(reader.size).toBe(0);
  });

  it('looks up by ObjectRef, name and key, and finds and filters', () => {
    const { reader, writer } = store<Pod>();
    const objects = [
      pod('web-0', 'shop', '1', { labels: { app: 'web', tier: 'fe' } }),
      pod('web-1', 'shop', '1', { labels: { app: 'web', tier: 'db' } }),
      pod('api-0', 'shop', '1', { labels: { app: 'api' } }),
    ];
    for (const e of list(objects)) writer.applyEvent(e);
    expect(reader.get(ObjectRef.of<Pod>(pods, 'web-0', 'shop'))).toBe(objects[0]);
    expect(reader.get(ObjectRef.fromObject(objects[1]!, pods))).toBe(objects[1]);
    expect(reader.find((p) => p.metadata?.labels?.app === 'api')).toBe(objects[2]);
    expect(reader.find(() => false)).toBeUndefined();
    const names = (xs: readonly { readonly metadata?: { readonly name?: string } }[]) => xs.map((p) => p.metadata?.name).sort();
    expect(names(reader.filter('app=web,tier!=db'))).toEqual(['web-0']);
    expect(names(reader.filter('!tier'))).toEqual(['api-0']);
    expect(names(reader.filter(parseLabelSelector('app in (api,web)')))).toEqual(['api-0', 'web-0', 'web-1']);
    expect(names(reader.filter((p) => p.metadata?.name?.endsWith('-1') ?? false))).toEqual(['web-1']);
    expect(() => reader.filter('app in web')).toThrow(/invalid label selector/);
  });

  it('returns state() as a snapshot that later writes do not change', () => {
    const { reader, writer } = store<Pod>();
    writer.applyEvent({ type: 'Apply', object: pod('a', 'ns', '1') });
    const snapshot = reader.state();
    writer.applyEvent({ type: 'Apply', object: pod('b', 'ns', '1') });
    expect(snapshot).toHaveLength(1);
    expect(reader.state()).toHaveLength(2);
  });

  it('returns keys() as a snapshot of the store keys, each the key get() finds the object by', () => {
    const { reader, writer } = store<Pod>();
    writer.applyEvent({ type: 'Apply', object: pod('a', 'ns', '1') });
    const keys = reader.keys();
    writer.applyEvent({ type: 'Apply', object: pod('b', 'ns', '1') });
    expect(keys).toEqual(['ns/a']);
    expect(reader.keys().sort()).toEqual(['ns/a', 'ns/b']);
    expect(
      reader
        .keys()
        .map((k) => reader.get(k)?.metadata?.name)
        .sort(),
    ).toEqual(['a', 'b']);
  });
});

describe('relist deletes', () => {
  it('returns, at InitDone, every stored object the relist no longer has or has with another uid', () => {
    const { reader, writer } = store<Pod>();
    for (const e of list([pod('a', 'ns', '1'), pod('b', 'ns', '1'), pod('c', 'ns', '1')])) writer.applyEvent(e);
    writer.applyEvent({ type: 'Init' });
    writer.applyEvent({ type: 'InitApply', object: pod('a', 'ns', '1') });
    writer.applyEvent({ type: 'InitApply', object: pod('c', 'ns', '5', { uid: 'uid-c-again' }) });
    const vanished = writer.applyEvent({ type: 'InitDone' });
    expect(vanished.map((o) => `${o.metadata.name}:${o.metadata.uid}`)).toEqual(['b:uid-ns-b', 'c:uid-ns-c']);
    expect(
      reader
        .state()
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['a', 'c']);
    expect(writer.applyEvent({ type: 'Apply', object: pod('d', 'ns', '6') })).toEqual([]);
  });
});

describe('health', () => {
  it('tracks lists, the last error, and turns stale only after failing for staleAfterMs', () => {
    const { reader, writer } = store<Pod>({ staleAfterMs: 1_000 });
    const t0 = Date.now();
    expect(reader.health(t0)).toMatchObject({ ready: false, stale: false, lists: 0, lastError: undefined });
    for (const e of list([pod('a', 'ns', '7')])) writer.applyEvent(e);
    expect(reader.health()).toMatchObject({ ready: true, stale: false, lists: 1, resourceVersion: '7' });
    const error = new KubeError('watch failed');
    writer.applyEvent({ type: 'Error', error });
    const failing = reader.health();
    expect(failing.lastError).toBe(error);
    expect(failing.failingSince).toBeGreaterThanOrEqual(t0);
    expect(reader.health(failing.failingSince! + 999).stale).toBe(false);
    writer.applyEvent({ type: 'Error', error: new KubeError('again') });
    expect(reader.health(failing.failingSince! + 1_000)).toMatchObject({ stale: true, failingSince: failing.failingSince, ready: true });
    // Any success ends the run of errors.
    writer.applyEvent({ type: 'Apply', object: pod('a', 'ns', '8') });
    expect(reader.health(failing.failingSince! + 5_000)).toMatchObject({ stale: false, failingSince: undefined, resourceVersion: '8' });
    for (const e of list([])) writer.applyEvent(e);
    expect(reader.health().lists).toBe(2);
  });

  it('counts only progress against staleness: a relist that keeps starting and failing goes stale', () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      const since = Date.now();
      const { reader, writer } = store<Pod>({ staleAfterMs: 1_000 });
      for (const e of list([pod('a', 'ns', '7')])) writer.applyEvent(e);
      writer.applyEvent({ type: 'Error', error: new KubeError('watch: 410') });
      // Each attempt of the relist starts (Init), gets part of the way (InitApply) and fails again, 300 ms apart.
      for (let i = 1; i <= 3; i++) {
        vi.setSystemTime(since + 300 * i);
        writer.applyEvent({ type: 'Init' });
        writer.applyEvent({ type: 'InitApply', object: pod('a', 'ns', '7') });
        writer.applyEvent({ type: 'Error', error: new KubeError('list: 503') });
      }
      expect(reader.health(since + 1_000)).toMatchObject({ stale: true, failingSince: since, lists: 1, listsStarted: 4 });
      // A list that completes is progress.
      writer.applyEvent({ type: 'InitDone' });
      expect(reader.health(since + 5_000)).toMatchObject({ stale: false, failingSince: undefined, lists: 2, listsStarted: 4 });
    } finally {
      vi.useRealTimers();
    }
  });

  it('counts a bookmark as progress: the watch is alive on a quiet resource', () => {
    const { reader, writer } = store<Pod>({ staleAfterMs: 1_000 });
    for (const e of list([pod('a', 'ns', '7')])) writer.applyEvent(e);
    writer.applyEvent({ type: 'Error', error: new KubeError('watch cut') });
    const since = reader.health().failingSince!;
    expect(writer.applyEvent({ type: 'Bookmark', resourceVersion: '9' })).toEqual([]);
    expect(reader.health(since + 5_000)).toMatchObject({ stale: false, failingSince: undefined, resourceVersion: '7' });
    expect(reader.health().lastEventAt).toBeGreaterThanOrEqual(since);
  });

  it('says unserved while the last report is a 404 naming no object (the kind is not served), until anything else comes', () => {
    const { reader, writer } = store<Pod>();
    const notFound = (name?: string) =>
      new ApiError(
        'LIST widgets.demo.example.com in ns',
        { kind: 'Status', code: 404, reason: 'NotFound', ...(name ? { details: { name } } : {}) },
        { code: 404 },
      );
    expect(reader.health().unserved).toBe(false);
    writer.applyEvent({ type: 'Error', error: notFound() });
    expect(reader.health()).toMatchObject({ unserved: true, ready: false });
    // Another failure is the last report now.
    writer.applyEvent({ type: 'Error', error: new KubeError('connection reset') });
    expect(reader.health().unserved).toBe(false);
    writer.applyEvent({ type: 'Error', error: notFound() });
    // The server began to answer a list: the kind is served.
    writer.applyEvent({ type: 'Init' });
    expect(reader.health().unserved).toBe(false);
    for (const e of list([pod('a', 'ns', '7')])) writer.applyEvent(e);
    writer.applyEvent({ type: 'Error', error: notFound() });
    expect(reader.health()).toMatchObject({ unserved: true, ready: true });
    writer.applyEvent({ type: 'Bookmark', resourceVersion: '9' });
    expect(reader.health().unserved).toBe(false);
    // A 404 that names an object is that object missing, not the kind.
    writer.applyEvent({ type: 'Error', error: notFound('a') });
    expect(reader.health().unserved).toBe(false);
  });
});

describe('waitUntilReady', () => {
  it('resolves at the first InitDone', async () => {
    const { reader, writer } = store<Pod>();
    let ready = false;
    const waiting = reader.waitUntilReady().then(() => (ready = true));
    writer.applyEvent({ type: 'Init' });
    writer.applyEvent({ type: 'InitApply', object: pod('a', 'ns', '1') });
    await macrotask();
    expect(ready).toBe(false);
    writer.applyEvent({ type: 'InitDone' });
    await waiting;
    expect(ready).toBe(true);
    await expect(reader.waitUntilReady()).resolves.toBeUndefined();
    writer.close();
    await expect(reader.waitUntilReady()).resolves.toBeUndefined();
  });

  it('rejects when the writer closes first, now or later', async () => {
    const { reader, writer } = store<Pod>();
    const early = reader.waitUntilReady();
    writer.applyEvent({ type: 'Init' });
    writer.close();
    await expect(early).rejects.toThrow(/closed before the first list completed/);
    await expect(reader.waitUntilReady()).rejects.toBeInstanceOf(KubeError);
  });

  it('rejects when its signal aborts', async () => {
    const { reader } = store<Pod>();
    const controller = new AbortController();
    const waiting = reader.waitUntilReady(controller.signal);
    controller.abort();
    await expect(waiting).rejects.toBeInstanceOf(RequestAbortedError);
    await expect(reader.waitUntilReady(AbortSignal.abort())).rejects.toBeInstanceOf(RequestAbortedError);
  });
});

// Compile-time checks, run by `tsc --noEmit`; never called.
// biome-ignore lint/suspicious/noExportsInTest: exported only so that the never-called function counts as used.
export function typeChecks(reader: Store<Pod>): void {
  const nodes = { group: '', version: 'v1', kind: 'Node' };
  // @ts-expect-error a reference to a Node cannot look up a Pod
  reader.get(ObjectRef.of<Node>(nodes, 'worker-1'));
  // @ts-expect-error stored objects are read-only
  reader.get('ns/a')!.metadata!.name = 'x';
}

describe('waitForVersion', () => {
  const obj = (name: string, rv: string) => ({ metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: rv } });

  it('resolves once the store holds the object at that version or newer (ordered as numbers), at once if it does', async () => {
    const { reader, writer } = store<KubeObject>();
    writer.applyEvent({ type: 'Init' });
    writer.applyEvent({ type: 'InitApply', object: obj('a', '99') });
    writer.applyEvent({ type: 'InitDone' });
    await expect(reader.waitForVersion('ns/a', '98')).resolves.toMatchObject({ metadata: { resourceVersion: '99' } });
    let got: string | undefined;
    const waiting = reader.waitForVersion({ name: 'a', namespace: 'ns' }, '100').then((o) => (got = o.metadata.resourceVersion));
    writer.applyEvent({ type: 'Apply', object: obj('b', '100') }); // another object: not it
    writer.applyEvent({ type: 'Apply', object: obj('a', '99') });
    await Promise.resolve();
    expect(got).toBeUndefined();
    writer.applyEvent({ type: 'Apply', object: obj('a', '101') }); // '101' > '100' though a string comparison would agree only by luck of length
    await waiting;
    expect(got).toBe('101');
  });

  it('counts only the exact version where versions cannot be ordered, and says what it holds when it times out', async () => {
    const { reader, writer } = store<KubeObject>({ name: 'things in ns' });
    writer.applyEvent({ type: 'Init' });
    writer.applyEvent({ type: 'InitApply', object: obj('a', 'opaque-2') });
    writer.applyEvent({ type: 'InitDone' });
    await expect(reader.waitForVersion('ns/a', 'opaque-1', { timeoutMs: 20 })).rejects.toThrow(
      'kubereflect: things in ns does not hold ns/a at resourceVersion opaque-1 or newer after 20 ms (it holds opaque-2)',
    );
    const later = reader.waitForVersion('ns/a', 'opaque-3');
    writer.applyEvent({ type: 'Apply', object: obj('a', 'opaque-3') });
    await expect(later).resolves.toMatchObject({ metadata: { resourceVersion: 'opaque-3' } });
  });
});
