/**
 * A kind that comes and goes, on the real apiserver: caches started before
 * their CRD exists wait without spinning and say why once; they list by
 * themselves within seconds of the CRD being established; when the CRD is
 * deleted they end up empty (the server's Deletes, or — for objects whose
 * Deletes were missed while the watch was down — `finalStateUnknown` Deletes
 * from the empty list the watcher makes of a kind no longer served) and say
 * `unserved`; when it is created again, they list again. Each test has a CRD
 * group of its own, so that tests running side by side do not meet.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { Api, ApiError, applyManifests, Client, type KubeObject, type Logger, type Stored } from '../../runtime/index.ts';
import { reflectShared, storeShared, watcher, type SubscriberEvent, type WatcherConfig } from '../../runtime/cache.ts';
import { namespacedKind } from '../../runtime/kind.ts';
import type { ListOptions, ListWatch, WatchOptions } from '../../runtime/client/api.ts';
import { TransportError } from '../../runtime/core/errors.ts';
import type { WatchEvent } from '../../runtime/core/types.ts';
import { UNSERVED_CONFIRM_MS, UNSERVED_RETRY_MAX_MS } from '../../runtime/cache/watcher.ts';
import { testCrd } from '../support/crd.ts';
import { testNamespace } from '../support/kube.ts';

const crds = (client: Client) =>
  new Api<KubeObject & { status?: { conditions?: { type: string; status: string }[] } }>(client, {
    group: 'apiextensions.k8s.io',
    version: 'v1',
    kind: 'CustomResourceDefinition',
    plural: 'customresourcedefinitions',
    namespaced: false,
  });

/** A namespaced Widget kind in a group of its own. */
function widgetKind() {
  const group = `comego-${randomBytes(4).toString('hex')}.test.kubereflect.dev`;
  const resource = { group, version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true };
  const crd = testCrd(group, 'Widget', 'widgets', { size: { type: 'integer' } });
  const widget = (name: string, size: number) => ({ apiVersion: `${group}/v1`, kind: 'Widget', metadata: { name }, spec: { size } });
  const kind = namespacedKind<KubeObject, 'list' | 'watch' | 'get' | 'create' | 'delete'>({ apiVersion: `${group}/v1`, resource, shape: [] });
  return { group, crdName: `widgets.${group}`, resource, crd, widget, kind };
}

const capture = (): Logger & { warnings: string[] } => {
  const warnings: string[] = [];
  return { warnings, debug: () => {}, info: () => {}, warn: (m) => void warnings.push(m), error: (m) => void warnings.push(m) };
};

/**
 * `api` with its list requests timed, and a watch the test can cut and hold
 * (to make a cache miss the Deletes the server sends while the CRD goes).
 */
class Observed implements ListWatch<KubeObject> {
  readonly lists: number[] = [];
  private held: Promise<void> | undefined;
  private release: (() => void) | undefined;
  private readonly open = new Set<AbortController>();

  constructor(readonly api: Api<KubeObject>) {}

  get resource() {
    return this.api.resource;
  }
  get namespace() {
    return this.api.namespace;
  }

  list(opts?: ListOptions) {
    this.lists.push(Date.now());
    return this.api.list(opts);
  }

  watch(opts: WatchOptions = {}): AsyncIterable<WatchEvent<KubeObject>> {
    const self = this;
    return (async function* () {
      if (self.held) {
        await self.held;
        // The watch the server would have sent meanwhile is lost: the connection ends.
        throw new TransportError('WATCH widgets (held by the test)', new Error('ECONNRESET'));
      }
      const cut = new AbortController();
      self.open.add(cut);
      try {
        yield* self.api.watch({ ...opts, signal: opts.signal ? AbortSignal.any([opts.signal, cut.signal]) : cut.signal });
      } catch (err) {
        if (!cut.signal.aborted) throw err;
        throw new TransportError('WATCH widgets (cut by the test)', new Error('ECONNRESET'));
      } finally {
        self.open.delete(cut);
      }
    })();
  }

  /** Cuts the open watches; new ones wait until `resume()`, then fail as a lost connection would. */
  hold(): void {
    this.held = new Promise((resolve) => (this.release = resolve));
    for (const c of this.open) c.abort();
  }

  resume(): void {
    this.held = undefined;
    this.release?.();
  }

  /** List requests made from `since` (ms since the epoch) on. */
  listsSince(since: number): number {
    return this.lists.filter((t) => t >= since).length;
  }
}

/** A shared store fed by a watcher of `source`, and one subscriber following it. */
function sharedCache(source: ListWatch<KubeObject>, config: WatcherConfig) {
  const { reader, writer } = storeShared<KubeObject>({ name: 'widgets' });
  const heard: SubscriberEvent<KubeObject>[] = [];
  const root = reflectShared(writer, watcher(source, config));
  const driving = (async () => {
    for await (const _ of root) {
      /* drive */
    }
  })();
  const listening = (async () => {
    for await (const e of reader.subscribe()) heard.push(e);
  })();
  return { reader, heard, done: () => Promise.all([driving, listening]) };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `check` every 20 ms until it holds; the time it first held. */
async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs: number): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return Date.now();
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Waits for the CRD to be Established; the time it was first seen so. */
async function established(client: Client, name: string): Promise<number> {
  return until(
    `${name} to be established`,
    async () => (await crds(client).get(name)).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True') ?? false,
    30_000,
  );
}

/** Deletes the CRD and waits until it is gone (the server has deleted its objects first). */
async function removeCrd(client: Client, name: string): Promise<number> {
  await crds(client).delete(name);
  return until(`${name} to be deleted`, async () => (await crds(client).getIfExists(name)) === undefined, 60_000);
}

const names = (reader: { state(): Stored<KubeObject>[] }) =>
  reader
    .state()
    .map((o) => o.metadata.name)
    .sort();
const deletes = (heard: SubscriberEvent<KubeObject>[]) =>
  heard.filter((e) => e.type === 'Delete').map((e) => `${e.object.metadata.name}${e.type === 'Delete' && e.finalStateUnknown ? ' (final state unknown)' : ''}`);

describe('a kind that comes and goes', () => {
  let client: Client;
  let namespace: string;
  const made: string[] = [];

  beforeAll(async () => {
    client = Client.fromFile(inject('kube').kubeconfig, { context: 'admin' });
    namespace = await testNamespace('comego');
  });

  afterAll(async () => {
    for (const name of made)
      await crds(client)
        .delete(name)
        .catch(() => undefined);
    client.close();
  });

  it('not installed yet: waits without spinning, says so once; established: lists by itself; deleted: empty and unserved; re-added: lists again', async () => {
    const { crdName, resource, crd, widget, kind } = widgetKind();
    made.push(crdName);
    const api = new Api<KubeObject>(client, resource, namespace);
    const shared = new Observed(api);
    const logger = capture();
    const stop = new AbortController();
    // Two caches of the kind: a kind's own (`Kind.cache`), whose run() logs the watcher's errors, and a shared store with a subscriber.
    const own = new Observed(api);
    const cache = kind.cache(own, { watcher: { logger }, signal: stop.signal });
    const running = cache.run();
    const { reader, heard, done } = sharedCache(shared, { logger: capture(), signal: stop.signal });

    // 1. Not served yet.
    const started = Date.now();
    const waitMs = 15_000;
    await sleep(waitMs);
    const waited = Date.now() - started;
    for (const r of [cache.reader, reader]) {
      expect(r.isReady()).toBe(false);
      expect(r.health().unserved).toBe(true);
      expect(r.health().lastError?.message).toContain(`is the CustomResourceDefinition ${crdName} installed?`);
    }
    // Not spinning: 800 ms, 1.6 s, 3.2 s, then every 4–5 s.
    const listsWaiting = shared.listsSince(started);
    expect(listsWaiting).toBeLessThanOrEqual(waited / 1000 + 3);
    expect(listsWaiting).toBeLessThanOrEqual(4 + waited / (0.8 * UNSERVED_RETRY_MAX_MS));
    // Said once, not once per retry.
    expect(logger.warnings).toHaveLength(1);
    expect(logger.warnings[0]).toContain(`the server does not serve ${resource.group}/v1 widgets: is the CustomResourceDefinition ${crdName} installed?`);

    // 2. Installed and established: both caches list by themselves, within a few seconds.
    await applyManifests(client, [crd], { fieldManager: 'kubereflect-test' });
    const establishedAt = await established(client, crdName);
    const readyAt = await until('the caches to be ready', () => cache.reader.isReady() && reader.isReady(), 20_000);
    await applyManifests(client, [widget('a', 1), widget('b', 2)], { fieldManager: 'kubereflect-test', namespace });
    await until('both widgets in both caches', () => cache.reader.size === 2 && reader.size === 2, 10_000);
    // The capped wait, then a list and a watch on a busy machine.
    expect(readyAt - establishedAt).toBeLessThanOrEqual(UNSERVED_RETRY_MAX_MS + 2_000);
    for (const r of [cache.reader, reader]) expect(r.health()).toMatchObject({ ready: true, unserved: false });
    await until('the subscriber to hear of both', () => heard.filter((e) => e.type === 'Apply').length === 2, 5_000);

    // 3. The CRD is deleted: the server deletes the widgets (Deletes on the watch), then stops serving the kind.
    const deletingAt = Date.now();
    const goneAt = await removeCrd(client, crdName);
    const emptyAt = await until('the caches to be empty and unserved', () => [cache.reader, reader].every((r) => r.size === 0 && r.health().unserved), 30_000);
    await until('the subscriber to hear of both deletes', () => deletes(heard).length === 2, 5_000);
    expect(
      deletes(heard)
        .map((d) => d.split(' ')[0])
        .sort(),
    ).toEqual(['a', 'b']);
    // Unserved for long enough: the watcher takes the kind as gone and says the cache is empty until it returns.
    const saidEmptyAt = await until(
      'the caches to say they are empty until the kind returns',
      () => [cache.reader, reader].every((r) => r.health().lastError?.message.includes('is now empty until the kind is served again') === true),
      UNSERVED_CONFIRM_MS + 3 * UNSERVED_RETRY_MAX_MS,
    );
    expect(logger.warnings.filter((w) => w.includes('no longer serves'))).toHaveLength(1);
    expect(logger.warnings.filter((w) => w.includes('is now empty until the kind is served again'))).toHaveLength(1);
    const listsGone = shared.listsSince(goneAt);
    const sinceGone = Date.now() - goneAt;
    expect(listsGone).toBeLessThanOrEqual(sinceGone / 1000 + 3);

    // 4. Re-added with one widget: listed again, ready with it.
    await applyManifests(client, [crd, widget('c', 3)], { fieldManager: 'kubereflect-test', namespace });
    const backAt = await established(client, crdName);
    const relistedAt = await until(
      'the caches to hold the new widget',
      () => [cache.reader, reader].every((r) => names(r).join() === 'c' && !r.health().unserved),
      20_000,
    );
    expect(heard.at(-1)).toMatchObject({ type: 'Apply', object: { metadata: { name: 'c' } } });
    const warningsAtEnd = logger.warnings.length;

    stop.abort();
    await running;
    await done();
    console.log(
      [
        `waiting ${waited} ms for the CRD: ${listsWaiting} list requests (one cache), ${logger.warnings.length > 0 ? 1 : 0} warning`,
        `established → ready: ${readyAt - establishedAt} ms`,
        `CRD deleted → gone: ${goneAt - deletingAt} ms; → caches empty and unserved: ${emptyAt - deletingAt} ms; → "empty until served again": ${saidEmptyAt - goneAt} ms after it was gone`,
        `while gone, ${listsGone} list requests in ${sinceGone} ms`,
        `re-established → listed with the new widget: ${relistedAt - backAt} ms`,
        `warnings over the whole test: ${warningsAtEnd}`,
      ].join('\n'),
    );
  }, 150_000);

  it('deleted while the watch was down: the objects whose Deletes were missed are removed, finalStateUnknown, when the kind is found gone', async () => {
    const { crdName, resource, crd, widget } = widgetKind();
    made.push(crdName);
    await applyManifests(client, [crd], { fieldManager: 'kubereflect-test' });
    await established(client, crdName);
    await applyManifests(client, [widget('x', 1), widget('y', 2)], { fieldManager: 'kubereflect-test', namespace });
    const source = new Observed(new Api<KubeObject>(client, resource, namespace));
    const stop = new AbortController();
    const { reader, heard, done } = sharedCache(source, { logger: capture(), signal: stop.signal });
    await until('the cache to hold both widgets', () => reader.size === 2, 20_000);

    // The watch goes down; meanwhile the CRD and its widgets are deleted.
    source.hold();
    await removeCrd(client, crdName);
    const gone = await api404(new Api<KubeObject>(client, resource, namespace));
    expect(gone.statusCode).toBe(404);
    expect(reader.size).toBe(2);
    const resumedAt = Date.now();
    source.resume();

    const emptyAt = await until('the cache to be empty', () => reader.size === 0, UNSERVED_CONFIRM_MS + 4 * UNSERVED_RETRY_MAX_MS + 30_000);
    expect(reader.health()).toMatchObject({ ready: true, unserved: true });
    expect(reader.health().lastError?.message).toContain(
      `the CustomResourceDefinition ${crdName} was removed): the cache of widgets.${resource.group} in ${namespace} is now empty`,
    );
    await until('the subscriber to hear of both', () => deletes(heard).length === 2, 5_000);
    expect(deletes(heard).sort()).toEqual(['x (final state unknown)', 'y (final state unknown)']);

    stop.abort();
    await done();
    console.log(`watch resumed → the missed deletes found (cache empty): ${emptyAt - resumedAt} ms`);
  }, 150_000);
});

/** What a list of the kind answers now (it must fail). */
async function api404(api: Api<KubeObject>): Promise<ApiError> {
  const err = await api.list().then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof ApiError)) throw new Error(`expected the list to fail with an ApiError, got ${String(err)}`);
  return err;
}
