/**
 * What the controller does around a reconcile, driven by a hand-moved
 * clock and a store fed by hand (pure logic: no server involved; the
 * real-apiserver side is test/integration/read-your-writes.test.ts):
 * terminal errors are not retried, a reconcile past its timeout has its
 * signal aborted and is counted, changes go before low-priority work,
 * and a reconcile waits for the cache to hold what the last one wrote.
 */
import { describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { configMap, configMapsOnly, fedStore } from '../../test/support/fed-store.ts';
import { silentLogger } from '../core/logger.ts';
import { Controller } from './controller.ts';
import { noMetrics } from './metrics.ts';
import { Action, ReconcileTimeoutError, TerminalError } from './reconcile.ts';

const cm = configMap;
const api = configMapsOnly;

describe('around a reconcile', () => {
  it('a TerminalError is counted and not retried, whatever the error policy says; another error is retried', async () => {
    const clock = new FakeClock();
    const fed = fedStore(['doomed', 'flaky']);
    let terminal = 0;
    const policy = vi.fn((_e: unknown, _o: unknown, ctx: { backoffMs: number }) => Action.requeue(ctx.backoffMs));
    const ctl = new Controller(api, {
      store: fed.reader,
      clock,
      logger: silentLogger,
      metrics: { ...noMetrics, terminalError: () => void terminal++ },
      errorPolicy: policy,
    });
    const runs: string[] = [];
    const running = ctl.run((obj) => {
      runs.push(obj.metadata.name);
      if (obj.metadata.name === 'doomed') throw new TerminalError('spec.color is required');
      throw new Error('try again');
    });
    await vi.waitFor(() => expect(runs.length).toBe(2));
    await clock.advanceAsync(60_000);
    await vi.waitFor(() => expect(runs.filter((n) => n === 'flaky').length).toBeGreaterThan(3));
    expect(runs.filter((n) => n === 'doomed')).toEqual(['doomed']);
    expect(terminal).toBe(1);
    expect(policy.mock.calls.every(([e]) => !(e instanceof TerminalError))).toBe(true);
    expect(ctl.stats().lastError?.message).toBe('try again');
    await ctl.shutdown();
    await running;
    await fed.end();
  });

  it('reconcileTimeoutMs aborts the signal with a ReconcileTimeoutError, counts it, and the failure is retried', async () => {
    const clock = new FakeClock();
    const fed = fedStore(['slow']);
    let timedOut = 0;
    const ctl = new Controller(api, {
      store: fed.reader,
      clock,
      logger: silentLogger,
      reconcileTimeoutMs: 1000,
      metrics: { ...noMetrics, reconcileTimedOut: () => void timedOut++ },
    });
    const reasons: unknown[] = [];
    let runs = 0;
    const running = ctl.run(async (_obj, ctx) => {
      runs++;
      if (runs > 1) return Action.awaitChange();
      await new Promise((r) => ctx.signal.addEventListener('abort', r, { once: true }));
      reasons.push(ctx.signal.reason);
      throw ctx.signal.reason;
    });
    await vi.waitFor(() => expect(runs).toBe(1));
    await clock.advanceAsync(999);
    expect(reasons).toEqual([]);
    await clock.advanceAsync(1);
    await vi.waitFor(() => expect(reasons).toHaveLength(1));
    expect(reasons[0]).toBeInstanceOf(ReconcileTimeoutError);
    expect((reasons[0] as Error).message).toBe('kubereflect: configmap-controller: the reconcile outlived its 1000 ms timeout');
    expect(timedOut).toBe(1);
    await clock.advanceAsync(1000); // the retry's backoff
    await vi.waitFor(() => expect(runs).toBe(2));
    await ctl.shutdown();
    await running;
    await fed.end();
  });

  it('a change goes before the backlog of a reconcileAll(); the backlog still all runs', async () => {
    const clock = new FakeClock();
    const names = Array.from({ length: 200 }, (_, i) => `obj-${i}`);
    const fed = fedStore(names);
    const ctl = new Controller(api, { store: fed.reader, clock, logger: silentLogger, concurrency: 1 });
    const order: string[] = [];
    let gate: (() => void) | undefined;
    let holding = false;
    const running = ctl.run(async (obj) => {
      order.push(obj.metadata.name);
      if (holding) await new Promise<void>((r) => (gate = r));
      return Action.awaitChange();
    });
    await vi.waitFor(() => expect(order.length).toBe(200)); // the first pass
    order.length = 0;
    holding = true;
    ctl.reconcileAll();
    await vi.waitFor(() => expect(order.length).toBe(1)); // one of the backlog in flight
    ctl.reconcile('ns/obj-150'); // as a change would be
    holding = false;
    gate?.();
    await vi.waitFor(() => expect(order.length).toBe(200));
    expect(order[1]).toBe('obj-150');
    expect(new Set(order).size).toBe(200);
    await ctl.shutdown();
    await running;
    await fed.end();
  });

  it('waits for the cache to hold what the last reconcile wrote, then reconciles from it', async () => {
    const clock = new FakeClock();
    const fed = fedStore(['counter']);
    const ctl = new Controller(api, { store: fed.reader, clock, logger: silentLogger });
    const seen: string[] = [];
    const running = ctl.run((obj, ctx) => {
      seen.push(obj.metadata.resourceVersion);
      if (seen.length === 1) ctx.wrote({ ...cm('counter', '5') }); // what the server returned for a write
      return Action.awaitChange();
    });
    await vi.waitFor(() => expect(seen).toEqual(['1']));
    fed.push({ type: 'Apply', object: cm('counter', '3') }); // someone else's older change arrives first
    ctl.reconcile('ns/counter');
    await clock.advanceAsync(100);
    expect(seen).toEqual(['1']); // still waiting: the cache holds 3, the write was 5
    fed.push({ type: 'Apply', object: cm('counter', '5') });
    await vi.waitFor(async () => {
      await clock.advanceAsync(10);
      expect(seen).toEqual(['1', '5']);
    });
    await ctl.shutdown();
    await running;
    await fed.end();
  });
});
