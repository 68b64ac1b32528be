/**
 * `kubereflect/cache`: a cache wired by hand, piece by piece, for what a
 * kind's `cache()` does not cover — the list/watch `watcher`, the `store`
 * (its `Writer` and `Store` reader) and the `reflector` that joins them, the
 * shared store (one watch, many subscribers), the stream helpers over a
 * watcher's events, backoff policies, and label selectors parsed and matched
 * locally. Guide: docs/runtime.md.
 *
 * @module
 */
import './core/node-version.ts';
export type { WatchEvent, ObjectList, PartialObjectMeta, DeepReadonly } from './core/types.ts';
export type { Backoff, BackoffPolicy, ExponentialBackoffOptions } from './core/backoff.ts';
export { exponentialBackoff, defaultBackoff, constantBackoff } from './core/backoff.ts';
export type { LabelRequirement, Labels, LabelMatcher } from './core/labels.ts';
export { LabelSelectorError, parseLabelSelector, formatLabelSelector, labelMatcher } from './core/labels.ts';
export type { SelectorOptions } from './client/api.ts';
export type { WatcherConfig } from './cache/watcher.ts';
export { watcher, metadataWatcher, watchObject } from './cache/watcher.ts';
export type { StoreOptions, StoreLookup } from './cache/store.ts';
export { Writer, store } from './cache/store.ts';
export type { IndexFunction, Indexers, BuiltInIndex } from './cache/indexes.ts';
export type { ErrorHandler, PredicateFilterOptions, StreamBackoffOptions } from './cache/reflector.ts';
export { reflector, appliedObjects, touchedObjects, modify, predicateFilter, streamBackoff } from './cache/reflector.ts';
export type { SubscriberEvent, SharedSubscription, SubscribeOptions } from './cache/shared-store.ts';
export { SharedWriter, SharedStore, storeShared, reflectShared } from './cache/shared-store.ts';
