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
  deletionTimestamp?: string | Date;
  creationTimestamp?: string | Date;
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
 * After it, `Apply` (added or modified) and `Delete` follow the watch. `Error`
 * reports a failure the watcher recovers from by itself (after its backoff):
 * the stream goes on after it.
 */
export type WatcherEvent<K> =
  | { type: 'Init' }
  | { type: 'InitApply'; object: K }
  | { type: 'InitDone' }
  | { type: 'Apply'; object: K }
  | { type: 'Delete'; object: K }
  | { type: 'Error'; error: KubeError };

/** Deeply read-only view of a stored object. */
export type DeepReadonly<T> = T extends (...args: never[]) => unknown
  ? T
  : T extends Date
    ? T
    : T extends readonly (infer E)[]
      ? readonly DeepReadonly<E>[]
      : T extends object
        ? { readonly [P in keyof T]: DeepReadonly<T[P]> }
        : T;
