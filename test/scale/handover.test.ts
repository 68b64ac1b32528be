/**
 * The ring's hand-over on the real apiserver, with members in separate
 * processes (handover-child.ts), each running a `Controller` for its range as
 * docs/scale-out.md shows — three of the five members as an operator's main
 * on the `Manager` (`shardRing`, `manager.run()`), two as a bare ring. Every reconcile takes 600 ms, ignores its signal
 * and requeues its object, so that at any moment most of the 40 objects are
 * in a reconcile somewhere. Members join, leave gracefully (SIGTERM) and are
 * SIGKILLed while that goes on; every reconcile is logged with its member,
 * the object's uid and its start and end. The audit: no object is ever in a
 * reconcile on two members at once (a SIGKILLed member's unfinished
 * reconciles end at the kill), and after each change the members settle on a
 * partition of the hash space and reconcile every object.
 *
 * Short Lease timings (3 s / 2 s / 0.5 s) keep it quick.
 */
import { describe, expect, it, onTestFailed } from 'vitest';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { HASH_SPACE, ShardRange } from '../../runtime/scale/shard-range.ts';
import { testNamespace } from '../support/kube.ts';
import { replicaSuite, startReplica, until, type ReplicaLine } from './replicas.ts';

const N = 40;
const { kubeconfig, admin } = replicaSuite();

interface Line extends ReplicaLine {
  range?: string;
  uid?: string;
  t0?: number;
}

interface Window {
  id: string;
  uid: string;
  from: number;
  to: number;
}

/** Each member's reconcile windows: a `begin` to its `end`; one still open ends at the member's kill (or, never seen ending, at Infinity). */
function windows(log: Line[], killedAt: Map<string, number>): Window[] {
  const open = new Map<string, Window>();
  const out: Window[] = [];
  for (const l of log) {
    const k = `${l.id}/${l.uid}/${l.t0}`;
    if (l.event === 'begin') open.set(k, { id: l.id, uid: l.uid!, from: l.t0!, to: Infinity });
    else if (l.event === 'end') {
      const w = open.get(k);
      expect(w, `${l.id} ended a reconcile of ${l.uid} it never began`).toBeDefined();
      out.push({ ...w!, to: l.t });
      open.delete(k);
    }
  }
  for (const w of open.values()) out.push({ ...w, to: killedAt.get(w.id) ?? Infinity });
  return out;
}

/** The objects in a reconcile on two members at once, with one such pair each. */
function overlaps(all: Window[]): Map<string, [Window, Window]> {
  const byUid = new Map<string, Window[]>();
  for (const w of all) byUid.set(w.uid, [...(byUid.get(w.uid) ?? []), w]);
  const found = new Map<string, [Window, Window]>();
  for (const [uid, ws] of byUid) {
    ws.sort((a, b) => a.from - b.from);
    for (let i = 0; i < ws.length && !found.has(uid); i++)
      for (let j = i + 1; j < ws.length && ws[j]!.from < ws[i]!.to; j++)
        if (ws[j]!.id !== ws[i]!.id) {
          found.set(uid, [ws[i]!, ws[j]!]);
          break;
        }
  }
  return found;
}

/** The range each member acts on now: its last `acquire` not followed by a `release` (none for a member that was killed). */
function holding(log: Line[], killed: Map<string, number>): Map<string, ShardRange> {
  const now = new Map<string, ShardRange>();
  for (const l of log) {
    if (l.event === 'acquire') now.set(l.id, ShardRange.parse(l.range)!);
    else if (l.event === 'release' || l.event === 'exit') now.delete(l.id);
  }
  for (const id of killed.keys()) now.delete(id);
  return now;
}

/** Waits until exactly `ids` act, on ranges that partition the hash space, and every object has been reconciled since. */
async function settled(log: Line[], ids: string[], uids: Set<string>, killed: Map<string, number>, what: string): Promise<number> {
  const since = Date.now();
  const at = await until(`${what}: ${ids.join(', ')} partition the hash space`, () => {
    const h = holding(log, killed);
    if (h.size !== ids.length || !ids.every((id) => h.has(id))) return undefined;
    const ranges = [...h.values()].sort((a, b) => (a.start < b.start ? -1 : 1));
    if (ranges[0]!.start !== 0n || ranges.at(-1)!.end !== HASH_SPACE) return undefined;
    for (let i = 1; i < ranges.length; i++) if (ranges[i]!.start !== ranges[i - 1]!.end) return undefined;
    return Date.now();
  });
  await until(`${what}: every object reconciled after settling`, () => {
    const seen = new Set(log.filter((l) => l.event === 'begin' && l.t0! >= at && ids.includes(l.id)).map((l) => l.uid));
    return seen.size === uids.size;
  });
  console.log(`${what}: ${ids.join(', ')} settled after ${at - since} ms`);
  return at;
}

describe('ShardRing hand-over with a controller per range', () => {
  it(`members join, leave and are SIGKILLed while slow reconciles of ${N} objects run: no object is ever in a reconcile on two members at once`, async () => {
    const ns = await testNamespace('handover');
    const api = ConfigMap.api(admin, ns);
    for (let i = 0; i < N; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => api.create({ metadata: { name: `cm-${i + j}` } })));
    const uids = new Set((await api.list()).items.map((o) => o.metadata!.uid!));
    const log: Line[] = [];
    // On a failure, the members' terms (their reconciles left out) say what the ring did.
    onTestFailed(() =>
      console.log(
        log
          .filter((l) => l.event !== 'begin' && l.event !== 'end')
          .map((l) => JSON.stringify(l))
          .join('\n'),
      ),
    );
    const killedAt = new Map<string, number>();
    const procs = new Map<string, ReturnType<typeof startReplica>>();
    // Members a, c and e run the Manager (an operator's main), b and d a bare ring with a controller per term: one ring, both patterns audited.
    const join = (id: string) =>
      procs.set(id, startReplica('handover-child.ts', [kubeconfig, ns, 'ring', id, ['a', 'c', 'e'].includes(id) ? 'manager' : 'controller'], id, log));
    const leave = async (id: string) => {
      procs.get(id)!.kill('SIGTERM');
      await until(`${id} exits`, () => log.find((l) => l.id === id && l.event === 'exit'));
    };
    const kill = (id: string) => {
      killedAt.set(id, Date.now());
      procs.get(id)!.kill('SIGKILL');
    };

    for (const id of ['a', 'b', 'c']) join(id);
    await settled(log, ['a', 'b', 'c'], uids, killedAt, 'three start');
    join('d');
    await settled(log, ['a', 'b', 'c', 'd'], uids, killedAt, 'd joins');
    await leave('b');
    await settled(log, ['a', 'c', 'd'], uids, killedAt, 'b leaves (SIGTERM)');
    kill('c');
    await settled(log, ['a', 'd'], uids, killedAt, 'c is SIGKILLed');
    join('e');
    await settled(log, ['a', 'd', 'e'], uids, killedAt, 'e joins');
    await leave('a');
    await settled(log, ['d', 'e'], uids, killedAt, 'a leaves (SIGTERM)');
    kill('d');
    await settled(log, ['e'], uids, killedAt, 'd is SIGKILLed');
    await leave('e');

    const all = windows(log, killedAt);
    const found = overlaps(all);
    const hand = log.filter((l) => l.event === 'acquire').length;
    console.log(
      `audited ${all.length} reconciles of ${uids.size} objects over ${hand} ranges acquired: ${found.size} objects in a reconcile on two members at once${
        found.size
          ? `, e.g. ${[...found.values()]
              .slice(0, 3)
              .map(([x, y]) => `${x.id}[${x.from}, ${x.to}] and ${y.id}[${y.from}, ${y.to}]`)
              .join('; ')}`
          : ''
      }`,
    );
    expect(all.length).toBeGreaterThan(5 * N);
    expect([...found.keys()], 'objects in a reconcile on two members at once').toEqual([]);
    expect(
      all.filter((w) => w.to === Infinity),
      'reconciles that never ended on a member that was not killed',
    ).toEqual([]);
    expect(log.filter((l) => l.event === 'cut-line' && !killedAt.has(l.id))).toEqual([]);
    expect(
      log.filter((l) => l.event === 'exit').map((l) => `${l.id}: ${(l as Line & { code?: number }).code}`),
      'members that left gracefully exit 0',
    ).toEqual(['b: 0', 'a: 0', 'e: 0']);
  }, 180_000);
});
