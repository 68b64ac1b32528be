/**
 * The prom-client adapter against controller-runtime's metrics, as pinned in
 * test/fixtures/controller-runtime-metrics.json (names, types, label names
 * and buckets, read from its Go sources): a real `Controller` over a store
 * this test drives, on a hand-moved clock (the queue and the reconcile
 * times are then exact), reporting into a real prom-client `Registry`,
 * read back with `getMetricsAsJSON()` as a scrape reads it. The leader
 * gauge is checked with a `LeaderElection` against the in-memory Lease
 * server (test/support/fake-leases.ts; a fake: what is checked is which
 * name the gauge carries and when it flips).
 */
import { readFileSync } from 'node:fs';
import * as prom from 'prom-client';
import { describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { FakeLeaseServer } from '../../test/support/fake-leases.ts';
import { systemClock } from '../core/clock.ts';
import { KubeError } from '../core/errors.ts';
import { silentLogger } from '../core/logger.ts';
import { LeaderElection } from '../scale/leader-election.ts';
import { Controller } from './controller.ts';
import type { ControllerView } from './metrics.ts';
import { prometheusMetrics } from './prometheus.ts';
import { Action } from './reconcile.ts';
import { configMapsOnly as api, fedStore } from '../../test/support/fed-store.ts';

interface Pinned {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  labels: string[];
  labelValues?: Record<string, string[]>;
  buckets?: number[] | string;
  emitted: boolean;
}
const fixture = JSON.parse(readFileSync(new URL('../../test/fixtures/controller-runtime-metrics.json', import.meta.url), 'utf8')) as {
  metrics: Pinned[];
  kubereflect: Pinned[];
};
const pinned = (name: string) => fixture.metrics.find((m) => m.name === name)!;
const LEADER = 'leader_election_master_status';

type Scraped = Awaited<ReturnType<prom.Registry['getMetricsAsJSON']>>;
type Value = { labels: Record<string, string | number>; value: number; metricName?: string };

/** The series of `name` in a scrape: for a histogram, its `_count`, `_sum` or `_bucket` ones (`part`). */
function series(scraped: Scraped, name: string, part?: 'count' | 'sum' | 'bucket'): Value[] {
  const metric = scraped.find((m) => m.name === name);
  if (!metric) throw new Error(`no metric ${name} in the scrape`);
  const values = metric.values as Value[];
  return part ? values.filter((v) => v.metricName === `${name}_${part}`) : values;
}

/** The value of the one series of `name` whose labels include `labels`. */
function value(scraped: Scraped, name: string, labels: Record<string, string> = {}, part?: 'count' | 'sum'): number {
  const found = series(scraped, name, part).filter((v) => Object.entries(labels).every(([k, l]) => v.labels[k] === l));
  if (found.length !== 1) throw new Error(`${found.length} series of ${name} match ${JSON.stringify(labels)}`);
  return found[0]!.value;
}

/** Asserts that `name` is in the scrape as pinned: its type, exactly its label names on every series (`le` aside), its buckets. */
function expectAsPinned(scraped: Scraped, pin: Pinned): void {
  const metric = scraped.find((m) => m.name === pin.name);
  expect(metric, pin.name).toBeDefined();
  expect([pin.name, metric!.type]).toEqual([pin.name, pin.type]);
  const values = metric!.values as Value[];
  expect(values.length, `${pin.name} has series`).toBeGreaterThan(0);
  for (const v of values) {
    const names = Object.keys(v.labels).filter((l) => !(pin.type === 'histogram' && v.metricName === `${pin.name}_bucket` && l === 'le'));
    expect([pin.name, names.sort()]).toEqual([pin.name, [...pin.labels].sort()]);
    for (const [label, allowed] of Object.entries(pin.labelValues ?? {})) expect(allowed, `${pin.name}{${label}}`).toContain(v.labels[label]);
  }
  if (pin.type === 'histogram') {
    const expected = typeof pin.buckets === 'string' ? exponential(10e-9, 10, 12) : pin.buckets!;
    const first = values[0]!.labels;
    const bounds = values
      .filter((v) => v.metricName === `${pin.name}_bucket` && Object.keys(first).every((k) => k === 'le' || v.labels[k] === first[k]))
      .map((v) => v.labels.le);
    expect([pin.name, bounds]).toEqual([pin.name, [...expected, '+Inf']]);
  }
}

/** `count` buckets from `start`, each `factor` times the last, multiplied out one after the other as Prometheus's Go client does. */
function exponential(start: number, factor: number, count: number): number[] {
  const buckets: number[] = [];
  for (let b = start; buckets.length < count; b *= factor) buckets.push(b);
  return buckets;
}

describe('prometheusMetrics: controller-runtime names and labels', () => {
  it('emits every pinned metric with its type, label names and buckets, counting a success, errors (one terminal), a requeue, a requeue-after and the queue as controller-runtime does', async () => {
    const clock = new FakeClock();
    const stop = new AbortController();
    const names = ['ok', 'fails-once', 'doomed', 'requeue-now', 'requeue-later', 'hold'];
    const { reader, driving } = fedStore(names, { stop: stop.signal });
    const registry = new prom.Registry();
    const ctl = new Controller(api, {
      name: 'widgets',
      store: reader,
      concurrency: 2,
      clock,
      logger: silentLogger,
      metrics: prometheusMetrics(prom, { controller: 'widgets', registry }),
      errorPolicy: (_e, obj, ctx) => (obj.metadata.name === 'doomed' ? Action.awaitChange() : Action.requeue(ctx.backoffMs)),
    });
    const seen: string[] = [];
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    const running = ctl.run(async (obj) => {
      const name = obj.metadata.name;
      seen.push(name);
      const times = seen.filter((n) => n === name).length;
      if (name === 'hold' && times === 1) await held;
      if (name === 'doomed' || (name === 'fails-once' && times === 1)) throw new Error(`${name} failed`);
      if (name === 'requeue-now' && times === 1) return Action.requeue(0);
      if (name === 'requeue-later' && times === 1) return Action.requeue(1000);
      return Action.awaitChange();
    });

    // The first pass: every key once (requeue-now twice), `hold` in flight; the retry (5 ms) and the requeue after 1 s not due yet.
    await vi.waitFor(() => expect(seen.length).toBe(7));
    ctl.reconcile('ns/hold'); // added again while in flight: due, waiting for the reconcile to end
    const during = await registry.getMetricsAsJSON();
    expect(value(during, 'controller_runtime_active_workers', { controller: 'widgets' })).toBe(1);
    expect(value(during, 'controller_runtime_max_concurrent_reconciles', { controller: 'widgets' })).toBe(2);
    expect(value(during, 'workqueue_depth', { name: 'widgets' })).toBe(1); // the keys for later are not counted

    await clock.advanceAsync(3000); // the retry and the requeue fall due and run; `hold` is still in flight
    await vi.waitFor(() => expect(seen.length).toBe(9));
    const stuck = await registry.getMetricsAsJSON();
    expect(value(stuck, 'workqueue_unfinished_work_seconds', { name: 'widgets' })).toBe(3);
    expect(value(stuck, 'workqueue_longest_running_processor_seconds', { name: 'widgets' })).toBe(3);

    release();
    await vi.waitFor(() => expect(seen.filter((n) => n === 'hold').length).toBe(2));
    await vi.waitFor(() => expect(ctl.stats().inFlight).toBe(0));
    const after = await registry.getMetricsAsJSON();
    for (const pin of fixture.metrics.filter((m) => m.emitted && m.name !== LEADER)) expectAsPinned(after, pin);
    for (const pin of fixture.metrics.filter((m) => !m.emitted)) expect(after.map((m) => m.name)).not.toContain(pin.name);

    const result = (r: string) => value(after, 'controller_runtime_reconcile_total', { result: r });
    // success: ok, fails-once's retry, requeue-now's and requeue-later's second runs, hold twice; error: fails-once's first run and doomed.
    expect({ success: result('success'), error: result('error'), requeue: result('requeue'), requeue_after: result('requeue_after') }).toEqual({
      success: 6,
      error: 2,
      requeue: 1,
      requeue_after: 1,
    });
    expect(value(after, 'controller_runtime_reconcile_errors_total')).toBe(2);
    expect(value(after, 'controller_runtime_terminal_reconcile_errors_total')).toBe(1); // doomed: its error policy does not retry it
    expect(value(after, 'controller_runtime_reconcile_time_seconds', {}, 'count')).toBe(10);
    expect(value(after, 'controller_runtime_reconcile_time_seconds', {}, 'sum')).toBe(3); // hold's first run; the others take no time on this clock
    expect(value(after, 'workqueue_work_duration_seconds', {}, 'count')).toBe(10);
    expect(value(after, 'workqueue_queue_duration_seconds', {}, 'count')).toBe(10);
    expect(value(after, 'workqueue_queue_duration_seconds', {}, 'sum')).toBe(3); // hold's second run waited for its first
    // adds: the 6 listed, requeue-now, requeue-later, fails-once's retry and hold's re-add; retries: the two with a delay.
    expect(value(after, 'workqueue_adds_total')).toBe(10);
    expect(value(after, 'workqueue_retries_total')).toBe(2);
    expect(value(after, 'workqueue_depth')).toBe(0);
    expect(value(after, 'controller_runtime_active_workers')).toBe(0);
    expect(value(after, 'workqueue_unfinished_work_seconds')).toBe(0);
    expect(value(after, 'workqueue_longest_running_processor_seconds')).toBe(0);

    // The label values controller-runtime sets: the controller's name as `controller`, and as the work queue's `name` too.
    for (const metric of after.filter((m) => m.name.startsWith('controller_runtime_') || m.name.startsWith('workqueue_')))
      for (const v of metric.values as Value[]) {
        expect([metric.name, v.labels.controller]).toEqual([metric.name, 'widgets']);
        if (metric.name.startsWith('workqueue_')) expect([metric.name, v.labels.name]).toEqual([metric.name, 'widgets']);
      }
    expect(fixture.kubereflect.map((m) => after.find((s) => s.name === m.name)?.type)).toEqual(fixture.kubereflect.map((m) => m.type));

    await ctl.shutdown();
    await running;
    stop.abort();
    await driving;
  });

  it('labels leader_election_master_status with the Lease name: 0 before the term, 1 while leading, 0 once stopped', async () => {
    const stop = new AbortController();
    const { reader, driving } = fedStore(['a'], { stop: stop.signal });
    const server = new FakeLeaseServer(systemClock);
    const election = new LeaderElection(server.client('r1').asClient, {
      namespace: 'ns',
      name: 'widgets-lease',
      identity: 'r1',
      leaseDuration: 600,
      renewDeadline: 400,
      retryPeriod: 100,
    });
    const registry = new prom.Registry();
    const gauge = async () => {
      const scraped = await registry.getMetricsAsJSON();
      return series(scraped, LEADER).map((v) => [v.labels, v.value]);
    };
    const ctl = new Controller(api, {
      name: 'widgets',
      store: reader,
      leaderElection: election,
      logger: silentLogger,
      metrics: prometheusMetrics(prom, { controller: 'widgets', registry }),
    });
    expect(await gauge()).toEqual([]);
    const running = ctl.run(() => Action.awaitChange());
    await vi.waitFor(async () => expect(await gauge()).toEqual([[{ name: 'widgets-lease' }, 1]]));
    expectAsPinned(await registry.getMetricsAsJSON(), pinned(LEADER));
    await ctl.shutdown();
    await running;
    expect(await gauge()).toEqual([[{ name: 'widgets-lease' }, 0]]);
    stop.abort();
    await driving;
  });

  it('lets controllers share a registry, told apart by label; a view replaced keeps the counters growing; refuses a registry holding a metric of those names it did not make', async () => {
    const registry = new prom.Registry();
    const a = prometheusMetrics(prom, { controller: 'a', registry });
    const b = prometheusMetrics(prom, { controller: 'b', registry });
    const view = (adds: number, retries: number, inFlight: number): ControllerView => ({
      concurrency: 4,
      inFlight,
      adds,
      retries,
      dueDepth: () => 3,
      inFlightSeconds: () => ({ total: inFlight * 2, longest: 2 }),
    });
    a.attach!(view(5, 1, 2));
    b.attach!(view(1, 0, 0));
    a.reconciled('success', 0.02);
    a.reconciled('error', 0.5);
    b.reconciled('requeue_after', 0.01);
    a.queueWait(0.003);
    a.watchRelist('configmaps');
    a.watchError('configmaps');
    let scraped = await registry.getMetricsAsJSON();
    expect(value(scraped, 'controller_runtime_reconcile_total', { controller: 'a', result: 'success' })).toBe(1);
    expect(value(scraped, 'controller_runtime_reconcile_total', { controller: 'a', result: 'requeue_after' })).toBe(0);
    expect(value(scraped, 'controller_runtime_reconcile_total', { controller: 'b', result: 'requeue_after' })).toBe(1);
    expect(value(scraped, 'controller_runtime_reconcile_errors_total', { controller: 'a' })).toBe(1);
    expect(value(scraped, 'controller_runtime_reconcile_errors_total', { controller: 'b' })).toBe(0);
    expect(value(scraped, 'workqueue_adds_total', { name: 'a' })).toBe(5);
    expect(value(scraped, 'workqueue_adds_total', { name: 'b' })).toBe(1);
    expect(value(scraped, 'workqueue_unfinished_work_seconds', { name: 'a' })).toBe(4);
    expect(value(scraped, 'controller_runtime_reconcile_time_seconds', { controller: 'a' }, 'count')).toBe(2);
    expect(value(scraped, 'kubereflect_controller_watch_relists_total', { controller: 'a', resource: 'configmaps' })).toBe(1);
    expect(value(scraped, 'kubereflect_controller_watch_errors_total', { controller: 'a', resource: 'configmaps' })).toBe(1);

    a.attach!(view(2, 0, 0)); // a new controller under the same name (a new term): its queue counts from 0
    scraped = await registry.getMetricsAsJSON();
    expect(value(scraped, 'workqueue_adds_total', { name: 'a' })).toBe(7);
    expect(value(scraped, 'workqueue_retries_total', { name: 'a' })).toBe(1);
    expect(value(scraped, 'controller_runtime_active_workers', { controller: 'a' })).toBe(0);

    const taken = new prom.Registry();
    new prom.Counter({ name: 'workqueue_adds_total', help: 'not ours', labelNames: ['name'], registers: [taken] });
    expect(() => prometheusMetrics(prom, { controller: 'c', registry: taken })).toThrow(KubeError);
    expect(() => prometheusMetrics(prom, { controller: 'c', registry: taken })).toThrow(/already holds a metric named workqueue_adds_total/);
  });
});
