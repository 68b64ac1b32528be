/**
 * `npm run bench`: every scenario, kubereflect against @kubernetes/client-node,
 * on the local control plane (started or reused) or the cluster of
 * `$BENCH_KUBECONFIG`. Loads the pods once per size (kept in their own
 * namespaces and reused by later runs), records the replay data, runs the
 * scenarios in order, and writes `bench/results.json`, `bench/RESULTS.md` and
 * `bench/charts/*.svg`.
 *
 * Options: `--sizes 2000,10000` `--reps 5` `--only memory,sync,throughput,relist,fanout,indexes,context,sharding,scale,controller`
 * (`sharding`: `--shard-objects 10000` ConfigMaps of 1 KiB, see `sharding.ts`)
 * (`scale` only when named: `--scale-sizes 10000,50000 --scale-measures memory,sync,relist,throughput`, see `scale.ts`;
 * `controller` only when named: `controller.ts` over the largest size, its own ConfigMaps and owned pods)
 * `--kinds configmaps,secrets,workflows` (kinds besides pods in the memory and
 * throughput scenarios, `kinds.ts`) `--kind-sizes 2000` (their sizes; default `--sizes`)
 * `--out <dir>` (default `bench/`); `--report` only renders `RESULTS.md` and
 * the charts again from `<out>/results.json` (after editing `FINDINGS.md`);
 * `--merge` replaces only the scenarios of this run in an existing
 * `<out>/results.json` (and records both commands); `--load-only` loads the
 * data of `--sizes` into the server and stops (a long load, e.g. 50,000 pods,
 * can then run on its own before the scenarios): pods, or with `--kinds` those
 * kinds only (pods too with `--with-pods`).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '../runtime/index.ts';
import { repoRoot } from '../test/controlplane/plane.ts';
import { benchCluster } from './cluster.ts';
import { runContext, type ContextRow } from './context.ts';
import { runController } from './controller.ts';
import { benchNamespace, ensurePods, type LoadResult } from './data.ts';
import { ensureObjects, KINDS, type BenchKind, type KindLoadResult } from './kinds.ts';
import { runFanout } from './fanout.ts';
import { runIndexes } from './indexes.ts';
import { loadavg, machine, namespaceOf, sizesOf, stat, type RunContext } from './harness.ts';
import { runMemory } from './memory.ts';
import { recordReplayData, type ReplayData } from './replay.ts';
import { runRelist } from './relist.ts';
import { readFindings, renderCharts, renderReport, type Results } from './report.ts';
import { MEASURES, runScale, type Measure } from './scale.ts';
import { runSharding } from './sharding.ts';
import { runSync } from './sync.ts';
import { runThroughput } from './throughput.ts';

export const SCENARIOS = ['memory', 'sync', 'throughput', 'relist', 'fanout', 'indexes', 'context', 'sharding', 'scale', 'controller'] as const;
export type Scenario = (typeof SCENARIOS)[number];
/** What a plain `npm run bench` runs: all but `scale` (about an hour more on a 2-core machine) and `controller` (its own data; `bench/controller.ts` writes CONTROLLER.md). */
export const DEFAULT_SCENARIOS: readonly Scenario[] = SCENARIOS.filter((s) => s !== 'scale' && s !== 'controller');

/** Loads the data and runs `only` (default: every scenario). `loader` is what `ensurePods` reported per size. */
export async function runAll(
  ctx: RunContext,
  only: readonly Scenario[] = DEFAULT_SCENARIOS,
  command = 'npm run bench',
  scaleSizes?: number[],
  scaleMeasures: readonly Measure[] = MEASURES,
): Promise<Results> {
  const startedAt = new Date().toISOString();
  const client = Client.fromFile(ctx.kubeconfig);
  const version = await client.request<{ gitVersion?: string }>({ path: '/version' });
  const loader: LoadResult[] = [];
  // Only the scenarios that talk to the server need its pods (indexes runs in memory; sharding and controller make their own ConfigMaps).
  const kindLoader: KindLoadResult[] = [];
  if (only.some((s) => s !== 'indexes' && s !== 'sharding' && s !== 'controller'))
    for (const n of ctx.sizes) loader.push(await ensurePods(client, ctx.namespaceFor(n), n, { log: ctx.log }));
  // Other kinds serve the memory and throughput scenarios only.
  if (only.some((s) => s === 'memory' || s === 'throughput')) {
    for (const kind of ctx.kinds ?? [])
      for (const n of sizesOf(ctx, kind)) kindLoader.push(await ensureObjects(client, kind, namespaceOf(ctx, kind, n), n, { log: ctx.log }));
  }
  client.close();

  const results: Results = {
    command,
    startedAt,
    finishedAt: '',
    machine: machine(),
    load: [],
    server: `kube-apiserver ${version.gitVersion ?? '?'}`,
    sizes: ctx.sizes,
    reps: ctx.reps,
    loader,
    kindLoader,
  };
  const replayData = new Map<number, ReplayData>();
  if (only.some((s) => s === 'throughput' || s === 'relist' || s === 'fanout')) {
    for (const n of ctx.sizes) replayData.set(n, await recordReplayData(ctx, n));
  }
  if (only.includes('scale') && !ctx.sizes.includes(10_000)) {
    // The scale scenario is made from the 10,000 recorded pods.
    const client10k = Client.fromFile(ctx.kubeconfig);
    results.loader.push(await ensurePods(client10k, ctx.namespaceFor(10_000), 10_000, { log: ctx.log }));
    client10k.close();
  }
  const scenario = async <T>(name: Scenario, fn: () => Promise<T>): Promise<T | undefined> => {
    if (!only.includes(name)) return undefined;
    const start = loadavg();
    ctx.log(`== ${name} (load ${start.join(' ')})`);
    const out = await fn();
    results.load.push({ scenario: name, start, end: loadavg() });
    return out;
  };
  results.memory = await scenario('memory', () => runMemory(ctx));
  results.sync = await scenario('sync', () => runSync(ctx));
  results.throughput = await scenario('throughput', () => runThroughput(ctx, undefined, replayData));
  results.relist = await scenario('relist', () => runRelist(ctx, undefined, replayData));
  results.fanout = await scenario('fanout', () => runFanout(ctx, undefined, replayData));
  results.indexes = await scenario('indexes', () => runIndexes(ctx));
  results.context = await scenario('context', () => runContext(ctx, nodeRssRows(results)));
  results.sharding = await scenario('sharding', () => runSharding({ objects: ctx.shardObjects ?? 10_000, dataBytes: 1024, log: ctx.log }));
  results.scale = await scenario('scale', async () =>
    runScale(ctx, scaleSizes, replayData.get(10_000) ?? (await recordReplayData(ctx, 10_000)), scaleMeasures),
  );
  const largest = Math.max(...ctx.sizes);
  results.controller = await scenario('controller', () => runController({ ...ctx, objects: largest, children: largest, passes: 5 }));
  results.finishedAt = new Date().toISOString();
  return results;
}

/** Scenario 1's kubereflect (full) and client-node processes, as RSS rows for the context table. */
function nodeRssRows(r: Results): ContextRow[] {
  const rows: ContextRow[] = [];
  for (const m of r.memory ?? []) {
    for (const x of m.rows) {
      if (x.contender !== 'client-node' && x.contender !== 'kubereflect:full' && x.contender !== 'kubereflect:metadata') continue;
      const who =
        x.contender === 'client-node'
          ? '@kubernetes/client-node informer (Node)'
          : `kubereflect, ${x.contender === 'kubereflect:full' ? 'full' : 'metadata-only'} (Node)`;
      rows.push({ who, n: m.n, rssMiB: x.rssMiB, rssDeltaMiB: x.rssDeltaMiB, heapKiBPerObject: stat(x.bytesPerObject.values.map((v) => v / 1024)) });
    }
  }
  return rows;
}

/** Writes `results.json`, `RESULTS.md` and `charts/` into `dir`. */
export function writeResults(dir: string, results: Results): void {
  mkdirSync(join(dir, 'charts'), { recursive: true });
  writeFileSync(join(dir, 'results.json'), `${JSON.stringify(results, null, 1)}\n`);
  for (const c of renderCharts(results)) writeFileSync(join(dir, 'charts', c.name), c.svg);
  const findings = readFindings(fileURLToPath(new URL('./FINDINGS.md', import.meta.url)));
  writeFileSync(join(dir, 'RESULTS.md'), renderReport(results, { findings }));
}

/** `base` with the scenarios of `run` replaced by `run`'s. */
function merge(base: Results, run: Results, only: readonly Scenario[]): Results {
  const merged: Results = {
    ...base,
    command: `${base.command}; then ${run.command}`,
    finishedAt: run.finishedAt,
    loader: run.loader,
    kindLoader: run.kindLoader,
  };
  for (const s of only) (merged as unknown as Record<string, unknown>)[s] = run[s];
  // Scale rows are replaced per size and measure: a run of one measure at 50,000 keeps the others.
  if (only.includes('scale') && base.scale && run.scale) {
    merged.scale = base.scale.map((b) => {
      const fresh = run.scale!.find((x) => x.n === b.n);
      if (!fresh) return b;
      const measured = new Set(fresh.rows.map((row) => row.measure));
      return { n: b.n, rows: [...b.rows.filter((row) => !measured.has(row.measure)), ...fresh.rows] };
    });
    for (const x of run.scale) if (!merged.scale.some((b) => b.n === x.n)) merged.scale.push(x);
  }
  merged.load = [...base.load.filter((l) => !only.includes(l.scenario as Scenario)), ...run.load];
  return merged;
}

function option(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
}

async function main(argv: string[]): Promise<void> {
  const sizes = (option(argv, 'sizes') ?? '2000,10000').split(',').map(Number);
  const reps = Number(option(argv, 'reps') ?? 5);
  const only = (option(argv, 'only')?.split(',') ?? [...DEFAULT_SCENARIOS]) as Scenario[];
  const scaleSizes = option(argv, 'scale-sizes')?.split(',').map(Number);
  const scaleMeasures = (option(argv, 'scale-measures')?.split(',') ?? [...MEASURES]) as Measure[];
  for (const m of scaleMeasures) if (!MEASURES.includes(m)) throw new Error(`unknown scale measure ${m}; any of ${MEASURES.join(', ')}`);
  const kinds = (option(argv, 'kinds')?.split(',') ?? []) as BenchKind[];
  for (const k of kinds)
    if (k === 'pods' || !KINDS.includes(k)) throw new Error(`unknown extra kind ${k}; any of ${KINDS.filter((x) => x !== 'pods').join(', ')}`);
  for (const s of only) if (!SCENARIOS.includes(s)) throw new Error(`unknown scenario ${s}; one of ${SCENARIOS.join(', ')}`);
  const out = resolve(option(argv, 'out') ?? fileURLToPath(new URL('.', import.meta.url)));
  if (argv.includes('--report')) {
    writeResults(out, JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Results);
    console.log(`rendered ${relative(process.cwd(), join(out, 'RESULTS.md'))} and charts/ from results.json`);
    return;
  }
  const { kubeconfig, release } = await benchCluster();
  const log = (line: string) => console.log(`${new Date().toISOString().slice(11, 19)} ${line}`);
  const ctx: RunContext = {
    kubeconfig,
    sizes,
    reps,
    namespaceFor: benchNamespace,
    log,
    scratch: join(repoRoot, '.cache', 'bench'),
    kinds: kinds as Exclude<BenchKind, 'pods'>[],
    kindSizes: option(argv, 'kind-sizes')?.split(',').map(Number),
    ...(option(argv, 'shard-objects') ? { shardObjects: Number(option(argv, 'shard-objects')) } : {}),
  };
  const command = `npm run bench${argv.length ? ` -- ${argv.join(' ')}` : ''}`;
  try {
    if (argv.includes('--load-only')) {
      const client = Client.fromFile(kubeconfig);
      try {
        for (const n of sizes) {
          if (!option(argv, 'kinds') || argv.includes('--with-pods')) await ensurePods(client, benchNamespace(n), n, { log });
          for (const kind of ctx.kinds ?? []) await ensureObjects(client, kind, namespaceOf(ctx, kind, n), n, { log });
        }
      } finally {
        client.close();
      }
      return;
    }
    let results = await runAll(ctx, only, command, scaleSizes, scaleMeasures);
    if (argv.includes('--merge')) results = merge(JSON.parse(readFileSync(join(out, 'results.json'), 'utf8')) as Results, results, only);
    writeResults(out, results);
    log(`wrote ${relative(process.cwd(), join(out, 'RESULTS.md'))}, results.json and charts/`);
  } finally {
    await release();
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then(
    () => process.exit(0),
    (err: Error) => {
      console.error(err.stack ?? err);
      process.exit(1);
    },
  );
}
