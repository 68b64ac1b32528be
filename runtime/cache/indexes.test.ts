/**
 * Secondary indexes, driven through a store's writer: built on first use,
 * kept in step through Apply, Delete and the relist swap, typed by name.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { Pod } from '../../generated/core/v1/pod.ts';
import type { Pod as PodType } from '../../generated/core/v1/pod.ts';
import { store } from './store.ts';
import type { WatcherEvent } from '../core/types.ts';

function pod(name: string, node: string | undefined, rv = '1', owners: string[] = []): PodType {
  return {
    metadata: {
      name,
      namespace: name.startsWith('b') ? 'b' : 'a',
      uid: `uid-${name}`,
      resourceVersion: rv,
      ownerReferences: owners.map((uid) => ({ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: uid, uid })),
    },
    spec: { nodeName: node, containers: [] },
  };
}
const listed = (...pods: PodType[]): WatcherEvent<PodType>[] => [
  { type: 'Init' },
  ...pods.map((object) => ({ type: 'InitApply' as const, object })),
  { type: 'InitDone' },
];
const names = (objects: readonly { metadata: { name: string } }[]) => objects.map((o) => o.metadata.name).sort();

describe('store indexes', () => {
  it('are kept right through Apply, Delete and a relist swap', () => {
    const { reader, writer } = store<PodType, 'byNode'>({ indexes: { byNode: (p) => p.spec?.nodeName } });
    for (const e of listed(pod('a1', 'n1'), pod('a2', 'n1'), pod('b1', 'n2'))) writer.applyEvent(e);
    expect(names(reader.byIndex('byNode', 'n1'))).toEqual(['a1', 'a2']);
    writer.applyEvent({ type: 'Apply', object: pod('a2', 'n2', '2') }); // moved
    writer.applyEvent({ type: 'Apply', object: pod('a3', undefined, '3') }); // unscheduled: in no bucket
    expect(names(reader.byIndex('byNode', 'n1'))).toEqual(['a1']);
    expect(names(reader.byIndex('byNode', 'n2'))).toEqual(['a2', 'b1']);
    writer.applyEvent({ type: 'Delete', object: pod('b1', 'n2', '4') });
    expect(names(reader.byIndex('byNode', 'n2'))).toEqual(['a2']);
    // The relist: a2 gone, a1 moved, c1 new.
    for (const e of listed(pod('a1', 'n2', '5'), pod('c1', 'n1', '6'))) writer.applyEvent(e);
    expect(names(reader.byIndex('byNode', 'n1'))).toEqual(['c1']);
    expect(names(reader.byIndex('byNode', 'n2'))).toEqual(['a1']);
    expect(reader.byIndex('byNode', 'n3')).toEqual([]);
    // What the index returns is what the store holds.
    expect(reader.byIndex('byNode', 'n1')[0]).toBe(reader.get('a/c1'));
  });

  it('has namespace and owner built in', () => {
    const { reader, writer } = store<PodType>();
    for (const e of listed(pod('a1', 'n1', '1', ['rs-1']), pod('a2', 'n1', '1', ['rs-1', 'rs-2']), pod('b1', 'n1', '1', ['rs-2']))) writer.applyEvent(e);
    expect(names(reader.byIndex('owner', 'rs-1'))).toEqual(['a1', 'a2']);
    expect(names(reader.byIndex('owner', 'rs-2'))).toEqual(['a2', 'b1']);
    expect(names(reader.byIndex('namespace', 'b'))).toEqual(['b1']);
    writer.applyEvent({ type: 'Apply', object: pod('a2', 'n1', '2', []) }); // orphaned
    expect(names(reader.byIndex('owner', 'rs-1'))).toEqual(['a1']);
  });

  it('leave the store as it was when an index function throws, and name it', () => {
    const { reader, writer } = store<PodType, 'picky'>({
      indexes: {
        picky: (p) => {
          if (p.metadata.name === 'bad') throw new Error('no');
          return p.spec?.nodeName;
        },
      },
    });
    for (const e of listed(pod('a1', 'n1'))) writer.applyEvent(e);
    expect(reader.byIndex('picky', 'n1')).toHaveLength(1);
    expect(() => writer.applyEvent({ type: 'Apply', object: pod('bad', 'n1') })).toThrow(/index "picky" threw on b\/bad: no/);
    expect(reader.get('b/bad')).toBeUndefined();
    expect(names(reader.byIndex('picky', 'n1'))).toEqual(['a1']);
    expect(() => reader.byIndex('nope' as 'picky', 'x')).toThrow(/no index named "nope" \(known: namespace, owner, picky\)/);
  });

  it('are declared with a kind reflector, typed by name', () => {
    const placement = Pod.keep({ spec: { nodeName: true } });
    const cache = Pod.cache(Pod.api({} as never, 'a'), { transform: placement, indexes: { byNode: (p) => p.spec?.nodeName } });
    expectTypeOf(cache.reader.byIndex).parameter(0).toEqualTypeOf<'byNode' | 'namespace' | 'owner'>();
    // @ts-expect-error not an index of this reflector
    void (() => cache.reader.byIndex('byZone', 'x'));
    const plain = Pod.cache(Pod.api({} as never, 'a'));
    expectTypeOf(plain.reader.byIndex).parameter(0).toEqualTypeOf<'namespace' | 'owner'>();
    expect(cache.reader.byIndex('byNode', 'n1')).toEqual([]);
  });
});
