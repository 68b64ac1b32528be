/**
 * Owner references for the objects a controller creates: they tie a child
 * to its owner so that `owns()` maps the child's changes back to the owner,
 * and so that the garbage collector deletes the child with the owner.
 */
import { KubeError } from '../core/errors.ts';
import type { OwnerReference, ResourceDescriptor } from '../core/types.ts';
import { apiVersionOf } from '../core/types.ts';

/** Options of `ownerReference`. */
export interface OwnerReferenceOptions {
  /** This owner is the child's managing controller (default true). A child has at most one. */
  controller?: boolean;
  /** With foreground deletion, the owner is not deleted before this child (default true). */
  blockOwnerDeletion?: boolean;
}

/**
 * The owner reference of `owner` (of the kind `kind` describes: a kind's
 * value such as `Widget`, or its Api): `apiVersion`, `kind`, `name`, `uid`,
 * with `controller: true` and `blockOwnerDeletion: true` by default. Throws
 * when `owner` has no name or uid (it must come from the server).
 *
 * @example
 * const cm = { metadata: { name: widget.metadata.name, ownerReferences: [ownerReference(Widget, widget)] }, data };
 */
export function ownerReference(
  kind: { readonly resource: Pick<ResourceDescriptor, 'group' | 'version' | 'kind'> },
  owner: { readonly metadata?: { readonly name?: string; readonly uid?: string } | undefined },
  opts: OwnerReferenceOptions = {},
): OwnerReference {
  const { name, uid } = owner.metadata ?? {};
  if (!name || !uid)
    throw new KubeError(`kubereflect: an owner reference to a ${kind.resource.kind} needs its name and uid (use the object as the server returned it)`);
  return {
    apiVersion: apiVersionOf(kind.resource),
    kind: kind.resource.kind,
    name,
    uid,
    controller: opts.controller ?? true,
    blockOwnerDeletion: opts.blockOwnerDeletion ?? true,
  };
}

/**
 * True when `child`'s managing controller (its owner reference with
 * `controller: true`) is `owner`, by uid. A controller should change only
 * children it controls.
 *
 * @example
 * if (existing && !isControlledBy(existing, widget)) throw new Error(`ConfigMap ${name} belongs to someone else`);
 */
export function isControlledBy(
  child: { readonly metadata?: { readonly ownerReferences?: readonly { readonly uid: string; readonly controller?: boolean }[] } | undefined },
  owner: { readonly metadata?: { readonly uid?: string } | undefined },
): boolean {
  const uid = owner.metadata?.uid;
  return uid !== undefined && (child.metadata?.ownerReferences ?? []).some((r) => r.controller === true && r.uid === uid);
}
