/**
 * Scenario 1 — store memory: bytes retained per cached pod.
 *
 * Each measurement runs in its own Node process (`--expose-gc`) against the
 * real kube-apiserver: take the live heap after full GCs (the baseline: the
 * modules loaded, nothing listed), start the contender, wait until its store
 * holds all N pods and its watch is open, force full GCs again and read the
 * live heap. Retained = after − baseline; per object = retained / N.
 *
 * Contenders: kubereflect storing full pods, metadata-only
 * (`PartialObjectMetadata`; also with `stripManagedFields`), `prune` (managedFields and status dropped) and a
 * `keep` projection (nodeName, phase, identity); client-node's informer
 * cache; and, as a reference, the parsed JSON of the same list pages kept in
 * a `Map` — what the objects cost as `JSON.parse` makes them.
 */
import { Api, Client } from '../runtime/index.ts';
import { startClientNode, startKubereflect, type KubereflectMode, type Running } from './clients.ts';
import { pages, type BenchPod } from './data.ts';
import { inChild, inProcess, liveHeap, namespaceOf, sizesOf, rotate, settle, stat, type RunContext, type Stat } from './harness.ts';
import { resourceOf, type BenchKind } from './kinds.ts';
import { keep, prune } from './projections.ts';

export type MemoryContender = `kubereflect:${KubereflectMode}` | 'client-node' | 'json';

export const MEMORY_CONTENDERS: MemoryContender[] = [
  'client-node',
  'kubereflect:full',
  'kubereflect:lazy',
  'kubereflect:metadata',
  'kubereflect:metadata-strip',
  'kubereflect:prune',
  'kubereflect:keep',
  'json',
];

/** The contenders for kinds other than pods (the projections are the pod's). */
export const KIND_MEMORY_CONTENDERS: MemoryContender[] = ['client-node', 'kubereflect:full', 'kubereflect:lazy', 'kubereflect:metadata', 'json'];

interface Task {
  contender: MemoryContender;
  kind: BenchKind;
  kubeconfig: string;
  namespace: string;
  n: number;
}

export interface MemorySample {
  retainedBytes: number;
  bytesPerObject: number;
  stored: number;
  /** Resident set size before the client started and with the store full (for the context table). */
  rssBefore: number;
  rssAfter: number;
}

export interface MemoryResult {
  n: number;
  /** Absent in older results: pods. */
  kind?: BenchKind;
  rows: { contender: MemoryContender; bytesPerObject: Stat; retainedMiB: Stat; ratioToPeer: number; rssMiB: Stat; rssDeltaMiB: Stat }[];
}

async function measure(task: Task): Promise<MemorySample> {
  let running: Running;
  let held: unknown;
  const baseline = liveHeap();
  const rssBefore = process.memoryUsage().rss;
  if (task.contender === 'client-node') {
    running = startClientNode(task.kubeconfig, task.namespace, { kind: task.kind });
  } else if (task.contender === 'json') {
    held = await parsedPages(task.kubeconfig, task.namespace, task.kind);
    running = { ready: Promise.resolve(), size: () => (held as Map<string, unknown>).size, applied: () => 0, stop: async () => {} };
  } else {
    const mode = task.contender.slice('kubereflect:'.length) as KubereflectMode;
    running = startKubereflect(task.kubeconfig, task.namespace, { mode, projection: mode === 'prune' ? prune : keep, kind: task.kind });
  }
  await running.ready;
  await settle(300); // the watch request goes out and its connection settles
  const after = liveHeap();
  const rssAfter = process.memoryUsage().rss;
  const stored = running.size();
  await running.stop();
  if (stored !== task.n) throw new Error(`${task.contender} stored ${stored} ${task.kind}, expected ${task.n}`);
  void held;
  return { retainedBytes: after - baseline, bytesPerObject: (after - baseline) / task.n, stored, rssBefore, rssAfter };
}

/** The reference: list pages parsed by `JSON.parse`, their items kept in a Map by namespace/name. */
async function parsedPages(kubeconfig: string, namespace: string, kind: BenchKind): Promise<Map<string, BenchPod>> {
  const client = Client.fromFile(kubeconfig);
  const api = new Api<BenchPod>(client, resourceOf(kind), namespace);
  const map = new Map<string, BenchPod>();
  for await (const items of pages((o) => api.list(o))) {
    for (const pod of items) map.set(`${pod.metadata?.namespace}/${pod.metadata?.name}`, pod);
  }
  client.close();
  return map;
}

/** Runs scenario 1 for every size (pods, then each of `ctx.kinds`): each contender in its own process, alternating, `ctx.reps` times. */
export async function runMemory(ctx: RunContext, contenders: MemoryContender[] = MEMORY_CONTENDERS): Promise<MemoryResult[]> {
  const results: MemoryResult[] = [];
  for (const kind of ['pods', ...(ctx.kinds ?? [])] as BenchKind[]) {
    results.push(...(await runMemoryOf(ctx, kind, kind === 'pods' ? contenders : KIND_MEMORY_CONTENDERS)));
  }
  return results;
}

async function runMemoryOf(ctx: RunContext, kind: BenchKind, contenders: MemoryContender[]): Promise<MemoryResult[]> {
  const results: MemoryResult[] = [];
  for (const n of sizesOf(ctx, kind)) {
    const samples = new Map<MemoryContender, MemorySample[]>(contenders.map((c) => [c, []]));
    for (let rep = 0; rep < ctx.reps; rep++) {
      for (const contender of rotate(contenders, rep)) {
        const s = await inProcess<MemorySample>(new URL(import.meta.url), {
          contender,
          kind,
          kubeconfig: ctx.kubeconfig,
          namespace: namespaceOf(ctx, kind, n),
          n,
        } satisfies Task);
        samples.get(contender)!.push(s);
        ctx.log(`memory ${kind} n=${n} rep ${rep + 1}/${ctx.reps} ${contender}: ${(s.bytesPerObject / 1024).toFixed(2)} KiB/object`);
      }
    }
    const peer = stat(samples.get('client-node')?.map((s) => s.bytesPerObject) ?? []).median;
    results.push({
      n,
      kind,
      rows: contenders.map((contender) => {
        const per = stat(samples.get(contender)!.map((s) => s.bytesPerObject));
        return {
          contender,
          bytesPerObject: per,
          retainedMiB: stat(samples.get(contender)!.map((s) => s.retainedBytes / 2 ** 20)),
          ratioToPeer: per.median / peer,
          rssMiB: stat(samples.get(contender)!.map((s) => s.rssAfter / 2 ** 20)),
          rssDeltaMiB: stat(samples.get(contender)!.map((s) => (s.rssAfter - s.rssBefore) / 2 ** 20)),
        };
      }),
    });
  }
  return results;
}

inChild(measure);
