/**
 * Leader election's timing guarantees, on a hand-moved clock against an
 * in-memory Lease server (test/support/fake-leases.ts). The server is a
 * fake because this is pure logic over Lease reads, writes and time: the
 * fake keeps what the protocol relies on (resourceVersion conflicts,
 * AlreadyExists, NotFound), and the clock lets every deadline be checked to
 * the millisecond. test/scale/leader-election.test.ts runs the same
 * protocol against a real apiserver with replicas in separate processes.
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { FakeLeaseServer, type SeenRequest } from '../../test/support/fake-leases.ts';
import { mulberry32 } from '../../test/support/random.ts';
import { LeaderElection, type LeaderElectionOptions } from './leader-election.ts';

const NS = 'shop';
const NAME = 'widget-operator';
// client-go's defaults, the library's too.
const LEASE = 15_000;
const RENEW = 10_000;
const RETRY = 2_000;
/** The longest a candidate waits between tries: its retry period plus a fifth. */
const MAX_RETRY = RETRY * 1.2;

let clock: FakeClock;
let server: FakeLeaseServer;
const started: { stop(): Promise<void> }[] = [];

beforeEach(() => {
  clock = new FakeClock();
  server = new FakeLeaseServer(clock);
  // The retry jitter draws from Math.random: seeded, so that every run sees the same timings.
  vi.spyOn(Math, 'random').mockImplementation(mulberry32(2024));
});

afterEach(async () => {
  // Slow answers wait on the clock: keep it moving while the replicas stop.
  await clock.drive(Promise.all(started.splice(0).map((r) => r.stop())));
  vi.restoreAllMocks();
});

/**
 * A replica campaigning through its own connection, with the times (on the
 * clock) of its terms: `from` when its work was called, `to` when the term's
 * signal aborted, `ended` when the work returned. The work returns when its
 * signal aborts, or `lingerMs` later (work that ignores its signal that long).
 */
function replica(identity: string, opts: Partial<LeaderElectionOptions> = {}) {
  const link = server.client(identity);
  const terms: { from: number; to: number | undefined; ended: number | undefined; signal: AbortSignal }[] = [];
  let stoppedLeading = 0;
  const election = new LeaderElection(link.asClient, {
    namespace: NS,
    name: NAME,
    identity,
    clock,
    onStoppedLeading: () => stoppedLeading++,
    ...opts,
  });
  const r = {
    identity,
    election,
    link,
    terms,
    lingerMs: 0,
    get stoppedLeading() {
      return stoppedLeading;
    },
    stop: () => election.stop(),
    done: undefined as unknown as Promise<void>,
  };
  r.done = election.run(async (signal) => {
    const term = { from: clock.now(), to: undefined as number | undefined, ended: undefined as number | undefined, signal };
    terms.push(term);
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    term.to = clock.now();
    if (r.lingerMs > 0) await new Promise<void>((resolve) => clock.setTimer(resolve, r.lingerMs));
    term.ended = clock.now();
  });
  started.push(r);
  return r;
}

/** The requests of `client` that succeeded, optionally of one method. */
const succeeded = (client: string, method?: string): SeenRequest[] =>
  server.requests.filter((q) => q.client === client && q.code === 200 && (method === undefined || q.method === method));

/** When `holder`'s last successful renewal was sent: the read that began it (the renewal is a read, then a replace). */
function lastRenewalSent(holder: string): number {
  const writes = server.requests.filter((q) => q.client === holder && (q.method === 'PUT' || q.method === 'POST') && q.code === 200);
  const write = writes.at(-1)!;
  const i = server.requests.indexOf(write);
  const read = server.requests.slice(0, i).findLast((q) => q.client === holder && q.method === 'GET');
  return read!.at;
}

/** When `candidate` first read the Lease after `holder`'s last successful write: when it last saw the record change. */
function lastSawChange(candidate: string, holder: string): number {
  const writes = server.requests.filter((q) => q.client === holder && (q.method === 'PUT' || q.method === 'POST') && q.code === 200);
  const i = server.requests.indexOf(writes.at(-1)!);
  return server.requests.slice(i).find((q) => q.client === candidate && q.method === 'GET')!.at;
}

describe('LeaderElection: acquiring', () => {
  it('the first candidate creates the Lease and leads; the other waits as long as the holder renews', async () => {
    const a = replica('a');
    await clock.advanceAsync(0);
    expect(a.election.isLeader).toBe(true);
    expect(server.get(NS, NAME)?.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15, leaseTransitions: 0 });

    const b = replica('b');
    const renewTimes = new Set<string>();
    for (let t = 0; t < 120_000; t += 1000) {
      await clock.advanceAsync(1000);
      renewTimes.add(String(server.get(NS, NAME)?.spec?.renewTime));
    }
    expect(a.election.isLeader).toBe(true);
    expect(b.election.isLeader).toBe(false);
    expect(b.election.leader).toBe('a');
    expect(b.terms).toEqual([]);
    // The holder renews every retry period, on the beat, and each renewal is a new record.
    expect(succeeded('a', 'PUT').length).toBe(120_000 / RETRY);
    expect(renewTimes.size).toBe(120_000 / RETRY + 1);
    // The candidate's tries are spread over [retryPeriod, 1.2 × retryPeriod).
    const tries = succeeded('b', 'GET').map((q) => q.at);
    const gaps = tries.slice(1).map((t, i) => t - tries[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(RETRY);
    expect(Math.max(...gaps)).toBeLessThan(MAX_RETRY);
    expect(Math.max(...gaps) - Math.min(...gaps)).toBeGreaterThan(RETRY * 0.1);
  });

  it('of two candidates that create the Lease at once, the server accepts one (409 AlreadyExists for the other)', async () => {
    const a = replica('a');
    const b = replica('b');
    await clock.advanceAsync(30_000);
    expect(server.requests.filter((q) => q.method === 'POST').map((q) => q.code)).toEqual([200, 409]);
    expect([a.election.isLeader, b.election.isLeader]).toEqual([true, false]);
    expect(b.terms).toEqual([]);
  });

  it('of two candidates that take over an expired Lease at once, the server accepts one (409 Conflict for the other)', async () => {
    server.put({ metadata: { name: NAME, namespace: NS }, spec: { holderIdentity: 'gone', leaseDurationSeconds: 15, leaseTransitions: 3 } });
    // The same draws for both, so that their tries coincide, and answers that take a while, so that both
    // read the same resourceVersion before either replaces: both send a replace.
    const draw = mulberry32(9);
    let last = 0;
    let calls = 0;
    vi.spyOn(Math, 'random').mockImplementation(() => (calls++ % 2 === 0 ? (last = draw()) : last));
    const a = replica('a');
    const b = replica('b');
    a.link.latencyMs = b.link.latencyMs = 100;
    await clock.advanceAsync(LEASE + 2 * MAX_RETRY);
    const puts = server.requests.filter((q) => q.method === 'PUT');
    expect(puts.map((q) => q.code).slice(0, 2)).toEqual([200, 409]);
    expect(puts[0]!.at).toBe(puts[1]!.at);
    expect(a.terms.length + b.terms.length).toBe(1);
    expect(server.get(NS, NAME)?.spec).toMatchObject({ holderIdentity: 'a', leaseTransitions: 4 });
  });

  it('refuses inconsistent durations', () => {
    const client = server.client('x').asClient;
    expect(() => new LeaderElection(client, { namespace: NS, name: NAME, leaseDuration: 10_000, renewDeadline: 10_000 })).toThrow(RangeError);
    expect(() => new LeaderElection(client, { namespace: NS, name: NAME, renewDeadline: 2000, retryPeriod: 2000 })).toThrow(RangeError);
  });
});

describe('LeaderElection: the renew deadline', () => {
  it('a leader whose renewals fail stops leading renewDeadline after it sent its last successful renewal, and its signal aborts then', async () => {
    const a = replica('a');
    // Slow answers: a renewal (a read, then a replace) succeeds 800 ms after it was sent; the deadline counts from the sending.
    a.link.latencyMs = 400;
    await clock.advanceAsync(21_000);
    expect(a.election.isLeader).toBe(true);
    a.link.link = 'down';
    const sent = lastRenewalSent('a');
    await clock.advanceAsync(sent + RENEW - 1 - clock.now());
    expect(a.election.isLeader).toBe(true);
    expect(a.terms[0]!.signal.aborted).toBe(false);
    await clock.advanceAsync(1);
    expect(a.election.isLeader).toBe(false);
    expect(a.terms[0]!.signal.aborted).toBe(true);
    expect(a.terms[0]!.to).toBe(sent + RENEW);
    expect(a.stoppedLeading).toBe(1);
    // The Lease still names it: no one else may take it before it expires.
    expect(server.get(NS, NAME)?.spec?.holderIdentity).toBe('a');
  });

  it('a renewal that hangs does not delay the deadline: the term ends on time and the hung request is aborted', async () => {
    const a = replica('a');
    await clock.advanceAsync(10_000);
    a.link.link = 'hung';
    const sent = lastRenewalSent('a');
    await clock.advanceAsync(RENEW * 3);
    expect(a.terms[0]!.to).toBe(sent + RENEW);
    expect(a.stoppedLeading).toBe(1);
    // It campaigns again (its new request hangs too); stop() ends that at once.
    let stopped = false;
    void a.stop().then(() => (stopped = true));
    await clock.advanceAsync(0);
    expect(stopped).toBe(true);
  });

  it('a leader that finds someone else in the Lease stops leading at that renewal', async () => {
    const a = replica('a');
    await clock.advanceAsync(5000);
    const lease = server.get(NS, NAME)!;
    server.put({ ...lease, spec: { ...lease.spec, holderIdentity: 'intruder' } });
    const at = clock.now();
    await clock.advanceAsync(RETRY);
    expect(a.election.isLeader).toBe(false);
    expect(a.terms[0]!.to).toBeGreaterThan(at);
    expect(a.terms[0]!.to).toBeLessThanOrEqual(at + RETRY);
    expect(a.election.leader).toBe('intruder');
  });
});

describe('LeaderElection: taking over', () => {
  it('a candidate takes an unrenewed Lease no earlier than leaseDuration after it last saw the record change, and within a retry period after that', async () => {
    const a = replica('a');
    await clock.advanceAsync(1000);
    const b = replica('b');
    await clock.advanceAsync(20_000);
    a.link.link = 'down';
    await clock.advanceAsync(LEASE + 2 * RETRY);
    expect(b.election.isLeader).toBe(true);
    const seen = lastSawChange('b', 'a');
    const took = b.terms[0]!.from;
    expect(took).toBeGreaterThanOrEqual(seen + LEASE);
    expect(took).toBeLessThan(seen + LEASE + MAX_RETRY);
    // The old leader had stopped at least leaseDuration − renewDeadline before.
    expect(a.terms[0]!.to).toBeLessThanOrEqual(took - (LEASE - RENEW));
    expect(server.get(NS, NAME)?.spec).toMatchObject({ holderIdentity: 'b', leaseTransitions: 1 });
    // The old holder comes back: the Lease is b's now, and it stays a candidate.
    a.link.link = 'up';
    await clock.advanceAsync(30_000);
    expect(a.election.isLeader).toBe(false);
    expect(a.election.leader).toBe('b');
    expect(a.terms.length).toBe(1);
  });

  it('a holder that stops releases the Lease; a rival takes over at its next try', async () => {
    const a = replica('a');
    await clock.advanceAsync(1000);
    const b = replica('b');
    await clock.advanceAsync(9000);
    const at = clock.now();
    await a.stop();
    expect(a.terms[0]!.to).toBe(at);
    expect(a.stoppedLeading).toBe(1);
    expect(server.get(NS, NAME)?.spec?.holderIdentity).toBeNull();
    await clock.advanceAsync(MAX_RETRY);
    expect(b.election.isLeader).toBe(true);
    expect(b.terms[0]!.from).toBeLessThan(at + MAX_RETRY);
  });

  it('a holder stopped without release leaves the Lease to expire: the rival waits the full leaseDuration', async () => {
    const a = replica('a', { releaseOnStop: false });
    await clock.advanceAsync(1000);
    const b = replica('b');
    await clock.advanceAsync(9000);
    await a.stop();
    expect(server.get(NS, NAME)?.spec?.holderIdentity).toBe('a');
    await clock.advanceAsync(LEASE + MAX_RETRY);
    expect(b.election.isLeader).toBe(true);
    expect(b.terms[0]!.from).toBeGreaterThanOrEqual(lastSawChange('b', 'a') + LEASE);
  });
});

describe('LeaderElection: releasing', () => {
  it('stop() gives up the release after releaseTimeout (default 5 s) when the server does not answer, leaving the Lease to expire', async () => {
    const a = replica('a');
    await clock.advanceAsync(1000);
    a.link.link = 'hung';
    const at = clock.now();
    let stoppedAt: number | undefined;
    void a.stop().then(() => (stoppedAt = clock.now()));
    await clock.advanceAsync(10_000);
    expect(stoppedAt).toBe(at + 5000);
    expect(server.get(NS, NAME)?.spec?.holderIdentity).toBe('a');
  });

  it('releaseTimeout sets that bound', async () => {
    const a = replica('a', { releaseTimeout: 1500 });
    await clock.advanceAsync(1000);
    a.link.link = 'hung';
    const at = clock.now();
    let stoppedAt: number | undefined;
    void a.stop().then(() => (stoppedAt = clock.now()));
    await clock.advanceAsync(10_000);
    expect(stoppedAt).toBe(at + 1500);
  });
});

describe("LeaderElection: the Lease's own duration", () => {
  // Short timings for the candidate, as a replica of a rolling update that shortened them, or beside a client-go replica with other settings.
  const SHORT = { leaseDuration: 3000, renewDeadline: 2000, retryPeriod: 500 };

  it('a candidate with shorter timings waits the leaseDurationSeconds the record says (60 s), not its own 3 s', async () => {
    // A holder that wrote 60 s and then went silent (a client-go replica, say).
    server.put({
      metadata: { name: NAME, namespace: NS },
      spec: { holderIdentity: 'other', leaseDurationSeconds: 60, renewTime: '2025-01-01T00:00:00.000000Z' },
    });
    const b = replica('b', SHORT);
    await clock.advanceAsync(0);
    const seen = succeeded('b', 'GET')[0]!.at;
    await clock.advanceAsync(59_000);
    expect(b.election.isLeader).toBe(false);
    await clock.advanceAsync(1000 + 500 * 1.2);
    expect(b.election.isLeader).toBe(true);
    expect(b.terms[0]!.from).toBeGreaterThanOrEqual(seen + 60_000);
    // The Lease it wrote says its own duration.
    expect(server.get(NS, NAME)?.spec).toMatchObject({ holderIdentity: 'b', leaseDurationSeconds: 3 });
  });

  it('a holder configured for 60 s that is cut off keeps its Lease from a 3 s candidate until 60 s after the candidate last saw it renewed: never two leaders', async () => {
    const a = replica('a', { leaseDuration: 60_000, renewDeadline: 40_000, retryPeriod: 2000 });
    await clock.advanceAsync(1000);
    const b = replica('b', SHORT);
    await clock.advanceAsync(10_000);
    a.link.link = 'down';
    await clock.advanceAsync(5000);
    expect(b.election.isLeader).toBe(false);
    await clock.advanceAsync(60_000);
    expect(b.election.isLeader).toBe(true);
    const seen = lastSawChange('b', 'a');
    expect(b.terms[0]!.from).toBeGreaterThanOrEqual(seen + 60_000);
    expect(b.terms[0]!.from).toBeLessThan(seen + 60_000 + 500 * 1.2);
    // a stopped at its own renew deadline (40 s), 20 s before b led.
    expect(a.terms[0]!.to).toBeLessThanOrEqual(b.terms[0]!.from - 20_000);
  });

  it("a record without leaseDurationSeconds is judged by the candidate's own leaseDuration", async () => {
    server.put({ metadata: { name: NAME, namespace: NS }, spec: { holderIdentity: 'other' } });
    const b = replica('b', SHORT);
    await clock.advanceAsync(0);
    const seen = succeeded('b', 'GET')[0]!.at;
    await clock.advanceAsync(3000 + 500 * 1.2);
    expect(b.election.isLeader).toBe(true);
    expect(b.terms[0]!.from).toBeGreaterThanOrEqual(seen + 3000);
  });
});

describe('LeaderElection: the work and the Lease', () => {
  it('stop() ends the term at once, keeps renewing the Lease until the work has returned (here 20 s, past the Lease duration), then releases it', async () => {
    const a = replica('a');
    await clock.advanceAsync(1000);
    const b = replica('b');
    await clock.advanceAsync(9000);
    a.lingerMs = 20_000;
    const at = clock.now();
    let stoppedAt: number | undefined;
    void a.stop().then(() => (stoppedAt = clock.now()));
    await clock.advanceAsync(0);
    expect(a.terms[0]!.to).toBe(at);
    expect(a.election.isLeader).toBe(false);
    await clock.advanceAsync(20_000 - 1);
    // The work still runs: the Lease is still a's, renewed on the beat, and b has not led.
    expect(stoppedAt).toBeUndefined();
    expect(server.get(NS, NAME)?.spec?.holderIdentity).toBe('a');
    expect(succeeded('a', 'PUT').filter((q) => q.at > at).length).toBe(Math.floor((20_000 - 1) / RETRY));
    expect(b.terms).toEqual([]);
    await clock.advanceAsync(1);
    expect(a.terms[0]!.ended).toBe(at + 20_000);
    expect(stoppedAt).toBe(at + 20_000);
    expect(server.get(NS, NAME)?.spec?.holderIdentity).toBeNull();
    await clock.advanceAsync(MAX_RETRY);
    expect(b.terms[0]!.from).toBeGreaterThan(a.terms[0]!.ended!);
    expect(b.terms[0]!.from).toBeLessThan(a.terms[0]!.ended! + MAX_RETRY);
  });

  it('after a lost term it campaigns again only once the work has returned', async () => {
    const a = replica('a');
    await clock.advanceAsync(5000);
    a.lingerMs = 30_000;
    a.link.link = 'down';
    const sent = lastRenewalSent('a');
    await clock.advanceAsync(RENEW + 1000);
    expect(a.terms[0]!.to).toBe(sent + RENEW);
    a.link.link = 'up';
    // Its own Lease, unrenewed for a second: it could take it back at once, but its work still runs.
    const before = server.requests.length;
    await clock.advanceAsync(sent + RENEW + 30_000 - 1 - clock.now());
    expect(server.requests.slice(before).filter((q) => q.client === 'a')).toEqual([]);
    expect(a.terms.length).toBe(1);
    await clock.advanceAsync(1 + RETRY);
    expect(a.terms[0]!.ended).toBe(sent + RENEW + 30_000);
    expect(a.terms.length).toBe(2);
    expect(a.terms[1]!.from).toBeLessThan(a.terms[0]!.ended! + 1);
    expect(server.get(NS, NAME)?.spec).toMatchObject({ holderIdentity: 'a', leaseTransitions: 0 });
  });

  it('the margin: cut off, work that stops within leaseDuration − renewDeadline of the last renewal ends before the next leader starts; work that runs on past it can overlap', async () => {
    const a = replica('a');
    await clock.advanceAsync(1000);
    const b = replica('b');
    await clock.advanceAsync(9000);
    // Stops 4 s after its signal (renewDeadline after the last renewal): inside the 5 s margin.
    a.lingerMs = 4000;
    a.link.link = 'down';
    const sent = lastRenewalSent('a');
    await clock.advanceAsync(LEASE + 2 * MAX_RETRY);
    expect(a.terms[0]!.ended).toBe(sent + RENEW + 4000);
    expect(b.terms[0]!.from).toBeGreaterThanOrEqual(sent + LEASE);
    expect(b.terms[0]!.from).toBeGreaterThan(a.terms[0]!.ended!);

    // Now b is cut off, and its work stops only 8 s after its signal: past the margin, while a (back) takes over.
    a.link.link = 'up';
    b.lingerMs = 8000;
    b.link.link = 'down';
    const bSent = lastRenewalSent('b');
    await clock.advanceAsync(LEASE + 2 * MAX_RETRY);
    expect(b.terms[0]!.to).toBe(bSent + RENEW);
    expect(a.terms[1]!.from).toBeGreaterThanOrEqual(bSent + LEASE);
    expect(a.terms[1]!.from).toBeLessThan(b.terms[0]!.ended!); // the overlap the margin could not cover
    expect(b.terms[0]!.ended).toBe(bSent + RENEW + 8000);
  });

  it('work that returns before its term ends leaves the replica leading, idle, and renewing; a stop then releases at once', async () => {
    const link = server.client('a');
    const election = new LeaderElection(link.asClient, { namespace: NS, name: NAME, identity: 'a', clock });
    started.push(election);
    let calls = 0;
    void election.run(async () => {
      calls++;
    });
    await clock.advanceAsync(30_000);
    expect(calls).toBe(1);
    expect(election.isLeader).toBe(true);
    expect(succeeded('a', 'PUT').length).toBe(30_000 / RETRY);
    await election.stop();
    expect(server.get(NS, NAME)?.spec?.holderIdentity).toBeNull();
  });

  it('work that throws counts as ended; run() twice is refused', async () => {
    const link = server.client('a');
    const errors: string[] = [];
    const log = { info() {}, warn() {}, debug() {}, error: (m: string) => errors.push(m) };
    const election = new LeaderElection(link.asClient, { namespace: NS, name: NAME, identity: 'a', clock, logger: log });
    started.push(election);
    void election.run(async () => {
      throw new Error('boom');
    });
    expect(() => election.run(async () => {})).toThrow(/run\(\) was called already/);
    await clock.advanceAsync(1000);
    expect(errors).toEqual([expect.stringMatching(/the work failed: boom/)]);
    await election.stop();
    expect(server.get(NS, NAME)?.spec?.holderIdentity).toBeNull();
  });
});
