/**
 * The contenders, started the way their users start them:
 *
 * - kubereflect: `watcher` (or `metadataWatcher`) → optional `modify` with a
 *   projection → `reflector` → `store`, iterated in a background loop; with
 *   a projection that drops `managedFields` the watcher cuts them before
 *   parsing, as a generated kind's `reflector` does;
 * - @kubernetes/client-node: `makeInformer(kc, path, () =>
 *   core.listNamespacedPod({ namespace }))` and `informer.start()`, as its
 *   README shows. Its list goes through the generated `CoreV1Api`
 *   (`ObjectSerializer.deserialize` into `V1Pod` instances with `Date`s); its
 *   watch events are stored as parsed.
 *
 * Both expose the same small handle: wait until synced, count stored
 * objects, count applied watch events, stop.
 */
import { CoreV1Api, CustomObjectsApi, KubeConfig, makeInformer } from '@kubernetes/client-node';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Api, Client } from '../runtime/index.ts';
import { dropsManagedFields } from '../runtime/kinds/kind.ts';
import { metadataWatcher, modify, reflector, reflectShared, store, storeShared, watcher } from '../runtime/cache.ts';
import type { KubeObject, Logger, WatcherEvent } from '../runtime/index.ts';
import type { StoreOptions, WatcherConfig } from '../runtime/cache.ts';
import { podResource, type BenchPod } from './data.ts';
import { kindPath, resourceOf, workflowResource, type BenchKind } from './kinds.ts';
import type { Projection } from './projections.ts';

/** Warnings and errors only: a benchmark's expected relist is not news. */
export const quietLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: (m) => console.warn(`[bench] ${m}`),
  error: (m) => console.error(`[bench] ${m}`),
};

export interface Running {
  /** Resolves when the first list is stored. */
  ready: Promise<void>;
  /** Objects in the store now. */
  size(): number;
  /** Watch events (added or modified after the first list) applied to the store so far. */
  applied(): number;
  stop(): Promise<void>;
}

/** `metadata-strip`: metadata-only with `stripManagedFields`; `lazy`: full objects with `lazyManagedFields`. */
export type KubereflectMode = 'full' | 'lazy' | 'metadata' | 'metadata-strip' | 'prune' | 'keep';

export interface KubereflectOptions {
  mode?: KubereflectMode;
  /** For `prune` and `keep`. */
  projection?: Projection;
  watcher?: Omit<WatcherConfig, 'signal' | 'logger'>;
  store?: StoreOptions;
  /** Sees each event between the watcher (after `modify`) and the reflector, before the store applies it. */
  tap?: (event: WatcherEvent<KubeObject>) => void;
  /** The kind to cache (default pods). */
  kind?: BenchKind;
}

/** Starts a kubereflect reflector on the pods (or `opts.kind`) of `namespace`. */
export function startKubereflect(kubeconfig: string, namespace: string, opts: KubereflectOptions = {}): Running & { client: Client } {
  const client = Client.fromFile(kubeconfig);
  const api = new Api<BenchPod>(client, resourceOf(opts.kind ?? 'pods'), namespace);
  const ac = new AbortController();
  const mode = opts.mode ?? 'full';
  // As a kind's cache does: a projection that drops managedFields has them cut before parsing.
  const projected = mode === 'prune' || mode === 'keep';
  const stripManagedFields = opts.watcher?.stripManagedFields ?? (mode === 'metadata-strip' || (projected && dropsManagedFields(opts.projection)));
  const lazyManagedFields = opts.watcher?.lazyManagedFields ?? mode === 'lazy';
  const config: WatcherConfig = { ...opts.watcher, stripManagedFields, lazyManagedFields, signal: ac.signal, logger: quietLogger };
  let events: AsyncIterable<WatcherEvent<KubeObject>>;
  if (mode === 'metadata' || mode === 'metadata-strip') events = metadataWatcher(api, config);
  else if (mode === 'full' || mode === 'lazy') events = watcher(api, config);
  else {
    if (!opts.projection) throw new Error(`mode ${mode} needs a projection`);
    events = modify(watcher(api, config), opts.projection);
  }
  if (opts.tap) events = tapped(events, opts.tap);
  const { reader, writer } = store<KubeObject>(opts.store);
  let applied = 0;
  const loop = (async () => {
    for await (const e of reflector(writer, events)) {
      if (e.type === 'Apply') applied++;
      else if (e.type === 'Error') quietLogger.warn(e.error.message);
    }
  })();
  return {
    client,
    ready: reader.waitUntilReady(),
    size: () => reader.size,
    applied: () => applied,
    async stop() {
      ac.abort();
      await loop.catch(() => {});
      client.close();
    },
  };
}

async function* tapped<K>(events: AsyncIterable<WatcherEvent<K>>, tap: (e: WatcherEvent<K>) => void): AsyncGenerator<WatcherEvent<K>> {
  for await (const e of events) {
    tap(e);
    yield e;
  }
}

/**
 * kubereflect's shared store with `subscribers` consumers, each a `for await`
 * loop over `reader.subscribe()` counting what it receives.
 */
export function startKubereflectShared(
  kubeconfig: string,
  namespace: string,
  subscribers: number,
): Running & { received(): number[]; latest(): Map<string, string>[] } {
  const client = Client.fromFile(kubeconfig);
  const api = new Api<BenchPod>(client, podResource, namespace);
  const ac = new AbortController();
  const { reader, writer } = storeShared<BenchPod>();
  const counts = new Array<number>(subscribers).fill(0);
  // Per subscriber, the resourceVersion of the latest version it received of each pod.
  const latest = counts.map(() => new Map<string, string>());
  const subs = counts.map((_, i) =>
    (async () => {
      for await (const { object } of reader.subscribe()) {
        counts[i]!++;
        latest[i]!.set(object.metadata.name, object.metadata.resourceVersion);
      }
    })(),
  );
  let applied = 0;
  const root = (async () => {
    for await (const e of reflectShared(writer, watcher(api, { signal: ac.signal, logger: quietLogger }))) {
      if (e.type === 'Apply') applied++;
    }
  })();
  return {
    ready: reader.waitUntilReady(),
    size: () => reader.size,
    applied: () => applied,
    received: () => counts.slice(),
    latest: () => latest,
    async stop() {
      ac.abort();
      await root.catch(() => {});
      await Promise.all(subs);
      client.close();
    },
  };
}

export interface ClientNodeOptions {
  /** Wraps the list call (to observe it). */
  wrapList?: <T>(list: () => Promise<T>) => () => Promise<T>;
  /** `update` handlers to register (fan-out); each counts its calls. */
  subscribers?: number;
  /** The kind to cache (default pods): its generated `CoreV1Api` list, or `CustomObjectsApi` for the Workflow CRD. */
  kind?: BenchKind;
}

/** The list call client-node's README pairs with `makeInformer` for `kind`. */
function clientNodeList(kc: KubeConfig, kind: BenchKind, namespace: string): () => Promise<{ items: KubernetesObject[] }> {
  if (kind === 'workflows') {
    const custom = kc.makeApiClient(CustomObjectsApi);
    const r = workflowResource;
    return () =>
      custom.listNamespacedCustomObject({ group: r.group, version: r.version, namespace, plural: r.plural }) as Promise<{ items: KubernetesObject[] }>;
  }
  const core = kc.makeApiClient(CoreV1Api);
  if (kind === 'configmaps') return () => core.listNamespacedConfigMap({ namespace });
  if (kind === 'secrets') return () => core.listNamespacedSecret({ namespace });
  return () => core.listNamespacedPod({ namespace });
}

/** Starts @kubernetes/client-node's informer on the pods (or `opts.kind`) of `namespace`. */
export function startClientNode(kubeconfig: string, namespace: string, opts: ClientNodeOptions = {}): Running & { received(): number[]; informer: unknown } {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  const kind = opts.kind ?? 'pods';
  let list = clientNodeList(kc, kind, namespace);
  if (opts.wrapList) list = opts.wrapList(list);
  const informer = makeInformer<KubernetesObject>(kc, kindPath(kind, namespace), list as Parameters<typeof makeInformer<KubernetesObject>>[2]);
  let applied = 0;
  let synced = false;
  let stopped = false;
  informer.on('update', () => {
    if (synced) applied++;
  });
  informer.on('add', () => {
    if (synced) applied++;
  });
  informer.on('error', (err: unknown) => stopped || quietLogger.warn(`client-node informer: ${String((err as Error)?.message ?? err)}`));
  const counts = new Array<number>(opts.subscribers ?? 0).fill(0);
  counts.forEach((_, i) =>
    informer.on('update', (pod: KubernetesObject) => {
      if (pod.metadata?.name) counts[i]!++;
    }),
  );
  const ready = informer.start().then(() => {
    synced = true;
  });
  return {
    informer,
    ready,
    size: () => informer.list(namespace).length,
    applied: () => applied,
    received: () => counts.slice(),
    async stop() {
      stopped = true;
      await informer.stop();
    },
  };
}
