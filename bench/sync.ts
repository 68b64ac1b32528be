/**
 * Scenario 2 — initial sync time: from starting a client to a store that
 * holds all N pods, against the real kube-apiserver.
 *
 * Each measurement is its own process (a cold client, as at a controller's
 * start); the clock starts before the client is made and stops when the
 * store is ready and holds N pods. Contenders:
 *
 * - kubereflect, list + watch with pages of 500 (the default);
 * - the same, storing `prune`d pods: `managedFields` are cut from the list
 *   pages before parsing, as a generated kind's `reflector` does;
 * - kubereflect, a streaming list (`sendInitialEvents`, one watch request);
 * - client-node's informer (one unpaginated list, then its watch: it has no
 *   pages and no streaming lists; `start()` resolves once its watch is open);
 * - a floor: the same pages of 500 fetched and `JSON.parse`d with no watcher
 *   and no store.
 */
import { Api, Client } from '../runtime/index.ts';
import { startClientNode, startKubereflect, type Running } from './clients.ts';
import { pages, podResource, type BenchPod } from './data.ts';
import { inChild, inProcess, rotate, stat, type RunContext, type Stat } from './harness.ts';
import { prune } from './projections.ts';

export type SyncContender = 'kubereflect:pages' | 'kubereflect:pages+prune' | 'kubereflect:streaming' | 'client-node' | 'pages+JSON.parse';
export const SYNC_CONTENDERS: SyncContender[] = ['client-node', 'kubereflect:pages', 'kubereflect:pages+prune', 'kubereflect:streaming', 'pages+JSON.parse'];

interface Task {
  contender: SyncContender;
  kubeconfig: string;
  namespace: string;
  n: number;
}

interface Sample {
  ms: number;
}

export interface SyncResult {
  n: number;
  rows: { contender: SyncContender; ms: Stat; podsPerSecond: number; ratioToPeer: number }[];
}

async function measure(task: Task): Promise<Sample> {
  const t0 = performance.now();
  if (task.contender === 'pages+JSON.parse') {
    const count = await fetchPages(task.kubeconfig, task.namespace);
    const ms = performance.now() - t0;
    if (count !== task.n) throw new Error(`listed ${count} pods, expected ${task.n}`);
    return { ms };
  }
  let running: Running;
  if (task.contender === 'client-node') running = startClientNode(task.kubeconfig, task.namespace);
  else {
    const watcher = { initialList: task.contender === 'kubereflect:streaming' ? 'StreamingList' : 'ListWatch', pageSize: 500 } as const;
    const projected = task.contender === 'kubereflect:pages+prune' ? ({ mode: 'prune', projection: prune } as const) : {};
    running = startKubereflect(task.kubeconfig, task.namespace, { watcher, ...projected });
  }
  await running.ready;
  const ms = performance.now() - t0;
  const size = running.size();
  await running.stop();
  if (size !== task.n) throw new Error(`${task.contender} synced ${size} pods, expected ${task.n}`);
  return { ms };
}

async function fetchPages(kubeconfig: string, namespace: string): Promise<number> {
  const client = Client.fromFile(kubeconfig);
  const api = new Api<BenchPod>(client, podResource, namespace);
  let count = 0;
  for await (const items of pages((o) => api.list(o))) count += items.length;
  client.close();
  return count;
}

/** Runs scenario 2 for every size. */
export async function runSync(ctx: RunContext, contenders = SYNC_CONTENDERS): Promise<SyncResult[]> {
  const results: SyncResult[] = [];
  for (const n of ctx.sizes) {
    const samples = new Map<SyncContender, number[]>(contenders.map((c) => [c, []]));
    for (let rep = 0; rep < ctx.reps; rep++) {
      for (const contender of rotate(contenders, rep)) {
        const s = await inProcess<Sample>(new URL(import.meta.url), {
          contender,
          kubeconfig: ctx.kubeconfig,
          namespace: ctx.namespaceFor(n),
          n,
        } satisfies Task);
        samples.get(contender)!.push(s.ms);
        ctx.log(`sync n=${n} rep ${rep + 1}/${ctx.reps} ${contender}: ${Math.round(s.ms)} ms`);
      }
    }
    const peer = stat(samples.get('client-node') ?? []).median;
    results.push({
      n,
      rows: contenders.map((contender) => {
        const ms = stat(samples.get(contender)!);
        // A ratio above 1 means faster than the peer.
        return { contender, ms, podsPerSecond: (n / ms.median) * 1000, ratioToPeer: peer / ms.median };
      }),
    });
  }
  return results;
}

inChild(measure);
