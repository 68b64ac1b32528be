/**
 * The runtime against the real kube-apiserver: sync, events, 410 relists,
 * streaming lists and their fallback, metadata-only stores, watchObject, a
 * forbidden watch, and an apiserver restart mid-watch.
 */
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { Api, type ListWatch } from '../../runtime/client/api.ts';
import { exponentialBackoff } from '../../runtime/core/backoff.ts';
import { Client } from '../../runtime/client/client.ts';
import { ApiError } from '../../runtime/core/errors.ts';
import type { Logger } from '../../runtime/core/logger.ts';
import { reflector } from '../../runtime/cache/reflector.ts';
import { store, type Store } from '../../runtime/cache/store.ts';
import { hasUnreadManagedFields } from '../../runtime/wire/lazy-managed-fields.ts';
import { editable } from '../../runtime/core/types.ts';
import { dropsManagedFields } from '../../runtime/kinds/kind.ts';
import type { KubeObject, ObjectList, ResourceDescriptor, Stored, WatchEvent, WatcherEvent } from '../../runtime/core/types.ts';
import { ConfigMap as ConfigMapKind, type ConfigMap as GeneratedConfigMap } from '../../generated/core/v1/configmap.ts';
import { metadataWatcher, watcher, watchObject, type WatcherConfig } from '../../runtime/cache/watcher.ts';
import { compactEtcd, currentState, startExtraApiserver, type ExtraApiserver } from '../controlplane/plane.ts';
import { testNamespace } from '../support/kube.ts';

interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}
const configMaps: ResourceDescriptor = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
const podTemplates: ResourceDescriptor = { group: '', version: 'v1', kind: 'PodTemplate', plural: 'podtemplates', namespaced: true };
const secrets: ResourceDescriptor = { group: '', version: 'v1', kind: 'Secret', plural: 'secrets', namespaced: true };

const env = inject('kube');
const clients: Client[] = [];
function client(context: 'admin' | 'viewer' = 'admin', kubeconfig = env.kubeconfig): Client {
  const c = Client.fromFile(kubeconfig, { context });
  clients.push(c);
  return c;
}
afterAll(() => clients.forEach((c) => c.close()));

const capture = (): Logger & { lines: string[] } => {
  const lines: string[] = [];
  const push = (m: string) => void lines.push(m);
  return { lines, debug: push, info: push, warn: push, error: push };
};

/** Runs watcher → reflector → store in the background, recording every event. */
function run<K extends KubeObject>(source: Parameters<typeof watcher<K>>[0], config: WatcherConfig = {}) {
  const { reader, writer } = store<K>();
  const ac = new AbortController();
  const events: WatcherEvent<Stored<K>>[] = [];
  const done = (async () => {
    for await (const e of reflector(writer, watcher(source, { ...config, signal: ac.signal }))) events.push(e);
  })();
  return {
    reader,
    events,
    count: (type: WatcherEvent<K>['type']) => events.filter((e) => e.type === type).length,
    async stop() {
      ac.abort();
      await done;
    },
  };
}

/** The store's (name, uid, resourceVersion) set equals a fresh quorum list. */
async function expectConverged<K extends KubeObject>(reader: Store<K>, api: Api<K>, timeout = 20_000): Promise<void> {
  const key = (o: KubeObject) => `${o.metadata?.namespace}/${o.metadata?.name}/${o.metadata?.uid}/${o.metadata?.resourceVersion}`;
  await vi.waitFor(
    async () => {
      const truth = (await api.list()).items.map(key).sort();
      expect(
        reader
          .state()
          .map((o) => key(o as KubeObject))
          .sort(),
      ).toEqual(truth);
    },
    { timeout, interval: 200 },
  );
}

async function createMany(api: Api<ConfigMap>, n: number, prefix = 'cm'): Promise<void> {
  for (let i = 0; i < n; i += 25) {
    await Promise.all(
      Array.from({ length: Math.min(25, n - i) }, (_, j) =>
        api.create({ metadata: { name: `${prefix}-${String(i + j).padStart(4, '0')}`, labels: { batch: prefix } }, data: { i: String(i + j) } }),
      ),
    );
  }
}

describe('runtime against kube-apiserver', () => {
  it('syncs a few hundred objects through small pages, one list request per page', async () => {
    const ns = await testNamespace('sync');
    const api = new Api<ConfigMap>(client(), configMaps, ns);
    await createMany(api, 300);
    let listCalls = 0;
    const counted = { resource: api.resource, namespace: api.namespace, watch: api.watch.bind(api), list: (o?: object) => (listCalls++, api.list(o)) };
    const r = run<ConfigMap>(counted, { pageSize: 25 });
    await r.reader.waitUntilReady();
    expect(r.reader.size).toBe(300);
    expect(listCalls).toBe(12);
    // The reflector reads the list into the store ahead of its consumer: the events follow.
    await vi.waitFor(() => expect(r.count('InitApply')).toBe(300));
    expect(r.reader.get({ name: 'cm-0299', namespace: ns })?.data).toEqual({ i: '299' });
    await expectConverged(r.reader, api);
    await r.stop();
  });

  it('delivers creates, updates and deletes to the store', async () => {
    const ns = await testNamespace('events');
    const api = new Api<ConfigMap>(client(), configMaps, ns);
    await createMany(api, 5);
    const r = run<ConfigMap>(api);
    await r.reader.waitUntilReady();
    await api.create({ metadata: { name: 'new' }, data: { v: '1' } });
    await api.patch('cm-0001', { type: 'merge', body: { data: { v: 'patched' } } });
    await api.replace('cm-0002', { ...(await api.get('cm-0002')), data: { v: 'replaced' } });
    await api.delete('cm-0003');
    await api.patch(
      'applied',
      { type: 'apply', body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'applied' }, data: { v: 'ssa' } } },
      { fieldManager: 'kubereflect-test' },
    );
    await vi.waitFor(() => {
      expect(r.reader.get({ name: 'new', namespace: ns })?.data).toEqual({ v: '1' });
      expect(r.reader.get({ name: 'cm-0001', namespace: ns })?.data?.v).toBe('patched');
      expect(r.reader.get({ name: 'cm-0002', namespace: ns })?.data?.v).toBe('replaced');
      expect(r.reader.get({ name: 'cm-0003', namespace: ns })).toBeUndefined();
      expect(r.reader.get({ name: 'applied', namespace: ns })?.data?.v).toBe('ssa');
    });
    expect(r.count('Apply')).toBeGreaterThanOrEqual(4);
    expect(r.count('Delete')).toBe(1);
    await expectConverged(r.reader, api);
    await r.stop();
  });

  it('relists when a re-watch hits an etcd-compacted resourceVersion (410), and the store stays right', async () => {
    const state = currentState();
    expect(env.local && state, 'needs the local control plane (etcd access)').toBeTruthy();
    const ns = await testNamespace('gone');
    const admin = client();
    // podtemplates are not in the apiserver's watch cache (see the control plane's flags): watches go to etcd.
    const api = new Api<KubeObject>(admin, podTemplates, ns);
    const template = (name: string) => ({ metadata: { name }, template: { spec: { containers: [{ name: 'c', image: 'busybox' }] } } }) as KubeObject;
    await api.create(template('before'));
    const log = capture();
    const r = run<KubeObject>(api, { timeoutSeconds: 1, logger: log });
    await r.reader.waitUntilReady();
    // Move etcd past our resourceVersion with writes elsewhere, then compact: the next re-watch is too old.
    const other = new Api<ConfigMap>(admin, configMaps, ns);
    // A watch from revision R starts at R+1, so etcd must be compacted past R+1: two writes.
    await other.create({ metadata: { name: 'bump-1' } });
    await other.create({ metadata: { name: 'bump-2' } });
    await compactEtcd(state!);
    await vi.waitFor(() => expect(r.count('Init')).toBe(2), { timeout: 15_000 });
    expect(log.lines.some((l) => l.includes('expired'))).toBe(true);
    await api.create(template('after'));
    await expectConverged(r.reader, api);
    expect(
      r.reader
        .state()
        .map((o) => o.metadata?.name)
        .sort(),
    ).toEqual(['after', 'before']);
    await r.stop();
  });

  it('syncs through a streaming list without any list request, and does not ask for initial events again', async () => {
    const ns = await testNamespace('streaming');
    const api = new Api<ConfigMap>(client(), configMaps, ns);
    await createMany(api, 40);
    const calls = { list: 0, initial: 0, watch: 0 };
    const counted = {
      resource: api.resource,
      namespace: api.namespace,
      list: (o?: object) => (calls.list++, api.list(o)),
      watch: (o: Parameters<typeof api.watch>[0] = {}) => (calls.watch++, o.sendInitialEvents && calls.initial++, api.watch(o)),
    };
    const r = run<ConfigMap>(counted, { initialList: 'StreamingList', timeoutSeconds: 1 });
    await r.reader.waitUntilReady();
    expect(r.reader.size).toBe(40);
    await api.create({ metadata: { name: 'later' } });
    await vi.waitFor(() => expect(calls.watch).toBeGreaterThanOrEqual(3), { timeout: 10_000 });
    expect(calls).toMatchObject({ list: 0, initial: 1 });
    expect(r.count('Init')).toBe(1);
    await expectConverged(r.reader, api);
    await r.stop();
  });

  describe('with a second apiserver', () => {
    let extra: ExtraApiserver | undefined;
    afterAll(async () => extra?.stop());

    it('falls back to list + watch, once and with a log line, when WatchList is off; and converges after that apiserver restarts mid-watch', async () => {
      const state = currentState();
      expect(env.local && state, 'needs the local control plane').toBeTruthy();
      extra = await startExtraApiserver(state!, 'nowatchlist', ['--feature-gates=WatchList=false']);
      const ns = await testNamespace('fallback');
      const truthApi = new Api<ConfigMap>(client(), configMaps, ns);
      await createMany(truthApi, 10);
      const api = new Api<ConfigMap>(client('admin', extra.kubeconfig), configMaps, ns);
      const log = capture();
      const r = run<ConfigMap>(api, { initialList: 'StreamingList', logger: log, backoff: exponentialBackoff({ initialMs: 100, maxMs: 1000 }) });
      await r.reader.waitUntilReady();
      expect(r.reader.size).toBe(10);
      expect(log.lines.filter((l) => l.includes('falling back to list + watch'))).toHaveLength(1);

      // Restart it while the watch is open; change things through the main apiserver meanwhile.
      const restarting = extra.restart();
      await truthApi.delete('cm-0000');
      await truthApi.create({ metadata: { name: 'during-restart' } });
      await truthApi.patch('cm-0005', { type: 'merge', body: { data: { v: 'changed' } } });
      await restarting;
      await truthApi.create({ metadata: { name: 'after-restart' } });
      await expectConverged(r.reader, truthApi);
      expect(r.count('Error')).toBeGreaterThanOrEqual(1);
      expect(log.lines.filter((l) => l.includes('falling back'))).toHaveLength(1);
      await r.stop();
    });
  });

  it('keeps a metadata-only store: objects have metadata and no data', async () => {
    const ns = await testNamespace('metaonly');
    const api = new Api<ConfigMap>(client(), configMaps, ns);
    await api.create({ metadata: { name: 'm', labels: { a: 'b' } }, data: { big: 'x'.repeat(1000) } });
    const { reader, writer } = store<ReturnType<typeof api.metadata> extends { get(n: string): Promise<infer P> } ? P : never>();
    const ac = new AbortController();
    const done = (async () => {
      for await (const _ of reflector(writer, metadataWatcher(api, { signal: ac.signal }))) {
        /* drive */
      }
    })();
    await reader.waitUntilReady();
    await api.create({ metadata: { name: 'n' }, data: { k: 'v' } });
    await vi.waitFor(() => expect(reader.size).toBe(2));
    for (const o of reader.state()) {
      expect(o.kind).toBe('PartialObjectMetadata');
      expect(o.metadata.uid).toBeTruthy();
      expect(o).not.toHaveProperty('data');
    }
    expect(reader.get({ name: 'm', namespace: ns })?.metadata.labels).toEqual({ a: 'b' });
    ac.abort();
    await done;
  });

  it('leaves managedFields out of lists and watch events when asked, and a kind reflector asks by itself when its prune drops them', async () => {
    const ns = await testNamespace('strip');
    const api = new Api<ConfigMap>(client(), configMaps, ns);
    const apply = (name: string, value: string) =>
      api.patch(name, { type: 'apply', body: { metadata: { name, labels: { app: 'strip' } }, data: { value } } }, { fieldManager: 'strip-test' });
    for (let i = 0; i < 7; i++) await apply(`cm-${i}`, 'v0');
    const managed = (o: KubeObject) => (o.metadata as { managedFields?: unknown[] } | undefined)?.managedFields;
    // The server does send them.
    expect((await api.list()).items.every((o) => (managed(o)?.length ?? 0) > 0)).toBe(true);
    expect((await api.list({ stripManagedFields: true })).items.map(managed)).toEqual(new Array(7).fill(undefined));

    const r = run(api, { stripManagedFields: true, pageSize: 3 });
    await r.reader.waitUntilReady();
    await apply('cm-0', 'v1');
    await apply('cm-new', 'v0');
    await vi.waitFor(() => expect(r.reader.get({ name: 'cm-0', namespace: ns })?.data?.value).toBe('v1'));
    await vi.waitFor(() => expect(r.reader.size).toBe(8));
    expect(r.reader.state().filter((o) => managed(o as KubeObject) !== undefined)).toEqual([]);
    expect(r.reader.get({ name: 'cm-0', namespace: ns })?.metadata?.labels).toEqual({ app: 'strip' });
    await r.stop();

    // A kind's cache with a prune that drops managedFields cuts them in the list and the watch it opens.
    const seen: { list: (boolean | undefined)[]; watch: (boolean | undefined)[] } = { list: [], watch: [] };
    const spied: ListWatch<GeneratedConfigMap> = {
      resource: api.resource,
      namespace: ns,
      list: (o) => (seen.list.push(o?.stripManagedFields), api.list(o) as Promise<ObjectList<GeneratedConfigMap>>),
      watch: (o) => (seen.watch.push(o?.stripManagedFields), api.watch(o) as AsyncIterable<WatchEvent<GeneratedConfigMap>>),
    };
    const slim = ConfigMapKind.prune({ metadata: { managedFields: true } });
    expect(dropsManagedFields(slim)).toBe(true);
    expect(dropsManagedFields(ConfigMapKind.prune({ metadata: { labels: true } }))).toBe(false);
    expect(dropsManagedFields(ConfigMapKind.keep({ data: true }))).toBe(true);
    expect(dropsManagedFields(ConfigMapKind.keep({ metadata: { managedFields: true } }))).toBe(false);
    const cache = ConfigMapKind.cache(spied, { transform: slim, watcher: { logger: capture() } });
    void cache.run();
    await cache.reader.waitUntilReady();
    await apply('cm-1', 'v2');
    await vi.waitFor(() => expect(cache.reader.get({ name: 'cm-1', namespace: ns })?.data?.value).toBe('v2'));
    cache.stop();
    expect(seen.list.length).toBeGreaterThan(0);
    expect(seen.watch.length).toBeGreaterThan(0);
    expect([...seen.list, ...seen.watch].every((x) => x === true)).toBe(true);
  });

  it('keeps managedFields unparsed with lazyManagedFields, in list pages and watch events, and the objects equal, serialise and write back as parsed ones', async () => {
    const ns = await testNamespace('lazymf');
    const api = new Api<ConfigMap>(client(), configMaps, ns);
    const apply = (name: string, value: string) =>
      api.patch(name, { type: 'apply', body: { metadata: { name, labels: { app: 'lazy' } }, data: { value } } }, { fieldManager: 'lazy-test' });
    for (let i = 0; i < 5; i++) await apply(`cm-${i}`, 'v0');
    const lazy = run(api, { lazyManagedFields: true, pageSize: 2 });
    const eager = run(api, { pageSize: 2 });
    await Promise.all([lazy.reader.waitUntilReady(), eager.reader.waitUntilReady()]);
    await apply('cm-0', 'v1');
    await apply('cm-new', 'v0');
    for (const r of [lazy, eager]) {
      await vi.waitFor(() => expect(r.reader.get({ name: 'cm-0', namespace: ns })?.data?.value).toBe('v1'));
      await vi.waitFor(() => expect(r.reader.size).toBe(6));
    }
    // Listed (pages of 2) and watched objects alike: unread, yet equal to the parsed ones and the same JSON.
    const byName = (r: typeof lazy) => r.reader.state().sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    expect(byName(lazy).every((o) => hasUnreadManagedFields(o.metadata))).toBe(true);
    expect(JSON.stringify(byName(lazy))).toBe(JSON.stringify(byName(eager)));
    expect(byName(lazy)).toStrictEqual(byName(eager));
    const cm0 = lazy.reader.get({ name: 'cm-0', namespace: ns })!;
    expect((cm0.metadata as { managedFields?: { manager?: string }[] }).managedFields?.map((m) => m.manager)).toEqual(['lazy-test']);
    // Written back whole (managedFields included, as read from the store): the server takes it.
    const copy = editable(lazy.reader.get({ name: 'cm-1', namespace: ns })!);
    copy.data = { value: 'written back' };
    await api.replace('cm-1', copy);
    await vi.waitFor(() => expect(lazy.reader.get({ name: 'cm-1', namespace: ns })?.data?.value).toBe('written back'));
    await Promise.all([lazy.stop(), eager.stop()]);
  });

  it('follows one object with watchObject: absent, created, changed, deleted', async () => {
    const ns = await testNamespace('watchobj');
    const api = new Api<ConfigMap>(client(), configMaps, ns);
    const ac = new AbortController();
    const seen: (string | undefined)[] = [];
    const follow = (async () => {
      for await (const cm of watchObject(api, 'target', { signal: ac.signal })) {
        seen.push(cm ? (cm.data?.state ?? 'none') : undefined);
        if (seen.length === 4) break;
      }
    })();
    await vi.waitFor(() => expect(seen).toEqual([undefined]));
    await api.create({ metadata: { name: 'decoy' }, data: { state: 'decoy' } });
    await api.create({ metadata: { name: 'target' }, data: { state: 'created' } });
    await vi.waitFor(() => expect(seen).toEqual([undefined, 'created']));
    await api.patch('target', { type: 'merge', body: { data: { state: 'ready' } } });
    await vi.waitFor(() => expect(seen).toEqual([undefined, 'created', 'ready']));
    await api.delete('target');
    await follow;
    expect(seen).toEqual([undefined, 'created', 'ready', undefined]);
    ac.abort();
  });

  it('surfaces a forbidden watch as a typed 403 with backoff: a bounded number of requests', async () => {
    const api = new Api<KubeObject>(client('viewer'), secrets, 'team-a');
    let requests = 0;
    const counted = { resource: api.resource, namespace: api.namespace, watch: api.watch.bind(api), list: (o?: object) => (requests++, api.list(o)) };
    const r = run<KubeObject>(counted, { logger: capture() }); // the default backoff: 800 ms, 1.6 s, …
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    await r.stop();
    const errors = r.events.filter((e): e is Extract<WatcherEvent<KubeObject>, { type: 'Error' }> => e.type === 'Error');
    expect(errors.length).toBeGreaterThanOrEqual(2);
    for (const e of errors) {
      expect(e.error).toBeInstanceOf(ApiError);
      expect((e.error as ApiError).statusCode).toBe(403);
      expect(e.error.message).not.toContain(readToken());
    }
    // Attempts at 0, ~0.8 s and ~2.4 s: two within two seconds; a hot loop would make hundreds.
    expect(requests).toBeGreaterThanOrEqual(2);
    expect(requests).toBeLessThanOrEqual(3);
    expect(r.reader.isReady()).toBe(false);
  });
});

function readToken(): string {
  return currentState()?.viewerToken ?? 'no-token-known';
}
