/**
 * The example operator under faults, against the real kube-apiserver: its
 * watches and its writes go through the fault proxy (connections cut at
 * random bytes and all at once every 0.3–1.5 s), or through a second
 * kube-apiserver that is SIGKILLed and restarted, while Widgets are
 * created, changed and deleted. Once the faults stop, every live Widget
 * converges (its ConfigMap from its spec, observedGeneration, Ready) and
 * every deleted one is gone with its external record removed exactly once.
 * And a controller whose watch etcd compaction expires relists (410) and
 * reconciles every object at its latest version.
 * Needs the local control plane (proxies to it, a second apiserver on its etcd).
 */
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { sleep } from '../../runtime/core/backoff.ts';
import type { Client } from '../../runtime/client/client.ts';
import { Action, Api, Controller, type KubeObject, type Logger, type ReconcileContext, type Stored } from '../../runtime/index.ts';
import { exponentialBackoff } from '../../runtime/cache.ts';
import type { ControllerMetrics } from '../../runtime/metrics.ts';
import type { ResourceDescriptor } from '../../runtime/kind.ts';
import { Widget } from '../../examples/generated/demo.kubereflect.dev/v1/widget.ts';
import { applyWidgetCrd } from '../../examples/support/seed.ts';
import { ExternalRecords, FINALIZER, configMapName, widgetOperator } from '../../examples/support/widget-operator.ts';
import { compactEtcd, startExtraApiserver, type ExtraApiserver } from '../controlplane/plane.ts';
import { Churn } from '../faults/churn.ts';
import { killApiserverOnPort, openClient } from '../faults/harness.ts';
import { Lab } from '../faults/lab.ts';

let lab: Lab;
beforeAll(async () => {
  expect(inject('kube').local, 'the controller fault tests need the local control plane').toBe(true);
  lab = new Lab();
  await applyWidgetCrd(lab.admin);
}, 60_000);
afterAll(() => lab?.close());

const capture = (): Logger & { lines: string[] } => {
  const lines: string[] = [];
  const push = (m: string) => void lines.push(m);
  return { lines, debug: push, info: push, warn: push, error: push };
};
const fast = { backoff: exponentialBackoff({ initialMs: 50, maxMs: 500 }), timeoutSeconds: 5 };

/** Widgets created, patched and deleted through the admin client, straight to the apiserver. */
function widgetChurn(ns: string): Churn {
  return new Churn(Widget.api(lab.admin, ns) as never, {
    perSecond: 20,
    target: 20,
    prefix: 'wg',
    make: (name) => ({ apiVersion: 'demo.kubereflect.dev/v1', kind: 'Widget', metadata: { name }, spec: { color: 'red', size: 1 } }) as KubeObject,
    update: (api, name, n) => api.patch(name, { type: 'merge', body: { spec: { size: n, color: (['red', 'green', 'blue'] as const)[n % 3] } } as never }),
  });
}

/** Per uid, what each reconcile saw and how it ended: printed when a deleted Widget's record is left behind. */
const traces = new Map<string, string[]>();
function traced(op: ReturnType<typeof widgetOperator>, uids: Set<string>) {
  return async (w: Stored<Widget>, ctx: ReconcileContext) => {
    uids.add(w.metadata.uid);
    const t = traces.get(w.metadata.uid) ?? [];
    traces.set(w.metadata.uid, t);
    const seen = `rv ${w.metadata.resourceVersion} [${(w.metadata.finalizers ?? []).join(',')}]${w.metadata.deletionTimestamp ? ' deleting' : ''} (${ctx.reason})`;
    try {
      const action = await op.reconcile(w, ctx);
      t.push(`${seen} → ok`);
      return action;
    } catch (err) {
      t.push(`${seen} → ${(err as Error).message.slice(0, 120)}`);
      throw err;
    }
  };
}

/** Every live Widget is in line; every deleted one is gone, its record removed exactly once. */
async function expectConverged(ns: string, records: ExternalRecords, uidsSeen: () => Set<string>): Promise<void> {
  const widgets = Widget.api(lab.admin, ns);
  const configMaps = ConfigMap.api(lab.admin, ns);
  await vi.waitFor(
    async () => {
      const live = (await widgets.list()).items;
      for (const w of live) {
        const name = w.metadata!.name!;
        expect(w.metadata?.deletionTimestamp, `${name} still being deleted`).toBeUndefined();
        expect(w.metadata?.finalizers, name).toContain(FINALIZER);
        expect(w.status?.observedGeneration, name).toBe(w.metadata?.generation);
        const cm = await configMaps.getIfExists(configMapName(w as never));
        expect(cm?.data, name).toMatchObject({ color: w.spec!.color, size: String(w.spec!.size) });
        expect(records.records.get(w.metadata!.uid!), name).toBe(`${w.spec!.color}/${w.spec!.size}`);
      }
      const liveUids = new Set(live.map((w) => w.metadata!.uid!));
      for (const uid of uidsSeen()) {
        if (liveUids.has(uid)) continue;
        expect(records.records.has(uid), `record of deleted ${uid}: ${records.history.get(uid)?.join(', ')}; reconciles: ${traces.get(uid)?.join('; ')}`).toBe(
          false,
        );
      }
    },
    { timeout: 45_000, interval: 500 },
  );
  const counts = new Map<string, number>();
  for (const r of records.removals) counts.set(r, (counts.get(r) ?? 0) + 1);
  expect(
    [...counts.values()].every((n) => n === 1),
    JSON.stringify(records.removals),
  ).toBe(true);
}

/** The example operator on `client` in `ns`, every reconcile traced, with Widgets churning; `converged()` waits for the end state, `stop()` shuts it down. */
function runOperator(client: Client, ns: string) {
  const records = new ExternalRecords();
  const uids = new Set<string>();
  const logger = capture();
  const op = widgetOperator(client, ns, { records, logger, watcher: fast });
  const running = op.controller.run(traced(op, uids));
  const churn = widgetChurn(ns).start();
  return {
    records,
    logger,
    op,
    churn,
    converged: () => expectConverged(ns, records, () => uids),
    async stop() {
      await op.controller.shutdown();
      await running;
      op.recorder.close();
    },
  };
}

describe('the controller under faults', () => {
  it('the example operator converges after connection cuts on its watches and its writes', async () => {
    const ns = await lab.namespace('ctl-cuts');
    const proxy = await lab.proxy();
    let cutting = true;
    proxy.rule = (r) => (cutting && Math.random() < 0.3 ? { type: 'cut', afterBytes: Math.floor(Math.random() * (r.watch ? 3_000 : 2_000)) } : undefined);
    const timer = setInterval(() => cutting && proxy.cutAll(), 300 + Math.random() * 1_200);
    const { records, op, churn, converged, stop } = runOperator(openClient(proxy.kubeconfig(lab.plane.kubeconfig), 'admin', { requestTimeoutMs: 5_000 }), ns);
    try {
      await sleep(8_000);
    } finally {
      await churn.stop();
      cutting = false;
      clearInterval(timer);
    }
    const cuts = proxy.requests.filter((r) => r.fault === 'cut').length;
    await converged();
    const stats = op.controller.stats();
    console.info(JSON.stringify({ churn: churn.stats, cuts, requests: proxy.requests.length, ...stats, removals: records.removals.length }));
    expect(cuts).toBeGreaterThan(10);
    expect(churn.stats.deletes).toBeGreaterThan(0);
    expect(records.removals.length).toBeGreaterThan(0);
    expect(stats.failures, 'cut writes fail reconciles, which are retried').toBeGreaterThan(0);
    await stop();
  }, 120_000);

  it('a controller over PodTemplates (not in the watch cache) relists after etcd compaction expires its watch, and reconciles every object at its latest version', async () => {
    const ns = await lab.namespace('ctl-compact');
    const templates: ResourceDescriptor = { group: '', version: 'v1', kind: 'PodTemplate', plural: 'podtemplates', namespaced: true };
    const template = (name: string) => ({ metadata: { name }, template: { spec: { containers: [{ name: 'c', image: 'busybox' }] } } }) as KubeObject;
    const truth = new Api<KubeObject>(lab.admin, templates, ns);
    for (let i = 0; i < 20; i++) await truth.create(template(`seed-${i}`));
    const proxy = await lab.proxy();
    const api = new Api<KubeObject>(openClient(proxy.kubeconfig(lab.plane.kubeconfig), 'admin', { requestTimeoutMs: 5_000 }), templates, ns);
    let relists = 0;
    const metrics: ControllerMetrics = {
      reconciled: () => {},
      queueWait: () => {},
      queueDepth: () => {},
      watchError: () => {},
      watchRelist: () => void relists++,
    };
    const lastSeen = new Map<string, string>();
    const logger = capture();
    const ctl = new Controller(api, { metrics, logger, watcher: { ...fast, pageSize: 10 } });
    const running = ctl.run((t) => (lastSeen.set(t.metadata.name, t.metadata.resourceVersion), Action.awaitChange()));
    const churn = new Churn(truth, {
      perSecond: 30,
      target: 40,
      prefix: 'tpl',
      make: (name) => template(name),
      update: (a, name, n) => a.patch(name, { type: 'merge', body: { metadata: { annotations: { n: String(n) } } } }),
    }).start();
    try {
      await vi.waitFor(() => expect(lastSeen.size).toBeGreaterThanOrEqual(20), { timeout: 20_000, interval: 100 });
      await sleep(1_000);
      await proxy.stallOpenWatches(); // the open watch goes silent while the churn goes on
      await sleep(500);
      const other = new Api<KubeObject>(lab.admin, templates, await lab.namespace('ctl-compact-bump'));
      await other.create(template('bump-1'));
      await other.create(template('bump-2'));
      await compactEtcd(lab.plane);
      proxy.cutAll(); // the re-watch from the silenced position gets 410: relist
      await vi.waitFor(() => expect(relists).toBeGreaterThan(0), { timeout: 20_000, interval: 100 });
      await sleep(1_000);
    } finally {
      await churn.stop();
    }
    await vi.waitFor(
      async () => {
        const live = (await truth.list()).items;
        for (const t of live) expect(lastSeen.get(t.metadata!.name!), t.metadata!.name).toBe(t.metadata!.resourceVersion);
      },
      { timeout: 30_000, interval: 250 },
    );
    console.info(JSON.stringify({ churn: churn.stats, relists, ...ctl.stats() }));
    expect(
      logger.lines.some((l) => /expired|too old|410/i.test(l)),
      logger.lines.join('\n'),
    ).toBe(true);
    await ctl.shutdown();
    await running;
  }, 120_000);

  describe('with a second kube-apiserver', () => {
    let extra: ExtraApiserver;
    beforeAll(async () => {
      extra = await startExtraApiserver(lab.plane, 'controller');
    }, 60_000);
    afterAll(() => extra?.stop());

    it('the example operator converges after its kube-apiserver is SIGKILLed and restarted', async () => {
      const ns = await lab.namespace('ctl-restart');
      const { records, op, churn, logger, converged, stop } = runOperator(openClient(extra.kubeconfig, 'admin', { requestTimeoutMs: 5_000 }), ns);
      try {
        await sleep(2_000);
        killApiserverOnPort(extra.port);
        await sleep(1_500);
        await extra.restart();
        await sleep(2_000);
      } finally {
        await churn.stop();
      }
      await converged();
      console.info(JSON.stringify({ churn: churn.stats, ...op.controller.stats(), removals: records.removals.length }));
      expect(
        logger.lines.some((l) => /watch of (widgets|configmaps)/.test(l)),
        'the watches saw the server go',
      ).toBe(true);
      await stop();
    }, 120_000);
  });
});
