/**
 * Leader election interop with client-go itself, on the real apiserver:
 * kubereflect replicas (elector-child.ts) and client-go replicas
 * (client-go-elector/: `k8s.io/client-go/tools/leaderelection` with a
 * LeaseLock, built once and cached, see client-go.ts) campaign for ONE
 * Lease, each in its own process. Each side is SIGKILLed (the crash) and
 * SIGTERMed (a graceful stop that releases the Lease) in turn while a replica
 * of the other side waits; every replica logs each act with its time, and the
 * audit finds no two replicas acting at once. Takeovers stay within the
 * bounds the protocol promises: after a SIGKILL no sooner than the Lease could
 * have expired (its duration less one renewal interval) and within that
 * duration plus a retry period (and slack for a loaded machine); after a
 * SIGTERM within about a retry period.
 *
 * The mixed case: a client-go replica whose Lease says 6 s, and a
 * kubereflect replica configured for 3 s, must wait the 6 s the Lease says
 * (and a client-go replica waits the 6 s a kubereflect Lease says). Short
 * durations (3 s / 2 s / 0.5 s; 6 s / 4 s / 0.5 s for the long side) keep it
 * quick; the protocol is the same with the defaults.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Api } from '../../runtime/client/api.ts';
import { LEASES, type Lease } from '../../runtime/scale/lease.ts';
import { testNamespace } from '../support/kube.ts';
import { clientGoElector } from './client-go.ts';
import { assertNoOverlappingTerms, replicaSuite, startProcess, startReplica, until, type ReplicaLine } from './replicas.ts';

interface Timing {
  lease: number;
  renew: number;
  retry: number;
}
const SHORT: Timing = { lease: 3000, renew: 2000, retry: 500 };
const LONG: Timing = { lease: 6000, renew: 4000, retry: 500 };
/** A loaded 2-core machine: process start-up, scheduling, and requests that take a while. */
const SLACK = 1500;
const LEASE = 'interop';

const { kubeconfig, admin } = replicaSuite();
let bin: string;
beforeAll(async () => {
  bin = await clientGoElector();
}, 900_000);

interface Replica {
  id: string;
  side: 'kubereflect' | 'client-go';
  timing: Timing;
  kill(signal: 'SIGKILL' | 'SIGTERM'): void;
}

function kubereflect(ns: string, id: string, log: ReplicaLine[], timing = SHORT): Replica {
  const p = startReplica('elector-child.ts', [kubeconfig, ns, LEASE, id], id, log, {
    KR_LEASE_MS: String(timing.lease),
    KR_RENEW_MS: String(timing.renew),
    KR_RETRY_MS: String(timing.retry),
  });
  return { id, side: 'kubereflect', timing, kill: (s) => p.kill(s) };
}

function clientGo(ns: string, id: string, log: ReplicaLine[], timing = SHORT): Replica {
  const args = ['-kubeconfig', kubeconfig, '-namespace', ns, '-name', LEASE, '-id', id];
  args.push(`-lease-duration=${timing.lease}ms`, `-renew-deadline=${timing.renew}ms`, `-retry-period=${timing.retry}ms`, '-release-on-cancel=true');
  const p = startProcess(bin, args, id, log);
  return { id, side: 'client-go', timing, kill: (s) => p.kill(s) };
}

const started = (log: ReplicaLine[], id: string) => until(`${id} leads`, () => log.find((l) => l.id === id && l.event === 'start'), 30_000);
const ready = (log: ReplicaLine[], id: string) => until(`${id} campaigns`, () => log.find((l) => l.id === id && l.event === 'ready'), 30_000);

/** What each hand-over took, for the report at the end. */
const measured: string[] = [];

/**
 * Ends `holder` with `signal` while `next` (already campaigning, and having
 * seen the holder's Lease renewed) waits; returns how long until `next` led,
 * after checking it against the protocol's bounds: the Lease the holder wrote
 * says the holder's duration, and that is what the waiting side must honour.
 */
async function handOver(log: ReplicaLine[], holder: Replica, next: Replica, signal: 'SIGKILL' | 'SIGTERM'): Promise<number> {
  expect(log.some((l) => l.id === next.id && l.event === 'start')).toBe(false);
  const at = Date.now();
  holder.kill(signal);
  const took = (await started(log, next.id)).t - at;
  const what = `${signal} of the ${holder.side} leader ${holder.id} (lease ${holder.timing.lease} ms) → the ${next.side} replica ${next.id} (lease ${next.timing.lease} ms) led after ${took} ms`;
  measured.push(what);
  console.log(what);
  if (signal === 'SIGKILL') {
    // The holder renewed at most a retry period before the kill; the Lease then holds for the duration it says.
    expect(took, what).toBeGreaterThanOrEqual(holder.timing.lease - holder.timing.retry - 200);
    // client-go's candidate waits up to 2.2 retry periods between tries (JitterFactor 1.2), kubereflect's up to 1.2.
    expect(took, what).toBeLessThan(holder.timing.lease + 2.2 * next.timing.retry + SLACK);
  } else {
    expect(took, what).toBeLessThan(2.2 * next.timing.retry + SLACK);
  }
  return took;
}

/** Starts `r`'s process, waits until it campaigns and has seen the holder's Lease renewed a few times (and did not take it). */
async function standBy(log: ReplicaLine[], r: Replica): Promise<Replica> {
  await ready(log, r.id);
  await new Promise((resolve) => setTimeout(resolve, 1500));
  expect(
    log.some((l) => l.id === r.id && l.event === 'start'),
    `${r.id} took a Lease that was being renewed`,
  ).toBe(false);
  return r;
}

async function finish(ns: string, log: ReplicaLine[], last: Replica): Promise<void> {
  last.kill('SIGTERM');
  await until(`${last.id} exits`, () => log.find((l) => l.id === last.id && l.event === 'exit'), 30_000);
  const terms = assertNoOverlappingTerms(log);
  console.log(`audited ${terms.length} terms, ${log.filter((l) => l.event === 'act').length} acts: no two replicas acted at once`);
  expect(log.filter((l) => l.event === 'act').length).toBeGreaterThan(100);
  const lease = await new Api<Lease>(admin, LEASES, ns).get(LEASE);
  expect(lease.spec?.holderIdentity || undefined).toBeUndefined(); // the last leader released it
}

describe('leader election with client-go replicas on one Lease', () => {
  it('each side SIGKILLed and SIGTERMed in turn while the other waits: takeovers both ways within the bounds, never two acting at once', async () => {
    const ns = await testNamespace('interop');
    const log: ReplicaLine[] = [];
    const k1 = kubereflect(ns, 'kr-1', log);
    await started(log, k1.id);
    const g1 = await standBy(log, clientGo(ns, 'go-1', log));
    await handOver(log, k1, g1, 'SIGKILL'); // kubereflect crashes → client-go takes over
    const k2 = await standBy(log, kubereflect(ns, 'kr-2', log));
    await handOver(log, g1, k2, 'SIGKILL'); // client-go crashes → kubereflect takes over
    const g2 = await standBy(log, clientGo(ns, 'go-2', log));
    await handOver(log, k2, g2, 'SIGTERM'); // kubereflect releases → client-go takes over
    const k3 = await standBy(log, kubereflect(ns, 'kr-3', log));
    await handOver(log, g2, k3, 'SIGTERM'); // client-go releases → kubereflect takes over
    await finish(ns, log, k3);
    expect(log.filter((l) => l.event === 'cut-line' && l.id !== 'kr-1' && l.id !== 'go-1')).toEqual([]);
  }, 120_000);

  it("mixed durations: each side waits the duration the other side's Lease says (6 s), not its own (3 s)", async () => {
    const ns = await testNamespace('interop-mixed');
    const log: ReplicaLine[] = [];
    const g1 = clientGo(ns, 'go-long', log, LONG);
    await started(log, g1.id);
    const k1 = await standBy(log, kubereflect(ns, 'kr-short', log, SHORT));
    await handOver(log, g1, k1, 'SIGKILL'); // the Lease says 6 s: a kubereflect replica configured for 3 s waits 6 s
    const k2 = await standBy(log, kubereflect(ns, 'kr-long', log, LONG));
    await handOver(log, k1, k2, 'SIGTERM');
    const g2 = await standBy(log, clientGo(ns, 'go-short', log, SHORT));
    await handOver(log, k2, g2, 'SIGKILL'); // and a client-go replica configured for 3 s waits the 6 s a kubereflect Lease says
    await finish(ns, log, g2);
    console.log(`measured:\n  ${measured.join('\n  ')}`);
  }, 120_000);
});
