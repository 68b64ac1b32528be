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
 * Scenario 8 of `npm run bench` (`--only sharding`, `--shard-objects 10000`),
 * or alone:
 *
 *   node --expose-gc --import tsx bench/sharding.ts [--objects 10000] [--data-bytes 1024]
 *
 * Needs the local control plane (started if needed) at 1.36 or newer: a
 * second kube-apiserver with the gate runs on its etcd for the server-side
 * rows.
 */
import { parseArgs } from 'node:util';
import { ConfigMap } from '../generated/core/v1/configmap.ts';
import { Api, type ListWatch } from '../runtime/client/api.ts';
import { Client } from '../runtime/client/client.ts';
import { ShardRange } from '../runtime/scale/shard-range.ts';
import type { KubeObject, ResourceDescriptor } from '../runtime/core/types.ts';
import { startExtraApiserver, up } from '../test/controlplane/plane.ts';
import { FaultProxy } from '../testing/proxy.ts';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** One configuration: N replicas, sharded server- or client-side; medians over the replicas. */
export interface ShardingRow {
  mode: 'server-side' | 'client-side';
  n: number;
  /** Retained heap of one replica's cache, KiB. */
  heapKiB: number;
  /** Body bytes one replica received (list and watch), KiB. */
  bytesKiB: number;
  /** Objects one replica parsed. */
  objects: number;
  /** Against one replica holding everything (same mode): value × N ÷ one's. */
  heapTimesN: number;
  bytesTimesN: number;
}

/** Scenario 8: what a replica holds, receives and parses with 1, 2 and 4 replicas. */
export interface ShardingResult {
  objects: number;
  dataBytes: number;
  server: string;
  rows: ShardingRow[];
}

const gc = (globalThis as { gc?: () => void }).gc;
const heap = () => {
  if (!gc) throw new Error('run with node --expose-gc');
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
};

type ReplicaResult = Awaited<ReturnType<typeof replicaRun>>;

/** Creates `objects` ConfigMaps in a new namespace and measures each configuration, one replica process at a time. */
export async function runSharding(opts: { objects: number; dataBytes: number; log: (line: string) => void }): Promise<ShardingResult> {
  const { state } = await up();
  const extra = await startExtraApiserver(state, 'bench-sharded', ['--feature-gates=ShardedListAndWatch=true']);
  const admin = Client.fromFile(state.kubeconfig, { context: 'admin' });
  try {
    const version = await admin.request<{ gitVersion?: string }>({ path: '/version' });
    const configMaps: ResourceDescriptor = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
    const ns = `bench-sharding-${Date.now().toString(36)}`;
    await admin.request({ method: 'POST', path: '/api/v1/namespaces', body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } });
    const api = new Api<KubeObject>(admin, configMaps, ns);
    const payload = 'x'.repeat(opts.dataBytes);
    for (let i = 0; i < opts.objects; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, opts.objects - i) }, (_, j) =>
          api.create({ metadata: { name: `cm-${i + j}`, labels: { app: 'bench' } }, data: { payload } } as KubeObject),
        ),
      );
    }
    opts.log(`sharding: ${opts.objects} ConfigMaps with ${payload.length} bytes of data in ${ns}`);
    const rows: ShardingRow[] = [];
    for (const [mode, port] of [
      ['server-side', extra.port],
      ['client-side', state.apiserverPort],
    ] as const) {
      for (const n of [1, 2, 4]) {
        const results: ReplicaResult[] = [];
        for (let i = 0; i < n; i++) {
          const child = spawnSync(
            process.execPath,
            ['--expose-gc', '--import', 'tsx', fileURLToPath(import.meta.url), '--replica', [port, i, n, ns, state.kubeconfig, state.caCert].join(',')],
            { encoding: 'utf8' },
          );
          if (child.status !== 0) throw new Error(`replica ${i} of ${n} failed: ${child.stderr}`);
          results.push(JSON.parse(child.stdout.trim().split('\n').at(-1)!) as ReplicaResult);
        }
        const median = (f: (r: ReplicaResult) => number) => [...results.map(f)].sort((a, b) => a - b)[results.length >> 1]!;
        const total = results.reduce((sum, r) => sum + r.size, 0);
        if (total !== opts.objects) throw new Error(`${mode} N=${n}: the replicas hold ${total} objects, not ${opts.objects}`);
        const one = rows.find((r) => r.mode === mode && r.n === 1);
        const heapKiB = median((r) => r.held) / 1024;
        const bytesKiB = median((r) => r.bytes) / 1024;
        rows.push({
          mode,
          n,
          heapKiB,
          bytesKiB,
          objects: median((r) => r.objects),
          heapTimesN: one ? (heapKiB * n) / one.heapKiB : 1,
          bytesTimesN: one ? (bytesKiB * n) / one.bytesKiB : 1,
        });
        opts.log(
          `sharding ${mode} N=${n}: heap ${heapKiB.toFixed(0)} KiB, ${bytesKiB.toFixed(0)} KiB received, ${rows.at(-1)!.objects} objects parsed per replica`,
        );
      }
    }
    await admin.request({ method: 'DELETE', path: `/api/v1/namespaces/${ns}` });
    return {
      objects: opts.objects,
      dataBytes: opts.dataBytes,
      server: `kube-apiserver ${version.gitVersion ?? '?'} with ShardedListAndWatch (server-side rows), without (client-side rows)`,
      rows,
    };
  } finally {
    admin.close();
    await extra.stop();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: { objects: { type: 'string', default: '10000' }, 'data-bytes': { type: 'string', default: '1024' }, replica: { type: 'string' } },
  });
  if (values.replica) {
    // A child: one replica in a fresh process, so that its heap holds nothing but its cache (and this program).
    const [port, index, count, ns, kubeconfig, caCert] = values.replica.split(',') as [string, string, string, string, string, string];
    console.log(JSON.stringify(await replicaRun(Number(port), ShardRange.of(Number(index), Number(count)), ns, kubeconfig, caCert)));
    process.exit(0);
  }
  const r = await runSharding({ objects: Number(values.objects), dataBytes: Number(values['data-bytes']), log: (line) => console.error(line) });
  console.log('| sharding | N | per replica: heap KiB | bytes received KiB | objects parsed | heap × N ÷ one replica | bytes × N ÷ one replica |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  for (const row of r.rows)
    console.log(
      `| ${row.mode} | ${row.n} | ${row.heapKiB.toFixed(0)} | ${row.bytesKiB.toFixed(0)} | ${row.objects} | ${row.heapTimesN.toFixed(2)} | ${row.bytesTimesN.toFixed(2)} |`,
    );
  process.exit(0);
}

async function replicaRun(port: number, range: ShardRange, ns: string, kubeconfig: string, caCert: string) {
  const proxy = await FaultProxy.start({ upstreamPort: port, pkiDir: dirname(caCert) });
  const client = Client.fromFile(proxy.kubeconfig(kubeconfig), { context: 'admin' });
  const base = ConfigMap.api(client, ns);
  let objects = 0;
  const counting: ListWatch<ConfigMap> = {
    resource: base.resource,
    namespace: base.namespace,
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
