/**
 * Scenario 4 — relist peak: the most memory alive during a forced relist
 * (a 410 Gone), as a multiple of the steady-state store.
 *
 * Each measurement is its own process reading from the replay server
 * (`replay.ts`): the client lists the N pods; its watch then receives an
 * in-stream `ERROR` 410 and ends, so the client lists the same N pods again.
 * Memory is the live set — heap plus `Buffer` backing stores after forced
 * full GCs — minus the process's baseline before the client started:
 *
 * - steady: after the first sync, with the watch open;
 * - peak: the largest of samples taken during the relist: after every
 *   `JSON.parse` of a body larger than 64 KiB (the response text and its parse
 *   are both alive there), and for kubereflect after every K-th relisted
 *   object and at `InitDone` before the swap (old map and new buffer both
 *   full); for client-node after its deserialisation of the `V1PodList`
 *   (parsed list, deserialised list and old cache all alive) and when its
 *   list call resolves.
 *
 * kubereflect runs with `reuseUnchanged` on (the default: an unchanged object
 * keeps its stored instance) and off, with pages of 500 (the default), and
 * with a streaming list (one object per line: no page is ever held; the
 * server replays the initial events and the end bookmark). The relisted pods
 * are unchanged, as after a 410 on a quiet resource. client-node keeps the old instance of an
 * object whose resourceVersion did not change, but only after holding the
 * whole new list.
 */
import { ObjectSerializer } from '@kubernetes/client-node/dist/gen/models/ObjectSerializer.js';
import { startClientNode, startKubereflect, type Running } from './clients.ts';
import { inChild, inProcess, liveBytes, rotate, settle, stat, until, type RunContext, type Stat } from './harness.ts';
import { arm, go, recordReplayData, startReplay, type ReplayData } from './replay.ts';

export type RelistContender = 'kubereflect' | 'kubereflect:lazy' | 'kubereflect:no-reuse' | 'kubereflect:streaming' | 'client-node';
export const RELIST_CONTENDERS: RelistContender[] = ['client-node', 'kubereflect', 'kubereflect:lazy', 'kubereflect:no-reuse', 'kubereflect:streaming'];

interface Task {
  contender: RelistContender;
  kubeconfig: string;
  control: string;
  namespace: string;
  n: number;
  /** Sample every `every` relisted objects (kubereflect). */
  every: number;
}

interface Sample {
  steadyBytes: number;
  peakBytes: number;
  afterBytes: number;
  samples: number;
  relistMs: number;
}

export interface RelistResult {
  n: number;
  rows: { contender: RelistContender; peakToSteady: Stat; steadyMiB: Stat; peakMiB: Stat; afterMiB: Stat; samples: number }[];
}

async function measure(task: Task): Promise<Sample> {
  let phase: 'sync' | 'relist' | 'done' = 'sync';
  const samples: number[] = [];
  const trace: string[] = [];
  const sample = (where: string) => {
    if (phase !== 'relist') return;
    const bytes = liveBytes();
    samples.push(bytes);
    if (process.env.BENCH_TRACE) trace.push(`${where}:${(bytes / 2 ** 20).toFixed(1)}(ab ${(process.memoryUsage().arrayBuffers / 2 ** 20).toFixed(1)})`);
  };
  const parse = JSON.parse;
  JSON.parse = function hooked(text: string, reviver?: Parameters<typeof JSON.parse>[1]) {
    const parsed = parse(text, reviver);
    if (phase === 'relist' && typeof text === 'string' && text.length > 65_536) sample('parse'); // text and result are both alive here
    return parsed;
  } as typeof JSON.parse;

  await arm(task.control, 'gone');
  let relistDone = false;
  let running: Running;
  const baseline = liveBytes();
  if (task.contender === 'client-node') {
    const deserialize = ObjectSerializer.deserialize;
    ObjectSerializer.deserialize = function hooked(data: unknown, type: string, format: string) {
      const out = deserialize.call(ObjectSerializer, data, type, format);
      if (type === 'V1PodList') sample('deserialize'); // the parsed list, its deserialised copy and the old cache
      return out;
    };
    running = startClientNode(task.kubeconfig, task.namespace, {
      wrapList: (list) => async () => {
        const result = await list();
        if (phase === 'relist') {
          sample('listed');
          // The informer swaps its cache right after this resolves; give it a moment.
          setTimeout(() => (relistDone = true), 200);
        }
        return result;
      },
    });
  } else {
    let relisted = 0;
    running = startKubereflect(task.kubeconfig, task.namespace, {
      store: { reuseUnchanged: task.contender !== 'kubereflect:no-reuse' },
      watcher: {
        initialList: task.contender === 'kubereflect:streaming' ? 'StreamingList' : 'ListWatch',
        lazyManagedFields: task.contender === 'kubereflect:lazy',
      },
      tap: (e) => {
        if (phase !== 'relist') return;
        if (e.type === 'InitApply' && ++relisted % task.every === 0) sample(`item${relisted}`);
        if (e.type === 'InitDone') {
          sample('InitDone'); // before the store swaps: the old map and the full new buffer
          relistDone = true;
        }
      },
    });
  }
  await running.ready;
  await settle(300);
  const steady = liveBytes() - baseline;
  const t0 = performance.now();
  phase = 'relist';
  await go(task.control);
  await until(() => relistDone, 'the relist');
  const relistMs = performance.now() - t0;
  phase = 'done';
  await settle(300);
  const after = liveBytes() - baseline;
  const size = running.size();
  await running.stop();
  JSON.parse = parse;
  if (size !== task.n) throw new Error(`${task.contender} holds ${size} pods after the relist, expected ${task.n}`);
  if (samples.length === 0) throw new Error(`${task.contender}: no sample was taken during the relist`);
  const peak = Math.max(...samples) - baseline;
  if (process.env.BENCH_TRACE) console.error(`${task.contender}: baseline ${(baseline / 2 ** 20).toFixed(1)} MiB; ${trace.join(' ')}`);
  return { steadyBytes: steady, peakBytes: peak, afterBytes: after, samples: samples.length, relistMs };
}

/** Runs scenario 4 for every size. */
export async function runRelist(ctx: RunContext, contenders = RELIST_CONTENDERS, data?: Map<number, ReplayData>): Promise<RelistResult[]> {
  const results: RelistResult[] = [];
  for (const n of ctx.sizes) {
    const recorded = data?.get(n) ?? (await recordReplayData(ctx, n));
    const replay = await startReplay(ctx, recorded);
    const samples = new Map<RelistContender, Sample[]>(contenders.map((c) => [c, []]));
    const every = Math.max(5, Math.floor(n / 20));
    try {
      for (let rep = 0; rep < ctx.reps; rep++) {
        for (const contender of rotate(contenders, rep)) {
          const task: Task = { contender, kubeconfig: replay.kubeconfig, control: replay.control, namespace: recorded.namespace, n, every };
          const s = await inProcess<Sample>(new URL(import.meta.url), task);
          samples.get(contender)!.push(s);
          ctx.log(
            `relist n=${n} rep ${rep + 1}/${ctx.reps} ${contender}: peak ${(s.peakBytes / 2 ** 20).toFixed(1)} MiB = ${(s.peakBytes / s.steadyBytes).toFixed(2)}× steady ${(s.steadyBytes / 2 ** 20).toFixed(1)} MiB (${s.samples} samples)`,
          );
        }
      }
    } finally {
      await replay.stop();
    }
    const mib = (xs: number[]) => stat(xs.map((x) => x / 2 ** 20));
    results.push({
      n,
      rows: contenders.map((contender) => {
        const s = samples.get(contender)!;
        return {
          contender,
          peakToSteady: stat(s.map((x) => x.peakBytes / x.steadyBytes)),
          steadyMiB: mib(s.map((x) => x.steadyBytes)),
          peakMiB: mib(s.map((x) => x.peakBytes)),
          afterMiB: mib(s.map((x) => x.afterBytes)),
          samples: Math.round(stat(s.map((x) => x.samples)).median),
        };
      }),
    });
  }
  return results;
}

inChild(measure);
