/**
 * The controller's own cost per reconcile, without a server:
 * `npx tsx bench/controller-loop.ts [--objects 10000] [--rounds 30] [--hand] [--wrote]`.
 *
 * A `Controller` over a shared store filled in memory with N ConfigMaps and
 * a no-op reconcile; each round is one `reconcileAll()` until all N are
 * reconciled: the queue → reconcile → completion path and nothing else (no
 * watch, no JSON). With `--hand`, the hand-written queue of the client-node
 * loop (`hand-queue.ts`) over the same objects instead. Reports CPU time and
 * wall time per reconcile, medians of the rounds after the first few
 * (warm-up; `--rounds 1` measures the first round alone, cold, as
 * bench/controller.ts's steady pass is). With `--wrote`, each reconcile
 * also tells the controller what it wrote (`ctx.wrote(obj)`, the object as
 * stored: read-your-writes finds it in the cache at the next reconcile),
 * the cost of that bookkeeping. Profile it with `node --cpu-prof --import tsx bench/controller-loop.ts`.
 */
import { Action, Controller, type KubeObject, type ListWatch, type Logger, type WatcherEvent } from '../runtime/index.ts';
import { reflectShared, storeShared } from '../runtime/cache.ts';
import type { ResourceDescriptor } from '../runtime/kind.ts';
import { handQueue } from './hand-queue.ts';
import { stat } from './harness.ts';

const configMaps: ResourceDescriptor = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
const quiet: Logger = { debug: () => {}, info: () => {}, warn: () => {}, error: (m) => console.error(m) };

/** A watch that lists `objects` once and then stays open until `signal` aborts. */
async function* listed(objects: KubeObject[], signal: AbortSignal): AsyncGenerator<WatcherEvent<KubeObject>> {
  yield { type: 'Init' };
  for (const object of objects) yield { type: 'InitApply', object };
  yield { type: 'InitDone' };
  await new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true }));
}

interface Loop {
  reconcileAll(): void;
  stop(): Promise<void>;
}

/** A Controller over a shared store holding `objects`; `reconciled` is its no-op reconcile. */
function controllerLoop(objects: KubeObject[], reconciled: () => void): Loop {
  const shared = storeShared<KubeObject>();
  const stop = new AbortController();
  const root = (async () => {
    for await (const _ of reflectShared(shared.writer, listed(objects, stop.signal))) {
      /* drive */
    }
  })();
  const ctl = new Controller({ resource: configMaps } as ListWatch<KubeObject>, { store: shared.reader, logger: quiet });
  const wrote = process.argv.includes('--wrote');
  const running = ctl.run(
    wrote
      ? (obj, ctx) => {
          reconciled();
          ctx.wrote(obj as KubeObject);
          return Action.awaitChange();
        }
      : () => {
          reconciled();
          return Action.awaitChange();
        },
  );
  return {
    reconcileAll: () => ctl.reconcileAll(),
    async stop() {
      await ctl.shutdown();
      await running;
      stop.abort();
      await root;
    },
  };
}

/** The hand-written queue of the client-node loop over a Map holding `objects`. */
function handLoop(objects: KubeObject[], reconciled: () => void): Loop {
  const byKey = new Map(objects.map((o) => [`${o.metadata!.namespace}/${o.metadata!.name}`, o]));
  const queue = handQueue({
    workers: 8,
    has: (key) => byKey.has(key),
    reconcile: () => {
      reconciled();
      return Promise.resolve();
    },
    waited: () => {},
  });
  const reconcileAll = () => {
    for (const key of byKey.keys()) queue.enqueue(key);
  };
  reconcileAll();
  return { reconcileAll, stop: () => queue.stop() };
}

async function main(): Promise<void> {
  const arg = (name: string, fallback: number) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : fallback;
  };
  const n = arg('objects', 10_000);
  const rounds = arg('rounds', 30);
  const warmup = Math.min(5, rounds - 1);
  const namespace = `bench-ctl-loop-${n}`;
  const objects: KubeObject[] = Array.from({ length: n }, (_, i) => ({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: `p-${String(i).padStart(5, '0')}`, namespace, uid: `uid-${i}`, resourceVersion: String(1000 + i) },
    data: { i: String(i) },
  }));
  let reconciles = 0;
  let target = n;
  let reached: (() => void) | undefined;
  const count = () => {
    if (++reconciles === target) reached?.();
  };
  const allDone = () => new Promise<void>((resolve) => (reached = resolve));
  const first = allDone();
  const loop = process.argv.includes('--hand') ? handLoop(objects, count) : controllerLoop(objects, count);
  await first;

  const cpu: number[] = [];
  const mainThread: number[] = [];
  const wall: number[] = [];
  for (let round = 0; round < rounds; round++) {
    target = reconciles + n;
    const done = allDone();
    const c0 = process.cpuUsage();
    const m0 = process.threadCpuUsage();
    const t0 = performance.now();
    loop.reconcileAll();
    await done;
    const t = performance.now() - t0;
    const c = process.cpuUsage(c0);
    const m = process.threadCpuUsage(m0);
    if (round < warmup) continue;
    cpu.push((c.user + c.system) / n);
    mainThread.push((m.user + m.system) / n);
    wall.push((t * 1000) / n);
  }
  await loop.stop();
  const c = stat(cpu);
  const w = stat(wall);
  const main = stat(mainThread).median;
  console.log(
    `${process.argv.includes('--hand') ? 'hand-written queue' : process.argv.includes('--wrote') ? 'Controller, each reconcile remembering a write' : 'Controller'}, ${n} objects, ${rounds - warmup} rounds: CPU ${c.median.toFixed(2)} µs per reconcile (min ${c.min.toFixed(2)}, max ${c.max.toFixed(2)}; main thread ${main.toFixed(2)}, the rest compilers and GC helpers), wall ${w.median.toFixed(2)} µs (min ${w.min.toFixed(2)})`,
  );
}

void main().catch((err: Error) => {
  console.error(err.stack ?? err.message);
  process.exit(1);
});
