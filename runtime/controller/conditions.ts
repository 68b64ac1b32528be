/**
 * Status conditions, as Kubernetes API conventions describe them: one entry
 * per `type`, with `status` True/False/Unknown, a CamelCase `reason`, a
 * `message`, the `observedGeneration` it was computed for, and a
 * `lastTransitionTime` that moves only when `status` changes — so a
 * reconcile that rewrites the same condition leaves the status as it was
 * (and, with an equality check before writing, writes nothing).
 */

/** One condition of an object's status. */
export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown' | (string & {});
  reason?: string;
  message?: string;
  /** When `status` last changed (RFC 3339). */
  lastTransitionTime?: string;
  /** The `metadata.generation` the condition was computed for. */
  observedGeneration?: number;
}

/**
 * `conditions` with `next` set: a new entry, or the entry of the same type
 * replaced — keeping its `lastTransitionTime` when `status` did not change,
 * `now` otherwise. Returns a new array; the others keep their order.
 *
 * @example
 * const conditions = setCondition(widget.status?.conditions, {
 *   type: 'Ready', status: 'True', reason: 'ConfigMapReady', message: 'in line with the spec',
 *   observedGeneration: widget.metadata.generation,
 * });
 */
export function setCondition(
  conditions: readonly Readonly<Condition>[] | undefined,
  next: Omit<Condition, 'lastTransitionTime'>,
  now: Date = new Date(),
): Condition[] {
  const list = (conditions ?? []).map((c) => ({ ...c }));
  const at = list.findIndex((c) => c.type === next.type);
  const previous = at >= 0 ? list[at] : undefined;
  const lastTransitionTime = previous && previous.status === next.status && previous.lastTransitionTime ? previous.lastTransitionTime : rfc3339(now);
  const entry: Condition = { ...stripUndefined(next), lastTransitionTime };
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
export function findCondition<C extends Readonly<Condition>>(conditions: readonly C[] | undefined, type: string): C | undefined {
  return conditions?.find((c) => c.type === type);
}

/**
 * True when both lists hold the same conditions (order and key order aside):
 * the check before a status write that would change nothing.
 *
 * @example
 * if (!sameConditions(widget.status?.conditions, next)) await widgets.patchStatus(name, patch);
 */
export function sameConditions(a: readonly Readonly<Condition>[] | undefined, b: readonly Readonly<Condition>[] | undefined): boolean {
  const canon = (list: readonly Readonly<Condition>[] | undefined) =>
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
