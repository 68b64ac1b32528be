/**
 * Read your own writes, on the real apiserver through the fault proxy. A
 * reconcile that works off a counter — `data.requests` asks for work,
 * `data.handled` says how much is done — creates one child Secret per unit
 * of work (named by the unit: creating it twice is a 409) and patches
 * `handled`, then requeues at once. Its next reconcile reads the cache: if
 * the cache does not yet hold its own patch, it sees the old `handled` and
 * does the same unit again. The controller watches through the proxy, which
 * slows every watch (so the cache is reliably behind the writes) and cuts
 * them all now and then; its writes go straight to the apiserver.
 *
 * Without read-your-writes (`readYourWritesMs: 0`) the unit is done twice
 * (the 409s are counted); with it, never, and every unit is done exactly
 * once. With the watch stalled instead, the next reconcile runs after the
 * bound, counted in `writesNotSeen`.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { Secret } from '../../generated/core/v1/secret.ts';
import { Action, ApiError, Client, Controller, type Logger, ownerReference, type Stored } from '../../runtime/index.ts';
import { noMetrics } from '../../runtime/metrics.ts';
import { plane } from '../faults/harness.ts';
import { waitFor } from '../../testing/index.ts';
import { FaultProxy } from '../../testing/proxy.ts';
import { testNamespace } from '../support/kube.ts';

const kubeconfig = inject('kube').kubeconfig;
const admin = Client.fromFile(kubeconfig, { context: 'admin' });
const opened: { close(): unknown }[] = [admin];
afterAll(async () => {
  for (const c of opened) await c.close();
});

const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const UNITS = 12;

/** Polls `check` (as the test kit's `waitFor`, every 50 ms). */
const until = <T>(what: string, check: () => Promise<T | undefined | false> | T | undefined | false, ms = 60_000) =>
  waitFor(what, check, { timeoutMs: ms, intervalMs: 50 });

/** Runs the counter operator against a slowed, cut watch; returns how often a unit was done twice and the children made. */
async function counterRun(readYourWritesMs: number) {
  const ns = await testNamespace('ryow');
  const p = plane();
  const proxy = await FaultProxy.start({ upstreamPort: p.apiserverPort, pkiDir: p.pkiDir });
  opened.push(proxy);
  const client = Client.fromFile(proxy.kubeconfig(kubeconfig), { context: 'admin' });
  opened.push(client);
  await ConfigMap.api(admin, ns).create({ metadata: { name: 'counter' }, data: { requests: '0', handled: '0' } });
  // Watches trickle in: an event arrives a good while after the write that made it.
  proxy.rule = (req) => (req.watch ? { type: 'slow', bytes: 256, everyMs: 25 } : undefined);
  let twice = 0;
  const ctl = new Controller(ConfigMap.api(client, ns), { readYourWritesMs, logger: quiet }).owns(Secret.api(client, ns));
  const running = ctl.run(async (cm: Stored<ConfigMap>, ctx) => {
    const requests = Number(cm.data?.requests ?? 0);
    const handled = Number(cm.data?.handled ?? 0);
    if (handled >= requests) return Action.awaitChange();
    const unit = handled + 1;
    // Writes go straight to the apiserver (a cut mid-write would leave its outcome unknown, which no cache can fix); the watches go through the proxy.
    const secrets = ctx.track(Secret.api(admin, ns));
    const configMaps = ctx.track(ConfigMap.api(admin, ns));
    try {
      await secrets.create({ metadata: { name: `counter-${unit}`, ownerReferences: [ownerReference(ConfigMap, cm)] } }, { signal: ctx.signal });
    } catch (err) {
      if (!(err instanceof ApiError && err.statusCode === 409)) throw err;
      twice++; // this unit was done before: the reconcile read a cache from before its own write
    }
    await configMaps.patch(cm.metadata.name, { type: 'merge', body: { data: { handled: String(unit) } } }, { signal: ctx.signal });
    return Action.requeue(0);
  });
  await ctl.reader.waitUntilReady();
  const cuts = setInterval(() => proxy.cutAll(), 700);
  try {
    await ConfigMap.api(admin, ns).patch('counter', { type: 'merge', body: { data: { requests: String(UNITS) } } });
    await until('every unit handled', async () => (await ConfigMap.api(admin, ns).get('counter')).data?.handled === String(UNITS));
  } finally {
    clearInterval(cuts);
    await ctl.shutdown({ deadlineMs: 5_000 });
    await running;
  }
  const children = (await Secret.api(admin, ns).list()).items.filter((s) => s.metadata?.name?.startsWith('counter-')).length;
  return { twice, children, cuts: proxy.count((r) => r.watch) };
}

describe('read your own writes', () => {
  it('without it, a reconcile acts on the state from before its own write (seen: the same unit done twice)', async () => {
    const { twice, children } = await counterRun(0);
    console.log(`without read-your-writes: ${twice} units done twice, ${children} children`);
    expect(twice).toBeGreaterThan(0);
    expect(children).toBe(UNITS);
  }, 120_000);

  it('with it, every unit is done exactly once, across slowed and cut watches', async () => {
    const { twice, children, cuts } = await counterRun(10_000);
    console.log(`with read-your-writes: ${twice} units done twice, ${children} children, ${cuts} watch requests (cut every 0.7 s)`);
    expect(twice).toBe(0);
    expect(children).toBe(UNITS);
  }, 120_000);

  it('with the watch stalled, the next reconcile runs after the bound, counted', async () => {
    const ns = await testNamespace('ryow-stall');
    const p = plane();
    const proxy = await FaultProxy.start({ upstreamPort: p.apiserverPort, pkiDir: p.pkiDir });
    opened.push(proxy);
    const client = Client.fromFile(proxy.kubeconfig(kubeconfig), { context: 'admin' });
    opened.push(client);
    await ConfigMap.api(admin, ns).create({ metadata: { name: 'counter' }, data: { handled: '0' } });
    let notSeen = 0;
    let armed = false;
    const starts: number[] = [];
    const ctl = new Controller(ConfigMap.api(client, ns), {
      readYourWritesMs: 1500,
      logger: quiet,
      metrics: { ...noMetrics, writesNotSeen: () => void notSeen++ },
    });
    const running = ctl.run(async (cm: Stored<ConfigMap>, ctx) => {
      starts.push(Date.now());
      if (!armed) return Action.awaitChange();
      armed = false;
      const handled = Number(cm.data?.handled ?? 0);
      await ctx.track(ConfigMap.api(client, ns)).patch(cm.metadata.name, { type: 'merge', body: { data: { handled: String(handled + 1) } } });
      return Action.awaitChange();
    });
    try {
      await until('the first reconcile', () => starts.length === 1, 10_000);
      // From now on every watch goes silent (the open one too): the next write is never seen.
      proxy.rule = (req) => (req.watch ? { type: 'stall' } : undefined);
      proxy.stallOpen();
      armed = true;
      ctl.reconcile({ name: 'counter', namespace: ns });
      await until('the reconcile that writes', () => starts.length === 2, 10_000);
      ctl.reconcile({ name: 'counter', namespace: ns });
      await until('the next, after the bound', () => starts.length === 3, 10_000);
      const waited = starts[2]! - starts[1]!;
      console.log(`with the watch stalled: the next reconcile waited ${waited} ms (bound 1500 ms)`);
      expect(waited).toBeGreaterThanOrEqual(1400);
      expect(notSeen).toBe(1);
    } finally {
      await ctl.shutdown({ deadlineMs: 5_000 });
      await running;
    }
  }, 60_000);
});
