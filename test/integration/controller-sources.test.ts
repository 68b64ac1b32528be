/**
 * A controller's sources against the real kube-apiserver: `owns()` and
 * `watches()` reconcile both the object a child or related object mapped to
 * before a change and the one it maps to after (re-parented, orphaned,
 * relabelled); no reconcile starts before every source has synced; and a
 * source that fails for good stops the controller, with `run()` rejecting
 * with a `SourceError` that names it.
 * The slow initial lists go through the fault proxy (a list held until the
 * test releases it), which needs the local control plane.
 */
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { Secret } from '../../generated/core/v1/secret.ts';
import { sleep } from '../../runtime/core/backoff.ts';
import { Client } from '../../runtime/client/client.ts';
import { Action, Controller, SourceError, type KubeObject, type Logger, type OwnerReference } from '../../runtime/index.ts';
import { reflectShared, storeShared, watcher } from '../../runtime/cache.ts';
import { applyWidgetCrd } from '../../examples/support/seed.ts';
import { Widget } from '../../examples/generated/demo.kubereflect.dev/v1/widget.ts';
import { openClient } from '../faults/harness.ts';
import { Lab } from '../faults/lab.ts';
import { testNamespace } from '../support/kube.ts';

const env = inject('kube');
const client = Client.fromFile(env.kubeconfig, { context: 'admin' });
let lab: Lab;
beforeAll(async () => {
  expect(env.local, 'the slow lists go through the fault proxy, which needs the local control plane').toBe(true);
  lab = new Lab();
  await applyWidgetCrd(client);
}, 60_000);
afterAll(async () => {
  client.close();
  await lab?.close();
});

const capture = (): Logger & { lines: string[] } => {
  const lines: string[] = [];
  const push = (m: string) => void lines.push(m);
  return { lines, debug: push, info: push, warn: push, error: push };
};

/** Creates Widgets and returns each one's owner reference (controller: true). */
async function widgets(api: ReturnType<typeof Widget.api>, names: string[]): Promise<Record<string, OwnerReference>> {
  const refs: Record<string, OwnerReference> = {};
  for (const name of names) {
    const w = await api.create({ metadata: { name }, spec: { color: 'red' } });
    refs[name] = { apiVersion: 'demo.kubereflect.dev/v1', kind: 'Widget', name, uid: w.metadata!.uid!, controller: true };
  }
  return refs;
}

/** Runs a controller that records `name:reason` of every reconcile; `until` waits for some and then a quiet moment. */
function recording<K extends KubeObject, S extends KubeObject>(ctl: Controller<K, S>) {
  const seen: string[] = [];
  const done = ctl.run((w, ctx) => {
    seen.push(`${w.metadata.name}:${ctx.reason}`);
    return Action.awaitChange();
  });
  return {
    seen,
    done,
    /** Waits until every one of `expected` was reconciled since the last `take`, lets 500 ms more pass, and returns (and forgets) what was. */
    async take(expected: string[]): Promise<string[]> {
      await vi.waitFor(() => expect(seen).toEqual(expect.arrayContaining(expected)), { timeout: 10_000, interval: 50 });
      await sleep(500);
      return [...new Set(seen.splice(0))].sort();
    },
  };
}

describe('owns() and watches() map the old version and the new one', () => {
  it('owns(): a child re-parented from a to b reconciles both; orphaned, its old owner; deleted, its last owner', async () => {
    const ns = await testNamespace('ctl-reparent');
    const api = Widget.api(client, ns);
    const configMaps = ConfigMap.api(client, ns);
    const refs = await widgets(api, ['a', 'b', 'c']);
    const ctl = new Controller(api, { logger: capture() }).owns(configMaps);
    const rec = recording(ctl);
    await rec.take(['a:object changed', 'b:object changed', 'c:object changed']);

    await configMaps.create({ metadata: { name: 'child', ownerReferences: [refs.a!] } });
    expect(await rec.take(['a:owned object changed'])).toEqual(['a:owned object changed']);
    await configMaps.patch('child', { type: 'merge', body: { metadata: { ownerReferences: [refs.b!] } } });
    expect(await rec.take(['b:owned object changed', 'a:owned object changed'])).toEqual(['a:owned object changed', 'b:owned object changed']);
    // Orphaned: no owner now; the one it had learns it lost a child.
    await configMaps.patch('child', { type: 'merge', body: { metadata: { ownerReferences: null } } });
    expect(await rec.take(['b:owned object changed'])).toEqual(['b:owned object changed']);
    // Adopted by c, then deleted: c hears of both.
    await configMaps.patch('child', { type: 'merge', body: { metadata: { ownerReferences: [refs.c!] } } });
    expect(await rec.take(['c:owned object changed'])).toEqual(['c:owned object changed']);
    await configMaps.delete('child');
    expect(await rec.take(['c:owned object changed'])).toEqual(['c:owned object changed']);
    await ctl.shutdown();
    await rec.done;
  });

  it('watches(): when the mapper names another object after a change, the one it named before is reconciled too', async () => {
    const ns = await testNamespace('ctl-remap');
    const api = Widget.api(client, ns);
    const configMaps = ConfigMap.api(client, ns);
    await widgets(api, ['a', 'b']);
    // A ConfigMap labelled widget=<name> concerns that Widget.
    const ctl = new Controller(api, { logger: capture() }).watches(configMaps, (cm) => {
      const name = cm.metadata.labels?.widget;
      return name ? [{ name, namespace: cm.metadata.namespace }] : [];
    });
    const rec = recording(ctl);
    await rec.take(['a:object changed', 'b:object changed']);
    await configMaps.create({ metadata: { name: 'settings', labels: { widget: 'a' } } });
    expect(await rec.take(['a:related object changed'])).toEqual(['a:related object changed']);
    await configMaps.patch('settings', { type: 'merge', body: { metadata: { labels: { widget: 'b' } } } });
    expect(await rec.take(['a:related object changed', 'b:related object changed'])).toEqual(['a:related object changed', 'b:related object changed']);
    await configMaps.patch('settings', { type: 'merge', body: { metadata: { labels: { widget: null } } } });
    expect(await rec.take(['b:related object changed'])).toEqual(['b:related object changed']);
    // A change that concerns no Widget, before or after, reconciles nothing.
    await configMaps.patch('settings', { type: 'merge', body: { data: { x: '1' } } });
    await sleep(800);
    expect(rec.seen).toEqual([]);
    await ctl.shutdown();
    await rec.done;
  });
});

describe('readiness: a controller reconciles only once every source has synced', () => {
  it('waits for a slow owns() store it is given and a slow watches() watch of its own; the first reconciles see the children', async () => {
    const ns = await testNamespace('ctl-synced');
    const api = Widget.api(client, ns);
    const refs = await widgets(api, ['a', 'b', 'c']);
    for (const [name, ref] of Object.entries(refs)) {
      for (const i of [1, 2]) await ConfigMap.api(client, ns).create({ metadata: { name: `${name}-${i}`, ownerReferences: [ref] } });
      await Secret.api(client, ns).create({ metadata: { name: `${name}-secret`, labels: { widget: name } } });
    }
    // The initial lists of ConfigMaps and Secrets wait at the proxy until the test lets them through.
    const proxy = await lab.proxy();
    const slow = openClient(proxy.kubeconfig(lab.plane.kubeconfig), 'admin');
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const held = (r: { watch: boolean; method: string; path: string }) => !r.watch && r.method === 'GET' && /\/(configmaps|secrets)$/.test(r.path);
    proxy.rule = (r) => (held(r) ? { type: 'hold', until: gate } : undefined);
    const order: string[] = [];
    // The caller's own store of the ConfigMaps, which the controller is given.
    const shared = storeShared<ConfigMap>();
    const stopRoot = new AbortController();
    const rooting = (async () => {
      for await (const e of reflectShared(shared.writer, watcher(ConfigMap.api(slow, ns), { signal: stopRoot.signal }))) {
        if (e.type === 'InitDone') order.push('configmaps listed');
      }
    })();
    const logger = capture();
    const ctl = new Controller(api, { logger })
      .owns(ConfigMap.api(client, ns), { store: shared.reader })
      .watches(Secret.api(slow, ns), (s) => (s.metadata.labels?.widget ? [{ name: s.metadata.labels.widget, namespace: ns }] : []));
    const synced: boolean[] = [];
    const done = ctl.run((w) => {
      order.push(`reconcile ${w.metadata.name}: ${shared.reader.byIndex('owner', w.metadata.uid).length} children`);
      synced.push(ctl.health().synced);
      return Action.awaitChange();
    });
    await vi.waitFor(() => expect(proxy.requests.filter(held)).toHaveLength(2), { timeout: 10_000, interval: 20 });
    await vi.waitFor(() => expect(ctl.reader.isReady()).toBe(true), { timeout: 10_000, interval: 20 });
    await sleep(1_000); // the primary store is ready: a controller that does not wait reconciles now
    expect(order).toEqual([]);
    expect(ctl.health().synced).toBe(false);
    expect(
      ctl
        .health()
        .sources.map((s) => `${s.role} ${s.resource}: ${s.store.ready}`)
        .sort(),
    ).toEqual(['owns configmaps: false', 'primary widgets.demo.kubereflect.dev: true', 'watches secrets: false']);
    order.push('released');
    release();
    await vi.waitFor(() => expect(order.filter((l) => l.startsWith('reconcile'))).toHaveLength(3), { timeout: 10_000, interval: 20 });
    expect(order.slice(0, 2)).toEqual(['released', 'configmaps listed']);
    expect(order.slice(2).sort()).toEqual(['reconcile a: 2 children', 'reconcile b: 2 children', 'reconcile c: 2 children']);
    expect(synced).toEqual([true, true, true]);
    expect(logger.lines.filter((l) => l.includes('synced'))).toEqual([expect.stringMatching(/every source has synced/)]);
    await ctl.shutdown();
    await done;
    stopRoot.abort();
    await rooting;
  });
});

describe('a source that fails for good stops the controller, and run() says which', () => {
  it('an index function of a store given to owns() that throws for one object: run() rejects with a SourceError naming owns configmaps', async () => {
    const ns = await testNamespace('ctl-fatal-index');
    const api = Widget.api(client, ns);
    const refs = await widgets(api, ['a']);
    const configMaps = ConfigMap.api(client, ns);
    const shared = storeShared<ConfigMap>({
      indexes: {
        byTier: (cm) => {
          if (cm.metadata.labels?.tier === 'poison') throw new Error('no poison here');
          return cm.metadata.labels?.tier;
        },
      },
    });
    const stopRoot = new AbortController();
    const rooting = (async () => {
      for await (const _ of reflectShared(shared.writer, watcher(configMaps, { signal: stopRoot.signal }))) {
        /* drive */
      }
    })().catch((e: unknown) => e as Error);
    await shared.reader.waitUntilReady();
    expect(shared.reader.byIndex('byTier', 'web')).toEqual([]); // built: from now on every change goes through it
    const logger = capture();
    const ctl = new Controller(api, { logger }).owns(configMaps, { store: shared.reader });
    let reconciles = 0;
    const running = ctl.run(() => (reconciles++, Action.awaitChange()));
    const outcome = running.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    await vi.waitFor(() => expect(reconciles).toBe(1), { timeout: 10_000, interval: 20 });
    await configMaps.create({ metadata: { name: 'fine', labels: { tier: 'web' }, ownerReferences: [refs.a!] } });
    await vi.waitFor(() => expect(reconciles).toBe(2), { timeout: 10_000, interval: 20 });
    await configMaps.create({ metadata: { name: 'bad', labels: { tier: 'poison' } } });
    const err = await Promise.race([outcome, sleep(15_000).then(() => 'still running 15 s after the source failed')]);
    expect(err).toBeInstanceOf(SourceError);
    const e = err as SourceError;
    expect([e.role, e.resource, e.code]).toEqual(['owns', 'configmaps', 'ERR_KUBE_SOURCE']);
    expect(e.message).toMatch(/owns configmaps .*index "byTier" threw on ctl-fatal-index-\w+\/bad: no poison here/);
    expect(((await rooting) as Error).message).toMatch(/index "byTier" threw/); // the caller's own loop learns it too
    expect(ctl.health().failed).toBe(e);
    expect(ctl.health().sources.find((s) => s.role === 'owns')?.failed).toBe(e);
    expect(logger.lines).toContainEqual(expect.stringMatching(/owns configmaps .*failed for good/));
    // Stopped: a change of the primary kind reconciles nothing.
    await api.patch('a', { type: 'merge', body: { spec: { size: 2 } } });
    await sleep(500);
    expect(reconciles).toBe(2);
    expect(await ctl.shutdown()).toEqual({ finished: 0, abandoned: 0 });
  });

  it("a transform of the controller's own watch that drops the uid of one object: run() rejects with a SourceError naming the primary source", async () => {
    const ns = await testNamespace('ctl-fatal-transform');
    const api = Widget.api(client, ns);
    await widgets(api, ['a']);
    const logger = capture();
    const ctl = new Controller(api, {
      logger,
      transform: (w) => (w.metadata?.name === 'bad' ? { ...w, metadata: { ...w.metadata, uid: undefined } } : w),
    });
    const reconciled: string[] = [];
    const running = ctl.run((w) => (reconciled.push(w.metadata.name), Action.awaitChange()));
    const outcome = running.then(
      () => 'resolved',
      (e: unknown) => e,
    );
    await vi.waitFor(() => expect(reconciled).toEqual(['a']), { timeout: 10_000, interval: 20 });
    await api.create({ metadata: { name: 'bad' }, spec: { color: 'red' } });
    const err = await Promise.race([outcome, sleep(15_000).then(() => 'still running 15 s after the source failed')]);
    expect(err).toBeInstanceOf(SourceError);
    const e = err as SourceError;
    expect([e.role, e.resource]).toEqual(['primary', 'widgets.demo.kubereflect.dev']);
    expect(e.message).toMatch(/primary widgets\.demo\.kubereflect\.dev .*bad has no metadata\.uid/);
    expect(e.cause).toBeInstanceOf(TypeError);
    expect(ctl.health().failed).toBe(e);
    expect(reconciled).toEqual(['a']);
  });
});
