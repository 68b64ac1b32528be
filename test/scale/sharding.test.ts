/**
 * Sharding across replica processes on the real apiserver (client-side
 * filtering by the uid's FNV-1a hash): three members' sharded caches split
 * 3,000 objects into disjoint ranges that cover them all (each store holds
 * exactly its range); a SIGKILLed member's range is
 * taken over within the Lease duration plus a settle bound; a fourth member
 * rebalances the ring; an audit of every reconcile pass (time window and
 * uids) shows no object reconciled by two members at once.
 */
import { afterAll, describe, expect, inject, it } from 'vitest';
import { Api } from '../../runtime/api.ts';
import { Client } from '../../runtime/client.ts';
import { fnv1a64, HASH_SPACE, ShardRange } from '../../runtime/shard.ts';
import type { KubeObject, ResourceDescriptor } from '../../runtime/types.ts';
import { testNamespace } from '../support/kube.ts';
import { killReplicas, startReplica, until, type ReplicaLine } from './replicas.ts';

const N = 3000;
const LEASE_MS = 3000;
const kubeconfig = inject('kube').kubeconfig;
const admin = Client.fromFile(kubeconfig, { context: 'admin' });
afterAll(() => {
  killReplicas();
  admin.close();
});
const configMaps: ResourceDescriptor = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };

interface Line extends ReplicaLine { range?: string; t0?: number; uids?: string[] }

const member = (ns: string, id: string, log: Line[]) => startReplica('shard-child.ts', [kubeconfig, ns, 'ring', id], id, log);

/** The last pass of each given member since `since`, once every one of them has one. */
function lastPasses(log: Line[], ids: string[], since: number): Map<string, Line> | undefined {
  const out = new Map<string, Line>();
  for (const l of log) if (l.event === 'pass' && l.t0! >= since && ids.includes(l.id)) out.set(l.id, l);
  return out.size === ids.length ? out : undefined;
}

/** The ranges of the members' last passes partition the hash space, and their stores (the uids) partition the objects. */
function expectPartition(passes: Map<string, Line>, uids: Set<string>): void {
  for (const p of passes.values()) for (const u of p.uids!) expect(ShardRange.parse(p.range)!.has(u), `${p.id}'s store holds ${u}, outside ${p.range}`).toBe(true);
  const ranges = [...passes.values()].map((p) => ShardRange.parse(p.range)!).sort((a, b) => (a.start < b.start ? -1 : 1));
  expect(ranges[0]!.start).toBe(0n);
  expect(ranges.at(-1)!.end).toBe(HASH_SPACE);
  for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.start).toBe(ranges[i - 1]!.end);
  const covered = [...passes.values()].flatMap((p) => p.uids!);
  expect(covered.length).toBe(uids.size); // no uid twice
  expect(new Set(covered)).toEqual(uids); // none left out
}

describe('sharding over a ring of Leases', () => {
  it('3 members split 3,000 objects, take over a killed member\'s range, rebalance to a fourth; never two at once', async () => {
    const ns = await testNamespace('ring');
    const api = new Api<KubeObject>(admin, configMaps, ns);
    const names = Array.from({ length: N }, (_, i) => `cm-${i}`);
    for (let i = 0; i < N; i += 50) await Promise.all(names.slice(i, i + 50).map((name) => api.create({ metadata: { name } })));
    const uids = new Set((await api.list()).items.map((o) => o.metadata!.uid!));
    expect(uids.size).toBe(N);
    // The client's hash is the server's (pinned in test/integration/sharded.test.ts): spread evenly enough.
    const thirds = [0, 0, 0];
    for (const u of uids) thirds[Number((fnv1a64(u) * 3n) / HASH_SPACE)]!++;
    for (const n of thirds) expect(n).toBeGreaterThan(N / 3 - 150);

    const log: Line[] = [];
    const procs = new Map(['a', 'b', 'c'].map((id) => [id, member(ns, id, log)]));
    const settled = await until('three members each acting on a third', () => {
      const passes = lastPasses(log, ['a', 'b', 'c'], 0);
      return passes && new Set([...passes.values()].map((p) => p.range)).size === 3 && [...passes.values()].every((p) => ShardRange.parse(p.range)!.end - ShardRange.parse(p.range)!.start < HASH_SPACE / 2n) ? Date.now() : undefined;
    });
    expectPartition((await until('passes after settling', () => lastPasses(log, ['a', 'b', 'c'], settled)))!, uids);

    // Kill one: its range is taken over within the Lease duration plus a settle bound.
    const victimPass = lastPasses(log, ['b'], 0)!.get('b')!;
    const victimUids = new Set(victimPass.uids);
    const killedAt = Date.now();
    procs.get('b')!.kill('SIGKILL');
    const takenOver = await until('b\'s objects reconciled by a or c', () => {
      const seen = new Set<string>();
      for (const l of log) if (l.event === 'pass' && l.id !== 'b' && l.t0! > killedAt) for (const u of l.uids!) if (victimUids.has(u)) seen.add(u);
      return seen.size === victimUids.size ? Date.now() : undefined;
    });
    console.log(`every object of the killed member reconciled again after ${takenOver - killedAt} ms (lease ${LEASE_MS} ms)`);
    expect(takenOver - killedAt).toBeLessThan(LEASE_MS + 4000);
    const afterKill = await until('a and c partition the space', () => {
      const passes = lastPasses(log, ['a', 'c'], takenOver);
      return passes && [...passes.values()].reduce((n, p) => n + p.uids!.length, 0) === N ? passes : undefined;
    });
    expectPartition(afterKill, uids);

    // A fourth joins: the ring rebalances to thirds among a, c, d.
    const joinedAt = Date.now();
    procs.set('d', member(ns, 'd', log));
    const rebalanced = await until('a, c, d partition the space', () => {
      const passes = lastPasses(log, ['a', 'c', 'd'], joinedAt);
      return passes && [...passes.values()].reduce((n, p) => n + p.uids!.length, 0) === N && new Set([...passes.values()].map((p) => p.range)).size === 3 ? passes : undefined;
    });
    expectPartition(rebalanced, uids);
    console.log(`rebalanced to three members ${Date.now() - joinedAt} ms after the fourth joined`);

    // The audit: passes of different members that overlap in time never share an object.
    const passes = log.filter((l) => l.event === 'pass');
    const byUid = new Map<string, { id: string; t0: number; t1: number }[]>();
    for (const p of passes) for (const u of p.uids!) byUid.set(u, [...(byUid.get(u) ?? []), { id: p.id, t0: p.t0!, t1: p.t }]);
    let checked = 0;
    for (const [uid, list] of byUid) {
      list.sort((x, y) => x.t0 - y.t0);
      const lastEnd = new Map<string, number>();
      for (const x of list) {
        for (const [id, end] of lastEnd) {
          if (id === x.id) continue;
          checked++;
          expect(end < x.t0, `${uid} reconciled by ${id} (until ${end}) and ${x.id} (from ${x.t0}) at once`).toBe(true);
        }
        lastEnd.set(x.id, Math.max(lastEnd.get(x.id) ?? 0, x.t1));
      }
    }
    expect(checked).toBeGreaterThan(0);
    expect(log.filter((l) => l.event === 'cut-line' && l.id !== 'b')).toEqual([]); // only the SIGKILLed member may end mid-line
    for (const [id, p] of procs) if (id !== 'b') p.kill('SIGTERM');
  }, 240_000);
});
