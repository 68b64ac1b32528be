/**
 * Object references: a small value that names one Kubernetes object by kind
 * and name, independent of the object's content. Identity is the group,
 * version, kind, namespace and name; the `resourceVersion` and `uid` a
 * reference may carry are information, not identity, so a reference built
 * from an old copy of an object still equals one built from the new copy.
 *
 * Stores look objects up by `key` (`namespace/name`, or the bare `name` of a
 * cluster-scoped object, as client-go keys them). Names cannot contain `/`,
 * so the key of a cluster-scoped `foo` can never collide with that of a
 * namespaced one (`ns/foo`).
 */
import { apiVersionOf } from './types.ts';
import type { HasMetadata, KubeObject, OwnerReference, PartialObjectMeta, ResourceDescriptor } from './types.ts';

/** The part of a `ResourceDescriptor` that a reference needs. */
export type ResourceKind = Pick<ResourceDescriptor, 'group' | 'version' | 'kind'>;

/**
 * What a reference's compile-time marker compares: the kind's `apiVersion`
 * and `kind` literal types. Projections (`prune`, `keep`) and metadata-only
 * views keep them, so a reference to a Widget finds it in a store of kept
 * Widgets, while a Node's reference still does not fit a Pod store.
 */
export type KindTag<K> =
  K extends PartialObjectMeta<infer Of>
    ? KindTag<Of>
    : { apiVersion: K extends { apiVersion?: infer A } ? A : unknown; kind: K extends { kind?: infer T } ? T : unknown };

/**
 * A reference to one object of kind `K`. `K` is a compile-time marker only:
 * it stops a reference to a Node from being used to look up a Pod. References
 * made by `of` and `fromOwnerReference` without a type argument have
 * `K = never`: not tied to a kind at compile time, they fit any store.
 *
 * @example
 * const ref = ObjectRef.of(deployments, 'web', 'shop');
 * ref.toString(); // 'Deployment.v1.apps/shop/web'
 * ref.key;        // 'shop/web'
 */
export class ObjectRef<K extends KubeObject = KubeObject> {
  /** API group; `''` for the core group. */
  readonly group: string;
  readonly version: string;
  readonly kind: string;
  readonly name: string;
  /** Absent for cluster-scoped objects. */
  readonly namespace: string | undefined;
  /** The version of the object the reference was made from, if known. Not part of identity. */
  readonly resourceVersion: string | undefined;
  /** The uid of the object the reference was made from, if known. Not part of identity. */
  readonly uid: string | undefined;
  /** @internal phantom marker; never present at run time. */
  declare readonly __kind?: KindTag<K>;

  private constructor(
    resource: ResourceKind,
    name: string,
    namespace: string | undefined,
    extra: { resourceVersion?: string | undefined; uid?: string | undefined } = {},
  ) {
    this.group = resource.group;
    this.version = resource.version;
    this.kind = resource.kind;
    this.name = name;
    // '' and undefined both mean "cluster-scoped"; normalising keeps equals() and key honest.
    this.namespace = namespace || undefined;
    this.resourceVersion = extra.resourceVersion;
    this.uid = extra.uid;
  }

  /**
   * A reference from its parts.
   *
   * @example
   * const node = ObjectRef.of({ group: '', version: 'v1', kind: 'Node' }, 'worker-1');
   * node.toString(); // 'Node.v1/worker-1'
   */
  static of<K extends KubeObject = never>(resource: ResourceKind, name: string, namespace?: string): ObjectRef<K> {
    return new ObjectRef<K>(resource, name, namespace);
  }

  /**
   * The reference of an object; keeps its `resourceVersion` and `uid`.
   * Throws when the object has no `metadata.name`, since it then has no identity.
   *
   * @example
   * const ref = ObjectRef.fromObject(pod, { group: '', version: 'v1', kind: 'Pod' });
   * ref.uid === pod.metadata.uid; // true
   */
  static fromObject<K extends KubeObject>(obj: K, resource: ResourceKind): ObjectRef<K> {
    const meta = obj.metadata;
    return new ObjectRef<K>(resource, requireName(obj, resource.kind), meta?.namespace, {
      resourceVersion: meta?.resourceVersion,
      uid: meta?.uid,
    });
  }

  /**
   * The reference of an owner, if the owner is of kind `resource`; otherwise
   * `undefined`. Owner references carry no namespace: an owner lives in its
   * dependent's namespace (pass it) or is cluster-scoped (omit it).
   *
   * @example
   * for (const owner of pod.metadata?.ownerReferences ?? []) {
   *   const rs = ObjectRef.fromOwnerReference(owner, replicaSets, pod.metadata?.namespace);
   *   if (rs) enqueue(rs);
   * }
   */
  static fromOwnerReference<K extends KubeObject = never>(owner: OwnerReference, resource: ResourceKind, namespace?: string): ObjectRef<K> | undefined {
    if (owner.apiVersion !== apiVersionOf(resource) || owner.kind !== resource.kind) return undefined;
    return new ObjectRef<K>(resource, owner.name, namespace, { uid: owner.uid });
  }

  /** The `apiVersion` of the referenced kind: `v1` or `apps/v1`. */
  get apiVersion(): string {
    return apiVersionOf(this);
  }

  /**
   * The store key: `namespace/name`, or `name` when cluster-scoped.
   *
   * @example
   * ObjectRef.of(pods, 'web-0', 'shop').key; // 'shop/web-0'
   * ObjectRef.of(nodes, 'worker-1').key;     // 'worker-1'
   */
  get key(): string {
    return keyFor(this.name, this.namespace);
  }

  /**
   * True when both name the same object; `resourceVersion` and `uid` are ignored.
   *
   * @example
   * ObjectRef.fromObject(oldPod, pods).equals(ObjectRef.fromObject(newPod, pods)); // true
   */
  equals(other: ObjectRef<KubeObject>): boolean {
    return (
      this.name === other.name && this.namespace === other.namespace && this.kind === other.kind && this.group === other.group && this.version === other.version
    );
  }

  /**
   * `Kind.version.group/namespace/name`; the core group and a missing namespace are left out.
   *
   * @example
   * String(ObjectRef.of(pods, 'web-0', 'shop')); // 'Pod.v1/shop/web-0'
   */
  toString(): string {
    const type = this.group ? `${this.kind}.${this.version}.${this.group}` : `${this.kind}.${this.version}`;
    return this.namespace ? `${type}/${this.namespace}/${this.name}` : `${type}/${this.name}`;
  }
}

/**
 * The key a store files an object under: `namespace/name`, or the bare
 * `name` of a cluster-scoped object (an empty namespace counts as none) —
 * client-go's `MetaNamespaceKeyFunc`. Give it an object (it throws when the
 * object has no `metadata.name`), or a name and a namespace.
 *
 * @example
 * storeKey({ metadata: { name: 'web-0', namespace: 'shop' } }); // 'shop/web-0'
 * storeKey('web-0', 'shop');                                    // 'shop/web-0'
 * storeKey('worker-1');                                         // 'worker-1'
 */
export function storeKey(obj: HasMetadata): string;
export function storeKey(name: string, namespace?: string): string;
export function storeKey(objOrName: HasMetadata | string, namespace?: string): string {
  return typeof objOrName === 'string' ? keyFor(objOrName, namespace) : keyOf(objOrName);
}

/** `storeKey(obj)` without the overload dispatch, for the store's own paths. */
export function keyOf(obj: HasMetadata): string {
  return keyFor(requireName(obj), obj.metadata?.namespace);
}

/** `storeKey(name, namespace)` without the overload dispatch. */
export function keyFor(name: string, namespace?: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

function requireName(obj: HasMetadata, kind?: string): string {
  const name = obj.metadata?.name;
  // Collapsing every nameless object onto one key would corrupt a store silently;
  // in practice this means a modify()/pruning step dropped metadata.name.
  if (!name) throw new TypeError(`kubereflect: ${kind ?? 'object'} has no metadata.name, so it has no identity (did a modify() step drop it?)`);
  return name;
}
