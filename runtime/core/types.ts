/**
 * The shapes every part of the runtime shares: the minimal object and metadata
 * types it needs, the resource descriptor that locates a kind on the server,
 * and the events a watcher emits.
 */
import type { KubeError } from './errors.ts';

/** An owner reference, as in `metadata.ownerReferences`. */
export interface OwnerReference {
  apiVersion: string;
  kind: string;
  name: string;
  uid: string;
  controller?: boolean;
  blockOwnerDeletion?: boolean;
}

/**
 * The parts of `ObjectMeta` the runtime reads. Generated types carry the full
 * `ObjectMeta`, which is assignable to this.
 */
export interface ObjectMetaLike {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: { [key: string]: string };
  annotations?: { [key: string]: string };
  finalizers?: string[];
  ownerReferences?: OwnerReference[];
  deletionTimestamp?: string | Date | null;
  creationTimestamp?: string | Date | null;
}

/**
 * The least a read-only object must carry to be keyed, referenced or
 * fingerprinted: optional metadata, read-only so that stored (frozen)
 * objects and projections qualify.
 */
export interface HasMetadata {
  readonly metadata?: DeepReadonly<ObjectMetaLike> | undefined;
}

/** Anything with Kubernetes object metadata. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMetaLike;
}

/**
 * A metadata-only view of a `K`, as the server returns it for
 * `Accept: application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1`.
 * `K` is kept as a phantom so that a store of partial pods and one of partial
 * nodes do not mix.
 */
export interface PartialObjectMeta<K extends KubeObject = KubeObject> {
  apiVersion: 'meta.k8s.io/v1';
  kind: 'PartialObjectMetadata';
  metadata: NonNullable<K['metadata']>;
  /** @internal phantom marker; never present at run time. */
  readonly __partialOf?: K;
}

/** Where a kind lives on the server and what it supports. */
export interface ResourceDescriptor {
  /** API group; `''` for the core group. */
  group: string;
  version: string;
  kind: string;
  /** The plural resource name used in URLs, e.g. `pods`. */
  plural: string;
  namespaced: boolean;
  /** Verbs the server supports for the resource (`get`, `list`, `watch`, `create`, …). */
  verbs?: readonly string[];
  /** Subresources the server serves, e.g. `status`, `scale`. */
  subresources?: readonly string[];
}

/** `apiVersion` of a descriptor: `v1` for the core group, `group/version` otherwise. */
export function apiVersionOf(r: Pick<ResourceDescriptor, 'group' | 'version'>): string {
  return r.group ? `${r.group}/${r.version}` : r.version;
}

/** The list envelope the server returns. */
export interface ObjectList<K> {
  apiVersion?: string;
  kind?: string;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  items: K[];
}

/** A raw event of a watch response, as the server sends it. */
export interface WatchEvent<K> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  /** The object; a `Status` for `ERROR`, and an object with only `metadata.resourceVersion` for `BOOKMARK`. */
  object: K;
}

/**
 * What a watcher emits.
 *
 * A (re)list is `Init`, then one `InitApply` per object, then `InitDone`: the
 * objects between `Init` and `InitDone` are the whole truth at that point.
 * `Init` comes with the list's first answer (its first page, or the first
 * event of a streaming list), so an attempt that failed before the server
 * answered is only an `Error`; a list that starts over (an expired continue
 * token, a cut streaming list) starts with `Init` again.
 * After it, `Apply` (added or modified) and `Delete` follow the watch, and
 * `Bookmark` reports a watch bookmark: no object changed, but the watch is
 * alive and now stands at `resourceVersion`. A
 * reflector adds, after each `InitDone`, a `Delete` marked
 * `finalStateUnknown` for every stored object the relist no longer has. `Error`
 * reports a failure the watcher recovers from by itself (after its backoff):
 * the stream goes on after it.
 */
export type WatcherEvent<K> =
  | { type: 'Init' }
  | { type: 'InitApply'; object: K }
  | { type: 'InitDone' }
  | { type: 'Apply'; object: K }
  | { type: 'Bookmark'; resourceVersion: string }
  | {
      type: 'Delete';
      object: K;
      /**
       * True when the object was not seen being deleted but found gone at a
       * relist (the watch was down meanwhile): `object` is its last known
       * state, which may be stale. client-go calls this `DeletedFinalStateUnknown`.
       */
      finalStateUnknown?: boolean;
    }
  | { type: 'Error'; error: KubeError };

/**
 * An object as the cache hands it out — from a store, a reflector's events or
 * a subscription: deeply read-only (the store owns it; change a copy from
 * `editable()`), with the identity every stored object has.
 */
export type Stored<K extends KubeObject> = DeepReadonly<K> & {
  readonly metadata: { readonly name: string; readonly uid: string; readonly resourceVersion: string };
};

/**
 * A deep, mutable copy of a stored object, typed as the kind again: what to
 * change before a write (`api.replace(name, copy)`), since stored objects are
 * read-only and shared with every reader.
 *
 * @example
 * const copy = editable(reader.get({ name: 'web', namespace: 'shop' })!);
 * copy.metadata.labels = { ...copy.metadata.labels, tier: 'gold' };
 * await pods.replace('web', copy);
 */
export function editable<K extends KubeObject>(obj: Stored<K> | DeepReadonly<K>): K & { metadata: NonNullable<K['metadata']> } {
  return structuredClone(obj) as K & { metadata: NonNullable<K['metadata']> };
}

declare const PROJECTED: unique symbol;

/**
 * The mark on what `prune` and `keep` return (a type only: nothing is added at
 * run time). A projection lacks fields the object has on the server, so
 * writing it whole would wipe them: the write verbs that send a whole object
 * (`create`, `replace`, `replaceStatus`, server-side apply) refuse it by type.
 * `castEditable()` is the deliberate way past that.
 */
export interface Projected {
  readonly [PROJECTED]: true;
}

/** What a write verb that sends a whole object accepts: a `K` that is not a projection. */
export type Editable<K> = K & { readonly [PROJECTED]?: never };

/**
 * Drops the `Projected` mark, so a pruned or kept object can be written whole.
 * The escape hatch for when that is meant: every field the projection dropped
 * is then missing from the write (a `replace` removes them on the server).
 * Prefer a patch of the fields you change, or `editable()` of a full object.
 *
 * @example
 * const slim = Pod.keep({ metadata: { labels: true } })(pod);
 * await pods.patch(slim.metadata.name, { type: 'merge', body: { metadata: { labels: { tier: 'gold' } } } }); // better
 * await pods.replace(name, castEditable<Pod>(slim)); // removes everything keep dropped: meant
 */
export function castEditable<K>(obj: Projected | DeepReadonly<Projected>): K {
  return obj as unknown as K;
}

/** Deeply read-only view of an object. */
export type DeepReadonly<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends Date
    ? T
    : T extends readonly (infer E)[]
      ? readonly DeepReadonly<E>[]
      : T extends object
        ? { readonly [P in keyof T]: DeepReadonly<T[P]> }
        : T;
