/**
 * Sharding, per replica: for N = 1, 2 and 4 replicas, each holding a sharded
 * cache of its range of the same objects, what one replica holds (retained
 * heap after forced GC), receives (body bytes, counted by a pass-through
 * proxy in front of the server) and parses (objects) — with server-side
 * sharding (a kube-apiserver with `ShardedListAndWatch`, which sends only the
 * range) and client-side sharding (the default server sends everything; the
 * cache filters by the same hash). Each replica runs in a fresh process, one
 * after another; the numbers are the median over a run's replicas.
 *
 *   node --expose-gc --import tsx bench/sharding.ts [--objects 3000] [--data-bytes 1024]
 *
 * Needs the local control plane (started if needed) at 1.36 or newer.
 */
import { parseArgs } from 'node:util';
import { ConfigMap } from '../generated/core/v1/configmap.ts';
import { Api, type ListWatch } from '../runtime/api.ts';
import { Client } from '../runtime/client.ts';
import { ShardRange } from '../runtime/shard.ts';
import type { KubeObject, ResourceDescriptor } from '../runtime/types.ts';
import { startExtraApiserver, up } from '../test/controlplane/plane.ts';
import { FaultProxy } from '../test/faults/proxy.ts';
import { spawnSync } from 'node:child_process';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const { values } = parseArgs({ options: { objects: { type: 'string', default: '3000' }, 'data-bytes': { type: 'string', default: '1024' }, replica: { type: 'string' } } });
const M = Number(values.objects);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

const heap = () => {
  for (let i = 0; i < 3; i++) gc!();
  return process.memoryUsage().heapUsed;
};

if (values.replica) {
  // A child: one replica in a fresh process, so that its heap holds nothing but its cache (and this program).
  const [port, index, count, ns, kubeconfig, caCert] = values.replica.split(',') as [string, string, string, string, string, string];
  console.log(JSON.stringify(await replicaRun(Number(port), ShardRange.of(Number(index), Number(count)), ns, kubeconfig, caCert)));
  process.exit(0);
}

const { state } = await up();
const extra = await startExtraApiserver(state, 'bench-sharded', ['--feature-gates=ShardedListAndWatch=true']);
const admin = Client.fromFile(state.kubeconfig, { context: 'admin' });
const configMaps: ResourceDescriptor = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
const ns = `bench-sharding-${Date.now().toString(36)}`;
await admin.request({ method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
const api = new Api<KubeObject>(admin, configMaps, ns);
const payload = 'x'.repeat(Number(values['data-bytes']));
for (let i = 0; i < M; i += 50) {
  await Promise.all(Array.from({ length: Math.min(50, M - i) }, (_, j) => api.create({ metadata: { name: `cm-${i + j}`, labels: { app: 'bench' } }, data: { payload } } as KubeObject)));
}
console.error(`${M} ConfigMaps with ${payload.length} bytes of data in ${ns}`);

interface Row { mode: string; n: number; heapKiB: number; bytesKiB: number; objects: number }
const rows: Row[] = [];




for (const [mode, port] of [['server-side', extra.port], ['client-side', state.apiserverPort]] as const) {
  for (const n of [1, 2, 4]) {
    const results: Awaited<ReturnType<typeof replicaRun>>[] = [];
    for (let i = 0; i < n; i++) {
      const child = spawnSync(process.execPath, ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--replica', [port, i, n, ns, state.kubeconfig, state.caCert].join(',')], { encoding: 'utf8' });
      if (child.status !== 0) throw new Error(`replica ${i} of ${n} failed: ${child.stderr}`);
      results.push(JSON.parse(child.stdout.trim().split('\n').at(-1)!) as Awaited<ReturnType<typeof replicaRun>>);
    }
    const median = (f: (r: (typeof results)[number]) => number) => [...results.map(f)].sort((a, b) => a - b)[results.length >> 1]!;
    rows.push({ mode, n, heapKiB: Math.round(median((r) => r.held) / 1024), bytesKiB: Math.round(median((r) => r.bytes) / 1024), objects: median((r) => r.objects) });
    const total = results.reduce((s, r) => s + r.size, 0);
    if (total !== M) throw new Error(`${mode} N=${n}: the replicas hold ${total} objects, not ${M}`);
    console.error(JSON.stringify(rows.at(-1)));
  }
}

const one = (mode: string) => rows.find((r) => r.mode === mode && r.n === 1)!;
console.log(`| sharding | N | per replica: heap | bytes received | objects parsed | heap × N / one | bytes × N / one |`);
console.log(`| --- | --- | --- | --- | --- | --- | --- |`);
for (const r of rows) {
  const base = one(r.mode);
  console.log(`| ${r.mode} | ${r.n} | ${r.heapKiB} KiB | ${r.bytesKiB} KiB | ${r.objects} | ${((r.heapKiB * r.n) / base.heapKiB).toFixed(2)} | ${((r.bytesKiB * r.n) / base.bytesKiB).toFixed(2)} |`);
}
admin.close();
await extra.stop();

async function replicaRun(port: number, range: ShardRange, ns: string, kubeconfig: string, caCert: string) {
  const proxy = await FaultProxy.start({ upstreamPort: port, pkiDir: dirname(caCert) });
  const client = Client.fromFile(proxy.kubeconfig(kubeconfig), { context: 'admin' });
  const base = ConfigMap.api(client, ns);
  let objects = 0;
  const counting: ListWatch<ConfigMap> = {
    resource: base.resource, namespace: base.namespace,
    list: async (o) => {
      const page = await base.list(o);
      objects += page.items.length;
      return page;
    },
    watch: (o) => base.watch(o),
  };
  const before = heap();
  const cache = ConfigMap.cache(counting, { shard: range });
  const running = cache.run();
  await cache.reader.waitUntilReady();
  const size = cache.reader.size;
  // What the replica retains: the heap with its cache, minus the heap of the same process before it.
  const held = heap() - before;
  cache.stop();
  await running;
  const bytes = proxy.requests.reduce((n, r) => n + r.bytes, 0);
  client.close();
  await proxy.close();
  return { held, bytes, objects, size };
}
