/**
 * `kubereflect`: what an application or an operator uses every day — the
 * typed client and `Api`, the objects a cache hands out and how to write them
 * back, the typed errors, a kind's cache and its reader, and the controller
 * with its helpers (finalizers, owner references, conditions, events).
 *
 * The rest is staged by purpose in subpath entry points:
 * - `kubereflect/cache`: a cache wired by hand — the watcher, the store, the
 *   reflector, the shared store, the stream helpers, backoff policies, label
 *   selectors;
 * - `kubereflect/queue`: the controller's work queue levers — rate limiters
 *   and the clock;
 * - `kubereflect/metrics`: the controller's metrics seam and the prom-client adapter;
 * - `kubereflect/scale`: leader election and sharding on Leases;
 * - `kubereflect/kind`: what generated kind modules build on;
 * - `kubereflect/generated/*`: the core Kubernetes kinds.
 *
 * Internals (the store's shared state, line decoding, the byte scan that
 * cuts managedFields, the projection compiler) stay inside their modules.
 *
 * @module
 */
import './core/node-version.ts';
export type { OwnerReference, ObjectMetaLike, KubeObject, HasMetadata, WatcherEvent, Stored, Projected, Editable } from './core/types.ts';
export { editable, castEditable } from './core/types.ts';
export type { Status, KubeErrorCode } from './core/errors.ts';
export { KubeError, ApiError, TransportError, RequestTimeoutError, DecodeError, RequestAbortedError } from './core/errors.ts';
export type { ApplyOptions, Applied } from './client/apply.ts';
export { applyManifests, ApplyError } from './client/apply.ts';
export { ObjectRef, storeKey } from './core/object-ref.ts';
export type { LabelSelector } from './core/labels.ts';
export type { Logger, LogFields, JsonLoggerOptions } from './core/logger.ts';
export { consoleLogger, silentLogger, jsonLogger } from './core/logger.ts';
export type { ClientOptions, RequestOptions, StreamOptions, RequestQuery } from './client/client.ts';
export { Client, KubeconfigError } from './client/client.ts';
export type { ListOptions, WatchOptions, WriteOptions, DeleteOptions, Patch, PatchBody, JsonPatchOperation, ListWatch } from './client/api.ts';
export { Api } from './client/api.ts';
export type { StoreHealth } from './cache/store.ts';
export type { Store } from './cache/store.ts';
export { NotReadyError } from './cache/store.ts';
export type { Predicate } from './cache/reflector.ts';
export { predicates } from './cache/reflector.ts';
export type { CacheOptions, KindCache } from './kinds/kind.ts';
export { allNamespaces } from './kinds/kind.ts';
export { ProjectionSpecError } from './kinds/projection.ts';
// The controller (guide: docs/controller.md).
export type { ReconcileReason, ReconcileContext, Reconciler, ErrorPolicy } from './controller/reconcile.ts';
export { Action, TerminalError, ReconcileTimeoutError } from './controller/reconcile.ts';
export type {
  ControllerOptions,
  OwnsOptions,
  WatchesOptions,
  ReconcileTarget,
  ControllerStats,
  ControllerHealth,
  SourceHealth,
  ShutdownReport,
} from './controller/options.ts';
export { Controller } from './controller/controller.ts';
export type { SourceRole } from './controller/sources.ts';
export { SourceError } from './controller/sources.ts';
export type { FinalizerHandlers } from './controller/finalizer.ts';
export { Finalizer, FinalizerError } from './controller/finalizer.ts';
export type { OwnerReferenceOptions } from './controller/owner.ts';
export { ownerReference, isControlledBy } from './controller/owner.ts';
export type { Condition, ConditionLike, ConditionUpdate } from './controller/conditions.ts';
export { setCondition, findCondition, sameConditions } from './controller/conditions.ts';
export type { EventSpec, RecorderOptions } from './controller/recorder.ts';
export { Recorder } from './controller/recorder.ts';
// The manager: one operator process (guide: docs/controller.md, "The Manager").
export type {
  ManagerOptions,
  ManagedControllerOptions,
  ManagerReport,
  ManagerRole,
  ManagerStatus,
  MetricsRegistry,
  PromModule,
} from './manager/manager.ts';
export { Manager, ManagedController, ManagerError, permissions } from './manager/manager.ts';
export type { PromClass } from './manager/metrics.ts';
export type { CacheInfo } from './manager/caches.ts';
export type { EndpointsOptions, MetricsRegistryLike } from './manager/endpoints.ts';
export type { Permission, RbacSubject, ManifestOptions, CheckOptions } from './manager/rbac.ts';
export { RbacError, AccessReviewError, checkPermissions, rbacManifest } from './manager/rbac.ts';
