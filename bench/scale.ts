/**
 * Scenario 7 — scale: memory, initial sync, relist peak and steady event
 * throughput at N = 10,000 and 50,000 pods, side by side, to find where each
 * client stops being usable.
 *
 * Every measurement reads from the replay server (`replay.ts`), not the
 * apiserver: on this shared 2-core machine the loader puts ~10–40 pods per
 * second into kube-apiserver, so 50,000 real pods take hours. The 50,000 are
 * the N = 10,000 pods recorded from the real apiserver, five times over, each
 * copy with its own name and uid (same shapes, same `managedFields`); the
 * events are the recorded ones (one per pod of the first 10,000). The
 * N = 10,000 rows read the recorded pods as they are, so the two sizes
 * differ only in N. The measurements are those of scenarios 1–4, run in their
 * own processes; one that fails (a client that cannot hold the list, a child
 * that times out) is recorded with its error instead of a number.
 */
import { createWriteStream, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import type { BenchPod } from './data.ts';
import { inProcess, rotate, stat, type RunContext, type Stat } from './harness.ts';
import { recordReplayData, startReplay, type ReplayData } from './replay.ts';

export const MEASURES = ['memory', 'sync', 'relist', 'throughput'] as const;
export type Measure = (typeof MEASURES)[number];

// No metadata-only store: the replay server answers every Accept header with full pods.
const CONTENDERS: Record<Measure, string[]> = {
  memory: ['client-node', 'kubereflect:full', 'kubereflect:lazy'],
  sync: ['client-node', 'kubereflect:pages', 'kubereflect:streaming'],
  relist: ['client-node', 'kubereflect', 'kubereflect:streaming'],
  throughput: ['client-node', 'kubereflect', 'kubereflect:lazy'],
};

const MODULE: Record<Measure, URL> = {
  memory: new URL('./memory.ts', import.meta.url),
  sync: new URL('./sync.ts', import.meta.url),
  relist: new URL('./relist.ts', import.meta.url),
  throughput: new URL('./throughput.ts', import.meta.url),
};

/** One contender of one measure at one N: the statistic of its repetitions, or why it failed. */
export interface ScaleRow {
  measure: Measure;
  contender: string;
  /** KiB per pod (memory), ms (sync), peak / steady (relist), events/s (throughput). */
  value?: Stat;
  /** For relist: the steady store and the peak, MiB (medians). */
  steadyMiB?: number;
  peakMiB?: number;
  /** Against client-node: memory and relist as a fraction of it, sync and throughput as a speed-up. */
  ratioToPeer?: number;
  /** The first line of the error, when the contender failed. */
  failed?: string;
}

export interface ScaleResult {
  n: number;
  rows: ScaleRow[];
}

/**
 * The replay data of `n` pods made from `base` (recorded pods): copy c of pod
 * p is named `<p>-s<c>` (copy 0 keeps its name) with a uid of its own; every
 * object moves to `namespace`. Written line by line: the files outgrow a string.
 */
async function scaledReplayData(ctx: RunContext, base: ReplayData, n: number): Promise<ReplayData> {
  const namespace = `kubereflect-bench-scale-n${n}`;
  const dir = join(ctx.scratch, `replay-${namespace}`);
  mkdirSync(dir, { recursive: true });
  const podsFile = join(dir, 'pods.ndjson');
  const eventsFile = join(dir, 'events.ndjson');
  const lines = readFileSync(base.podsFile, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
  const rename = (line: string) => line.replaceAll(`"namespace":"${base.namespace}"`, `"namespace":"${namespace}"`);
  if (!existsSync(podsFile)) {
    const out = createWriteStream(podsFile);
    for (let i = 0; i < n; i++) {
      const copy = Math.floor(i / lines.length);
      const pod = JSON.parse(rename(lines[i % lines.length]!)) as BenchPod & { metadata: { name: string; uid: string } };
      if (copy > 0) {
        pod.metadata.name = `${pod.metadata.name}-s${copy}`;
        pod.metadata.uid = `${pod.metadata.uid.slice(0, -4)}${String(copy).padStart(4, '0')}`;
      }
      if (!out.write(`${JSON.stringify(pod)}\n`)) await once(out, 'drain');
    }
    out.end();
    await once(out, 'finish');
    const events = createWriteStream(eventsFile);
    for (const line of readFileSync(base.eventsFile, 'utf8').split('\n')) if (line) events.write(`${rename(line)}\n`);
    events.end();
    await once(events, 'finish');
  }
  return { ...base, dir, path: `/api/v1/namespaces/${namespace}/pods`, namespace, n, podsFile, eventsFile };
}

/** Runs scenario 7 at `sizes` (default 10,000 and 50,000), the `measures` named (default all four). */
export async function runScale(ctx: RunContext, sizes = [10_000, 50_000], base?: ReplayData, measures: readonly Measure[] = MEASURES): Promise<ScaleResult[]> {
  const recorded = base ?? (await recordReplayData(ctx, 10_000));
  const results: ScaleResult[] = [];
  for (const n of sizes) {
    const data = n === recorded.n ? recorded : await scaledReplayData(ctx, recorded, n);
    const replay = await startReplay(ctx, data);
    const rows: ScaleRow[] = [];
    try {
      for (const measure of measures) {
        const samples = new Map<string, { value: number; steady?: number; peak?: number }[]>();
        const failures = new Map<string, string>();
        for (let rep = 0; rep < ctx.reps; rep++) {
          for (const contender of rotate(CONTENDERS[measure], rep)) {
            if (failures.has(contender)) continue;
            const task = {
              contender,
              kind: 'pods',
              kubeconfig: replay.kubeconfig,
              control: replay.control,
              namespace: data.namespace,
              n,
              every: Math.max(5, Math.floor(n / 20)),
              events: data.events,
              eventsFile: data.eventsFile,
            };
            try {
              const s = await inProcess<Record<string, number>>(MODULE[measure], task, 20 * 60_000);
              const value =
                measure === 'memory'
                  ? s.bytesPerObject! / 1024
                  : measure === 'sync'
                    ? s.ms!
                    : measure === 'relist'
                      ? s.peakBytes! / s.steadyBytes!
                      : s.eventsPerSecond!;
              (samples.get(contender) ?? samples.set(contender, []).get(contender)!).push({ value, steady: s.steadyBytes, peak: s.peakBytes });
              ctx.log(`scale n=${n} ${measure} rep ${rep + 1}/${ctx.reps} ${contender}: ${value.toFixed(2)}`);
            } catch (err) {
              const first =
                String((err as Error).message ?? err)
                  .split('\n')
                  .find((l) => /Error|error|exited/.test(l)) ?? String(err).split('\n')[0]!;
              failures.set(contender, first.trim().slice(0, 240));
              ctx.log(`scale n=${n} ${measure} ${contender} failed: ${first}`);
            }
          }
        }
        const peer = samples.get('client-node') ? stat(samples.get('client-node')!.map((x) => x.value)).median : NaN;
        for (const contender of CONTENDERS[measure]) {
          const failed = failures.get(contender);
          const xs = samples.get(contender);
          if (!xs) {
            rows.push({ measure, contender, failed });
            continue;
          }
          const value = stat(xs.map((x) => x.value));
          const lowerIsBetter = measure === 'memory' || measure === 'relist';
          rows.push({
            measure,
            contender,
            value,
            failed,
            ratioToPeer: measure === 'sync' ? peer / value.median : lowerIsBetter ? value.median / peer : value.median / peer,
            ...(measure === 'relist'
              ? { steadyMiB: stat(xs.map((x) => x.steady! / 2 ** 20)).median, peakMiB: stat(xs.map((x) => x.peak! / 2 ** 20)).median }
              : {}),
          });
        }
      }
    } finally {
      await replay.stop();
    }
    results.push({ n, rows });
  }
  return results;
}
