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
import { sleep } from '../../runtime/core/backoff.ts';
import { Client } from '../../runtime/client/client.ts';
import { Action, Controller, type Logger, type OwnerReference } from '../../runtime/index.ts';
import { applyWidgetCrd } from '../../examples/support/seed.ts';
import { Widget } from '../../examples/generated/demo.kubereflect.dev/v1/widget.ts';
import { testNamespace } from '../support/kube.ts';

const env = inject('kube');
const client = Client.fromFile(env.kubeconfig, { context: 'admin' });
afterAll(() => client.close());
beforeAll(() => applyWidgetCrd(client), 60_000);

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
function recording(ctl: Controller<Widget>) {
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
