/**
 * kubereflect's runtime: a typed client and `Api`, the watcher, the store and
 * reflector, the shared dispatcher, and the helpers around them. See
 * `docs/runtime.md` for how data flows through the pieces.
 *
 * The public surface is listed here name by name: internals (the store's
 * shared state, the change listeners, line decoding, the byte scan that cuts
 * managedFields) stay inside their modules.
 */
export type { OwnerReference, ObjectMetaLike, KubeObject, PartialObjectMeta, ResourceDescriptor, ObjectList, WatchEvent, WatcherEvent, Stored, Projected, Whole, DeepReadonly } from './core/types.ts';
export { apiVersionOf, editable, asWritable } from './core/types.ts';
export type { Status } from './core/errors.ts';
export { KubeError, ApiError, TransportError, TimeoutError, DecodeError, AbortedError } from './core/errors.ts';
export type { ClientOptions, RequestOptions, StreamOptions, Query } from './client/client.ts';
export { Client } from './client/client.ts';
export type { SelectorOptions, ListOptions, WatchOptions, WriteOptions, DeleteOptions, DeepPartial, JsonPatchOperation, Patch, ListWatch } from './client/api.ts';
export { Api } from './client/api.ts';
export type { WatcherConfig } from './cache/watcher.ts';
export { watcher, metadataWatcher, watchObject } from './cache/watcher.ts';
export type { Backoff, BackoffPolicy, ExponentialBackoffOptions } from './core/backoff.ts';
export { exponentialBackoff, defaultBackoff, constantBackoff, sleep } from './core/backoff.ts';
export type { StoreOptions, StoreHealth, StoreLookup } from './cache/store.ts';
export type { IndexFunction, Indexers, BuiltInIndex } from './cache/indexes.ts';
export { Writer, Store, store } from './cache/store.ts';
export type { ErrorHandler, WithMeta, Predicate, PredicateFilterOptions, StreamBackoffOptions } from './cache/reflector.ts';
export { reflector, appliedObjects, touchedObjects, modify, predicates, predicateFilter, streamBackoff } from './cache/reflector.ts';
export type { SubscriberEvent } from './cache/shared-store.ts';
export { SharedWriter, SharedStore, storeShared, reflectShared } from './cache/shared-store.ts';
export type { ResourceKind, Named, KindTag } from './core/object-ref.ts';
export { ObjectRef, objectKey, storeKey } from './core/object-ref.ts';
export type { LabelRequirement, Labels, LabelSelector, LabelMatcher } from './core/labels.ts';
export { LabelSelectorError, parseLabelSelector, formatLabelSelector, labelMatcher } from './core/labels.ts';
export type { Logger } from './core/logger.ts';
export { consoleLogger, silentLogger } from './core/logger.ts';
// The kinds: what users call, and what generated modules build on.
export type {
  AllNamespaces, ApiMethod, ApiCore, ClusterApi, NamespacedApi, RefSource, KindBase, CacheOptions, Cache, Watchable, WatchableIf, InNamespace,
  NamespacedKind, ClusterKind, KindDefinition,
} from './kinds/kind.ts';
export { allNamespaces, dropsManagedFields, namespacedKind, clusterKind } from './kinds/kind.ts';
// prune and keep at any depth: spec and result types, and the compiled projections.
export type {
  Identity, KnownKeys, IsMap, Inner, FieldFlag, Entry, PruneFields, KeepFields, MetadataPrune, MetadataKeep, PruneSpec, KeepSpec, Exact,
  Pruned, PrunedObject, PrunedValue, Kept, KeptObject, KeptValue, Obj, Shape, ShapeNode,
} from './kinds/projection.ts';
export { ProjectionSpecError } from './kinds/projection.ts';
// Scale-out: one active replica of several, or every replica on its own slice, on Leases.
export type { LeaderElectionOptions } from './scale/leader-election.ts';
export { LeaderElection } from './scale/leader-election.ts';
export type { ShardRingOptions } from './scale/shard-ring.ts';
export { ShardRing } from './scale/shard-ring.ts';
export { ShardRange, fnv1a64 } from './scale/shard-range.ts';
// The controller (runtime/controller/, guide: docs/controller.md).
export type { ReconcileReason, ReconcileContext, Reconciler, ErrorPolicy } from './controller/reconcile.ts';
export { Action } from './controller/reconcile.ts';
export type { ControllerOptions, OwnsOptions, WatchesOptions, Target, ControllerStats, ShutdownReport } from './controller/options.ts';
export { Controller } from './controller/controller.ts';
export type { Clock } from './core/clock.ts';
export type { RateLimiter, ExponentialRateLimiterOptions, BucketRateLimiterOptions } from './controller/rate-limit.ts';
export { exponentialRateLimiter, bucketRateLimiter, maxOfRateLimiters, defaultRateLimiter } from './controller/rate-limit.ts';
export type { ControllerMetrics, ReconcileResult, PromClientLike, PromMetricConfig, PromMetricClass, PromCounter, PromHistogram, PromGauge, RegistryLike, PrometheusMetricsOptions } from './controller/metrics.ts';
export { prometheusMetrics } from './controller/metrics.ts';
export type { FinalizerHandlers } from './controller/finalizer.ts';
export { Finalizer, FinalizerError } from './controller/finalizer.ts';
export type { OwnerReferenceOptions } from './controller/owner.ts';
export { ownerReference, isControlledBy } from './controller/owner.ts';
export type { Condition } from './controller/conditions.ts';
export { setCondition, findCondition, sameConditions } from './controller/conditions.ts';
export type { EventSpec, RecorderOptions } from './controller/recorder.ts';
export { Recorder } from './controller/recorder.ts';
