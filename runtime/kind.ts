/**
 * `kubereflect/kind`: what generated kind modules build on.
 *
 * Every module the generator writes imports this entry point and nothing
 * else of the runtime: the factories that turn a kind's description into its
 * value (`namespacedKind`, `clusterKind`), the types of that value and of its
 * typed `Api`, and the types that check `prune` and `keep` specs and compute
 * their results. Application code rarely names these; it uses the generated
 * kinds (`Pod.api(…)`, `Pod.cache(…)`, `Pod.prune(…)`) and the root entry
 * point, `kubereflect`.
 *
 * @module
 */
import './core/node-version.ts';
export type { PartialObjectMeta, ResourceDescriptor } from './core/types.ts';
export type { ResourceKind, KindTag } from './core/object-ref.ts';
export type {
  ApiMethod,
  ApiCore,
  ClusterApi,
  NamespacedApi,
  AllNamespacesApi,
  Within,
  ReadMethod,
  ByNameMethod,
  InSomeNamespace,
  KindBase,
  Watchable,
  WatchableIf,
  InNamespace,
  NamespacedKind,
  ClusterKind,
  KindDefinition,
} from './kinds/kind.ts';
export { namespacedKind, clusterKind } from './kinds/kind.ts';
export type {
  Identity,
  KnownKeys,
  IsMap,
  Inner,
  FieldFlag,
  Entry,
  PruneFields,
  KeepFields,
  MetadataPrune,
  MetadataKeep,
  PruneSpec,
  KeepSpec,
  Exact,
  Pruned,
  PrunedObject,
  PrunedValue,
  Kept,
  KeptObject,
  KeptValue,
  Obj,
  Shape,
  ShapeNode,
} from './kinds/projection.ts';
