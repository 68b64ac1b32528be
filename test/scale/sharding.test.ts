/**
 * Sharding across replica processes on the real apiserver: three members'
 * sharded caches split the objects (3,000; `KUBEREFLECT_SCALE_OBJECTS`
 * sets another count) into disjoint ranges that cover them all (each store
 * holds exactly its range).
 *
 * On the default server (the `ShardedListAndWatch` gate off: every member
 * receives every object and filters by the uid's FNV-1a hash) each member
 * receives about the bytes of a whole list and watch; a SIGKILLed member's
 * range is taken over within the Lease duration plus a settle bound; a
 * fourth member rebalances the ring; an audit of every reconcile pass (time
 * window and uids) shows no object reconciled by two members at once.
 *
 * On a kube-apiserver with the gate on (a second one on the same etcd, as in
 * test/integration/sharded.test.ts) each member receives about a third of
 * those bytes: its range's objects. Bytes are counted by a pass-through
 * proxy in each member's process, for the cache of its current range.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { dirname } from 'node:path';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { Api } from '../../runtime/client/api.ts';
import { Client } from '../../runtime/client/client.ts';
import { fnv1a64, HASH_SPACE, ShardRange } from '../../runtime/scale/shard-range.ts';
import type { KubeObject, ObjectList, ResourceDescriptor } from '../../runtime/core/types.ts';
import { currentState, startExtraApiserver } from '../controlplane/plane.ts';
import { FaultProxy } from '../../testing/proxy.ts';
import { testNamespace } from '../support/kube.ts';
import { replicaSuite, startReplica, until, type ReplicaLine } from './replicas.ts';

const N = Number(process.env.KUBEREFLECT_SCALE_OBJECTS ?? 3000);
const LEASE_MS = 3000;
const { kubeconfig, admin } = replicaSuite();
const configMaps: ResourceDescriptor = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };

interface Line extends ReplicaLine {
  range?: string;
  t0?: number;
  uids?: string[];
  bytes?: number;
}

/** The plane's certificates, which the members' counting proxies serve (the default and the gated apiserver share them). */
const pkiDir = () => {
  const state = currentState();
  if (!state) throw new Error('the sharding scale test needs the local control plane (its members count bytes through a proxy with its certificates)');
  return dirname(state.caCert);
};
const member = (ns: string, id: string, log: Line[], opts: { kubeconfig?: string; ring?: string } = {}) =>
  startReplica('shard-child.ts', [opts.kubeconfig ?? kubeconfig, ns, opts.ring ?? 'ring', id, pkiDir()], id, log);

// One namespace of N ConfigMaps for both tests (the gated apiserver shares the plane's etcd, so it serves the same objects).
let ns: string;
let uids: Set<string>;
/** Bytes one unsharded cache of the namespace receives from the default server: its list and watch until synced. */
let whole: number;
beforeAll(async () => {
  ns = await testNamespace('ring');
  const api = new Api<KubeObject>(admin, configMaps, ns);
  const names = Array.from({ length: N }, (_, i) => `cm-${i}`);
  for (let i = 0; i < N; i += 50) await Promise.all(names.slice(i, i + 50).map((name) => api.create({ metadata: { name } })));
  uids = new Set((await api.list()).items.map((o) => o.metadata!.uid!));
  whole = await bytesOfWholeCache();
}, 300_000);

async function bytesOfWholeCache(): Promise<number> {
  const state = currentState()!;
  const proxy = await FaultProxy.start({ upstreamPort: state.apiserverPort, pkiDir: pkiDir() });
  const client = Client.fromFile(proxy.kubeconfig(kubeconfig), { context: 'admin' });
  const cache = ConfigMap.cache(ConfigMap.api(client, ns), { transform: ConfigMap.keep({}) });
  try {
    void cache.run();
    await cache.reader.waitUntilReady();
    expect(cache.reader.size).toBe(N);
    return proxy.requests.reduce((n, r) => n + r.bytes, 0);
  } finally {
    cache.stop();
    client.close();
    await proxy.close();
  }
}

/** Whether the server behind `client` shards lists (it echoes the selector in `metadata.shardInfo`). */
async function shardsLists(client: Client): Promise<boolean> {
  const list = await client.request<ObjectList<KubeObject> & { metadata: { shardInfo?: unknown } }>({
    path: `/api/v1/namespaces/${ns}/configmaps`,
    query: { limit: 1, shardSelector: ShardRange.of(0, 2).selector() },
  });
  return list.metadata.shardInfo !== undefined;
}

/** Three members each acting on a third: the time they settled, and their passes after it. */
async function settledThirds(log: Line[], ids: string[]): Promise<Map<string, Line>> {
  const settled = await until('three members each acting on a third', () => {
    const passes = lastPasses(log, ids, 0);
    return passes &&
      new Set([...passes.values()].map((p) => p.range)).size === 3 &&
      [...passes.values()].every((p) => ShardRange.parse(p.range)!.end - ShardRange.parse(p.range)!.start < HASH_SPACE / 2n)
      ? Date.now()
      : undefined;
  });
  return (await until('passes after settling', () => lastPasses(log, ids, settled)))!;
}

/**
 * Each member's bytes as a share of a whole list and watch (`whole`). A
 * sharding server sends a member only its range's objects: its share matches
 * its share of the objects within 0.015 (objects differ in size by a few
 * bytes — name and resourceVersion lengths — and each response carries a
 * small envelope), and that is 1/3 within five standard deviations of how
 * N uniformly hashed uids fall into a third, plus that 0.015. A server that
 * does not shard sends every member everything: a share of 1 within 0.05
 * (bookmarks and envelopes).
 */
function expectBytes(passes: Map<string, Line>, serverShards: boolean): void {
  const third = (5 * Math.sqrt((N * 2) / 9)) / N + 0.015;
  for (const p of passes.values()) {
    const share = p.bytes! / whole;
    const objects = p.uids!.length / N;
    console.log(
      `${serverShards ? 'sharding' : 'default'} server: member ${p.id} received ${p.bytes} bytes for ${p.uids!.length} of ${N} objects: ${share.toFixed(4)} of a whole list and watch (${whole} bytes)`,
    );
    if (serverShards) {
      expect(Math.abs(share - objects)).toBeLessThan(0.015);
      expect(Math.abs(share - 1 / 3)).toBeLessThan(third);
    } else {
      expect(Math.abs(share - 1)).toBeLessThan(0.05);
    }
  }
}

/** The last pass of each given member since `since`, once every one of them has one. */
function lastPasses(log: Line[], ids: string[], since: number): Map<string, Line> | undefined {
  const out = new Map<string, Line>();
  for (const l of log) if (l.event === 'pass' && l.t0! >= since && ids.includes(l.id)) out.set(l.id, l);
  return out.size === ids.length ? out : undefined;
}

/** The ranges of the members' last passes partition the hash space, and their stores (the uids) partition the objects. */
function expectPartition(passes: Map<string, Line>, uids: Set<string>): void {
  for (const p of passes.values())
    for (const u of p.uids!) expect(ShardRange.parse(p.range)!.has(u), `${p.id}'s store holds ${u}, outside ${p.range}`).toBe(true);
  const ranges = [...passes.values()].map((p) => ShardRange.parse(p.range)!).sort((a, b) => (a.start < b.start ? -1 : 1));
  expect(ranges[0]!.start).toBe(0n);
  expect(ranges.at(-1)!.end).toBe(HASH_SPACE);
  for (let i = 1; i < ranges.length; i++) expect(ranges[i]!.start).toBe(ranges[i - 1]!.end);
  const covered = [...passes.values()].flatMap((p) => p.uids!);
  expect(covered.length).toBe(uids.size); // no uid twice
  expect(new Set(covered)).toEqual(uids); // none left out
}

describe('sharding over a ring of Leases', () => {
  it(`3 members split ${N} objects, each receiving about all the bytes from the default server; take over a killed member's range, rebalance to a fourth; never two at once`, async () => {
    expect(uids.size).toBe(N);
    // The client's hash is the server's (pinned in test/integration/sharded.test.ts): spread evenly enough.
    const thirds = [0, 0, 0];
    for (const u of uids) thirds[Number((fnv1a64(u) * 3n) / HASH_SPACE)]!++;
    for (const n of thirds) expect(n).toBeGreaterThan(N / 3 - 5 * Math.sqrt((N * 2) / 9));

    const log: Line[] = [];
    const procs = new Map(['a', 'b', 'c'].map((id) => [id, member(ns, id, log)]));
    const settled = await settledThirds(log, ['a', 'b', 'c']);
    expectPartition(settled, uids);
    expectBytes(settled, await shardsLists(admin));

    // Kill one: its range is taken over within the Lease duration plus a settle bound.
    const victimPass = lastPasses(log, ['b'], 0)!.get('b')!;
    const victimUids = new Set(victimPass.uids);
    const killedAt = Date.now();
    procs.get('b')!.kill('SIGKILL');
    const takenOver = await until("b's objects reconciled by a or c", () => {
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
      return passes && [...passes.values()].reduce((n, p) => n + p.uids!.length, 0) === N && new Set([...passes.values()].map((p) => p.range)).size === 3
        ? passes
        : undefined;
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
    for (const [id, p] of procs) if (id !== 'b') p.kill('SIGTERM');
    await until('a, c, d left the ring', () => ['a', 'c', 'd'].every((id) => log.some((l) => l.id === id && l.event === 'exit')));
    expect(log.filter((l) => l.event === 'cut-line' && l.id !== 'b')).toEqual([]); // only the SIGKILLed member may end mid-line
  }, 240_000);

  it(`with ShardedListAndWatch on, 3 members each receive about a third of the bytes of a whole list and watch, and hold exactly their ranges of ${N} objects`, async () => {
    const state = currentState();
    expect(state, 'needs the local control plane').toBeTruthy();
    const gated = await startExtraApiserver(state!, 'ring-sharded', ['--feature-gates=ShardedListAndWatch=true']);
    const client = Client.fromFile(gated.kubeconfig, { context: 'admin' });
    try {
      expect(await shardsLists(client)).toBe(true);
      const log: Line[] = [];
      const procs = ['a', 'b', 'c'].map((id) => member(ns, id, log, { kubeconfig: gated.kubeconfig, ring: 'ring-sharded' }));
      const settled = await settledThirds(log, ['a', 'b', 'c']);
      expectPartition(settled, uids);
      expectBytes(settled, true);
      for (const p of procs) p.kill('SIGTERM');
      await until('a, b, c left the ring', () => ['a', 'b', 'c'].every((id) => log.some((l) => l.id === id && l.event === 'exit')));
      expect(log.filter((l) => l.event === 'cut-line')).toEqual([]);
    } finally {
      client.close();
      await gated.stop();
    }
  }, 180_000);
});
