/**
 * A `Controller` with `leaderElection` against the real apiserver.
 *
 * Replicas in separate processes (controller-child.ts) reconcile the same
 * ConfigMaps — one of them on a `Manager` with `leaderElection`: only the leader reconciles while the other keeps a warm cache;
 * a SIGKILLed leader is replaced within the Lease duration plus a retry
 * period, a gracefully stopped one (Lease released) within about a retry
 * period, each new leader reconciles every object; an audit of every
 * reconcile with its time window finds none outside its replica's term and
 * none overlapping another replica's.
 *
 * In one process, with the election's requests going through the fault
 * proxy: when the server stops answering, the controller's term ends at the
 * renew deadline, the in-flight reconcile's signal aborts, the leader gauge
 * drops, and nothing starts while the cache keeps following changes; when
 * the server answers again it leads again and reconciles every object; its
 * shutdown releases the Lease. Short durations (3 s / 2 s / 0.5 s) keep it quick.
 */
import * as prom from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { Action, Api, Client, Controller, silentLogger, type ReconcileReason } from '../../runtime/index.ts';
import { LeaderElection } from '../../runtime/scale.ts';
import { prometheusMetrics } from '../../runtime/metrics.ts';
import { LEASES, type Lease } from '../../runtime/scale/lease.ts';
import { plane } from '../faults/harness.ts';
import { FaultProxy } from '../../testing/proxy.ts';
import { testNamespace } from '../support/kube.ts';
import { replicaSuite, startReplica, until, type ReplicaLine } from './replicas.ts';

const N = 20;
const LEASE_MS = 3000;
const RETRY_MS = 500;
const { kubeconfig, admin } = replicaSuite();

interface Line extends ReplicaLine {
  size?: number;
  key?: string;
  t0?: number;
  reason?: ReconcileReason;
}

// Replica b runs the controller on a Manager with leaderElection (an operator's main), a and c a bare controller with the election: one Lease, both patterns audited.
const replica = (ns: string, id: string, log: Line[]) =>
  startReplica('controller-child.ts', [kubeconfig, ns, 'controller', id, id === 'b' ? 'manager' : 'controller'], id, log);
const reconciles = (log: Line[], id: string, since = 0) => log.filter((l) => l.id === id && l.event === 'reconcile' && l.t0! >= since);
const keysOf = (lines: Line[]) => new Set(lines.map((l) => l.key));

async function createConfigMaps(ns: string, n: number): Promise<void> {
  const api = ConfigMap.api(admin, ns);
  for (let i = 0; i < n; i += 10) await Promise.all(Array.from({ length: Math.min(10, n - i) }, (_, j) => api.create({ metadata: { name: `cm-${i + j}` } })));
}

/** Every reconcile lies inside a term of its replica (began after its `start`, ended before its `stop`/`exit`), and no two replicas' reconciles overlap in time. */
function audit(log: Line[]): void {
  const outside: string[] = [];
  const termStart = new Map<string, number>();
  for (const l of [...log].sort((a, b) => a.t - b.t)) {
    if (l.event === 'start') termStart.set(l.id, l.t);
    else if (l.event === 'stop' || l.event === 'exit') termStart.delete(l.id);
    else if (l.event === 'reconcile' && !(termStart.get(l.id)! <= l.t0!)) outside.push(`${l.id} reconciled ${l.key} at ${l.t0}–${l.t} while not leading`);
  }
  expect(outside).toEqual([]);
  const spans = log.filter((l) => l.event === 'reconcile').map((l) => ({ id: l.id, from: l.t0!, to: l.t }));
  const overlaps: string[] = [];
  for (const x of spans)
    for (const y of spans) {
      if (x.id < y.id && !(x.to < y.from || y.to < x.from)) overlaps.push(`${x.id} (${x.from}–${x.to}) and ${y.id} (${y.from}–${y.to})`);
    }
  expect(overlaps, 'reconciles of two replicas at once').toEqual([]);
  expect(spans.length).toBeGreaterThan(3 * N);
  console.log(`audited ${spans.length} reconciles: none outside its replica's term, none overlapping another replica's`);
}

describe('a controller with leaderElection', () => {
  it('reconciles only on the leader; a killed leader is replaced within lease + retry, a stopped one within about a retry; no reconcile overlaps across the hand-overs', async () => {
    const ns = await testNamespace('leader-ctl');
    await createConfigMaps(ns, N);
    const log: Line[] = [];
    const a = replica(ns, 'a', log);
    await until('a reconciles every ConfigMap', () => keysOf(reconciles(log, 'a')).size === N);
    const b = replica(ns, 'b', log);
    await until('b has a warm cache', () => log.find((l) => l.id === 'b' && l.event === 'synced' && l.size === N));
    await new Promise((r) => setTimeout(r, 1500)); // several of a's requeued passes and b's campaign tries
    expect(reconciles(log, 'b'), 'b reconciled while a led').toEqual([]);
    expect(log.some((l) => l.id === 'b' && l.event === 'start')).toBe(false);

    const killedAt = Date.now();
    a.kill('SIGKILL');
    const bStart = await until('b leads', () => log.find((l) => l.id === 'b' && l.event === 'start'));
    const bAll = await until('b reconciles every ConfigMap', () => keysOf(reconciles(log, 'b')).size === N && Date.now());
    console.log(
      `after SIGKILL of the leader: the next led after ${bStart.t - killedAt} ms and had reconciled all ${N} after ${bAll - killedAt} ms (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)`,
    );
    expect(bStart.t - killedAt).toBeGreaterThan(LEASE_MS - 2000 - 100); // not before the Lease could have expired (renewed at most renewDeadline before the kill)
    expect(bStart.t - killedAt).toBeLessThan(LEASE_MS + RETRY_MS * 1.2 + 1500); // + slack for a loaded machine

    const c = replica(ns, 'c', log);
    await until('c has a warm cache', () => log.find((l) => l.id === 'c' && l.event === 'synced' && l.size === N));
    await new Promise((r) => setTimeout(r, 1000));
    expect(reconciles(log, 'c')).toEqual([]);
    const stoppedAt = Date.now();
    b.kill('SIGTERM');
    await until('b shut down', () => log.find((l) => l.id === 'b' && l.event === 'exit'));
    const cStart = await until('c leads', () => log.find((l) => l.id === 'c' && l.event === 'start'));
    const cAll = await until('c reconciles every ConfigMap', () => keysOf(reconciles(log, 'c')).size === N && Date.now());
    console.log(
      `after SIGTERM of the leader (Lease released): the next led after ${cStart.t - stoppedAt} ms and had reconciled all ${N} after ${cAll - stoppedAt} ms`,
    );
    expect(cStart.t - stoppedAt).toBeLessThan(RETRY_MS * 2.2 + 1500); // a retry period and its jitter, the stop and its release, + slack for a loaded machine

    c.kill('SIGTERM');
    await until('c shut down', () => log.find((l) => l.id === 'c' && l.event === 'exit'));
    audit(log);
    expect(log.filter((l) => l.event === 'cut-line' && l.id !== 'a')).toEqual([]); // only the SIGKILLed replica may end mid-line
    const lease = await new Api<Lease>(admin, LEASES, ns).get('controller');
    expect(lease.spec?.holderIdentity ?? null).toBeNull(); // the last leader's shutdown released it
  }, 120_000);

  it('at the renew deadline stops starting reconciles and aborts the ones in flight, keeps the cache warm, reconciles everything when it leads again, and releases the Lease at shutdown', async () => {
    const ns = await testNamespace('leader-ctl-cut');
    await createConfigMaps(ns, 5);
    const p = plane();
    const proxy = await FaultProxy.start({ upstreamPort: p.apiserverPort, pkiDir: p.pkiDir });
    const electionClient = Client.fromFile(proxy.kubeconfig(kubeconfig), { context: 'admin' });
    const registry = new prom.Registry();
    const gauge = async () => /leader_election_master_status\{name="ctl"\} (\d)/.exec(await registry.metrics())?.[1];
    const election = new LeaderElection(electionClient, {
      namespace: ns,
      name: 'ctl',
      identity: 'x',
      leaseDuration: 3000,
      renewDeadline: 2000,
      retryPeriod: 500,
    });
    const ctl = new Controller(ConfigMap.api(admin, ns), {
      name: 'cms',
      leaderElection: election,
      metrics: prometheusMetrics(prom, { controller: 'cms', registry }),
      logger: silentLogger,
    });
    const started: { key: string; reason: ReconcileReason; at: number }[] = [];
    let hung: { abortedAt: number; reason: unknown } | undefined;
    try {
      expect(await gauge()).toBeUndefined();
      const running = ctl.run(async (cm, ctx) => {
        started.push({ key: ctx.key, reason: ctx.reason, at: performance.now() });
        if (cm.metadata.name === 'cm-0' && !hung) {
          // In flight when leadership ends: waits for its signal.
          await new Promise((resolve) => ctx.signal.addEventListener('abort', resolve, { once: true }));
          hung = { abortedAt: performance.now(), reason: ctx.signal.reason };
          return Action.awaitChange();
        }
        return Action.requeue(100);
      });
      await until('every ConfigMap reconciled', () => new Set(started.map((s) => s.key)).size === 5);
      expect(await gauge()).toBe('1');
      expect(election.isLeader).toBe(true);

      proxy.rule = () => ({ type: 'stall' }); // the election's requests hang from now on; the controller's watch does not go through the proxy
      await until('the in-flight reconcile is aborted', () => hung);
      const lastWrite = Math.max(
        ...proxy.requests.filter((r) => (r.method === 'PUT' || r.method === 'POST') && r.status !== undefined && r.status < 300).map((r) => r.at),
      );
      const sinceRenewal = hung!.abortedAt - lastWrite;
      console.log(
        `the in-flight reconcile's signal aborted ${Math.round(sinceRenewal)} ms after the last successful renewal was sent (renewDeadline 2000, leaseDuration 3000)`,
      );
      expect(sinceRenewal).toBeLessThan(2000 + 200);
      expect((hung!.reason as Error).message).toMatch(/no renewal succeeded within 2000 ms/);
      expect(election.isLeader).toBe(false);
      expect(await gauge()).toBe('0');

      // Not leading: changes reach the cache, nothing is reconciled (requeues fall due, a change, an explicit request).
      await ConfigMap.api(admin, ns).patch('cm-1', { type: 'merge', body: { data: { changed: 'yes' } } });
      ctl.reconcile({ name: 'cm-2', namespace: ns });
      await until('the cache has the change', () => ctl.reader.get(`${ns}/cm-1`)?.data?.changed === 'yes');
      await new Promise((r) => setTimeout(r, 1000));
      expect(started.filter((s) => s.at > hung!.abortedAt)).toEqual([]);

      const healedAt = performance.now();
      proxy.rule = () => undefined;
      proxy.cutAll();
      await until('every ConfigMap reconciled again', () => new Set(started.filter((s) => s.at > healedAt).map((s) => s.key)).size === 5);
      expect(election.isLeader).toBe(true);
      expect(await gauge()).toBe('1');
      // cm-0 asked to wait for a change and did not change: only the new term's reconcileAll queued it.
      expect(started.find((s) => s.at > healedAt && s.key === `${ns}/cm-0`)?.reason).toBe('reconcile all');

      expect(await ctl.shutdown({ deadlineMs: 2000 })).toEqual({ finished: expect.any(Number), abandoned: 0 });
      await running;
      expect(await gauge()).toBe('0');
      const lease = await new Api<Lease>(admin, LEASES, ns).get('ctl');
      expect(lease.spec?.holderIdentity ?? null).toBeNull();
    } finally {
      proxy.rule = () => undefined;
      proxy.cutAll();
      await ctl.shutdown({ deadlineMs: 100 });
      await election.stop();
      electionClient.close();
      await proxy.close();
    }
  }, 60_000);
});
