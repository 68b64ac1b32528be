/**
 * The field names a `prune`/`keep` spec may use, where the runtime knows
 * them: a kind's top-level fields, which its generated module lists, and
 * those of `metadata`, which is `ObjectMeta` in every kind and so is carried
 * here once rather than in every module. The types check every depth; this
 * is what is left for a spec that bypassed them (JavaScript, a cast), so
 * that a typo fails when `prune`/`keep` is called instead of pruning
 * nothing. The rest of a kind's tree is not listed: emitting it would add
 * about a fifth to the generated code.
 */

/** The fields of one object a spec may name, and the known objects below some of them (through arrays). */
export interface KnownFields {
  /** What the object is, for messages: `Pod`, `ObjectMeta`. */
  readonly type: string;
  /** Sorted. */
  readonly names: readonly string[];
  readonly inner: ReadonlyMap<string, KnownFields>;
}

/**
 * The fields of `ObjectMeta` and of the entries of its `managedFields` and
 * `ownerReferences` (meta/v1): fixed by the Kubernetes API and the same in
 * every kind. A test checks them against the pinned kube-apiserver's OpenAPI.
 */
export const OBJECT_META_FIELDS = {
  ObjectMeta: [
    'annotations',
    'creationTimestamp',
    'deletionGracePeriodSeconds',
    'deletionTimestamp',
    'finalizers',
    'generateName',
    'generation',
    'labels',
    'managedFields',
    'name',
    'namespace',
    'ownerReferences',
    'resourceVersion',
    'selfLink',
    'uid',
  ],
  ManagedFieldsEntry: ['apiVersion', 'fieldsType', 'fieldsV1', 'manager', 'operation', 'subresource', 'time'],
  OwnerReference: ['apiVersion', 'blockOwnerDeletion', 'controller', 'kind', 'name', 'uid'],
} as const;

const known = (type: string, names: readonly string[], inner: [string, KnownFields][] = []): KnownFields => ({
  type,
  names: [...names].sort(),
  inner: new Map(inner),
});

const OBJECT_META: KnownFields = known('ObjectMeta', OBJECT_META_FIELDS.ObjectMeta, [
  ['managedFields', known('ManagedFieldsEntry', OBJECT_META_FIELDS.ManagedFieldsEntry)],
  ['ownerReferences', known('OwnerReference', OBJECT_META_FIELDS.OwnerReference)],
]);

/**
 * What a kind's specs are checked against: its top-level fields, and
 * `ObjectMeta`'s below `metadata`. Without a list (a module generated before
 * modules carried one), nothing: every name passes, as it did then.
 */
export function kindFields(kind: string, topLevel: readonly string[] | undefined): KnownFields | undefined {
  return topLevel ? known(kind, topLevel, [['metadata', OBJECT_META]]) : undefined;
}

/** The problem with naming `name` in an object whose fields are `fields`, if any: not one of them, with the close ones. */
export function unknownField(fields: KnownFields | undefined, name: string): string | undefined {
  if (!fields || fields.names.includes(name)) return undefined;
  const close = closeNames(name, fields.names);
  return `not a field of ${fields.type} (fields: ${fields.names.join(', ')})${close.length ? `; did you mean ${close.join(' or ')}?` : ''}`;
}

/**
 * The names a typing mistake or two away from `name` (ignoring case): within
 * a third of its length in edits, at least 1 and at most 2; the closest
 * ones, at most three.
 */
export function closeNames(name: string, names: readonly string[]): string[] {
  const limit = Math.min(2, Math.max(1, Math.floor(name.length / 3)));
  const scored = names.map((n) => ({ n, d: editDistance(name.toLowerCase(), n.toLowerCase()) })).filter((s) => s.d <= limit);
  const best = Math.min(...scored.map((s) => s.d));
  return scored
    .filter((s) => s.d === best)
    .map((s) => s.n)
    .slice(0, 3);
}

/** Levenshtein distance: insertions, deletions and substitutions. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    prev = row;
  }
  return prev[b.length]!;
}
