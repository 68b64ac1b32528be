/**
 * A controller's sources as pure logic: every input is a shared store this
 * test drives in memory (the `store:` options), so the order of lists,
 * changes and endings is the test's to choose. The same behaviour against
 * the real apiserver is in test/integration/controller-sources.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { reflectShared, storeShared, type SharedStore, type SharedWriter } from '../cache/shared-store.ts';
import type { ListWatch } from '../client/api.ts';
import type { Logger } from '../core/logger.ts';
import type { KubeObject, OwnerReference, ResourceDescriptor, WatcherEvent } from '../core/types.ts';
import { Controller } from './controller.ts';
import { Action } from './reconcile.ts';
import { SourceError } from './sources.ts';

const parents: ResourceDescriptor = { group: 'demo.kubereflect.dev', version: 'v1', kind: 'Widget', plural: 'widgets', namespaced: true };
const children: ResourceDescriptor = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
const quiet = (): Logger & { lines: string[] } => {
  const lines: string[] = [];
  const push = (m: string) => void lines.push(m);
  return { lines, debug: push, info: push, warn: push, error: push };
};
const macrotask = () => new Promise<void>((resolve) => setImmediate(resolve));

const owner = (name: string): OwnerReference => ({ apiVersion: 'demo.kubereflect.dev/v1', kind: 'Widget', name, uid: `uid-${name}`, controller: true });
const widget = (name: string, rv = '1'): KubeObject => ({ metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: rv } });
const child = (name: string, owners: OwnerReference[], rv = '1'): KubeObject => ({
  metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: rv, ownerReferences: owners },
});

/** A shared store whose root stream the test feeds, event by event; `end` ends it, `fail` makes it throw. */
function driven(): {
  reader: SharedStore<KubeObject>;
  push(...e: WatcherEvent<KubeObject>[]): void;
  end(): void;
  fail(e: Error): void;
  root: Promise<unknown>;
} {
  const { reader, writer } = storeShared<KubeObject>();
  const queue: WatcherEvent<KubeObject>[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  let failure: Error | undefined;
  async function* events(): AsyncGenerator<WatcherEvent<KubeObject>> {
    for (;;) {
      if (queue.length > 0) yield queue.shift()!;
      else if (failure) throw failure;
      else if (ended) return;
      else await new Promise<void>((resolve) => (wake = resolve));
    }
  }
  const root = (async () => {
    for await (const _ of reflectShared(writer as SharedWriter<KubeObject>, events())) {
      /* drive */
    }
  })().catch((e: unknown) => e);
  const poke = () => (wake?.(), (wake = undefined));
  return {
    reader,
    root,
    push: (...e) => (queue.push(...e), poke()),
    end: () => ((ended = true), poke()),
    fail: (e) => ((failure = e), poke()),
  };
}
const listed = (...objects: KubeObject[]): WatcherEvent<KubeObject>[] => [
  { type: 'Init' },
  ...objects.map((object) => ({ type: 'InitApply' as const, object })),
  { type: 'InitDone' },
];

function controllerOver(primary: SharedStore<KubeObject>, owned: SharedStore<KubeObject>, logger = quiet()) {
  return new Controller({ resource: parents } as ListWatch<KubeObject>, { store: primary, logger }).owns({ resource: children } as ListWatch<KubeObject>, {
    store: owned,
  });
}

describe('Controller sources', () => {
  it('reconciles nothing until the owns() store has listed too; then once per object, the keys of both lists merged', async () => {
    const p = driven();
    const c = driven();
    const seen: string[] = [];
    const ctl = controllerOver(p.reader, c.reader);
    const running = ctl.run(
      (w, ctx) => (seen.push(`${w.metadata.name}:${ctx.reason}:${c.reader.byIndex('owner', w.metadata.uid).length}`), Action.awaitChange()),
    );
    p.push(...listed(widget('a'), widget('b')));
    for (let i = 0; i < 5; i++) await macrotask();
    expect(seen).toEqual([]);
    expect(ctl.health().synced).toBe(false);
    c.push(...listed(child('a-1', [owner('a')]), child('b-1', [owner('b')]), child('b-2', [owner('b')])));
    for (let i = 0; i < 5; i++) await macrotask();
    expect(seen.sort()).toEqual(['a:object changed:1', 'b:object changed:2']);
    expect(ctl.health().synced).toBe(true);
    await ctl.shutdown();
    await running;
  });

  it('maps the version of a child seen before and the new one, and a delete to the last owner it had', async () => {
    const p = driven();
    const c = driven();
    const seen: string[] = [];
    const ctl = controllerOver(p.reader, c.reader);
    const running = ctl.run((w, ctx) => (seen.push(`${w.metadata.name}:${ctx.reason}`), Action.awaitChange()));
    p.push(...listed(widget('a'), widget('b'), widget('c')));
    c.push(...listed(child('x', [owner('a')])));
    const step = async (...e: WatcherEvent<KubeObject>[]) => {
      c.push(...e);
      for (let i = 0; i < 5; i++) await macrotask();
      return [...new Set(seen.splice(0))].sort();
    };
    expect((await step()).map((r) => r.split(':')[0])).toEqual(['a', 'b', 'c']); // the first reason of each merged key wins
    expect(await step({ type: 'Apply', object: child('x', [owner('b')], '2') })).toEqual(['a:owned object changed', 'b:owned object changed']);
    expect(await step({ type: 'Apply', object: child('x', [], '3') })).toEqual(['b:owned object changed']);
    expect(await step({ type: 'Apply', object: child('x', [owner('c')], '4') })).toEqual(['c:owned object changed']);
    // Re-parented to a and deleted at once: both of them hear of it (the delete maps the last stored state, owned by a).
    expect(await step({ type: 'Apply', object: child('x', [owner('a')], '5') }, { type: 'Delete', object: child('x', [owner('a')], '6') })).toEqual([
      'a:owned object changed',
      'c:owned object changed',
    ]);
    // A child of no one, made and deleted: nothing.
    expect(await step({ type: 'Apply', object: child('y', []) }, { type: 'Delete', object: child('y', [], '2') })).toEqual([]);
    await ctl.shutdown();
    await running;
  });

  it('a store it was given whose root ends while it runs stops it: run() rejects with a SourceError naming the source', async () => {
    const p = driven();
    const c = driven();
    const logger = quiet();
    const ctl = controllerOver(p.reader, c.reader, logger);
    const running = ctl.run(() => Action.awaitChange());
    p.push(...listed(widget('a')));
    c.push(...listed());
    for (let i = 0; i < 5; i++) await macrotask();
    c.end();
    const err = await running.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SourceError);
    expect(err).toMatchObject({ role: 'owns', resource: 'configmaps', code: 'ERR_KUBE_SOURCE' });
    expect((err as Error).cause).toBeUndefined();
    expect((err as Error).message).toBe(
      'kubereflect: widget-controller: the owns configmaps source failed for good: the stream feeding its store ended while the controller ran',
    );
    expect(ctl.health().failed).toBe(err);
    expect(logger.lines.at(-1)).toMatch(/failed for good: .*; shutting down$/);
  });

  it('a store whose root throws before it ever listed: run() rejects with what it threw as the cause, and nothing was reconciled', async () => {
    const p = driven();
    const c = driven();
    let reconciles = 0;
    const ctl = controllerOver(p.reader, c.reader);
    const running = ctl.run(() => (reconciles++, Action.awaitChange()));
    p.push(...listed(widget('a')));
    const boom = new Error('the list could not be stored');
    c.fail(boom);
    const err = (await running.catch((e: unknown) => e)) as SourceError;
    expect(err).toBeInstanceOf(SourceError);
    expect(err.cause).toBe(boom);
    expect(err.message).toMatch(/the owns configmaps source failed for good: the list could not be stored$/);
    expect(reconciles).toBe(0);
    expect(ctl.health().sources.map((s) => [s.role, s.resource, s.store.ready, s.failed === err])).toEqual([
      ['primary', 'widgets.demo.kubereflect.dev', true, false],
      ['owns', 'configmaps', false, true],
    ]);
  });

  it('a store that ends after shutdown began is no failure: run() resolves', async () => {
    const p = driven();
    const c = driven();
    const ctl = controllerOver(p.reader, c.reader);
    const running = ctl.run(() => Action.awaitChange());
    p.push(...listed(widget('a')));
    c.push(...listed());
    for (let i = 0; i < 5; i++) await macrotask();
    const stopping = ctl.shutdown();
    c.end();
    p.end();
    await stopping;
    await expect(running).resolves.toBeUndefined();
    expect(ctl.health().failed).toBeUndefined();
  });
});
