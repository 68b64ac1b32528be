/**
 * Scenario 5 — dispatcher fan-out: one watch feeding 1, 4 and 16
 * subscribers; events per second through all of them, and what each extra
 * subscriber costs per event.
 *
 * Two measurements, each in its own process:
 *
 * - end to end, with the replay server and clock of scenario 3
 *   (`throughput.ts`): the client lists the N pods, the recorded events are
 *   released, and the clock stops when every subscriber has received all of
 *   them. kubereflect: `storeShared` +
 *   `reflectShared`, each subscriber a `for await` loop over
 *   `reader.subscribe()` (subscribed before the start, so they also receive
 *   the N listed pods, before the clock starts); each subscriber is a work
 *   queue of keys, so an update overtaken before it was read is skipped, and
 *   the clock stops when every subscriber has the last version of every
 *   updated pod. client-node:
 *   its informer with one `update` handler per subscriber — synchronous
 *   callbacks, which is how it shares one watch. Parsing dominates here, so
 *   the subscribers' cost hides in the noise;
 * - dispatch alone: the same events already parsed, in memory, pushed
 *   through kubereflect's `reflectShared` (store and subscribers, no network,
 *   no parsing) and through client-node's cache update with its callbacks
 *   (`addOrUpdateObject`, what its informer calls per event). This isolates
 *   what a subscriber costs.
 *
 * Cost per subscriber = (time per event at 16 − at 1) / 15, in µs.
 */
import { readFileSync } from 'node:fs';
import { addOrUpdateObject, type KubernetesObject } from '@kubernetes/client-node';
import { reflectShared, storeShared } from '../runtime/cache.ts';
import type { WatcherEvent } from '../runtime/index.ts';
import { startClientNode, startKubereflectShared } from './clients.ts';
import type { BenchPod } from './data.ts';
import { inChild, inProcess, rotate, stat, until, type RunContext, type Stat } from './harness.ts';
import { arm, go, recordReplayData, startReplay, type ReplayData } from './replay.ts';

export type FanoutContender = 'kubereflect' | 'client-node';
export const FANOUT_CONTENDERS: FanoutContender[] = ['client-node', 'kubereflect'];
export const SUBSCRIBERS = [1, 4, 16];
type Mode = 'replay' | 'dispatch';

interface Task {
  mode: Mode;
  contender: FanoutContender;
  subscribers: number;
  kubeconfig: string;
  control: string;
  namespace: string;
  n: number;
  events: number;
  podsFile: string;
  eventsFile: string;
}

interface Sample {
  eventsPerSecond: number;
}

export interface FanoutRow {
  mode: Mode;
  contender: FanoutContender;
  subscribers: number;
  eventsPerSecond: Stat;
  ratioToPeer: number;
}

export interface FanoutResult {
  n: number;
  events: number;
  rows: FanoutRow[];
  /** µs per event per extra subscriber, from the medians at 1 and 16, by mode and contender. */
  costPerSubscriberMicros: Record<Mode, Record<FanoutContender, number>>;
}

async function measure(task: Task): Promise<Sample> {
  return task.mode === 'dispatch' ? dispatchOnly(task) : endToEnd(task);
}

async function endToEnd(task: Task): Promise<Sample> {
  await arm(task.control, 'events');
  const { n, events } = task;
  if (task.contender === 'kubereflect') {
    const final = finalVersions(task.eventsFile);
    const running = startKubereflectShared(task.kubeconfig, task.namespace, task.subscribers);
    await running.ready;
    // The subscribers first receive the listed pods.
    await until(() => running.received().every((c) => c >= n), 'the initial snapshot');
    const t0 = performance.now();
    await go(task.control);
    await until(() => running.latest().every((seen) => caughtUp(seen, final)), `the last version of ${final.size} pods at every subscriber`);
    const seconds = (performance.now() - t0) / 1000;
    await running.stop();
    return { eventsPerSecond: events / seconds };
  }
  const running = startClientNode(task.kubeconfig, task.namespace, { subscribers: task.subscribers });
  await running.ready;
  const t0 = performance.now();
  await go(task.control);
  await until(() => running.received().every((c) => c >= events), `${events} events at every subscriber`);
  const seconds = (performance.now() - t0) / 1000;
  const received = running.received();
  await running.stop();
  if (received.some((c) => c !== events)) throw new Error(`${task.contender}: subscribers received ${received.join(',')}, expected ${events} each`);
  return { eventsPerSecond: events / seconds };
}

const parseLines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.length > 0);

/** The resourceVersion of each pod's last recorded update. */
function finalVersions(eventsFile: string): Map<string, string> {
  const final = new Map<string, string>();
  for (const line of parseLines(eventsFile)) {
    const { object } = JSON.parse(line) as { object: BenchPod };
    final.set(object.metadata!.name!, object.metadata!.resourceVersion!);
  }
  return final;
}

function caughtUp(seen: Map<string, string>, final: Map<string, string>): boolean {
  for (const [name, rv] of final) if (seen.get(name) !== rv) return false;
  return true;
}

async function dispatchOnly(task: Task): Promise<Sample> {
  const pods = parseLines(task.podsFile).map((l) => JSON.parse(l) as BenchPod);
  const updates = parseLines(task.eventsFile).map((l) => (JSON.parse(l) as { object: BenchPod }).object);
  if (updates.length !== task.events) throw new Error(`expected ${task.events} recorded events, found ${updates.length}`);
  const counts = new Array<number>(task.subscribers).fill(0);
  if (task.contender === 'client-node') {
    const objects = new Map<string, Map<string, KubernetesObject>>();
    const callbacks = counts.map((_, i) => (pod: KubernetesObject) => {
      if (pod.metadata?.name) counts[i]!++;
    });
    for (const p of pods) addOrUpdateObject(objects, p as KubernetesObject, [], []);
    const t0 = performance.now();
    for (const p of updates) addOrUpdateObject(objects, p as KubernetesObject, [], callbacks.slice());
    const seconds = (performance.now() - t0) / 1000;
    if (counts.some((c) => c !== task.events)) throw new Error(`client-node callbacks ran ${counts.join(',')} times, expected ${task.events}`);
    return { eventsPerSecond: task.events / seconds };
  }
  const { reader, writer } = storeShared<BenchPod>();
  const final = finalVersions(task.eventsFile);
  const latest = counts.map(() => new Map<string, string>());
  const subs = counts.map((_, i) =>
    (async () => {
      for await (const { object } of reader.subscribe()) {
        counts[i]!++;
        latest[i]!.set(object.metadata.name, object.metadata.resourceVersion);
      }
    })(),
  );
  let t0 = 0;
  async function* source(): AsyncGenerator<WatcherEvent<BenchPod>> {
    yield { type: 'Init' };
    for (const object of pods) yield { type: 'InitApply', object };
    yield { type: 'InitDone' };
    await until(() => counts.every((c) => c >= pods.length), 'the initial snapshot');
    t0 = performance.now();
    for (const object of updates) yield { type: 'Apply', object };
  }
  for await (const _ of reflectShared(writer, source())) {
    /* drive the root */
  }
  // The subscriptions end once they have taken every dirty key.
  await Promise.all(subs);
  const seconds = (performance.now() - t0) / 1000;
  if (!latest.every((seen) => caughtUp(seen, final))) throw new Error('kubereflect subscribers missed the last version of some pod');
  return { eventsPerSecond: task.events / seconds };
}

/** Runs scenario 5 for every size. */
export async function runFanout(ctx: RunContext, contenders = FANOUT_CONTENDERS, data?: Map<number, ReplayData>): Promise<FanoutResult[]> {
  const results: FanoutResult[] = [];
  for (const n of ctx.sizes) {
    const recorded = data?.get(n) ?? (await recordReplayData(ctx, n));
    const replay = await startReplay(ctx, recorded);
    const key = (m: Mode, c: FanoutContender, s: number) => `${m}/${c}/${s}`;
    const samples = new Map<string, number[]>();
    const cases = (['replay', 'dispatch'] as Mode[]).flatMap((mode) =>
      contenders.flatMap((contender) => SUBSCRIBERS.map((subscribers) => ({ mode, contender, subscribers }))),
    );
    try {
      for (let rep = 0; rep < ctx.reps; rep++) {
        for (const { mode, contender, subscribers } of rotate(cases, rep)) {
          const task: Task = {
            mode,
            contender,
            subscribers,
            kubeconfig: replay.kubeconfig,
            control: replay.control,
            namespace: recorded.namespace,
            n,
            events: recorded.events,
            podsFile: recorded.podsFile,
            eventsFile: recorded.eventsFile,
          };
          const s = await inProcess<Sample>(new URL(import.meta.url), task);
          const k = key(mode, contender, subscribers);
          samples.set(k, [...(samples.get(k) ?? []), s.eventsPerSecond]);
          ctx.log(`fanout n=${n} rep ${rep + 1}/${ctx.reps} ${mode} ${contender} ×${subscribers}: ${Math.round(s.eventsPerSecond)} events/s`);
        }
      }
    } finally {
      await replay.stop();
    }
    const median = (m: Mode, c: FanoutContender, s: number) => stat(samples.get(key(m, c, s)) ?? []).median;
    const first = SUBSCRIBERS[0]!;
    const last = SUBSCRIBERS[SUBSCRIBERS.length - 1]!;
    const cost = (m: Mode, c: FanoutContender) => ((1 / median(m, c, last) - 1 / median(m, c, first)) / (last - first)) * 1e6;
    const costs = (m: Mode) => Object.fromEntries(contenders.map((c) => [c, cost(m, c)])) as Record<FanoutContender, number>;
    results.push({
      n,
      events: recorded.events,
      rows: cases.map(({ mode, contender, subscribers }) => ({
        mode,
        contender,
        subscribers,
        eventsPerSecond: stat(samples.get(key(mode, contender, subscribers)) ?? []),
        ratioToPeer: median(mode, contender, subscribers) / median(mode, 'client-node', subscribers),
      })),
      costPerSubscriberMicros: { replay: costs('replay'), dispatch: costs('dispatch') },
    });
  }
  return results;
}

inChild(measure);
