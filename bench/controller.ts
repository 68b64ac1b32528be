/**
 * The controller benchmark: `npx tsx bench/controller.ts [--objects 10000]
 * [--children 10000] [--reps 3] [--out bench/CONTROLLER.md]`, on the local
 * control plane (started or reused) or `$BENCH_KUBECONFIG`.
 *
 * - **First pass**: time from start (list + watch + queue) to every one of
 *   N ConfigMaps reconciled once, with a no-op reconcile.
 * - **Steady throughput**: `reconcileAll()` of the N, no-op reconcile:
 *   reconciles per second until all are done; queue wait p50/p99 over that
 *   pass (every key falls due at once, so the wait is mostly the queue ahead).
 * - **The same with @kubernetes/client-node**: its informer plus the best
 *   hand-written queue (a Map of dirty keys, a set in flight, 8 workers,
 *   never one key twice at once).
 * - **Memory of `owns()`**: the heap of a controller of N parent ConfigMaps
 *   owning N realistic pods (bench/data.ts), with the children watched
 *   metadata-only (the default) and whole, less the same controller without
 *   `owns()`, per child.
 *
 * Each measurement runs in its own Node process (`--expose-gc`). The data is
 * created once per size in namespaces `bench-ctl-*` and reused.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, makeInformer, type KubernetesObject, type V1ConfigMap } from '@kubernetes/client-node';
import { Action, Api, Client, Controller, reflectShared, storeShared, watcher, type ControllerMetrics, type KubeObject, type ListWatch, type Logger, type ResourceDescriptor } from '../runtime/index.ts';
import { repoRoot, up, usePlane } from '../test/controlplane/plane.ts';
import { parallel, podResource, podSpec } from './data.ts';
import { inChild, inProcess, liveHeap, loadavg, machine, settle, stat, until } from './harness.ts';

const configMaps: ResourceDescriptor = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
const namespaces: ResourceDescriptor = { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false };
const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: (m) => console.error(m) };

type PassTask = { kind: 'kubereflect' | 'client-node'; kubeconfig: string; namespace: string; n: number };
type Task =
  | PassTask
  | { kind: 'memory'; kubeconfig: string; namespace: string; n: number; mode: MemoryMode };
type MemoryMode = 'none' | 'metadata' | 'full' | 'metadata-store' | 'full-store';

interface PassResult {
  firstPassMs: number;
  /** CPU time (user + system) of the process per reconcile in the steady pass, µs: less sensitive to a loaded machine than throughput. */
  cpuMicrosPerReconcile: number;
  throughputPerSec: number;
  waitP50Ms: number;
  waitP99Ms: number;
}

function percentile(values: number[], p: number): number {
  const v = [...values].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))] ?? NaN;
}

const waitsOf = (waits: number[]): ControllerMetrics => ({
  reconciled: () => {}, queueDepth: () => {}, watchRelist: () => {}, watchError: () => {},
  queueWait: (s) => void waits.push(s * 1000),
});

async function kubereflectPass(t: PassTask): Promise<PassResult> {
  const client = Client.fromFile(t.kubeconfig, { context: 'admin' });
  const api = new Api<KubeObject>(client, configMaps, t.namespace);
  const waits: number[] = [];
  const seen = new Set<string>();
  let reconciles = 0;
  const started = performance.now();
  const ctl = new Controller(api, { logger: quiet, metrics: waitsOf(waits) });
  const running = ctl.run((_obj, ctx) => {
    reconciles++;
    seen.add(ctx.key);
    return Action.awaitChange();
  });
  await until(() => seen.size >= t.n, 'the first pass');
  const firstPassMs = performance.now() - started;
  waits.length = 0;
  const before = reconciles;
  const t1 = performance.now();
  const cpu = process.cpuUsage();
  ctl.reconcileAll();
  await until(() => reconciles - before >= t.n, 'reconcileAll', 300_000, 0);
  const throughputPerSec = t.n / ((performance.now() - t1) / 1000);
  const used = process.cpuUsage(cpu);
  const cpuMicrosPerReconcile = (used.user + used.system) / t.n;
  await ctl.shutdown();
  await running;
  client.close();
  return { firstPassMs, cpuMicrosPerReconcile, throughputPerSec, waitP50Ms: percentile(waits, 50), waitP99Ms: percentile(waits, 99) };
}

/** client-node's informer and a hand-written work queue with the same guarantees (merge, one key at a time, 8 workers). */
async function clientNodePass(t: PassTask): Promise<PassResult> {
  const kc = new KubeConfig();
  kc.loadFromFile(t.kubeconfig);
  kc.setCurrentContext('admin');
  const core = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer<V1ConfigMap>(kc, `/api/v1/namespaces/${t.namespace}/configmaps`, () => core.listNamespacedConfigMap({ namespace: t.namespace }));
  const dirty = new Map<string, number>(); // key → when queued
  const inFlight = new Set<string>();
  const again = new Set<string>();
  const waits: number[] = [];
  const seen = new Set<string>();
  let reconciles = 0;
  const idle: (() => void)[] = [];
  let stopped = false;
  const enqueue = (key: string) => {
    if (inFlight.has(key)) return void again.add(key);
    if (!dirty.has(key)) dirty.set(key, performance.now());
    idle.shift()?.();
  };
  const keyOf = (o: KubernetesObject) => `${o.metadata?.namespace}/${o.metadata?.name}`;
  const objects = new Map<string, KubernetesObject>();
  informer.on('add', (o) => (objects.set(keyOf(o), o), enqueue(keyOf(o))));
  informer.on('update', (o) => (objects.set(keyOf(o), o), enqueue(keyOf(o))));
  informer.on('delete', (o) => void objects.delete(keyOf(o)));
  const worker = async () => {
    while (!stopped) {
      const next = dirty.entries().next();
      if (next.done) {
        await new Promise<void>((resolve) => idle.push(resolve));
        continue;
      }
      const [key, queuedAt] = next.value;
      dirty.delete(key);
      inFlight.add(key);
      waits.push(performance.now() - queuedAt);
      if (objects.has(key)) {
        await Promise.resolve(); // the no-op reconcile, async as a real one
        reconciles++;
        seen.add(key);
      }
      inFlight.delete(key);
      if (again.delete(key)) enqueue(key);
    }
  };
  const started = performance.now();
  const workers = Array.from({ length: 8 }, worker);
  await informer.start();
  await until(() => seen.size >= t.n, 'the first pass');
  const firstPassMs = performance.now() - started;
  waits.length = 0;
  const before = reconciles;
  const t1 = performance.now();
  const cpu = process.cpuUsage();
  for (const key of objects.keys()) enqueue(key);
  await until(() => reconciles - before >= t.n, 'the second pass', 300_000, 0);
  const throughputPerSec = t.n / ((performance.now() - t1) / 1000);
  const used = process.cpuUsage(cpu);
  const cpuMicrosPerReconcile = (used.user + used.system) / t.n;
  stopped = true;
  for (const resume of idle.splice(0)) resume();
  await informer.stop();
  await Promise.all(workers);
  return { firstPassMs, cpuMicrosPerReconcile, throughputPerSec, waitP50Ms: percentile(waits, 50), waitP99Ms: percentile(waits, 99) };
}

async function memory(t: Extract<Task, { kind: 'memory' }>): Promise<{ heapBytes: number }> {
  const client = Client.fromFile(t.kubeconfig, { context: 'admin' });
  const parents = new Api<KubeObject>(client, configMaps, t.namespace);
  const pods = new Api<KubeObject>(client, podResource, t.namespace);
  const ownerSeen = new Set<string>();
  const seen = new Set<string>();
  const ctl = new Controller(parents, { logger: quiet });
  const root = new AbortController();
  let rooting: Promise<void> | undefined;
  if (t.mode === 'metadata' || t.mode === 'full') ctl.owns(pods, { metadataOnly: t.mode === 'metadata' });
  else if (t.mode !== 'none') {
    // A shared store of the children that the caller drives (and could read): it holds what the watch delivers.
    const shared = storeShared<KubeObject>();
    const source = t.mode === 'metadata-store' ? (pods.metadata() as unknown as ListWatch<KubeObject>) : pods;
    rooting = (async () => {
      for await (const _ of reflectShared(shared.writer, watcher(source, { signal: root.signal, logger: quiet }))) { /* drive */ }
    })();
    ctl.owns(pods, { store: shared.reader });
  }
  const running = ctl.run((_o, ctx) => {
    seen.add(ctx.key);
    if (ctx.reason === 'owned object changed') ownerSeen.add(ctx.key);
    return Action.awaitChange();
  });
  await until(() => seen.size >= t.n && (t.mode === 'none' || ownerSeen.size >= t.n), 'every parent reconciled (and re-triggered by its child)', 600_000, 20);
  await settle(1_000);
  const heapBytes = liveHeap();
  await ctl.shutdown();
  await running;
  root.abort();
  await rooting;
  client.close();
  return { heapBytes };
}

inChild<Task, unknown>(async (t) => (t.kind === 'memory' ? memory(t) : t.kind === 'kubereflect' ? kubereflectPass(t) : clientNodePass(t)));

async function ensureNamespace(client: Client, name: string): Promise<void> {
  const api = new Api<KubeObject>(client, namespaces);
  if (!(await api.getOpt(name))) await api.create({ metadata: { name, labels: { 'kubereflect.dev/bench': 'controller' } } });
}

async function count(api: Api<KubeObject>): Promise<number> {
  let n = 0;
  let token: string | undefined;
  do {
    const page = await api.metadata().list({ limit: 500, continue: token });
    n += (page.items ?? []).length;
    token = page.metadata.continue;
  } while (token);
  return n;
}

/** n parent ConfigMaps in `namespace`; with `children`, a pod owned by each. */
async function ensureData(client: Client, namespace: string, n: number, children: boolean, log: (s: string) => void): Promise<void> {
  await ensureNamespace(client, namespace);
  const parents = new Api<KubeObject>(client, configMaps, namespace);
  const pods = new Api<KubeObject>(client, podResource, namespace);
  if ((await count(parents)) < n) {
    const t = performance.now();
    await parallel(n, 48, async (i) => {
      await parents.create({ metadata: { name: `p-${String(i).padStart(5, '0')}` }, data: { i: String(i) } } as KubeObject).catch((e: { code?: number }) => {
        if (e.code !== 409) throw e;
      });
    });
    log(`created ${n} ConfigMaps in ${namespace} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  }
  if (!children || (await count(pods)) >= n) return;
  const uids = new Map<string, string>();
  let token: string | undefined;
  do {
    const page = await parents.metadata().list({ limit: 500, continue: token });
    for (const p of page.items ?? []) uids.set(p.metadata.name!, p.metadata.uid!);
    token = page.metadata.continue;
  } while (token);
  const t = performance.now();
  await parallel(n, 48, async (i) => {
    const parent = `p-${String(i).padStart(5, '0')}`;
    const pod = podSpec(i, namespace);
    pod.metadata = { ...pod.metadata, ownerReferences: [{ apiVersion: 'v1', kind: 'ConfigMap', name: parent, uid: uids.get(parent)!, controller: true }] };
    await pods.create(pod).catch((e: { code?: number }) => {
      if (e.code !== 409) throw e;
    });
  });
  log(`created ${n} owned pods in ${namespace} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

async function main(): Promise<void> {
  if (process.argv.includes('--bench-child')) return;
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const outIndex = process.argv.indexOf('--out');
  const out = outIndex > 0 ? process.argv[outIndex + 1]! : join(repoRoot, 'bench', 'CONTROLLER.md');
  const n = arg('objects', 10_000);
  const m = arg('children', 10_000);
  const reps = arg('reps', 3);
  const log = (s: string) => console.log(s);
  let kubeconfig = process.env.BENCH_KUBECONFIG;
  let release: (() => Promise<void>) | undefined;
  if (!kubeconfig) {
    const { state } = await up();
    release = usePlane(false);
    kubeconfig = state.kubeconfig;
  }
  const client = Client.fromFile(kubeconfig, { context: 'admin' });
  const loopNs = `bench-ctl-loop-${n}`;
  const ownsNs = `bench-ctl-owns-${m}`;
  await ensureData(client, loopNs, n, false, log);
  await ensureData(client, ownsNs, m, true, log);
  const sample = await new Api<KubeObject>(client, podResource, ownsNs).list({ limit: 1 });
  const podBytes = Buffer.byteLength(JSON.stringify(sample.items[0]));
  client.close();

  const file = new URL(import.meta.url);
  const passes: Record<'kubereflect' | 'client-node', PassResult[]> = { kubereflect: [], 'client-node': [] };
  const heaps: Record<MemoryMode, number[]> = { none: [], metadata: [], full: [], 'metadata-store': [], 'full-store': [] };
  for (let rep = 0; rep < reps; rep++) {
    for (const kind of rep % 2 ? (['client-node', 'kubereflect'] as const) : (['kubereflect', 'client-node'] as const)) {
      const r = await inProcess<PassResult>(file, { kind, kubeconfig, namespace: loopNs, n });
      passes[kind].push(r);
      log(`rep ${rep + 1} ${kind}: first pass ${Math.round(r.firstPassMs)} ms, ${Math.round(r.throughputPerSec)} reconciles/s (${r.cpuMicrosPerReconcile.toFixed(1)} µs CPU each), wait p50 ${r.waitP50Ms.toFixed(1)} ms p99 ${r.waitP99Ms.toFixed(1)} ms`);
    }
    for (const mode of ['none', 'metadata', 'full', 'metadata-store', 'full-store'] as const) {
      const r = await inProcess<{ heapBytes: number }>(file, { kind: 'memory', kubeconfig, namespace: ownsNs, n: m, mode });
      heaps[mode].push(r.heapBytes);
      log(`rep ${rep + 1} memory ${mode}: ${(r.heapBytes / 2 ** 20).toFixed(1)} MiB`);
    }
  }
  const med = (xs: number[]) => stat(xs).median;
  const row = (kind: 'kubereflect' | 'client-node', label: string) => {
    const p = passes[kind];
    return `| ${label} | ${(med(p.map((r) => r.firstPassMs)) / 1000).toFixed(2)} s | ${Math.round(med(p.map((r) => r.throughputPerSec))).toLocaleString('en')} | ${med(p.map((r) => r.cpuMicrosPerReconcile)).toFixed(1)} µs | ${med(p.map((r) => r.waitP50Ms)).toFixed(0)} ms / ${med(p.map((r) => r.waitP99Ms)).toFixed(0)} ms |`;
  };
  const perChild = (mode: MemoryMode) => (med(heaps[mode]) - med(heaps.none)) / m;
  const kib = (b: number) => `${(b / 1024).toFixed(2)} KiB`;
  const md = [
    '# Controller benchmark',
    '',
    `\`npx tsx bench/controller.ts --objects ${n} --children ${m} --reps ${reps}\` — ${new Date().toISOString().slice(0, 10)}, ${machine().cpu} (${machine().cores} cores, shared), Node ${process.version}, load ${loadavg().join(' ')}; medians of ${reps}.`,
    '',
    `No-op reconcile over ${n.toLocaleString('en')} ConfigMaps, concurrency 8 (kubereflect's default; the client-node loop uses 8 workers):`,
    '',
    '| | start → every object reconciled once | steady reconciles/s (reconcile all) | CPU per reconcile (reconcile all) | queue wait p50 / p99 (reconcile all) |',
    '| --- | --- | --- | --- | --- |',
    row('kubereflect', 'kubereflect `Controller`'),
    row('client-node', 'client-node informer + hand-written Map queue'),
    '',
    `\`owns()\` of ${m.toLocaleString('en')} pods (${(podBytes / 1024).toFixed(1)} KiB of JSON each), heap per owned pod (controller with \`owns()\` minus without):`,
    '',
    '| children watched | heap per child |',
    '| --- | --- |',
    `| \`owns(pods)\`: metadata-only watch (default); the controller keeps identity + owner references | ${kib(perChild('metadata'))} |`,
    `| \`owns(pods, { metadataOnly: false })\`: whole objects on the wire, same kept | ${kib(perChild('full'))} |`,
    `| \`owns(pods, { store })\`: a shared metadata-only store you drive (holds all metadata) | ${kib(perChild('metadata-store'))} |`,
    `| \`owns(pods, { store })\`: a shared store of whole pods you drive | ${kib(perChild('full-store'))} |`,
    '',
    `Raw: ${JSON.stringify({ passes, heaps })}`,
    '',
  ].join('\n');
  writeFileSync(out, md);
  console.log(md);
  await release?.();
}

void main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
