/**
 * The shard ring's membership and hand-over, on a hand-moved clock against
 * an in-memory Lease server (test/support/fake-leases.ts). The server is a
 * fake because this is pure logic over Lease reads, writes and time: the
 * fake keeps what the protocol relies on (resourceVersion conflicts,
 * AlreadyExists, NotFound, label-selected lists), and the clock lets every
 * deadline be checked to the millisecond. test/scale/sharding.test.ts runs
 * the same protocol against a real apiserver with members in separate
 * processes.
 *
 * Every test audits the whole run: no two members ever act on overlapping
 * ranges at once (compared by the order of events, which is exact here:
 * everything runs on one thread).
 */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FakeClock } from '../../test/support/fake-clock.ts';
import { FakeLeaseServer, type FakeLeaseClient } from '../../test/support/fake-leases.ts';
import { mulberry32 } from '../../test/support/random.ts';
import { ShardRange } from './shard-range.ts';
import { HOLDING_ANNOTATION, RING_LABEL, ShardRing, type ShardRingOptions } from './shard-ring.ts';

const NS = 'shop';
const RING = 'widgets';
const LEASE = 15_000;
const RENEW = 10_000;
const RETRY = 2_000;
/** The longest a member waits between rounds: its retry period plus a tenth. */
const MAX_RETRY = RETRY * 1.1;

/**
 * One term of a member acting on a range: the order of its start and of its
 * work's end among all events (`to` is Infinity while the work runs), and the
 * times of its start (`fromAt`), of its signal's abort (`toAt`) and of its
 * work's end (`endAt`).
 */
interface Act {
  id: string;
  range: ShardRange;
  from: number;
  to: number;
  fromAt: number;
  toAt: number | undefined;
  endAt: number | undefined;
}

/** A member under test: its ring, its connection, its views of the live members over time, and how long its work runs on after its signal (`lingerMs`). */
interface Member {
  identity: string;
  ring: ShardRing;
  link: FakeLeaseClient;
  views: { at: number; members: readonly string[] }[];
  lingerMs: number;
  done: Promise<void>;
  actsOf(): Act[];
}

let clock: FakeClock;
let server: FakeLeaseServer;
/** Every term of acting of every member. */
let acts: Act[];
let seq: number;
let members: Member[];

beforeEach(() => {
  clock = new FakeClock();
  server = new FakeLeaseServer(clock);
  acts = [];
  seq = 0;
  members = [];
  vi.spyOn(Math, 'random').mockImplementation(mulberry32(7));
});

afterEach(async () => {
  for (const m of members) m.link.link = 'up';
  // Slow answers wait on the clock: keep it moving while the members stop.
  await clock.drive(Promise.all(members.map((m) => m.ring.stop())));
  assertNoOverlap();
  vi.restoreAllMocks();
});

/** A member joining the ring through its own connection; records its terms (the work returns when its signal aborts, or `lingerMs` later) and its view of the members. */
function member(identity: string, opts: Partial<ShardRingOptions> = {}): Member {
  const link = server.client(identity);
  const views: Member['views'] = [];
  const ring = new ShardRing(link.asClient, {
    namespace: NS,
    ring: RING,
    identity,
    clock,
    ...opts,
    onMembers: (live) => views.push({ at: clock.now(), members: live }),
  });
  const m: Member = { identity, ring, link, views, lingerMs: 0, done: Promise.resolve(), actsOf: () => acts.filter((a) => a.id === identity) };
  m.done = ring.run(async ({ range, signal }) => {
    const act: Act = { id: identity, range, from: seq++, to: Infinity, fromAt: clock.now(), toAt: undefined, endAt: undefined };
    acts.push(act);
    await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
    act.toAt = clock.now();
    if (m.lingerMs > 0) await new Promise<void>((resolve) => clock.setTimer(resolve, m.lingerMs));
    Object.assign(act, { to: seq++, endAt: clock.now() });
  });
  members.push(m);
  return m;
}

function assertNoOverlap(): void {
  for (const x of acts) {
    for (const y of acts) {
      if (x === y || x.id === y.id || !x.range.overlaps(y.range)) continue;
      expect(x.to < y.from || y.to < x.from, `${x.id} on ${x.range} and ${y.id} on ${y.range} worked at once`).toBe(true);
    }
  }
}

/** Each member's current range, by identity. */
const ranges = () => Object.fromEntries(members.map((m) => [m.identity, m.ring.range?.toString()]));
/** What ShardRange.of(i, n) prints as, for each member in order. */
const split = (ids: string[]) => Object.fromEntries(ids.map((id, i) => [id, ShardRange.of(i, ids.length).toString()]));

/** When `who` first listed the ring after `of`'s last successful write: when it last saw `of`'s Lease change. */
function lastSawChange(who: string, of: string): number {
  const writes = server.requests.filter((q) => q.client === of && (q.method === 'PUT' || q.method === 'POST') && q.code === 200);
  const i = server.requests.indexOf(writes.at(-1)!);
  return server.requests.slice(i).find((q) => q.client === who && q.method === 'GET' && q.name === undefined)!.at;
}

/** When `who` last sent a renewal that succeeded. */
const lastRenewalSent = (who: string) =>
  server.requests.filter((q) => q.client === who && (q.method === 'PUT' || q.method === 'POST') && q.code === 200).at(-1)!.at;

describe('ShardRing: joining', () => {
  it('a lone member acts on the whole hash space, and publishes its claim in its Lease', async () => {
    const a = member('a');
    await clock.advanceAsync(0);
    expect(a.ring.range?.toString()).toBe(new ShardRange(0n, 1n << 64n).toString());
    const lease = server.get(NS, `${RING}-a`)!;
    expect(lease.metadata?.labels?.[RING_LABEL]).toBe(RING);
    expect(lease.metadata?.annotations?.[HOLDING_ANNOTATION]).toBe(a.ring.range!.toJSON());
    expect(lease.spec).toMatchObject({ holderIdentity: 'a', leaseDurationSeconds: 15 });
  });

  it("a member that joins gets a range and the others' ranges shrink, with no range acted on twice at once", async () => {
    const a = member('a');
    await clock.advanceAsync(1000);
    const b = member('b');
    await clock.advanceAsync(4 * MAX_RETRY);
    expect(ranges()).toEqual(split(['a', 'b']));
    const c = member('c');
    await clock.advanceAsync(4 * MAX_RETRY);
    expect(ranges()).toEqual(split(['a', 'b', 'c']));
    expect(a.actsOf().map((x) => x.range.toString())).toEqual([ShardRange.of(0, 1), ShardRange.of(0, 2), ShardRange.of(0, 3)].map(String));
    expect(b.actsOf().map((x) => x.range.toString())).toEqual([ShardRange.of(1, 2), ShardRange.of(1, 3)].map(String));
    expect(c.actsOf().map((x) => x.range.toString())).toEqual([ShardRange.of(2, 3).toString()]);
    expect(a.ring.liveMembers).toEqual(['a', 'b', 'c']);
    // Settled: nothing moves while everyone renews.
    const settled = acts.length;
    await clock.advanceAsync(60_000);
    expect(acts.length).toBe(settled);
    expect(ranges()).toEqual(split(['a', 'b', 'c']));
  });

  it('members that start together settle on the same split', async () => {
    member('c');
    member('a');
    member('b');
    await clock.advanceAsync(6 * MAX_RETRY);
    expect(ranges()).toEqual(split(['a', 'b', 'c']));
  });

  it('members in lockstep settle on the same split', async () => {
    // The same draws for everyone, so that their rounds coincide, and slow answers, so that their writes and reads interleave.
    const draw = mulberry32(3);
    let last = 0;
    let calls = 0;
    vi.spyOn(Math, 'random').mockImplementation(() => (calls++ % 3 === 0 ? (last = draw()) : last));
    const ms = [member('a'), member('b'), member('c')];
    for (const m of ms) m.link.latencyMs = 50;
    await clock.advanceAsync(8 * MAX_RETRY);
    expect(ranges()).toEqual(split(['a', 'b', 'c']));
  });
});

describe('ShardRing: leaving', () => {
  it('a member that stops renewing stops acting at its renew deadline, and the others drop it leaseDuration after they last saw its Lease change', async () => {
    const a = member('a');
    const b = member('b');
    const c = member('c');
    // Slow answers: a renewal succeeds 400 ms after it was sent; the deadline counts from the sending.
    c.link.latencyMs = 400;
    await clock.advanceAsync(6 * MAX_RETRY);
    expect(ranges()).toEqual(split(['a', 'b', 'c']));
    c.link.link = 'down';
    const sent = lastRenewalSent('c');
    await clock.advanceAsync(LEASE + 4 * MAX_RETRY);

    expect(c.actsOf().at(-1)!.toAt).toBe(sent + RENEW);
    for (const m of [a, b]) {
      const dropped = m.views.find((v) => v.at > sent && !v.members.includes('c'))!;
      const seen = lastSawChange(m.identity, 'c');
      expect(dropped.at).toBeGreaterThanOrEqual(seen + LEASE);
      expect(dropped.at).toBeLessThan(seen + LEASE + MAX_RETRY);
    }
    expect(ranges()).toEqual({ ...split(['a', 'b']), c: undefined });
    // c's range went to the others only after c had stopped acting on it.
    const takeovers = acts.filter((x) => x.id !== 'c' && x.range.overlaps(ShardRange.of(2, 3)) && x.fromAt > sent);
    expect(takeovers.length).toBeGreaterThan(0);
    for (const x of takeovers) expect(x.fromAt).toBeGreaterThanOrEqual(sent + LEASE);
  });

  it('a member that stops leaves the ring: its Lease is gone and the others take its range over within a few retry periods', async () => {
    member('a');
    member('b');
    const c = member('c');
    await clock.advanceAsync(6 * MAX_RETRY);
    const at = clock.now();
    await c.ring.stop();
    expect(c.ring.range).toBeUndefined();
    expect(c.actsOf().at(-1)!.toAt).toBe(at);
    expect(server.get(NS, `${RING}-c`)).toBeUndefined();
    await clock.advanceAsync(4 * MAX_RETRY);
    expect(ranges()).toEqual({ ...split(['a', 'b']), c: undefined });
    const b = members[1]!;
    expect(b.actsOf().at(-1)!.fromAt).toBeLessThan(at + 4 * MAX_RETRY);
  });

  it('a member whose renewals become slower than the renew deadline stops acting, withdraws its claim and does not act again while slow', async () => {
    member('a');
    const b = member('b');
    await clock.advanceAsync(6 * MAX_RETRY);
    expect(ranges()).toEqual(split(['a', 'b']));
    const sent = lastRenewalSent('b');
    b.link.latencyMs = RENEW + 1000;
    await clock.advanceAsync(120_000);
    expect(b.actsOf().length).toBe(1);
    expect(b.actsOf()[0]!.toAt).toBe(sent + RENEW);
    expect(server.get(NS, `${RING}-b`)?.metadata?.annotations?.[HOLDING_ANNOTATION]).toBe('');
  });

  it('a renewal that hangs does not delay the renew deadline', async () => {
    member('a');
    const b = member('b');
    await clock.advanceAsync(6 * MAX_RETRY);
    b.link.link = 'hung';
    const sent = lastRenewalSent('b');
    await clock.advanceAsync(RENEW + MAX_RETRY);
    expect(b.ring.range).toBeUndefined();
    expect(b.actsOf().at(-1)!.toAt).toBe(sent + RENEW);
  });

  it('a member cut off and back again rejoins and gets its range back', async () => {
    member('a');
    member('b');
    const c = member('c');
    await clock.advanceAsync(6 * MAX_RETRY);
    c.link.link = 'down';
    await clock.advanceAsync(LEASE + 4 * MAX_RETRY);
    expect(ranges()).toEqual({ ...split(['a', 'b']), c: undefined });
    c.link.link = 'up';
    await clock.advanceAsync(8 * MAX_RETRY);
    expect(ranges()).toEqual(split(['a', 'b', 'c']));
  });
});

describe("ShardRing: the Lease's own duration", () => {
  it('a member with shorter timings keeps a silent member with 60 s Leases live until 60 s after it last saw its Lease change, and takes its range only then', async () => {
    const a = member('a', { leaseDuration: 60_000, renewDeadline: 40_000, retryPeriod: 2000 });
    const b = member('b', { leaseDuration: 3000, renewDeadline: 2000, retryPeriod: 500 });
    await clock.advanceAsync(6 * MAX_RETRY);
    expect(ranges()).toEqual(split(['a', 'b']));
    a.link.link = 'down';
    const sent = lastRenewalSent('a');
    await clock.advanceAsync(30_000);
    expect(b.ring.liveMembers).toEqual(['a', 'b']);
    expect(b.ring.range?.toString()).toBe(ShardRange.of(1, 2).toString());
    await clock.advanceAsync(40_000);
    const seen = lastSawChange('b', 'a');
    const dropped = b.views.find((v) => v.at > sent && !v.members.includes('a'))!;
    expect(dropped.at).toBeGreaterThanOrEqual(seen + 60_000);
    expect(dropped.at).toBeLessThan(seen + 60_000 + 500 * 1.1);
    expect(ranges()).toEqual({ a: undefined, b: ShardRange.of(0, 1).toString() });
    // a stopped acting at its own renew deadline, 20 s before b could take its range.
    expect(a.actsOf().at(-1)!.toAt).toBe(sent + 40_000);
    expect(b.actsOf().at(-1)!.fromAt).toBeGreaterThanOrEqual(seen + 60_000);
  });

  it("a Lease without leaseDurationSeconds is judged by the member's own leaseDuration", async () => {
    const b = member('b');
    await clock.advanceAsync(2 * MAX_RETRY);
    const putAt = clock.now();
    server.put({
      metadata: { name: `${RING}-x`, namespace: NS, labels: { [RING_LABEL]: RING }, annotations: { [HOLDING_ANNOTATION]: '' } },
      spec: { holderIdentity: 'x' },
    });
    await clock.advanceAsync(LEASE + 2 * MAX_RETRY);
    const seen = server.requests.find((q) => q.client === 'b' && q.method === 'GET' && q.name === undefined && q.at >= putAt)!.at;
    const added = b.views.find((v) => v.members.includes('x'))!;
    const dropped = b.views.find((v) => v.at > added.at && !v.members.includes('x'))!;
    expect(added.at).toBe(seen);
    expect(dropped.at).toBeGreaterThanOrEqual(seen + LEASE);
    expect(dropped.at).toBeLessThan(seen + LEASE + MAX_RETRY);
  });
});

describe('ShardRing: the work and the claim', () => {
  it("a hand-over waits for the work: a's work runs on 5 s past its signal, its Lease claims the range (renewed) all the while, and the new member acts on it only after", async () => {
    const a = member('a');
    await clock.advanceAsync(2 * MAX_RETRY);
    a.lingerMs = 5000;
    const b = member('b');
    const first = a.actsOf()[0]!;
    while (first.toAt === undefined) await clock.advanceAsync(100);
    await clock.advanceAsync(first.toAt + 5000 - 1 - clock.now());
    expect(first.endAt).toBeUndefined();
    // Still claimed, and renewed on the beat meanwhile.
    expect(a.ring.claimed?.toString()).toBe(ShardRange.of(0, 1).toString());
    expect(server.get(NS, `${RING}-a`)?.metadata?.annotations?.[HOLDING_ANNOTATION]).toBe(ShardRange.of(0, 1).toJSON());
    expect(b.ring.range).toBeUndefined();
    await clock.advanceAsync(1 + 4 * MAX_RETRY);
    expect(first.endAt).toBe(first.toAt! + 5000);
    expect(ranges()).toEqual(split(['a', 'b']));
    const renewals = server.requests.filter((q) => q.client === 'a' && q.method === 'PUT' && q.code === 200 && q.at > first.toAt! && q.at < first.endAt!);
    expect(renewals.length).toBeGreaterThanOrEqual(Math.floor(5000 / MAX_RETRY));
    expect(b.actsOf()[0]!.fromAt).toBeGreaterThan(first.endAt!);
    // The audit in afterEach: no two members' work on overlapping ranges at once.
  });

  it('stop() waits for the work (here 20 s, past the Lease duration), renewing its claim, and only then deletes the Lease; the others take the range over after', async () => {
    member('a');
    const b = member('b');
    await clock.advanceAsync(6 * MAX_RETRY);
    expect(ranges()).toEqual(split(['a', 'b']));
    b.lingerMs = 20_000;
    const at = clock.now();
    let stoppedAt: number | undefined;
    void b.ring.stop().then(() => (stoppedAt = clock.now()));
    await clock.advanceAsync(20_000 - 1);
    expect(b.actsOf()[0]!.toAt).toBe(at);
    expect(stoppedAt).toBeUndefined();
    expect(server.get(NS, `${RING}-b`)?.metadata?.annotations?.[HOLDING_ANNOTATION]).toBe(ShardRange.of(1, 2).toJSON());
    expect(members[0]!.ring.range?.toString()).toBe(ShardRange.of(0, 2).toString());
    await clock.advanceAsync(1);
    expect(stoppedAt).toBe(at + 20_000);
    expect(server.get(NS, `${RING}-b`)).toBeUndefined();
    await clock.advanceAsync(4 * MAX_RETRY);
    expect(members[0]!.ring.range?.toString()).toBe(ShardRange.of(0, 1).toString());
  });

  it('a member acts only within renewDeadline of sending its last successful renewal, even when a read of the ring answers late', async () => {
    const b = member('b');
    // The read after its claim (its second list) answers after 11 s: past the renew deadline of the claim's renewal.
    let lists = 0;
    b.link.latencyOf = (req) => ((req.method ?? 'GET') === 'GET' && !/\/leases\//.test(req.path) && lists++ === 1 ? RENEW + 1000 : undefined);
    await clock.advanceAsync(30_000);
    const renewalsSent = server.requests.filter((q) => q.client === 'b' && (q.method === 'PUT' || q.method === 'POST') && q.code === 200).map((q) => q.at);
    const lastBefore = (t: number) => Math.max(...renewalsSent.filter((s) => s <= t));
    expect(b.actsOf().length).toBeGreaterThan(0);
    for (const act of b.actsOf()) {
      expect(act.fromAt - lastBefore(act.fromAt), `acted from ${act.fromAt}, renewal last sent at ${lastBefore(act.fromAt)}`).toBeLessThan(RENEW);
      if (act.toAt !== undefined) expect(act.toAt - lastBefore(act.toAt)).toBeLessThanOrEqual(RENEW);
    }
  });

  it('stop() gives up deleting the Lease after leaveTimeout (default 5 s) when the server does not answer', async () => {
    const a = member('a');
    await clock.advanceAsync(2 * MAX_RETRY);
    a.link.link = 'hung';
    const at = clock.now();
    let stoppedAt: number | undefined;
    void a.ring.stop().then(() => (stoppedAt = clock.now()));
    await clock.advanceAsync(10_000);
    expect(stoppedAt).toBe(at + 5000);
    expect(server.get(NS, `${RING}-a`)).toBeDefined();
  });

  it('run() twice is refused', () => {
    const a = member('a');
    expect(() => a.ring.run(async () => {})).toThrow(/run\(\) was called already/);
  });
});
