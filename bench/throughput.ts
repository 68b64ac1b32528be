/**
 * Scenario 3 — event throughput: `MODIFIED` events for the N pods (rounds of
 * one per pod, at least 10,000 events) into a synced store, in events per
 * second.
 *
 * The events come from the replay server (`replay.ts`: recorded from the
 * real apiserver, served at full speed over HTTPS from its own process),
 * because kube-apiserver on this machine could not write them as fast as the
 * clients read them. Each measurement is its own process: the client lists
 * the N pods, the server holds the watch until the client says go, and the
 * clock runs from go until the last event is applied to the store.
 *
 * Contenders: kubereflect (watcher → reflector → store, full objects),
 * kubereflect with `prune` through `modify`, client-node's informer; and the
 * limit: `JSON.parse` of the same lines, already split and in memory, the
 * results dropped — parsing alone, with no network, TLS, framing or store.
 * Between the two, a reference for what any cache of full objects must do:
 * the same watch received over HTTPS, each line parsed and the object put
 * into a `Map` that already holds the N listed pods — no watcher, no store.
 */
import { readFileSync } from 'node:fs';
import { Api, Client } from '../runtime/index.ts';
import { decodeWatchEvents } from '../runtime/wire/decode.ts';
import { startClientNode, startKubereflect, type Running } from './clients.ts';
import { inChild, inProcess, rotate, sizesOf, stat, until, type RunContext, type Stat } from './harness.ts';
import { pages, type BenchPod } from './data.ts';
import { resourceOf, type BenchKind } from './kinds.ts';
import { prune } from './projections.ts';
import { arm, go, recordReplayData, startReplay, type ReplayData } from './replay.ts';

export type ThroughputContender = 'kubereflect' | 'kubereflect:lazy' | 'kubereflect:prune' | 'client-node' | 'HTTPS+JSON.parse+Map' | 'JSON.parse';
export const THROUGHPUT_CONTENDERS: ThroughputContender[] = [
  'client-node',
  'kubereflect',
  'kubereflect:lazy',
  'kubereflect:prune',
  'HTTPS+JSON.parse+Map',
  'JSON.parse',
];

/** The contenders for kinds other than pods (the projection is the pod's). */
export const KIND_THROUGHPUT_CONTENDERS: ThroughputContender[] = ['client-node', 'kubereflect', 'kubereflect:lazy', 'HTTPS+JSON.parse+Map', 'JSON.parse'];

interface Task {
  contender: ThroughputContender;
  kind: BenchKind;
  kubeconfig: string;
  control: string;
  namespace: string;
  n: number;
  /** Events in the recorded body. */
  events: number;
  eventsFile: string;
}

interface Sample {
  eventsPerSecond: number;
  seconds: number;
  events: number;
}

export interface ThroughputResult {
  n: number;
  /** Absent in older results: pods. */
  kind?: BenchKind;
  events: number;
  eventBytes: number;
  rows: { contender: ThroughputContender; eventsPerSecond: Stat; mibPerSecond: number; ratioToPeer: number; ratioToLimit: number }[];
}

async function measure(task: Task): Promise<Sample> {
  if (task.contender === 'JSON.parse') return parseOnly(task.eventsFile, task.events);
  if (task.contender === 'HTTPS+JSON.parse+Map') return receiveIntoMap(task);
  await arm(task.control, 'events');
  let running: Running;
  if (task.contender === 'client-node') {
    running = startClientNode(task.kubeconfig, task.namespace, { kind: task.kind });
  } else {
    const mode =
      task.contender === 'kubereflect:prune'
        ? { mode: 'prune' as const, projection: prune }
        : task.contender === 'kubereflect:lazy'
          ? { mode: 'lazy' as const }
          : {};
    running = startKubereflect(task.kubeconfig, task.namespace, { ...mode, kind: task.kind });
  }
  await running.ready;
  if (running.size() !== task.n) throw new Error(`${task.contender} listed ${running.size()} ${task.kind}, expected ${task.n}`);
  const t0 = performance.now();
  await go(task.control);
  await until(() => running.applied() >= task.events, `${task.events} events`);
  const seconds = (performance.now() - t0) / 1000;
  const events = running.applied();
  await running.stop();
  if (events !== task.events) throw new Error(`${task.contender} applied ${events} events, expected ${task.events}`);
  return { eventsPerSecond: events / seconds, seconds, events };
}

/** The reference: list the N pods into a Map, then the watch over HTTPS, lines parsed into the Map. */
async function receiveIntoMap(task: Task): Promise<Sample> {
  await arm(task.control, 'events');
  const client = Client.fromFile(task.kubeconfig);
  const api = new Api<BenchPod>(client, resourceOf(task.kind), task.namespace);
  const key = (p: BenchPod) => `${p.metadata?.namespace}/${p.metadata?.name}`;
  const map = new Map<string, BenchPod>();
  for await (const items of pages((o) => api.list(o))) for (const pod of items) map.set(key(pod), pod);
  if (map.size !== task.n) throw new Error(`listed ${map.size} pods, expected ${task.n}`);
  const path = api.path();
  const body = await client.stream({ path, query: { watch: true } });
  const t0 = performance.now();
  await go(task.control);
  let events = 0;
  for await (const e of decodeWatchEvents<BenchPod>(body, path)) {
    map.set(key(e.object), e.object);
    if (++events === task.events) break;
  }
  const seconds = (performance.now() - t0) / 1000;
  client.close();
  return { eventsPerSecond: events / seconds, seconds, events };
}

/** The limit: `JSON.parse` of each line of the recorded body; splitting and decoding happen before the clock starts. */
function parseOnly(eventsFile: string, n: number): Sample {
  const lines = readFileSync(eventsFile, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);
  if (lines.length !== n) throw new Error(`expected ${n} recorded events, found ${lines.length}`);
  let check = 0;
  const t0 = performance.now();
  for (const line of lines) check += (JSON.parse(line) as { type: string }).type.length;
  const seconds = (performance.now() - t0) / 1000;
  if (check !== 8 * n) throw new Error('unexpected event types');
  return { eventsPerSecond: n / seconds, seconds, events: n };
}

/** Runs scenario 3 for every size: pods, then each of `ctx.kinds`. */
export async function runThroughput(ctx: RunContext, contenders = THROUGHPUT_CONTENDERS, data?: Map<number, ReplayData>): Promise<ThroughputResult[]> {
  const results: ThroughputResult[] = [];
  for (const kind of ['pods', ...(ctx.kinds ?? [])] as BenchKind[]) {
    results.push(...(await runThroughputOf(ctx, kind, kind === 'pods' ? contenders : KIND_THROUGHPUT_CONTENDERS, kind === 'pods' ? data : undefined)));
  }
  return results;
}

async function runThroughputOf(
  ctx: RunContext,
  kind: BenchKind,
  contenders: ThroughputContender[],
  data?: Map<number, ReplayData>,
): Promise<ThroughputResult[]> {
  const results: ThroughputResult[] = [];
  for (const n of sizesOf(ctx, kind)) {
    const recorded = data?.get(n) ?? (await recordReplayData(ctx, n, kind));
    const replay = await startReplay(ctx, recorded);
    const samples = new Map<ThroughputContender, Sample[]>(contenders.map((c) => [c, []]));
    try {
      for (let rep = 0; rep < ctx.reps; rep++) {
        for (const contender of rotate(contenders, rep)) {
          const task: Task = {
            contender,
            kind,
            kubeconfig: replay.kubeconfig,
            control: replay.control,
            namespace: recorded.namespace,
            n,
            events: recorded.events,
            eventsFile: recorded.eventsFile,
          };
          const s = await inProcess<Sample>(new URL(import.meta.url), task);
          samples.get(contender)!.push(s);
          ctx.log(`throughput ${kind} n=${n} rep ${rep + 1}/${ctx.reps} ${contender}: ${Math.round(s.eventsPerSecond)} events/s`);
        }
      }
    } finally {
      await replay.stop();
    }
    const median = (c: ThroughputContender) => stat(samples.get(c)?.map((s) => s.eventsPerSecond) ?? []).median;
    const bytesPerEvent = recorded.eventBytes / recorded.events;
    results.push({
      n,
      kind,
      events: recorded.events,
      eventBytes: recorded.eventBytes,
      rows: contenders.map((contender) => {
        const eps = stat(samples.get(contender)!.map((s) => s.eventsPerSecond));
        return {
          contender,
          eventsPerSecond: eps,
          mibPerSecond: (eps.median * bytesPerEvent) / 2 ** 20,
          ratioToPeer: eps.median / median('client-node'),
          ratioToLimit: eps.median / median('JSON.parse'),
        };
      }),
    });
  }
  return results;
}

inChild(measure);
