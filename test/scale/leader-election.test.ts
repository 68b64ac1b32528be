/**
 * Leader election against the real apiserver, with replicas in separate
 * processes: a SIGKILLed leader is replaced within the Lease duration plus a
 * retry period, a gracefully stopped one hands over within about a retry
 * period, and an audit of every action with its time shows that no two
 * replicas ever acted at once. Short durations (3 s / 2 s / 0.5 s) keep the
 * test quick; the protocol is the same with the defaults.
 */
import { describe, expect, it } from 'vitest';
import { Api } from '../../runtime/client/api.ts';
import { Client } from '../../runtime/client/client.ts';
import { LeaderElection } from '../../runtime/scale/leader-election.ts';
import { LEASES, type Lease } from '../../runtime/scale/lease.ts';
import { plane } from '../faults/harness.ts';
import { FaultProxy } from '../../testing/proxy.ts';
import { testNamespace } from '../support/kube.ts';
import { assertNoOverlappingTerms, replicaSuite, startReplica, until, type ReplicaLine } from './replicas.ts';

const LEASE_MS = 3000;
const RETRY_MS = 500;
const { kubeconfig, admin } = replicaSuite();

type Line = ReplicaLine;

const replica = (ns: string, lease: string, id: string, log: Line[]) =>
  startReplica('elector-child.ts', [kubeconfig, ns, lease, id], id, log, { KR_LEASE_MS: String(LEASE_MS), KR_RENEW_MS: '2000', KR_RETRY_MS: String(RETRY_MS) });

describe('leader election on a Lease', () => {
  it('replaces a SIGKILLed leader within lease duration + retry period, and a stopped one within about a retry period, never two acting at once', async () => {
    const ns = await testNamespace('leader');
    const log: Line[] = [];
    const a = replica(ns, 'election', 'a', log);
    await until('a leads', () => log.find((l) => l.id === 'a' && l.event === 'start'));
    const b = replica(ns, 'election', 'b', log);
    await until('b campaigns', () => log.find((l) => l.id === 'b' && l.event === 'ready'));
    await new Promise((r) => setTimeout(r, 1500)); // b has seen a's Lease renewed, and did not take it
    expect(log.some((l) => l.id === 'b' && l.event === 'start')).toBe(false);

    const killedAt = Date.now();
    a.kill('SIGKILL');
    const bStart = await until('b leads', () => log.find((l) => l.id === 'b' && l.event === 'start'));
    const takeover = bStart.t - killedAt;
    console.log(`takeover after SIGKILL: ${takeover} ms (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)`);
    expect(takeover).toBeGreaterThan(LEASE_MS - 2000 - 100); // not before the Lease could have expired for b (renewed at most renewDeadline before)
    expect(takeover).toBeLessThan(LEASE_MS + RETRY_MS * 1.2 + 1500); // + slack for a loaded machine

    const c = replica(ns, 'election', 'c', log);
    await until('c campaigns', () => log.find((l) => l.id === 'c' && l.event === 'ready'));
    await new Promise((r) => setTimeout(r, 1000));
    const stoppedAt = Date.now();
    b.kill('SIGTERM');
    await until('b released', () => log.find((l) => l.id === 'b' && l.event === 'exit'));
    const cStart = await until('c leads', () => log.find((l) => l.id === 'c' && l.event === 'start'));
    const handover = cStart.t - stoppedAt;
    console.log(`hand-over after a graceful stop: ${handover} ms`);
    expect(handover).toBeLessThan(RETRY_MS * 2.2 + 1500); // a retry period and its jitter, the stop and its release, + slack for a loaded machine

    c.kill('SIGTERM');
    await until('c exits', () => log.find((l) => l.id === 'c' && l.event === 'exit'));
    assertNoOverlappingTerms(log);
    expect(log.filter((l) => l.event === 'cut-line' && l.id !== 'a')).toEqual([]); // only the SIGKILLed replica may end mid-line
    expect(log.filter((l) => l.event === 'act').length).toBeGreaterThan(50);
  }, 90_000);

  it('stops leading at the renew deadline when the server stops answering, before the Lease can expire for anyone else', async () => {
    const ns = await testNamespace('leader-deadline');
    const p = plane();
    const proxy = await FaultProxy.start({ upstreamPort: p.apiserverPort, pkiDir: p.pkiDir });
    const client = Client.fromFile(proxy.kubeconfig(kubeconfig), { context: 'admin' });
    const events: string[] = [];
    const election = new LeaderElection(client, {
      namespace: ns,
      name: 'cut',
      identity: 'x',
      leaseDuration: 3000,
      renewDeadline: 2000,
      retryPeriod: 500,
      onStoppedLeading: () => events.push('stop'),
    });
    try {
      const leading = await new Promise<AbortSignal>((resolve) => {
        void election.run(async (signal) => {
          resolve(signal);
          await new Promise((r) => signal.addEventListener('abort', r, { once: true }));
        });
      });
      const lease = await new Api<Lease>(admin, LEASES, ns).get('cut');
      expect(lease.spec?.holderIdentity).toBe('x');
      expect(lease.spec?.leaseDurationSeconds).toBe(3);
      // A partition: every request from now on hangs (no answer, the connection stays open).
      proxy.rule = () => ({ type: 'stall' });
      const stoppedAt = await new Promise<number>((resolve) => leading.addEventListener('abort', () => resolve(performance.now())));
      expect(events).toEqual(['stop']);
      // It stops within renewDeadline of sending its last successful write (which reached the proxy after it was sent), before anyone can take the 3 s Lease.
      const lastWrite = Math.max(
        ...proxy.requests.filter((r) => (r.method === 'PUT' || r.method === 'POST') && r.status !== undefined && r.status < 300).map((r) => r.at),
      );
      const sinceLastRenewal = stoppedAt - lastWrite;
      console.log(`stopped leading ${Math.round(sinceLastRenewal)} ms after the last successful renewal was sent (renewDeadline 2000, leaseDuration 3000)`);
      expect(sinceLastRenewal).toBeLessThan(2000 + 200);
      expect(election.isLeader).toBe(false);
      expect((leading.reason as Error).message).toMatch(/no renewal succeeded within 2000 ms/);
    } finally {
      proxy.rule = () => undefined;
      proxy.cutAll();
      await election.stop();
      client.close();
      await proxy.close();
    }
  }, 30_000);
});
