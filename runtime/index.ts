/**
 * kubereflect's runtime: a typed client and `Api`, the watcher, the store and
 * reflector, the shared dispatcher, and the helpers around them. See
 * `docs/runtime.md` for how data flows through the pieces.
 *
 * The public surface is listed here name by name: internals (the store's
 * shared state, the change listeners, line decoding, the byte scan that cuts
 * managedFields) stay inside their modules.
 */
export type { OwnerReference, ObjectMetaLike, KubeObject, PartialObjectMeta, ResourceDescriptor, ObjectList, WatchEvent, WatcherEvent, Stored, Projected, Whole, DeepReadonly } from './types.ts';
export { apiVersionOf, editable, asWritable } from './types.ts';
export type { Status } from './errors.ts';
export { KubeError, ApiError, TransportError, TimeoutError, DecodeError, AbortedError } from './errors.ts';
export type { ClientOptions, RequestOptions, StreamOptions, Query } from './client.ts';
export { Client } from './client.ts';
export type { SelectorOptions, ListOptions, WatchOptions, WriteOptions, DeleteOptions, DeepPartial, JsonPatchOperation, Patch, ListWatch } from './api.ts';
export { Api } from './api.ts';
export type { WatcherConfig } from './watcher.ts';
export { watcher, metadataWatcher, watchObject } from './watcher.ts';
export type { Backoff, BackoffPolicy, ExponentialBackoffOptions } from './backoff.ts';
export { exponentialBackoff, defaultBackoff, constantBackoff, sleep } from './backoff.ts';
export type { StoreOptions, StoreHealth, StoreLookup } from './store.ts';
export type { IndexFunction, Indexers, BuiltInIndex } from './indexes.ts';
export { Writer, Store, store } from './store.ts';
export type { ErrorHandler, WithMeta, Predicate, PredicateFilterOptions, StreamBackoffOptions } from './reflector.ts';
export { reflector, appliedObjects, touchedObjects, modify, predicates, predicateFilter, streamBackoff } from './reflector.ts';
export type { SubscriberEvent } from './dispatcher.ts';
export { SharedWriter, SharedStore, storeShared, reflectShared } from './dispatcher.ts';
export type { ResourceKind, Named, KindTag } from './object-ref.ts';
export { ObjectRef, objectKey, storeKey } from './object-ref.ts';
export type { LabelRequirement, Labels, LabelSelector, LabelMatcher } from './labels.ts';
export { LabelSelectorError, parseLabelSelector, formatLabelSelector, labelMatcher } from './labels.ts';
export type { Logger } from './logger.ts';
export { consoleLogger, silentLogger } from './logger.ts';
// The kinds: what users call, and what generated modules build on.
export type {
  AllNamespaces, ApiMethod, ApiCore, ClusterApi, NamespacedApi, RefSource, KindBase, CacheOptions, Cache, Watchable, WatchableIf, InNamespace,
  NamespacedKind, ClusterKind, KindDefinition,
} from './kind.ts';
export { allNamespaces, dropsManagedFields, namespacedKind, clusterKind } from './kind.ts';
// prune and keep at any depth: spec and result types, and the compiled projections.
export type {
  Identity, KnownKeys, IsMap, Inner, FieldFlag, Entry, PruneFields, KeepFields, MetadataPrune, MetadataKeep, PruneSpec, KeepSpec, Exact,
  Pruned, PrunedObject, PrunedValue, Kept, KeptObject, KeptValue, Obj, Shape, ShapeNode,
} from './projection.ts';
export { ProjectionSpecError } from './projection.ts';
// Scale-out: one active replica of several, or every replica on its own slice, on Leases.
export type { LeaderElectionOptions } from './leader.ts';
export { LeaderElection } from './leader.ts';
export type { ShardRingOptions } from './shard.ts';
export { ShardRing, ShardRange, fnv1a64 } from './shard.ts';
// The controller (runtime/controller/, guide: docs/controller.md).
export type { ReconcileReason, ReconcileContext, Reconciler, ErrorPolicy } from './controller/reconcile.ts';
export { Action } from './controller/reconcile.ts';
export type { ControllerOptions, OwnsOptions, WatchesOptions, Target, ControllerStats, ShutdownReport } from './controller/options.ts';
export { Controller } from './controller/controller.ts';
export type { Clock } from './controller/clock.ts';
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
