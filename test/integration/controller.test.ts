/**
 * The controller against the real kube-apiserver: the example operator
 * converges (ConfigMaps, status, a deleted child re-created, the finalizer's
 * cleanup exactly once), no object is reconciled twice at once under random
 * churn, a failing object backs off alone, the generation predicate stops a
 * status-writing reconcile from re-triggering itself, and shutdown lets
 * in-flight work finish.
 */
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { sleep } from '../../runtime/core/backoff.ts';
import { Client } from '../../runtime/client/client.ts';
import {
  Action,
  Api,
  ApiError,
  Controller,
  Finalizer,
  FinalizerError,
  Recorder,
  predicates,
  type KubeObject,
  type Logger,
  type ReconcileContext,
  type Stored,
} from '../../runtime/index.ts';
import { exponentialRateLimiter } from '../../runtime/queue.ts';
import { storeShared, reflectShared, watcher } from '../../runtime/cache.ts';
import { applyWidgetCrd } from '../../examples/support/seed.ts';
import { ExternalRecords, FINALIZER, OPERATOR, configMapName, widgetOperator } from '../../examples/support/widget-operator.ts';
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

async function createWidgets(api: ReturnType<typeof Widget.api>, n: number, prefix = 'w'): Promise<string[]> {
  const names = Array.from({ length: n }, (_, i) => `${prefix}-${String(i).padStart(2, '0')}`);
  for (let i = 0; i < names.length; i += 10) {
    await Promise.all(names.slice(i, i + 10).map((name) => api.create({ metadata: { name }, spec: { color: 'red', size: 1 } })));
  }
  return names;
}

describe('the example operator', () => {
  it('converges ConfigMaps and status on create and update, re-creates a deleted ConfigMap, and cleans up exactly once before a Widget goes', async () => {
    const ns = await testNamespace('operator');
    const logger = capture();
    const records = new ExternalRecords();
    const stillThere: boolean[] = [];
    const op = widgetOperator(client, ns, { records, logger });
    const widgets = Widget.api(client, ns);
    const configMaps = ConfigMap.api(client, ns);
    records.onRemove = async (w) => {
      const live = await widgets.getIfExists(w.metadata.name);
      stillThere.push(live?.metadata?.deletionTimestamp !== undefined && live.metadata.finalizers?.includes(FINALIZER) === true);
    };
    const running = op.controller.run(op.reconcile);
    await widgets.create({ metadata: { name: 'gear' }, spec: { color: 'red', size: 3, parts: [{ name: 'tooth', count: 12 }] } });
    await widgets.create({ metadata: { name: 'sprocket' }, spec: { color: 'blue', size: '2Gi' } });

    const converged = async (name: string, expected: Record<string, string>) => {
      await vi.waitFor(
        async () => {
          const cm = await configMaps.getIfExists(`${name}-widget`);
          expect(cm?.data).toMatchObject(expected);
          const w = await widgets.get(name);
          expect(w.metadata?.finalizers).toContain(FINALIZER);
          expect(w.status?.observedGeneration).toBe(w.metadata?.generation);
          expect(w.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', observedGeneration: w.metadata?.generation });
          expect(cm?.metadata?.ownerReferences).toEqual([
            expect.objectContaining({ kind: 'Widget', name, uid: w.metadata?.uid, controller: true, blockOwnerDeletion: true }),
          ]);
        },
        { timeout: 20_000, interval: 200 },
      );
    };
    await converged('gear', { color: 'red', size: '3', parts: '12xtooth' });
    await converged('sprocket', { color: 'blue', size: '2Gi' });
    const readySince = (await widgets.get('gear')).status?.conditions?.[0]?.lastTransitionTime;

    // An update of the spec: the ConfigMap and observedGeneration follow; the Ready condition did not transition.
    await widgets.patch('gear', { type: 'merge', body: { spec: { color: 'green', size: 4 } } });
    await converged('gear', { color: 'green', size: '4' });
    expect((await widgets.get('gear')).status?.conditions?.[0]?.lastTransitionTime).toBe(readySince);

    // A deleted child re-triggers its owner, which creates it again.
    const before = await configMaps.get('sprocket-widget');
    await configMaps.delete('sprocket-widget');
    await vi.waitFor(
      async () => {
        const again = await configMaps.getIfExists('sprocket-widget');
        expect(again?.metadata?.uid).toBeDefined();
        expect(again?.metadata?.uid).not.toBe(before.metadata?.uid);
      },
      { timeout: 20_000, interval: 200 },
    );

    // Delete: cleanup runs once, while the Widget still exists (held by the finalizer); then it goes.
    const uid = (await widgets.get('gear')).metadata!.uid!;
    expect(records.records.has(uid)).toBe(true);
    await widgets.delete('gear');
    await vi.waitFor(async () => expect(await widgets.getIfExists('gear')).toBeUndefined(), { timeout: 20_000, interval: 200 });
    op.controller.reconcileAll(); // a stale trigger after the delete must not clean up again
    await sleep(1_000);
    expect(records.removals.filter((r) => r.endsWith(`@${uid}`))).toHaveLength(1);
    expect(stillThere).toEqual([true]);
    expect(records.records.has(uid)).toBe(false);

    // Events of what it did, aggregated per object and reason.
    const events = new Api<KubeObject & { reason?: string; reportingController?: string; regarding?: { name: string } }>(
      client,
      { group: 'events.k8s.io', version: 'v1', kind: 'Event', plural: 'events', namespaced: true },
      ns,
    );
    const recorded = (await events.list()).items;
    expect(
      recorded
        .filter((e) => e.reportingController === OPERATOR)
        .map((e) => `${e.regarding?.name}:${e.reason}`)
        .sort(),
    ).toEqual(expect.arrayContaining(['gear:ConfigMapCreated', 'gear:ConfigMapUpdated', 'gear:ExternalRecordRemoved', 'sprocket:ConfigMapCreated']));
    expect((await op.controller.shutdown()).abandoned).toBe(0);
    await running;
    expect(op.controller.stats().failures, logger.lines.join('\n')).toBe(0);
  });

  it('leaves alone a ConfigMap it does not control, and says so', async () => {
    const ns = await testNamespace('operator-foreign');
    const logger = capture();
    const op = widgetOperator(client, ns, { logger });
    const configMaps = ConfigMap.api(client, ns);
    await configMaps.create({ metadata: { name: 'taken-widget' }, data: { mine: 'yes' } });
    const running = op.controller.run(op.reconcile);
    await Widget.api(client, ns).create({ metadata: { name: 'taken' }, spec: { color: 'red' } });
    await vi.waitFor(() => expect(op.controller.stats().lastError?.message).toMatch(/not controlled by this Widget/), { timeout: 20_000, interval: 100 });
    expect((await configMaps.get('taken-widget')).data).toEqual({ mine: 'yes' });
    await op.controller.shutdown();
    await running;
  });
});

describe('Controller', () => {
  it('owns() by default watches metadata only, which syncs in a namespace with no children yet (the server lists them as items: null)', async () => {
    const ns = await testNamespace('ctl-empty');
    const logger = capture();
    const events = watcher(ConfigMap.api(client, ns).metadata(), { logger, signal: AbortSignal.timeout(10_000) });
    const seen: string[] = [];
    for await (const e of events) {
      seen.push(e.type === 'Error' ? `Error: ${e.error.message}` : e.type);
      if (e.type === 'InitDone' || seen.length > 3) break;
    }
    expect(seen).toEqual(['Init', 'InitDone']);
  });

  it('never reconciles one object twice at once under 1,000 random changes across 50 objects (concurrency 8), and each last reconcile saw the latest generation', async () => {
    const ns = await testNamespace('ctl-churn');
    const api = Widget.api(client, ns);
    const names = await createWidgets(api, 50);
    const running = new Set<string>();
    let overlaps = 0;
    let maxRunning = 0;
    let reconciles = 0;
    const lastSeen = new Map<string, number>();
    const ctl = new Controller(api, { concurrency: 8, logger: capture() });
    const done = ctl.run(async (w, ctx) => {
      if (running.has(ctx.key)) overlaps++;
      running.add(ctx.key);
      maxRunning = Math.max(maxRunning, running.size);
      reconciles++;
      await sleep(Math.random() * 15);
      lastSeen.set(w.metadata.name, w.metadata.generation ?? 0);
      running.delete(ctx.key);
      return Action.awaitChange();
    });
    let n = 0;
    const change = async () => {
      while (n < 1_000) {
        const name = names[Math.floor(Math.random() * names.length)]!;
        await api.patch(name, { type: 'merge', body: { spec: { size: ++n } } });
      }
    };
    await Promise.all(Array.from({ length: 12 }, change));
    await vi.waitFor(
      async () => {
        const truth = (await api.list()).items;
        expect(truth).toHaveLength(50);
        for (const w of truth) expect(lastSeen.get(w.metadata!.name!), w.metadata!.name).toBe(w.metadata!.generation);
      },
      { timeout: 30_000, interval: 250 },
    );
    expect(overlaps).toBe(0);
    expect(maxRunning).toBeLessThanOrEqual(8);
    expect(maxRunning).toBeGreaterThan(1);
    console.info(JSON.stringify({ changes: n, reconciles, maxRunning }));
    await ctl.shutdown();
    await done;
  });

  it('backs an always-failing object off with growing delays up to the cap while the others keep flowing', async () => {
    const ns = await testNamespace('ctl-backoff');
    const api = Widget.api(client, ns);
    const logger = capture();
    const failedAt: number[] = [];
    const delays: number[] = [];
    const good = new Map<string, number>();
    const ctl = new Controller(api, {
      logger,
      rateLimiter: exponentialRateLimiter({ baseMs: 10, maxMs: 320 }),
      errorPolicy: (_err, _obj, ctx) => {
        delays.push(ctx.backoffMs);
        return Action.requeue(ctx.backoffMs);
      },
    });
    const done = ctl.run((w) => {
      if (w.metadata.name === 'broken') {
        failedAt.push(performance.now());
        throw new Error('always broken');
      }
      good.set(w.metadata.name, w.metadata.generation ?? 0);
      return Action.awaitChange();
    });
    await api.create({ metadata: { name: 'broken' }, spec: { color: 'red' } });
    const names = await createWidgets(api, 5, 'fine');
    // While 'broken' keeps failing, changes to the others are reconciled.
    for (let round = 1; round <= 4; round++) {
      await Promise.all(names.map((name) => api.patch(name, { type: 'merge', body: { spec: { size: round } } })));
      await vi.waitFor(
        async () => {
          for (const w of (await api.list({ labelSelector: '' })).items.filter((x) => x.metadata?.name !== 'broken')) {
            expect(good.get(w.metadata!.name!)).toBe(w.metadata!.generation);
          }
        },
        { timeout: 10_000, interval: 50 },
      );
    }
    await vi.waitFor(() => expect(delays.filter((d) => d === 320).length).toBeGreaterThanOrEqual(4), { timeout: 20_000, interval: 100 });
    await ctl.shutdown();
    await done;
    // The delays double from the base to the cap, then stay there; each retry waited at least its delay.
    const rising = delays.slice(0, 6);
    expect(rising).toEqual([10, 20, 40, 80, 160, 320]);
    expect(delays.slice(6).every((d) => d === 320)).toBe(true);
    const intervals = failedAt.slice(1).map((t, i) => t - failedAt[i]!);
    intervals.forEach((gap, i) => expect(gap, `retry ${i + 1}`).toBeGreaterThanOrEqual(delays[i]! - 2));
    expect(intervals.at(-1)!).toBeGreaterThan(intervals[0]! * 4);
    expect(logger.lines.some((l) => l.includes('reconcile of') && l.includes('always broken'))).toBe(true);
  });

  it('with the generation predicate, a reconcile that writes status on every run settles; without it, it triggers itself again and again', async () => {
    const ns = await testNamespace('ctl-spin');
    const api = Widget.api(client, ns);
    const names = await createWidgets(api, 5);
    const spin = async (predicate: boolean) => {
      let reconciles = 0;
      const ctl = new Controller(api, { logger: capture(), ...(predicate ? { predicate: predicates.generation } : {}) });
      const done = ctl.run(async (w) => {
        reconciles++;
        await api.patchStatus(w.metadata.name, { type: 'merge', body: { status: { phase: `${predicate ? 'guarded' : 'unguarded'}-${reconciles}` } } });
        return Action.awaitChange();
      });
      await sleep(2_500);
      const afterSettling = reconciles;
      await sleep(1_500);
      const later = reconciles;
      await ctl.shutdown();
      await done;
      return { afterSettling, later };
    };
    const guarded = await spin(true);
    expect(guarded.afterSettling).toBe(names.length); // one reconcile per object; its own status write filtered out
    expect(guarded.later).toBe(guarded.afterSettling);
    const unguarded = await spin(false);
    expect(unguarded.later).toBeGreaterThan(unguarded.afterSettling); // still going: each write queues the object again
    expect(unguarded.afterSettling).toBeGreaterThan(names.length * 3);
  });

  it('shutdown stops taking work, lets in-flight reconciles finish, stops the watches, and resolves run()', async () => {
    const ns = await testNamespace('ctl-shutdown');
    const api = Widget.api(client, ns);
    const started: string[] = [];
    const finished: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const ctl = new Controller(api, { concurrency: 3, logger: capture() });
    const done = ctl.run(async (w) => {
      started.push(w.metadata.name);
      await gate;
      finished.push(w.metadata.name);
      return Action.awaitChange();
    });
    await createWidgets(api, 5);
    await vi.waitFor(() => expect([ctl.stats().inFlight, ctl.stats().queueDepth]).toEqual([3, 2]), { timeout: 10_000, interval: 50 });
    const stopping = ctl.shutdown({ deadlineMs: 20_000 });
    await sleep(200);
    release();
    const report = await stopping;
    await done;
    expect(report).toEqual({ finished: 3, abandoned: 0 });
    expect(started).toHaveLength(3);
    expect(finished.sort()).toEqual([...started].sort());
    // The watch is stopped: a new object never reaches the store.
    const size = ctl.reader.size;
    await api.create({ metadata: { name: 'after' }, spec: { color: 'blue' } });
    await sleep(500);
    expect(ctl.reader.size).toBe(size);
  });

  it('at the shutdown deadline, aborts the signal of a reconcile that is still running and reports it abandoned', async () => {
    const ns = await testNamespace('ctl-deadline');
    const api = Widget.api(client, ns);
    let seen: ReconcileContext | undefined;
    const ctl = new Controller(api, { logger: capture() });
    const done = ctl.run(async (_w, ctx) => {
      seen = ctx;
      await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve));
      return Action.awaitChange();
    });
    await createWidgets(api, 1);
    await vi.waitFor(() => expect(seen).toBeDefined(), { timeout: 10_000, interval: 50 });
    expect(await ctl.shutdown({ deadlineMs: 300 })).toEqual({ finished: 0, abandoned: 1 });
    expect(seen!.signal.aborted).toBe(true);
    await done;
  });

  it('owns(): shares a store the caller drives, and a deleted child re-triggers its owner', async () => {
    const ns = await testNamespace('ctl-owns');
    const api = Widget.api(client, ns);
    const configMaps = ConfigMap.api(client, ns);
    // One watch of ConfigMaps, driven here, serves both the controller and this test's own reads.
    const shared = storeShared<ConfigMap>();
    const root = new AbortController();
    const rooting = (async () => {
      for await (const _ of reflectShared(shared.writer, watcher(configMaps, { signal: root.signal }))) {
        /* drive */
      }
    })();
    const reasons: string[] = [];
    const ctl = new Controller(api, { logger: capture() }).owns(configMaps, { store: shared.reader });
    const done = ctl.run(async (w: Stored<Widget>, ctx) => {
      reasons.push(`${w.metadata.name}:${ctx.reason}`);
      const name = configMapName(w);
      if (!(await configMaps.getIfExists(name))) {
        await configMaps.create({
          metadata: {
            name,
            ownerReferences: [{ apiVersion: 'demo.kubereflect.dev/v1', kind: 'Widget', name: w.metadata.name, uid: w.metadata.uid, controller: true }],
          },
        });
      }
      return Action.awaitChange();
    });
    await api.create({ metadata: { name: 'parent' }, spec: { color: 'red' } });
    // An unrelated ConfigMap, and one owned by a Widget without controller: true, trigger nothing.
    await configMaps.create({ metadata: { name: 'loose' } });
    await vi.waitFor(() => expect(shared.reader.get({ name: 'parent-widget', namespace: ns })).toBeDefined(), { timeout: 10_000, interval: 50 });
    await configMaps.delete('parent-widget');
    await vi.waitFor(async () => expect(await configMaps.getIfExists('parent-widget')).toBeDefined(), { timeout: 10_000, interval: 100 });
    await sleep(300);
    expect(reasons[0]).toBe('parent:object changed');
    expect(reasons).toContain('parent:owned object changed');
    expect(reasons.every((r) => r.startsWith('parent:'))).toBe(true);
    await ctl.shutdown();
    await done;
    root.abort();
    await rooting;
  });

  it('transform: reconciles the pruned object its own watch stored (managedFields never parsed), typed as the projection', async () => {
    const ns = await testNamespace('ctl-prune');
    const api = Widget.api(client, ns);
    await createWidgets(api, 2);
    const seen: string[] = [];
    const slim = Widget.prune({ metadata: { managedFields: true }, status: true });
    const ctl = new Controller(api, { transform: slim, logger: capture() });
    const done = ctl.run((w) => {
      // @ts-expect-error status was pruned: it is not in the type
      void w.status;
      seen.push(`${w.metadata.name}:${'managedFields' in w.metadata}:${'status' in w}:${w.spec?.color}`);
      return Action.awaitChange();
    });
    await vi.waitFor(() => expect(seen.sort()).toEqual(['w-00:false:false:red', 'w-01:false:false:red']), { timeout: 10_000, interval: 50 });
    await ctl.shutdown();
    await done;
  });

  it('shard: two controllers over complementary ranges each hold and reconcile exactly the objects of their range', async () => {
    const { ShardRange } = await import('../../runtime/scale/shard-range.ts');
    const ns = await testNamespace('ctl-shard');
    const api = Widget.api(client, ns);
    await createWidgets(api, 24);
    const uids = (await api.list()).items.map((w) => w.metadata!.uid!);
    const halves = [ShardRange.of(0, 2), ShardRange.of(1, 2)];
    const seen = halves.map(() => new Set<string>());
    const ctls = halves.map((shard, i) => {
      const ctl = new Controller(api, { shard, logger: capture() });
      const done = ctl.run((w) => {
        seen[i]!.add(w.metadata.uid);
        return Action.awaitChange();
      });
      return { ctl, done };
    });
    for (const [i, half] of halves.entries()) {
      const mine = uids.filter((u) => half.has(u)).sort();
      await vi.waitFor(() => expect([...seen[i]!].sort()).toEqual(mine), { timeout: 15_000, interval: 50 });
      expect(
        ctls[i]!.ctl.reader.state()
          .map((w) => w.metadata.uid)
          .sort(),
      ).toEqual(mine); // its store holds only its range
    }
    expect(() => new Controller(api, { shard: halves[0]!, store: storeShared<Widget>().reader })).toThrow(/shard and store do not go together/);
    for (const { ctl, done } of ctls) {
      await ctl.shutdown();
      await done;
    }
  });

  it('debounce: a burst of changes to one object is reconciled once it has been quiet', async () => {
    const ns = await testNamespace('ctl-debounce');
    const api = Widget.api(client, ns);
    await createWidgets(api, 1);
    const generations: number[] = [];
    const ctl = new Controller(api, { debounceMs: 1_000, logger: capture() });
    const done = ctl.run((w) => (generations.push(w.metadata.generation ?? 0), Action.awaitChange()));
    await vi.waitFor(() => expect(generations).toEqual([1]), { timeout: 10_000, interval: 50 });
    for (let i = 2; i <= 6; i++) await api.patch('w-00', { type: 'merge', body: { spec: { size: i } } }); // well within 1 s of each other
    await vi.waitFor(() => expect(generations.at(-1)).toBe(6), { timeout: 10_000, interval: 50 });
    await sleep(1_200);
    expect(generations).toEqual([1, 6]);
    await ctl.shutdown();
    await done;
  });

  it('watches(): a change or delete of another kind reconciles the objects its mapper names', async () => {
    const ns = await testNamespace('ctl-watches');
    const api = Widget.api(client, ns);
    const configMaps = ConfigMap.api(client, ns);
    await createWidgets(api, 3);
    const reasons: string[] = [];
    // A ConfigMap labelled widget=<name> concerns that Widget.
    const ctl = new Controller(api, { logger: capture() }).watches(configMaps, (cm) => {
      const name = cm.metadata.labels?.widget;
      return name ? [{ name, namespace: cm.metadata.namespace }] : [];
    });
    const done = ctl.run((w, ctx) => {
      reasons.push(`${w.metadata.name}:${ctx.reason}`);
      return Action.awaitChange();
    });
    await vi.waitFor(() => expect(reasons).toHaveLength(3), { timeout: 10_000, interval: 50 });
    await configMaps.create({ metadata: { name: 'settings', labels: { widget: 'w-01' } } });
    await vi.waitFor(() => expect(reasons).toContain('w-01:related object changed'), { timeout: 10_000, interval: 50 });
    await configMaps.delete('settings');
    await vi.waitFor(() => expect(reasons.filter((r) => r === 'w-01:related object changed')).toHaveLength(2), { timeout: 10_000, interval: 50 });
    await configMaps.create({ metadata: { name: 'other' } });
    await sleep(300);
    expect(reasons.filter((r) => r.endsWith('related object changed'))).toEqual(['w-01:related object changed', 'w-01:related object changed']);
    await ctl.shutdown();
    await done;
  });
});

describe('Finalizer', () => {
  it('a stale copy of a deleted object never removes the finalizer of a new object with the same name', async () => {
    // What a restart can leave behind: the removal landed but its answer was lost, the name was reused, and the cache still shows the old object.
    const ns = await testNamespace('ctl-finalizer-reuse');
    const api = Widget.api(client, ns);
    const finalizer = new Finalizer(api, FINALIZER);
    const handlers = { apply: () => Action.awaitChange(), cleanup: () => Action.awaitChange() };
    await api.create({ metadata: { name: 'reused', finalizers: [FINALIZER] }, spec: { color: 'red' } });
    await api.delete('reused');
    const old = (await api.get('reused')) as unknown as Stored<Widget>;
    await finalizer.run(old, handlers); // cleanup, then the finalizer goes: the old object is gone
    expect(await api.getIfExists('reused')).toBeUndefined();
    const fresh = await api.create({ metadata: { name: 'reused', finalizers: [FINALIZER] }, spec: { color: 'blue' } });
    await expect(finalizer.run(old, handlers)).rejects.toThrow(FinalizerError); // the retry on the stale copy
    const now = await api.get('reused');
    expect(now.metadata?.uid).toBe(fresh.metadata?.uid);
    expect(now.metadata?.finalizers).toEqual([FINALIZER]); // still held: its cleanup will run when it is deleted
    await api.patch('reused', { type: 'json', operations: [{ op: 'remove', path: '/metadata/finalizers' }] });
  });

  it('a 404 from a resource the server does not serve (yet) is an error to retry, not a gone object: only a 404 naming the object is', async () => {
    // What a restarted kube-apiserver answers for a custom resource before its CRD is served again: 404 with no object named.
    const ns = await testNamespace('ctl-finalizer-unserved');
    const unserved = new Api<Widget>(client, { ...Widget.api(client, ns).resource, plural: 'widgetsnotserved' }, ns);
    const finalizer = new Finalizer(unserved, FINALIZER);
    const meta = { name: 'w', namespace: ns, uid: 'u-1', resourceVersion: '1', finalizers: [FINALIZER] };
    const deleting = {
      apiVersion: 'demo.kubereflect.dev/v1',
      kind: 'Widget',
      metadata: { ...meta, deletionTimestamp: '2026-01-01T00:00:00Z' },
    } as unknown as Stored<Widget>;
    let cleaned = 0;
    const handlers = { apply: () => Action.awaitChange(), cleanup: () => (cleaned++, Action.awaitChange()) };
    await expect(finalizer.run(deleting, handlers)).rejects.toThrow(/could not remove finalizer .*404/);
    expect(cleaned).toBe(1);
    const fresh = { ...deleting, metadata: { ...meta, finalizers: [] } } as unknown as Stored<Widget>;
    await expect(finalizer.run(fresh, handlers)).rejects.toThrow(/could not add finalizer .*404/);
    // The server's two 404s, pinned: an object that does not exist is named in the Status details; an unserved resource is not.
    const missing = await Widget.api(client, ns)
      .patch('absent', { type: 'merge', body: {} })
      .catch((e: unknown) => e);
    expect(missing).toBeInstanceOf(ApiError);
    expect((missing as ApiError).status.details?.name).toBe('absent');
    const notServed = await unserved.patch('w', { type: 'merge', body: {} }).catch((e: unknown) => e);
    expect((notServed as ApiError).statusCode).toBe(404);
    expect((notServed as ApiError).status.details?.name).toBeUndefined();
  });

  it('does not clobber a concurrent writer: adding on a stale copy fails and retries; removing leaves the other finalizers', async () => {
    const ns = await testNamespace('ctl-finalizer');
    const api = Widget.api(client, ns);
    const created = await api.create({ metadata: { name: 'held' }, spec: { color: 'red' } });
    const stale = created as unknown as Stored<Widget>;
    // Someone else adds their finalizer after we read the object.
    await api.patch('held', { type: 'merge', body: { metadata: { finalizers: ['other.example.com/keep'] } } });
    const finalizer = new Finalizer(api, FINALIZER);
    let applied = 0;
    const handlers = { apply: () => (applied++, Action.awaitChange()), cleanup: () => Action.awaitChange() };
    await expect(finalizer.run(stale, handlers)).rejects.toThrow(FinalizerError);
    expect(applied).toBe(0);
    expect((await api.get('held')).metadata?.finalizers).toEqual(['other.example.com/keep']);
    const fresh = (await api.get('held')) as unknown as Stored<Widget>;
    await finalizer.run(fresh, handlers);
    expect(applied).toBe(1);
    expect((await api.get('held')).metadata?.finalizers).toEqual(['other.example.com/keep', FINALIZER]);
    // Deletion: cleanup runs, only our finalizer goes, the object stays for the other one.
    await api.delete('held');
    let cleaned = 0;
    const deleting = (await api.get('held')) as unknown as Stored<Widget>;
    await finalizer.run(deleting, { ...handlers, cleanup: () => (cleaned++, Action.awaitChange()) });
    // Run again on the same (now stale) copy: cleanup is not repeated; the removal fails its test instead of removing another finalizer.
    await expect(finalizer.run(deleting, { ...handlers, cleanup: () => (cleaned++, Action.awaitChange()) })).rejects.toThrow(FinalizerError);
    expect(cleaned).toBe(1);
    expect((await api.get('held')).metadata?.finalizers).toEqual(['other.example.com/keep']);
    await api.patch('held', { type: 'json', operations: [{ op: 'remove', path: '/metadata/finalizers' }] });
  });
});

describe('Recorder', () => {
  it('writes an events.k8s.io/v1 Event, and aggregates repeats into its series', async () => {
    const ns = await testNamespace('ctl-events');
    const api = Widget.api(client, ns);
    const w = await api.create({ metadata: { name: 'noisy' }, spec: { color: 'red' } });
    const logger = capture();
    const recorder = new Recorder(client, { reportingController: 'test.kubereflect.dev/recorder', logger, seriesFlushMs: 60_000 });
    const ref = Widget.refFrom(w);
    const failing = { type: 'Warning' as const, reason: 'ReconcileFailed', action: 'Reconcile', note: 'the external API said no' };
    for (let i = 0; i < 5; i++) await recorder.publish(ref, failing);
    await recorder.publish(ref, { type: 'Normal', reason: 'Recovered', action: 'Reconcile' });
    const events = new Api<
      KubeObject & { reason?: string; type?: string; note?: string; series?: { count: number }; regarding?: { uid?: string; kind?: string } }
    >(client, { group: 'events.k8s.io', version: 'v1', kind: 'Event', plural: 'events', namespaced: true }, ns);
    const listed = async () =>
      (await events.list()).items.map((e) => ({ reason: e.reason, count: e.series?.count, uid: e.regarding?.uid, kind: e.regarding?.kind }));
    // The first repeat is written at once; the later ones wait for the flush interval.
    expect((await listed()).sort((a, b) => a.reason!.localeCompare(b.reason!))).toEqual([
      { reason: 'ReconcileFailed', count: 2, uid: w.metadata!.uid, kind: 'Widget' },
      { reason: 'Recovered', count: undefined, uid: w.metadata!.uid, kind: 'Widget' },
    ]);
    await recorder.flush();
    expect((await listed()).find((e) => e.reason === 'ReconcileFailed')?.count).toBe(5);
    recorder.close();
    expect(logger.lines).toEqual([]);
  });
});
