/**
 * The order of a controller's shutdown with `leaderElection`: the Lease is
 * held, and renewed, until every reconcile has returned — abandoned ones too
 * — and released only then. Against the in-memory Lease server
 * (test/support/fake-leases.ts; a fake: what is checked is the order of the
 * controller's own steps, and a reconcile that ignores its signal past a
 * shutdown deadline is something the real server has no part in) and a store
 * this test drives, on the system clock with short durations.
 * test/scale/leader-controller.test.ts runs replicas against the real
 * apiserver.
 */
import { describe, expect, it } from 'vitest';
import { FakeLeaseServer } from '../../test/support/fake-leases.ts';
import { systemClock } from '../core/clock.ts';
import { silentLogger } from '../core/logger.ts';
import { LeaderElection } from '../scale/leader-election.ts';
import { Controller } from './controller.ts';
import { Action } from './reconcile.ts';
import { configMapsOnly as api, fedStore } from '../../test/support/fed-store.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Controller with leaderElection: the Lease outlives the reconciles', () => {
  it('a shutdown whose deadline abandons a reconcile that ignores its signal resolves at the deadline; the Lease stays held and renewed until that reconcile returns, then is released, and run() resolves after', async () => {
    const server = new FakeLeaseServer(systemClock);
    const stop = new AbortController();
    const { reader, driving } = fedStore(['slow'], { stop: stop.signal });
    const election = new LeaderElection(server.client('a').asClient, {
      namespace: 'ns',
      name: 'ctl',
      identity: 'a',
      leaseDuration: 600,
      renewDeadline: 400,
      retryPeriod: 100,
    });
    const ctl = new Controller(api, { store: reader, leaderElection: election, logger: silentLogger });
    const order: string[] = [];
    let inReconcile: () => void = () => {};
    const reconciling = new Promise<void>((r) => (inReconcile = r));
    let holderWhenReturning: unknown;
    const running = ctl.run(async (_obj, ctx) => {
      inReconcile();
      await sleep(1500); // ignores ctx.signal
      order.push(`reconcile returned (signal aborted: ${ctx.signal.aborted})`);
      holderWhenReturning = server.get('ns', 'ctl')?.spec?.holderIdentity;
      return Action.awaitChange();
    });
    void running.then(() => order.push('run() resolved'));
    await reconciling;
    const report = await ctl.shutdown({ deadlineMs: 100 });
    order.push('shutdown resolved');
    expect(report).toEqual({ finished: 0, abandoned: 1 });
    const at = Date.now();
    const renewedBefore = server.requests.filter((q) => q.client === 'a' && q.method === 'PUT' && q.code === 200).length;
    await sleep(1000); // longer than the Lease's 600 ms: held only because it is renewed
    expect(server.get('ns', 'ctl')?.spec?.holderIdentity).toBe('a');
    expect(server.requests.filter((q) => q.client === 'a' && q.method === 'PUT' && q.code === 200).length).toBeGreaterThan(renewedBefore + 3);
    await running;
    expect(Date.now() - at).toBeGreaterThan(0);
    expect(order).toEqual(['shutdown resolved', 'reconcile returned (signal aborted: true)', 'run() resolved']);
    expect(holderWhenReturning).toBe('a');
    expect(server.get('ns', 'ctl')?.spec?.holderIdentity).toBeNull();
    stop.abort();
    await driving;
  });

  it('a shutdown with no reconcile abandoned resolves once the reconciles have returned and the Lease is released', async () => {
    const server = new FakeLeaseServer(systemClock);
    const stop = new AbortController();
    const { reader, driving } = fedStore(['a', 'b'], { stop: stop.signal });
    const election = new LeaderElection(server.client('x').asClient, {
      namespace: 'ns',
      name: 'ctl',
      leaseDuration: 600,
      renewDeadline: 400,
      retryPeriod: 100,
    });
    const ctl = new Controller(api, { store: reader, leaderElection: election, logger: silentLogger });
    let started = 0;
    const running = ctl.run(async () => {
      started++;
      await sleep(300);
      return Action.requeue(10);
    });
    while (started < 2) await sleep(10);
    expect(await ctl.shutdown({ deadlineMs: 5000 })).toEqual({ finished: 2, abandoned: 0 });
    expect(server.get('ns', 'ctl')?.spec?.holderIdentity).toBeNull();
    await running;
    stop.abort();
    await driving;
  });
});
