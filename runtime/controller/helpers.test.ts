/** The pure helpers: conditions and owner references (the prom-client adapter has its own test, prometheus.test.ts). */
import { describe, expect, it } from 'vitest';
import { findCondition, sameConditions, setCondition } from './conditions.ts';
import { isControlledBy, ownerReference } from './owner.ts';

describe('conditions', () => {
  const t0 = new Date('2026-01-01T00:00:00.123Z');
  const t1 = new Date('2026-01-02T00:00:00Z');

  it('adds a condition with the transition time; a rewrite with the same status keeps it, a new status moves it', () => {
    const first = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Pending', observedGeneration: 1 }, t0);
    expect(first).toEqual([{ type: 'Ready', status: 'False', reason: 'Pending', observedGeneration: 1, lastTransitionTime: '2026-01-01T00:00:00Z' }]);
    const same = setCondition(first, { type: 'Ready', status: 'False', reason: 'StillPending', message: 'waiting', observedGeneration: 2 }, t1);
    expect(same[0]).toMatchObject({ reason: 'StillPending', message: 'waiting', observedGeneration: 2, lastTransitionTime: '2026-01-01T00:00:00Z' });
    const flipped = setCondition(same, { type: 'Ready', status: 'True', reason: 'Done', observedGeneration: 2 }, t1);
    expect(flipped[0]).toEqual({ type: 'Ready', status: 'True', reason: 'Done', observedGeneration: 2, lastTransitionTime: '2026-01-02T00:00:00Z' });
    expect(first[0]!.status).toBe('False'); // inputs are not changed
  });

  it("is typed by the caller's condition type: a CRD's status enum and required fields come back as they are", () => {
    // What controller-gen emits for metav1.Condition.
    interface BackupCondition {
      type: string;
      status: 'True' | 'False' | 'Unknown';
      reason: string;
      message: string;
      lastTransitionTime: string;
      observedGeneration?: number;
    }
    const stored: readonly Readonly<BackupCondition>[] = [
      { type: 'Ready', status: 'False', reason: 'Pending', message: '', lastTransitionTime: '2026-01-01T00:00:00Z' },
    ];
    const generation: number | undefined = undefined;
    const next: BackupCondition[] = setCondition(stored, { type: 'Ready', status: 'True', reason: 'Done', message: 'ok', observedGeneration: generation }, t1);
    expect(next).toEqual([{ type: 'Ready', status: 'True', reason: 'Done', message: 'ok', lastTransitionTime: '2026-01-02T00:00:00Z' }]);
    const first: BackupCondition[] = setCondition<BackupCondition>(undefined, { type: 'Ready', status: 'Unknown', reason: 'Starting', message: '' }, t0);
    expect(first[0]?.status).toBe('Unknown');
    // @ts-expect-error the CRD's enum has no 'Maybe'
    setCondition(stored, { type: 'Ready', status: 'Maybe', reason: 'x', message: '' });
    // @ts-expect-error reason is required by this condition type
    setCondition(stored, { type: 'Ready', status: 'True', message: '' });
  });

  it('keeps the other conditions and their order; finds by type; compares ignoring order', () => {
    const list = setCondition(setCondition(undefined, { type: 'A', status: 'True' }, t0), { type: 'B', status: 'False' }, t0);
    const updated = setCondition(list, { type: 'A', status: 'False' }, t1);
    expect(updated.map((c) => c.type)).toEqual(['A', 'B']);
    expect(findCondition(updated, 'B')?.status).toBe('False');
    expect(findCondition(updated, 'C')).toBeUndefined();
    expect(sameConditions(list, [...list].reverse())).toBe(true);
    expect(sameConditions(list, updated)).toBe(false);
    expect(sameConditions(undefined, [])).toBe(true);
  });
});

describe('owner references', () => {
  const kind = { resource: { group: 'demo.kubereflect.dev', version: 'v1', kind: 'Widget' } };
  it('builds a controlling, deletion-blocking reference and recognises it', () => {
    const owner = { metadata: { name: 'gear', uid: 'u-1' } };
    const ref = ownerReference(kind, owner);
    expect(ref).toEqual({ apiVersion: 'demo.kubereflect.dev/v1', kind: 'Widget', name: 'gear', uid: 'u-1', controller: true, blockOwnerDeletion: true });
    expect(ownerReference({ resource: { group: '', version: 'v1', kind: 'ConfigMap' } }, owner, { controller: false }).apiVersion).toBe('v1');
    expect(isControlledBy({ metadata: { ownerReferences: [ref] } }, owner)).toBe(true);
    expect(isControlledBy({ metadata: { ownerReferences: [{ ...ref, controller: false }] } }, owner)).toBe(false);
    expect(isControlledBy({ metadata: { ownerReferences: [ref] } }, { metadata: { uid: 'u-2' } })).toBe(false);
    expect(() => ownerReference(kind, { metadata: { name: 'gear' } })).toThrow(/name and uid/);
  });
});
