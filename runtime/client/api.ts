/**
 * `Api<K>`: typed access to one kind on the server — get, list, watch, their
 * metadata-only variants, and the write verbs — in one namespace, or across
 * all namespaces. The generator emits per-kind wrappers that narrow it (a
 * cluster-scoped kind takes no namespace; unsupported verbs are absent).
 */
import type { Client, RequestQuery } from './client.ts';
import { describe } from './client.ts';
import { decodeWatchEvents } from '../wire/decode.ts';
import { ApiError, KubeError, type Status } from '../core/errors.ts';
import { splitList } from '../wire/json-scan.ts';
import { parseWithLazyManagedFields } from '../wire/lazy-managed-fields.ts';
import { parseWithoutManagedFields } from '../wire/managed-fields.ts';
import { labelSelectorText, type LabelSelector } from '../core/labels.ts';
import type { KubeObject, ObjectList, PartialObjectMeta, ResourceDescriptor, WatchEvent, Editable } from '../core/types.ts';
import { apiVersionOf } from '../core/types.ts';

const PARTIAL_ONE = 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json';
const PARTIAL_LIST = 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json';

/** Selectors shared by list and watch. */
export interface SelectorOptions {
  /** e.g. `app=web,tier in (a,b)`, or the struct objects hold: `{ matchLabels: { app: 'web' } }` */
  labelSelector?: string | LabelSelector;
  /** e.g. `metadata.name=foo` */
  fieldSelector?: string;
  /**
   * Server-side sharding (KEP-5866, Kubernetes 1.36+ with the
   * `ShardedListAndWatch` feature gate), e.g. `ShardRange.selector()`:
   * `shardRange(object.metadata.uid, '0x…', '0x…')`. A server without it
   * ignores the parameter and sends every object: filter on the client too
   * (a kind's cache with `shard` does).
   */
  shardSelector?: string;
}

export interface ListOptions extends SelectorOptions {
  /** Page size; the server may return fewer. Ignored by the server when `resourceVersion` is `"0"`. */
  limit?: number;
  /** Continue token from the previous page. */
  continue?: string;
  /** Unset: most recent (quorum) read. `"0"`: any version, from the watch cache. */
  resourceVersion?: string;
  resourceVersionMatch?: 'NotOlderThan' | 'Exact';
  timeoutSeconds?: number;
  /** Items come without `metadata.managedFields`, cut before parsing (see `parseWithoutManagedFields`). */
  stripManagedFields?: boolean;
  /** Items carry `metadata.managedFields` unparsed until read (see `WatcherConfig.lazyManagedFields`); `stripManagedFields` wins. */
  lazyManagedFields?: boolean;
  /**
   * @internal for the watcher: `items` come back as the bytes (`Buffer`) of
   * each item, for the caller to parse one at a time (`parseListItem` in
   * `decode.ts`), so that a page is never held parsed all at once.
   */
  deferItems?: boolean;
  signal?: AbortSignal;
}

export interface WatchOptions extends SelectorOptions {
  resourceVersion?: string;
  resourceVersionMatch?: 'NotOlderThan' | 'Exact';
  /** Ask for `BOOKMARK` events (default true). */
  allowWatchBookmarks?: boolean;
  /** Streaming list: start with the current state as `ADDED` events and an `initial-events-end` bookmark. */
  sendInitialEvents?: boolean;
  /** The server ends the watch after this many seconds. */
  timeoutSeconds?: number;
  /** Fail with `RequestTimeoutError` when no bytes arrive for this long (a silent, dead connection). */
  idleTimeoutMs?: number;
  /** Event objects come without `metadata.managedFields`, cut before parsing (see `parseWithoutManagedFields`). */
  stripManagedFields?: boolean;
  /** Event objects carry `metadata.managedFields` unparsed until read (see `WatcherConfig.lazyManagedFields`); `stripManagedFields` wins. */
  lazyManagedFields?: boolean;
  /**
   * Called once the server has accepted the watch (its response head came
   * back), before any event: the watcher uses it to tell a watch that works
   * but is quiet from one that fails. A `ListWatch` of your own may ignore it.
   */
  onOpen?: () => void;
  signal?: AbortSignal;
}

/** Options of writes. */
export interface WriteOptions {
  /** `All` to validate without persisting. */
  dryRun?: 'All';
  fieldManager?: string;
  /** `Strict`, `Warn` or `Ignore` unknown and duplicate fields. */
  fieldValidation?: 'Strict' | 'Warn' | 'Ignore';
  signal?: AbortSignal;
}

/** Options of deletes. */
export interface DeleteOptions {
  dryRun?: 'All';
  gracePeriodSeconds?: number;
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  preconditions?: { uid?: string; resourceVersion?: string };
  signal?: AbortSignal;
}

/**
 * A deep partial, for merge patches: `null` removes a field; `undefined` (or
 * leaving it out) leaves it as it is — JSON drops it — so a value that may be
 * undefined, such as `metadata.generation`, can be written as it is under
 * `exactOptionalPropertyTypes`.
 */
export type PatchBody<T> = T extends readonly (infer E)[] ? PatchBody<E>[] : T extends object ? { [P in keyof T]?: PatchBody<T[P]> | null | undefined } : T;

/** One RFC 6902 operation. */
export type JsonPatchOperation =
  | { op: 'add' | 'replace' | 'test'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'move' | 'copy'; from: string; path: string };

/** The kinds of patch the server accepts. */
export type Patch<K> =
  | { type: 'merge'; body: PatchBody<K> }
  | { type: 'strategic'; body: PatchBody<K> }
  | { type: 'json'; operations: JsonPatchOperation[] }
  /** Server-side apply: `body` is the full intent of `fieldManager`, with apiVersion and kind (so not a projection: fields it lacks are given up). */
  | { type: 'apply'; body: Editable<PatchBody<K>>; force?: boolean };

const PATCH_TYPES: Record<Patch<unknown>['type'], string> = {
  merge: 'application/merge-patch+json',
  strategic: 'application/strategic-merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

/** What a watcher needs: list pages and a watch. `Api` and its metadata view both provide it. */
export interface ListWatch<K> {
  /** Where the objects live, for messages and refs. */
  readonly resource: ResourceDescriptor;
  readonly namespace: string | undefined;
  /** One page of objects. */
  list(opts?: ListOptions): Promise<ObjectList<K>>;
  /** A watch from a resourceVersion; ends when the server ends it. */
  watch(opts?: WatchOptions): AsyncIterable<WatchEvent<K>>;
}

/**
 * Typed access to one kind.
 *
 * @example
 * const pods = new Api<Pod>(client, { group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true }, 'default');
 * const list = await pods.list({ labelSelector: 'app=web', limit: 100 });
 * await pods.patch('web-0', { type: 'merge', body: { metadata: { labels: { tier: 'front' } } } });
 */
export class Api<K extends KubeObject> implements ListWatch<K> {
  /** An Api for `resource` through `client`, in `namespace` (for a namespaced kind; undefined means all namespaces). */
  constructor(
    readonly client: Client,
    readonly resource: ResourceDescriptor,
    /** For a namespaced kind: the namespace, or undefined for all namespaces. Must be undefined for a cluster-scoped kind. */
    readonly namespace: string | undefined = undefined,
  ) {
    if (namespace !== undefined && !resource.namespaced) {
      throw new KubeError(`${resource.kind} is cluster-scoped: its Api takes no namespace (got ${JSON.stringify(namespace)})`);
    }
  }

  /** The same kind in another namespace (or all namespaces with undefined). */
  within(namespace: string | undefined): Api<K> {
    return new Api<K>(this.client, this.resource, namespace);
  }

  /** `apiVersion` of the kind, e.g. `apps/v1`. */
  get apiVersion(): string {
    return apiVersionOf(this.resource);
  }

  /** Path of the collection, or of one object when `name` is given. */
  path(name?: string, subresource?: string, namespace = this.namespace): string {
    const r = this.resource;
    let p = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
    if (r.namespaced && namespace !== undefined) p += `/namespaces/${encodeURIComponent(namespace)}`;
    p += `/${r.plural}`;
    if (name !== undefined) {
      if (r.namespaced && namespace === undefined) {
        throw new KubeError(
          `${r.kind} ${JSON.stringify(name)}: this Api is for all namespaces, and a call on one ${r.kind} needs its namespace: use api.within(namespace), or pass { namespace } to patch and delete`,
        );
      }
      if (name === '') throw new KubeError(`${r.kind}: an object name must not be empty`);
      p += `/${encodeURIComponent(name)}`;
      if (subresource) p += `/${subresource}`;
    }
    return p;
  }

  /** Reads one object. @throws ApiError (404 when absent). */
  async get(name: string, opts: { signal?: AbortSignal } = {}): Promise<K> {
    return this.client.request<K>({ path: this.path(name), signal: opts.signal });
  }

  /** Reads one object, or undefined when it does not exist. */
  async getIfExists(name: string, opts: { signal?: AbortSignal } = {}): Promise<K | undefined> {
    try {
      return await this.get(name, opts);
    } catch (err) {
      if (err instanceof ApiError && err.statusCode === 404) return undefined;
      throw err;
    }
  }

  /** Lists one page. */
  async list(opts: ListOptions = {}): Promise<ObjectList<K>> {
    return this.client.request<ObjectList<K>>({ path: this.path(), query: listQuery(opts), parse: listParser(opts), signal: opts.signal });
  }

  /**
   * Watches from `resourceVersion`. The iteration ends when the server ends
   * the watch (after `timeoutSeconds`); stopping it early closes the connection.
   */
  watch(opts: WatchOptions = {}): AsyncIterable<WatchEvent<K>> {
    // The path is built when iteration starts, so a bad Api fails there, not at this call.
    return { [Symbol.asyncIterator]: () => watchEvents<K>(this.client, this.path(), opts)[Symbol.asyncIterator]() };
  }

  /** The metadata-only view of this kind: objects come back as `PartialObjectMeta<K>`. */
  metadata(): ListWatch<PartialObjectMeta<K>> & {
    /** Reads the metadata of one object. */
    get(name: string, opts?: { signal?: AbortSignal }): Promise<PartialObjectMeta<K>>;
  } {
    return {
      resource: this.resource,
      namespace: this.namespace,
      get: (name, opts = {}) => this.client.request({ path: this.path(name), accept: PARTIAL_ONE, signal: opts.signal }),
      list: (opts = {}) =>
        this.client.request({ path: this.path(), query: listQuery(opts), accept: PARTIAL_LIST, parse: listParser(opts), signal: opts.signal }),
      watch: (opts = {}) => watchEvents<PartialObjectMeta<K>>(this.client, this.path(), opts, PARTIAL_ONE),
    };
  }

  /** Creates `obj` (in the Api's namespace, or the object's own when the Api spans all namespaces). */
  async create(obj: Editable<K>, opts: WriteOptions = {}): Promise<K> {
    return this.client.request<K>({
      method: 'POST',
      path: this.path(undefined, undefined, this.namespaceFor(obj)),
      body: this.withTypeMeta(obj),
      query: writeQuery(opts),
      signal: opts.signal,
    });
  }

  /** Replaces `name` with `obj` (optimistic concurrency through `metadata.resourceVersion`). */
  async replace(name: string, obj: Editable<K>, opts: WriteOptions = {}): Promise<K> {
    return this.client.request<K>({
      method: 'PUT',
      path: this.path(name, undefined, this.namespaceFor(obj)),
      body: this.withTypeMeta(obj),
      query: writeQuery(opts),
      signal: opts.signal,
    });
  }

  /** Patches `name`. Server-side apply needs `fieldManager`. */
  async patch(name: string, patch: Patch<K>, opts: WriteOptions & { namespace?: string } = {}): Promise<K> {
    return this.patchAt(name, undefined, patch, opts);
  }

  /** Deletes `name`; resolves to the object (when deletion is deferred by finalizers) or the server's `Status`. */
  async delete(name: string, opts: DeleteOptions & { namespace?: string } = {}): Promise<K | Status> {
    const { signal, dryRun, namespace, ...body } = opts;
    return this.client.request<K | Status>({
      method: 'DELETE',
      path: this.path(name, undefined, namespace ?? this.namespace),
      query: { dryRun },
      body: { apiVersion: 'meta.k8s.io/v1', kind: 'DeleteOptions', ...body },
      signal,
    });
  }

  /** Reads the `status` subresource. */
  async getStatus(name: string, opts: { signal?: AbortSignal } = {}): Promise<K> {
    return this.client.request<K>({ path: this.path(name, 'status'), signal: opts.signal });
  }

  /** Replaces the `status` subresource. */
  async replaceStatus(name: string, obj: Editable<K>, opts: WriteOptions = {}): Promise<K> {
    return this.client.request<K>({
      method: 'PUT',
      path: this.path(name, 'status', this.namespaceFor(obj)),
      body: this.withTypeMeta(obj),
      query: writeQuery(opts),
      signal: opts.signal,
    });
  }

  /** Patches the `status` subresource. */
  async patchStatus(name: string, patch: Patch<K>, opts: WriteOptions & { namespace?: string } = {}): Promise<K> {
    return this.patchAt(name, 'status', patch, opts);
  }

  private patchAt(name: string, subresource: string | undefined, patch: Patch<K>, opts: WriteOptions & { namespace?: string }): Promise<K> {
    const query: RequestQuery = writeQuery(opts);
    if (patch.type === 'apply') {
      if (!opts.fieldManager) throw new KubeError(`server-side apply of ${this.resource.kind} ${JSON.stringify(name)} needs a fieldManager`);
      if (patch.force) query.force = true;
    }
    const body = patch.type === 'json' ? patch.operations : patch.type === 'apply' ? this.withTypeMeta(patch.body as K) : patch.body;
    return this.client.request<K>({
      method: 'PATCH',
      path: this.path(name, subresource, opts.namespace ?? this.namespace),
      body,
      contentType: PATCH_TYPES[patch.type],
      query,
      signal: opts.signal,
    });
  }

  private namespaceFor(obj: K): string | undefined {
    if (!this.resource.namespaced) return undefined;
    return this.namespace ?? obj.metadata?.namespace;
  }

  private withTypeMeta(obj: K): K {
    return { ...obj, apiVersion: obj.apiVersion ?? this.apiVersion, kind: obj.kind ?? this.resource.kind };
  }
}

function listQuery(o: ListOptions): RequestQuery {
  return {
    labelSelector: labelSelectorText(o.labelSelector),
    fieldSelector: o.fieldSelector,
    shardSelector: o.shardSelector,
    limit: o.limit,
    continue: o.continue,
    resourceVersion: o.resourceVersion,
    resourceVersionMatch: o.resourceVersionMatch,
    timeoutSeconds: o.timeoutSeconds,
  };
}

function listParser(o: ListOptions): ((body: Buffer) => unknown) | undefined {
  if (o.deferItems) {
    return (body) => {
      const split = splitList(body);
      if (!split)
        return o.stripManagedFields
          ? parseWithoutManagedFields(body, 'list')
          : o.lazyManagedFields
            ? parseWithLazyManagedFields(body, 'list')
            : JSON.parse(body.toString('utf8'));
      const list = JSON.parse(split.envelope) as { items?: unknown };
      list.items = split.items;
      return list;
    };
  }
  if (o.stripManagedFields) return (body) => parseWithoutManagedFields(body, 'list');
  return o.lazyManagedFields ? (body) => parseWithLazyManagedFields(body, 'list') : undefined;
}

function writeQuery(o: WriteOptions): RequestQuery {
  return { dryRun: o.dryRun, fieldManager: o.fieldManager, fieldValidation: o.fieldValidation };
}

async function* watchEvents<K>(client: Client, path: string, o: WatchOptions, accept?: string): AsyncGenerator<WatchEvent<K>> {
  const query: RequestQuery = {
    watch: true,
    labelSelector: labelSelectorText(o.labelSelector),
    fieldSelector: o.fieldSelector,
    shardSelector: o.shardSelector,
    resourceVersion: o.resourceVersion,
    resourceVersionMatch: o.resourceVersionMatch,
    allowWatchBookmarks: o.allowWatchBookmarks ?? true,
    sendInitialEvents: o.sendInitialEvents,
    timeoutSeconds: o.timeoutSeconds,
  };
  const body = await client.stream({ path, query, accept, signal: o.signal, idleTimeoutMs: o.idleTimeoutMs });
  o.onOpen?.();
  yield* decodeWatchEvents<K>(body, describe({ path, query }), { stripManagedFields: o.stripManagedFields, lazyManagedFields: o.lazyManagedFields });
}
