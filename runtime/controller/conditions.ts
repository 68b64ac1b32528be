/**
 * Status conditions, as Kubernetes API conventions describe them: one entry
 * per `type`, with `status` True/False/Unknown, a CamelCase `reason`, a
 * `message`, the `observedGeneration` it was computed for, and a
 * `lastTransitionTime` that moves only when `status` changes — so a
 * reconcile that rewrites the same condition leaves the status as it was
 * (and, with an equality check before writing, writes nothing).
 */

/**
 * One condition of an object's status, as kubereflect writes it. A CRD's own
 * condition type (controller-gen's `metav1.Condition`: `status` an enum of
 * `True | False | Unknown`, `reason` and `lastTransitionTime` required) works
 * with the helpers below as it is: they are generic over it.
 */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown' | (string & {});
  reason?: string | undefined;
  message?: string | undefined;
  /** When `status` last changed (RFC 3339). */
  lastTransitionTime?: string | undefined;
  /** The `metadata.generation` the condition was computed for. */
  observedGeneration?: number | undefined;
}

/** The shape every condition type has, whatever the CRD narrows: what the helpers read and write. */
export interface ConditionLike {
  readonly type: string;
  readonly status: string;
  readonly lastTransitionTime?: string | undefined;
  readonly observedGeneration?: number | undefined;
}

/**
 * What `setCondition` is given: the condition without `lastTransitionTime`
 * (it sets that), with `observedGeneration` allowed to be `undefined` (as
 * `metadata.generation` may be; it is then left out).
 */
export type ConditionUpdate<C extends ConditionLike> = Omit<C, 'lastTransitionTime' | 'observedGeneration'> & { observedGeneration?: number | undefined };

/**
 * `conditions` with `next` set: a new entry, or the entry of the same type
 * replaced — keeping its `lastTransitionTime` when `status` did not change,
 * `now` otherwise. Returns a new array of the caller's condition type (the
 * type of `conditions`, or `C` given explicitly); the others keep their order.
 * Properties given as `undefined` are left out.
 *
 * @example
 * const conditions = setCondition(widget.status?.conditions, {
 *   type: 'Ready', status: 'True', reason: 'ConfigMapReady', message: 'in line with the spec',
 *   observedGeneration: widget.metadata.generation,
 * });
 * // A CRD's condition type, `status: 'True' | 'False' | 'Unknown'`, when there are none yet:
 * const first = setCondition<BackupCondition>(undefined, { type: 'Ready', status: 'False', reason: 'Pending', message: '' });
 */
export function setCondition<C extends ConditionLike = Condition>(
  conditions: readonly C[] | undefined,
  next: ConditionUpdate<NoInfer<C>>,
  now: Date = new Date(),
): C[] {
  const list = (conditions ?? []).map((c) => ({ ...c }));
  const given = next as ConditionUpdate<ConditionLike>;
  const at = list.findIndex((c) => c.type === given.type);
  const previous = at >= 0 ? list[at] : undefined;
  const lastTransitionTime = previous && previous.status === given.status && previous.lastTransitionTime ? previous.lastTransitionTime : rfc3339(now);
  const entry = { ...stripUndefined(next), lastTransitionTime } as unknown as C;
  if (at >= 0) list[at] = entry;
  else list.push(entry);
  return list;
}

/**
 * The condition of `type`, if present.
 *
 * @example
 * findCondition(widget.status?.conditions, 'Ready')?.status === 'True';
 */
export function findCondition<C extends ConditionLike>(conditions: readonly C[] | undefined, type: string): C | undefined {
  return conditions?.find((c) => c.type === type);
}

/**
 * True when both lists hold the same conditions (order and key order aside):
 * the check before a status write that would change nothing.
 *
 * @example
 * if (!sameConditions(widget.status?.conditions, next)) await widgets.patchStatus(name, patch);
 */
export function sameConditions(a: readonly ConditionLike[] | undefined, b: readonly ConditionLike[] | undefined): boolean {
  const canon = (list: readonly ConditionLike[] | undefined) =>
    JSON.stringify(
      (list ?? [])
        .map((c) =>
          Object.entries(c)
            .filter(([, v]) => v !== undefined)
            .sort(([x], [y]) => (x < y ? -1 : 1)),
        )
        .sort((x, y) => (JSON.stringify(x) < JSON.stringify(y) ? -1 : 1)),
    );
  return canon(a) === canon(b);
}

/** Seconds precision, as the apiserver stores `metav1.Time`. */
function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function stripUndefined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}
