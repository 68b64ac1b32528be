/**
 * The cache contract, by type: what a store, a reflector's stream or a
 * subscription hands out is deeply read-only and carries its identity; a
 * write takes a copy from `editable()`. The `@ts-expect-error` lines are
 * checked by `tsc` (part of `npm test`): each fails the build if it compiles.
 */
import { describe, expect, it } from 'vitest';
import type { Pod } from '../../generated/core/v1/pod.ts';
import type { Api } from '../client/api.ts';
import { storeShared } from './shared-store.ts';
import { appliedObjects, reflector } from './reflector.ts';
import { store } from './store.ts';
import { editable, type Stored, type WatcherEvent } from '../core/types.ts';

function pod(name: string, rv = '1'): Pod {
  return {
    metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: rv, labels: { app: 'web' } },
    spec: { containers: [{ name: 'c', image: 'nginx' }] },
  };
}

async function* from<T>(items: T[]): AsyncGenerator<T> {
  yield* items;
}

const listed = (...pods: Pod[]): WatcherEvent<Pod>[] => [
  { type: 'Init' },
  ...pods.map((object) => ({ type: 'InitApply' as const, object })),
  { type: 'InitDone' },
];

/** Never called: its body is what tsc checks. */
async function typeChecks(api: Api<Pod>): Promise<void> {
  const { reader, writer } = store<Pod>();
  for await (const e of reflector(writer, from(listed(pod('a'))))) {
    if (e.type !== 'InitApply' && e.type !== 'Apply') continue;
    // @ts-expect-error a stored object's labels are read-only
    e.object.metadata.labels!.app = 'mutated';
    // @ts-expect-error and so is its spec
    e.object.spec = undefined;
    // @ts-expect-error and every array inside it
    e.object.spec!.containers.push({ name: 'x' });
    const name: string = e.object.metadata.name; // the identity is there, no `?? ''`
    void name;
  }
  for await (const p of appliedObjects(reflector(store<Pod>().writer, from(listed(pod('a')))))) {
    // @ts-expect-error what the stream helpers yield is read-only too
    p.metadata.labels = {};
  }
  const shared = storeShared<Pod>();
  for await (const e of shared.reader.subscribe()) {
    // @ts-expect-error a subscriber's object is read-only
    e.object.metadata.annotations = {};
  }
  const stored = reader.get('ns/a')!;
  // @ts-expect-error a write does not take the stored object itself
  await api.replace('a', stored);
  const copy = editable(stored);
  copy.metadata.labels = { ...copy.metadata.labels, tier: 'gold' };
  copy.spec!.containers.push({ name: 'sidecar', image: 'busybox' });
  await api.replace('a', copy);
  const typed: Stored<Pod>[] = reader.state();
  void typed;
}
void typeChecks;

describe('editable', () => {
  it('gives a deep copy to change, and the store keeps its own', () => {
    const { reader, writer } = store<Pod>();
    for (const e of listed(pod('a'))) writer.applyEvent(e);
    const stored = reader.get('ns/a')!;
    const copy = editable(stored);
    copy.metadata.labels!.app = 'changed';
    copy.spec!.containers[0]!.image = 'busybox';
    expect(reader.get('ns/a')?.metadata.labels?.app).toBe('web');
    expect(reader.get('ns/a')?.spec?.containers[0]?.image).toBe('nginx');
    expect(Object.isFrozen(copy)).toBe(false);
    expect(Object.isFrozen(stored)).toBe(true);
  });
});
