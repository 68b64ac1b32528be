/**
 * The controller benchmark: `npx tsx bench/controller.ts [--objects 10000]
 * [--children 10000] [--reps 3] [--passes 5] [--out bench/CONTROLLER.md]
 * [--no-memory]`, on the local control plane (started or reused) or
 * `$BENCH_KUBECONFIG`. `--no-memory` measures the reconcile passes only.
 *
 * - **First pass**: time from start (list + watch + queue) to every one of
 *   N ConfigMaps reconciled once, with a no-op reconcile.
 * - **Reconcile all**, `--passes` times in the same process: `reconcileAll()`
 *   of the N, no-op reconcile: reconciles per second and CPU time per
 *   reconcile until all are done; queue wait p50/p99 (every key falls due
 *   at once, so the wait is mostly the queue ahead). The first pass is
 *   reported apart (cold: it pays for the JIT optimising that path), the
 *   median of the later ones as steady.
 * - **The same with @kubernetes/client-node**: its informer plus the best
 *   hand-written queue (`hand-queue.ts`: a Map of dirty keys, a set in
 *   flight, 8 workers, never one key twice at once).
 * - **The same with kube-rs** (context): its `Controller` (concurrency 8,
 *   `reconcile_all_on` for the reconcile-all passes), the program in
 *   `bench/context/kube-rs` built with cargo; skipped (and said so) without
 *   a Rust toolchain.
 * - **RSS** of each process after the first pass.
 * - **Memory of `owns()`**: the heap of a controller of N parent ConfigMaps
 *   owning N realistic pods (bench/data.ts), with the children watched
 *   metadata-only (the default) and whole, less the same controller without
 *   `owns()`, per child.
 *
 * Each measurement runs in its own process (Node with `--expose-gc`). The data is
 * created once per size in namespaces `bench-ctl-*` and reused.
 */
import { execFile as execFileCb } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, makeInformer, type KubernetesObject, type V1ConfigMap } from '@kubernetes/client-node';
import { Action, Api, Client, Controller, type KubeObject, type ListWatch, type Logger } from '../runtime/index.ts';
import { reflectShared, storeShared, watcher } from '../runtime/cache.ts';
import type { ControllerMetrics } from '../runtime/metrics.ts';
import type { ResourceDescriptor } from '../runtime/kind.ts';
import { repoRoot } from '../test/controlplane/plane.ts';
import { benchCluster } from './cluster.ts';
import { buildKubeRs } from './context.ts';
import { parallel, podResource, podSpec } from './data.ts';
import { handQueue } from './hand-queue.ts';
import { inChild, inProcess, liveHeap, loadavg, machine, settle, stat, until } from './harness.ts';

const configMaps: ResourceDescriptor = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
const namespaces: ResourceDescriptor = { group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false };
const execFile = promisify(execFileCb);
/** The heading of the hand-written part of the output file, which a run keeps. */
const NOTES = '## What dominates';
const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: (m) => console.error(m) };

type Contender = 'kubereflect' | 'client-node' | 'kube-rs';
type PassTask = { kind: 'kubereflect' | 'client-node'; kubeconfig: string; namespace: string; n: number; passes: number };
type Task = PassTask | { kind: 'memory'; kubeconfig: string; namespace: string; n: number; mode: MemoryMode };
type MemoryMode = 'none' | 'metadata' | 'full' | 'metadata-store' | 'full-store';

/** One reconcile-all pass: every object queued at once, until each is reconciled. */
interface AllPass {
  /** CPU time (user + system, every thread) of the process per reconcile, µs: less sensitive to a loaded machine than throughput. */
  cpuMicrosPerReconcile: number;
  throughputPerSec: number;
  /** Not measured for kube-rs (its Controller does not report it). */
  waitP50Ms: number;
  waitP99Ms: number;
}

interface PassResult {
  firstPassMs: number;
  /** Resident memory of the process after the first pass, bytes. */
  rssBytes: number;
  /** The reconcile-all passes in order: the first runs code the JIT has not optimised for it yet (cold), the later ones are steady. */
  passes: AllPass[];
}

function percentile(values: number[], p: number): number {
  const v = [...values].sort((a, b) => a - b);
  return v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))] ?? NaN;
}

const waitsOf = (waits: number[]): ControllerMetrics => ({
  reconciled: () => {},
  queueDepth: () => {},
  watchRelist: () => {},
  watchError: () => {},
  queueWait: (s) => void waits.push(s * 1000),
});

/** `passes` times: `reconcileAll()`, then wait until `n` more reconciles are `counted`. */
async function reconcileAllPasses(passes: number, n: number, counted: () => number, reconcileAll: () => void, waits: number[]): Promise<AllPass[]> {
  const out: AllPass[] = [];
  for (let i = 0; i < passes; i++) {
    waits.length = 0;
    const before = counted();
    const t1 = performance.now();
    const cpu = process.cpuUsage();
    reconcileAll();
    await until(() => counted() - before >= n, 'reconcile all', 300_000, 0);
    const throughputPerSec = n / ((performance.now() - t1) / 1000);
    const used = process.cpuUsage(cpu);
    out.push({ cpuMicrosPerReconcile: (used.user + used.system) / n, throughputPerSec, waitP50Ms: percentile(waits, 50), waitP99Ms: percentile(waits, 99) });
  }
  return out;
}

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
  const rssBytes = process.memoryUsage().rss;
  const passes = await reconcileAllPasses(
    t.passes,
    t.n,
    () => reconciles,
    () => ctl.reconcileAll(),
    waits,
  );
  await ctl.shutdown();
  await running;
  client.close();
  return { firstPassMs, rssBytes, passes };
}

/** client-node's informer and the hand-written work queue (`hand-queue.ts`: merge, one key at a time, 8 workers). */
async function clientNodePass(t: PassTask): Promise<PassResult> {
  const kc = new KubeConfig();
  kc.loadFromFile(t.kubeconfig);
  kc.setCurrentContext('admin');
  const core = kc.makeApiClient(CoreV1Api);
  const informer = makeInformer<V1ConfigMap>(kc, `/api/v1/namespaces/${t.namespace}/configmaps`, () =>
    core.listNamespacedConfigMap({ namespace: t.namespace }),
  );
  const waits: number[] = [];
  const seen = new Set<string>();
  let reconciles = 0;
  const keyOf = (o: KubernetesObject) => `${o.metadata?.namespace}/${o.metadata?.name}`;
  const objects = new Map<string, KubernetesObject>();
  const queue = handQueue({
    workers: 8,
    has: (key) => objects.has(key),
    reconcile: (key) => {
      reconciles++;
      seen.add(key);
      return Promise.resolve(); // the no-op reconcile, async as a real one
    },
    waited: (ms) => void waits.push(ms),
  });
  informer.on('add', (o) => (objects.set(keyOf(o), o), queue.enqueue(keyOf(o))));
  informer.on('update', (o) => (objects.set(keyOf(o), o), queue.enqueue(keyOf(o))));
  informer.on('delete', (o) => void objects.delete(keyOf(o)));
  const started = performance.now();
  await informer.start();
  await until(() => seen.size >= t.n, 'the first pass');
  const firstPassMs = performance.now() - started;
  const rssBytes = process.memoryUsage().rss;
  const reconcileAll = () => {
    for (const key of objects.keys()) queue.enqueue(key);
  };
  const passes = await reconcileAllPasses(t.passes, t.n, () => reconciles, reconcileAll, waits);
  await informer.stop();
  await queue.stop();
  return { firstPassMs, rssBytes, passes };
}

/** kube-rs's `Controller` doing the same (the program `bin` built from bench/context/kube-rs), in its own process. */
async function kubeRsPass(bin: string, t: Omit<PassTask, 'kind'>): Promise<PassResult> {
  const { stdout } = await execFile(bin, [t.kubeconfig, t.namespace, String(t.n), String(t.passes)], { maxBuffer: 1 << 20, timeout: 600_000 });
  const r = JSON.parse(stdout.trim().split('\n').pop()!) as {
    reconciles: number;
    firstPassMs: number;
    passes: { throughputPerSec: number; cpuMicrosPerReconcile: number }[];
    rssAfter: number;
  };
  const expected = (1 + t.passes) * t.n;
  if (r.reconciles < expected) throw new Error(`kube-rs reconciled ${r.reconciles} times, expected at least ${expected}`);
  return { firstPassMs: r.firstPassMs, rssBytes: r.rssAfter, passes: r.passes.map((p) => ({ ...p, waitP50Ms: NaN, waitP99Ms: NaN })) };
}

async function memory(t: Extract<Task, { kind: 'memory' }>): Promise<{ heapBytes: number }> {
  const client = Client.fromFile(t.kubeconfig, { context: 'admin' });
  const parents = new Api<KubeObject>(client, configMaps, t.namespace);
  const pods = new Api<KubeObject>(client, podResource, t.namespace);
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
      for await (const _ of reflectShared(shared.writer, watcher(source, { signal: root.signal, logger: quiet }))) {
        /* drive */
      }
    })();
    ctl.owns(pods, { store: shared.reader });
  }
  const running = ctl.run((_o, ctx) => {
    seen.add(ctx.key);
    return Action.awaitChange();
  });
  // Reconciles start only once every source has synced: by the first one, the children are all in their store.
  await until(() => seen.size >= t.n, 'every parent reconciled (after the children were listed)', 600_000, 20);
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
  if (!(await api.getIfExists(name))) await api.create({ metadata: { name, labels: { 'kubereflect.dev/bench': 'controller' } } });
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
      await parents
        .create({ metadata: { name: `p-${String(i).padStart(5, '0')}` }, data: { i: String(i) } } as KubeObject)
        .catch((e: { statusCode?: number }) => {
          if (e.statusCode !== 409) throw e;
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
    await pods.create(pod).catch((e: { statusCode?: number }) => {
      if (e.statusCode !== 409) throw e;
    });
  });
  log(`created ${n} owned pods in ${namespace} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
}

/** What one run measured: `renderController` makes the tables of it. */
export interface ControllerResult {
  objects: number;
  children: number;
  reps: number;
  /** Reconcile-all passes per process. */
  passes: number;
  /** JSON size of one owned pod, bytes. */
  podBytes: number;
  /** Why the kube-rs row is empty, when it is. */
  kubeRsSkipped?: string;
  runs: Record<Contender, PassResult[]>;
  /** Heap of the `owns()` processes by mode, bytes (empty without the memory measurement). */
  heaps: Record<MemoryMode, number[]>;
}

/** Options of `runController`. */
export interface ControllerBenchOptions {
  kubeconfig: string;
  objects: number;
  children: number;
  reps: number;
  passes: number;
  /** Measure the heap of `owns()` too (default true). */
  withMemory?: boolean;
  /** Where the kube-rs program is built. */
  scratch: string;
  log(line: string): void;
}

/** Loads the data (once per size) and runs every measurement `reps` times, contenders in rotated order. */
export async function runController(o: ControllerBenchOptions): Promise<ControllerResult> {
  const { kubeconfig, objects: n, children: m, reps, log } = o;
  const client = Client.fromFile(kubeconfig, { context: 'admin' });
  const loopNs = `bench-ctl-loop-${n}`;
  const ownsNs = `bench-ctl-owns-${m}`;
  await ensureData(client, loopNs, n, false, log);
  await ensureData(client, ownsNs, m, true, log);
  const sample = await new Api<KubeObject>(client, podResource, ownsNs).list({ limit: 1 });
  const podBytes = Buffer.byteLength(JSON.stringify(sample.items[0]));
  client.close();

  const kubeRs = buildKubeRs({ scratch: o.scratch, log }, 'kube-rs-controller-bench');
  if ('skipped' in kubeRs) log(`kube-rs: not measured (${kubeRs.skipped})`);
  const contenders: Contender[] = ['kubereflect', 'client-node', ...('bin' in kubeRs ? (['kube-rs'] as const) : [])];
  const file = new URL(import.meta.url);
  const runs: Record<Contender, PassResult[]> = { kubereflect: [], 'client-node': [], 'kube-rs': [] };
  const heaps: Record<MemoryMode, number[]> = { none: [], metadata: [], full: [], 'metadata-store': [], 'full-store': [] };
  for (let rep = 0; rep < reps; rep++) {
    // Each rep starts with the next contender, so none always runs first.
    for (const kind of [...contenders.slice(rep % contenders.length), ...contenders.slice(0, rep % contenders.length)]) {
      const task = { kubeconfig, namespace: loopNs, n, passes: o.passes };
      const r = kind === 'kube-rs' && 'bin' in kubeRs ? await kubeRsPass(kubeRs.bin, task) : await inProcess<PassResult>(file, { kind, ...task });
      runs[kind].push(r);
      const each = r.passes.map(
        (p) =>
          `${Math.round(p.throughputPerSec)}/s ${p.cpuMicrosPerReconcile.toFixed(1)} µs wait p50 ${p.waitP50Ms.toFixed(0)} p99 ${p.waitP99Ms.toFixed(0)} ms`,
      );
      log(
        `rep ${rep + 1} ${kind}: first pass ${Math.round(r.firstPassMs)} ms, RSS ${(r.rssBytes / 2 ** 20).toFixed(0)} MiB; reconcile all: ${each.join('; ')}`,
      );
    }
    for (const mode of (o.withMemory ?? true) ? (['none', 'metadata', 'full', 'metadata-store', 'full-store'] as const) : []) {
      const r = await inProcess<{ heapBytes: number }>(file, { kind: 'memory', kubeconfig, namespace: ownsNs, n: m, mode });
      heaps[mode].push(r.heapBytes);
      log(`rep ${rep + 1} memory ${mode}: ${(r.heapBytes / 2 ** 20).toFixed(1)} MiB`);
    }
  }
  return { objects: n, children: m, reps, passes: o.passes, podBytes, ...('skipped' in kubeRs ? { kubeRsSkipped: kubeRs.skipped } : {}), runs, heaps };
}

/** The tables (markdown lines) of a run: the reconcile passes with the ratios, and the heap of `owns()` when measured. */
export function renderController(r: ControllerResult): string[] {
  const { runs, heaps, children: m } = r;
  const med = (xs: number[]) => stat(xs).median;
  const medOf = (kind: Contender, measure: (r: PassResult) => number) => med(runs[kind].map(measure));
  // The first reconcile-all pass of a process, and the median of the later (steady) ones.
  const cold = (measure: (p: AllPass) => number) => (r: PassResult) => measure(r.passes[0]!);
  const steady = (measure: (p: AllPass) => number) => (r: PassResult) => med((r.passes.length > 1 ? r.passes.slice(1) : r.passes).map(measure));
  const cpu = (p: AllPass) => p.cpuMicrosPerReconcile;
  const rate = (p: AllPass) => p.throughputPerSec;
  const row = (kind: Contender, label: string) => {
    if (runs[kind].length === 0) return `| ${label} | not measured (${r.kubeRsSkipped ?? '?'}) | | | | |`;
    const perSec = (m: (r: PassResult) => number) => Math.round(medOf(kind, m)).toLocaleString('en');
    const wait =
      kind === 'kube-rs'
        ? 'not reported'
        : `${medOf(
            kind,
            steady((p) => p.waitP50Ms),
          ).toFixed(0)} ms / ${medOf(
            kind,
            steady((p) => p.waitP99Ms),
          ).toFixed(0)} ms`;
    return `| ${label} | ${(medOf(kind, (r) => r.firstPassMs) / 1000).toFixed(2)} s | ${perSec(cold(rate))} / ${perSec(steady(rate))} | ${medOf(kind, cold(cpu)).toFixed(1)} µs / ${medOf(kind, steady(cpu)).toFixed(1)} µs | ${wait} | ${(medOf(kind, (r) => r.rssBytes) / 2 ** 20).toFixed(0)} MiB |`;
  };
  const ratio = (measure: (r: PassResult) => number, of: Contender, to: Contender) =>
    runs[to].length ? `×${(medOf(of, measure) / medOf(to, measure)).toFixed(2)}` : 'n/a';
  const perChild = (mode: MemoryMode) => (med(heaps[mode]) - med(heaps.none)) / m;
  const kib = (b: number) => `${(b / 1024).toFixed(2)} KiB`;
  return [
    `No-op reconcile over ${r.objects.toLocaleString('en')} ConfigMaps, concurrency 8 (kubereflect's default; the client-node loop uses 8 workers). After the first pass, ${r.passes} reconcile-all passes in the same process (every object queued at once): the first of them runs code the JIT has not yet optimised for that path (cold), "steady" is the median of the later ones:`,
    '',
    '| | start → every object reconciled once | reconciles/s: 1st reconcile all / steady | CPU per reconcile: 1st reconcile all / steady | queue wait p50 / p99, steady | RSS after the first pass |',
    '| --- | --- | --- | --- | --- | --- |',
    row('kubereflect', 'kubereflect `Controller`'),
    row('client-node', 'client-node informer + hand-written Map queue'),
    row('kube-rs', 'kube-rs `Controller` (Rust, kube 5.0.0; context)'),
    '',
    `kubereflect against kube-rs: steady throughput ${ratio(steady(rate), 'kubereflect', 'kube-rs')} (1st reconcile all ${ratio(cold(rate), 'kubereflect', 'kube-rs')}), CPU per reconcile steady ${ratio(steady(cpu), 'kubereflect', 'kube-rs')} (1st ${ratio(cold(cpu), 'kubereflect', 'kube-rs')}), first pass time ${ratio((r) => r.firstPassMs, 'kubereflect', 'kube-rs')}. ` +
      `Against the client-node loop: CPU per reconcile steady ${ratio(steady(cpu), 'kubereflect', 'client-node')} (1st ${ratio(cold(cpu), 'kubereflect', 'client-node')}), steady throughput ${ratio(steady(rate), 'kubereflect', 'client-node')}.`,
    '',
    ...(heaps.none.length > 0
      ? [
          `\`owns()\` of ${m.toLocaleString('en')} pods (${(r.podBytes / 1024).toFixed(1)} KiB of JSON each), heap per owned pod (controller with \`owns()\` minus without):`,
          '',
          '| children watched | heap per child |',
          '| --- | --- |',
          `| \`owns(pods)\`: metadata-only watch (default); the controller keeps identity + owner references | ${kib(perChild('metadata'))} |`,
          `| \`owns(pods, { metadataOnly: false })\`: whole objects on the wire, same kept | ${kib(perChild('full'))} |`,
          `| \`owns(pods, { store })\`: a shared metadata-only store you drive (holds all metadata) | ${kib(perChild('metadata-store'))} |`,
          `| \`owns(pods, { store })\`: a shared store of whole pods you drive | ${kib(perChild('full-store'))} |`,
          '',
        ]
      : []),
  ];
}

async function main(): Promise<void> {
  if (process.argv.includes('--bench-child')) return;
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const outIndex = process.argv.indexOf('--out');
  const out = outIndex > 0 ? process.argv[outIndex + 1]! : join(repoRoot, 'bench', 'CONTROLLER.md');
  const withMemory = !process.argv.includes('--no-memory');
  const { kubeconfig, release } = await benchCluster();
  const r = await runController({
    kubeconfig,
    objects: arg('objects', 10_000),
    children: arg('children', 10_000),
    reps: arg('reps', 3),
    passes: arg('passes', 5),
    withMemory,
    scratch: join(repoRoot, '.cache', 'bench'),
    log: (s) => console.log(s),
  });
  const md = [
    '# Controller benchmark',
    '',
    `\`npx tsx bench/controller.ts --objects ${r.objects} --children ${r.children} --reps ${r.reps}${r.passes === 5 ? '' : ` --passes ${r.passes}`}${withMemory ? '' : ' --no-memory'}\` — ${new Date().toISOString().slice(0, 10)}, ${machine().cpu} (${machine().cores} cores, shared), Node ${process.version}, load ${loadavg().join(' ')}; medians of ${r.reps}.`,
    '',
    ...renderController(r),
    `Raw: ${JSON.stringify({ passes: r.runs, heaps: r.heaps })}`,
    '',
  ].join('\n');
  // The hand-written analysis under NOTES in the file being replaced stays.
  const previous = existsSync(out) ? readFileSync(out, 'utf8') : '';
  const notes = previous.indexOf(NOTES);
  writeFileSync(out, notes >= 0 ? `${md}\n${previous.slice(notes)}` : md);
  console.log(md);
  await release();
}

// Run as a script (or as a measuring child, which main leaves to inChild); imported by bench/run.ts, nothing runs.
if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  void main().catch((err: Error) => {
    console.error(err.stack ?? err.message);
    process.exit(1);
  });
}
