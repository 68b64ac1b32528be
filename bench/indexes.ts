/**
 * Scenario 6 — secondary indexes: finding the pods of one node (and the pods
 * one owner owns) in a store of N pods, through `reader.byIndex` against a
 * scan with `reader.filter`, and the heap one index costs.
 *
 * In memory, no server: N realistic pods (the loader's shape, each owned by
 * its ReplicaSet) spread over N/100 nodes, applied through a store's
 * writer. Each repetition runs three processes on the same data: the store
 * alone, the store with `byNode` built, the store with the built-in `owner`
 * built; an index's cost is the difference of their live heaps (after forced
 * GCs). The `byNode` process then times lookups of every node, both ways. client-node's cache has no secondary indexes
 * (only a namespace list), so there is no peer row.
 */
import { store } from '../runtime/cache.ts';
import { podSpec, type BenchPod } from './data.ts';
import { inChild, inProcess, liveHeap, settle, stat, type RunContext, type Stat } from './harness.ts';

interface Task {
  n: number;
  /** The index this process builds before it measures its heap ('none': the store alone). */
  index: 'none' | 'byNode' | 'owner';
}

interface Sample {
  scanMicros: number;
  indexMicros: number;
  /** Live heap once the store (and the index) are built. */
  heap: number;
}

export interface IndexesResult {
  n: number;
  nodes: number;
  /** Median µs per lookup of one node's pods. */
  scanMicros: Stat;
  indexMicros: Stat;
  /** Heap the index adds, per stored pod. */
  byNodeBytesPerPod: Stat;
  ownerBytesPerPod: Stat;
}

async function measure(task: Task): Promise<Sample> {
  const nodes = Math.max(1, Math.round(task.n / 100));
  const { reader, writer } = store<BenchPod, 'byNode'>({ indexes: { byNode: (p) => p.spec?.nodeName } });
  writer.applyEvent({ type: 'Init' });
  for (let i = 0; i < task.n; i++) {
    // As a watcher hands it over: parsed from JSON (flat strings, not the concatenations
    // the generator builds, which V8 would flatten on first hashing), with a uid, a
    // resourceVersion and a node.
    const pod = podSpec(i, 'bench');
    pod.metadata = { ...pod.metadata, uid: `pod-uid-${i}`, resourceVersion: String(i + 1) };
    pod.spec = { ...pod.spec, nodeName: `node-${i % nodes}` };
    writer.applyEvent({ type: 'InitApply', object: JSON.parse(JSON.stringify(pod)) as BenchPod });
  }
  writer.applyEvent({ type: 'InitDone' });

  // A settled baseline: what building the store left behind is collected first.
  for (let i = 0; i < 3; i++) {
    liveHeap();
    await settle(50);
  }
  if (task.index !== 'none') reader.byIndex(task.index, 'node-0');
  const heap = liveHeap();

  const time = (lookup: (node: string) => number): number => {
    const rounds = 3;
    let found = 0;
    const t0 = performance.now();
    for (let r = 0; r < rounds; r++) for (let k = 0; k < nodes; k++) found += lookup(`node-${k}`);
    const micros = ((performance.now() - t0) * 1000) / (rounds * nodes);
    if (found !== rounds * task.n) throw new Error(`lookups found ${found} pods, expected ${rounds * task.n}`);
    return micros;
  };
  const scanMicros = time((node) => reader.filter((p) => p.spec?.nodeName === node).length);
  const indexMicros = time((node) => reader.byIndex('byNode', node).length);
  return { scanMicros, indexMicros, heap };
}

/** Runs scenario 6 for every size. */
export async function runIndexes(ctx: RunContext): Promise<IndexesResult[]> {
  const results: IndexesResult[] = [];
  for (const n of ctx.sizes) {
    const samples: Sample[] = [];
    const byNode: number[] = [];
    const owner: number[] = [];
    for (let rep = 0; rep < ctx.reps; rep++) {
      const run = (index: Task['index']) => inProcess<Sample>(new URL(import.meta.url), { n, index } satisfies Task);
      const none = await run('none');
      const s = await run('byNode');
      const o = await run('owner');
      byNode.push((s.heap - none.heap) / n);
      owner.push((o.heap - none.heap) / n);
      ctx.log(
        `indexes n=${n} rep ${rep + 1}/${ctx.reps}: scan ${s.scanMicros.toFixed(0)} µs, index ${s.indexMicros.toFixed(1)} µs per lookup; byNode ${byNode.at(-1)!.toFixed(0)} B/pod, owner ${owner.at(-1)!.toFixed(0)} B/pod`,
      );
      samples.push(s);
    }
    results.push({
      n,
      nodes: Math.max(1, Math.round(n / 100)),
      scanMicros: stat(samples.map((s) => s.scanMicros)),
      indexMicros: stat(samples.map((s) => s.indexMicros)),
      byNodeBytesPerPod: stat(byNode),
      ownerBytesPerPod: stat(owner),
    });
  }
  return results;
}

inChild(measure);
