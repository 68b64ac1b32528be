/**
 * Turns a run's results into `RESULTS.md` (one table per scenario: medians,
 * min–max, ratios to the peer and to the limit; the targets; the machine and
 * the command) and two SVG bar charts, written by hand as small strings.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { LoadResult } from './data.ts';
import type { KindLoadResult } from './kinds.ts';
import type { FanoutResult } from './fanout.ts';
import type { IndexesResult } from './indexes.ts';
import type { Stat } from './harness.ts';
import type { MemoryResult } from './memory.ts';
import type { RelistResult } from './relist.ts';
import type { SyncResult } from './sync.ts';
import type { ThroughputResult } from './throughput.ts';
import type { ContextResult } from './context.ts';
import { renderController, type ControllerResult } from './controller.ts';
import type { ScaleResult } from './scale.ts';
import type { ShardingResult } from './sharding.ts';

export interface Results {
  command: string;
  startedAt: string;
  finishedAt: string;
  machine: Record<string, string | number>;
  /** `os.loadavg()` at the start and end of each scenario. */
  load: { scenario: string; start: number[]; end: number[] }[];
  server: string;
  sizes: number[];
  reps: number;
  loader: LoadResult[];
  /** Loads of the kinds besides pods (absent in older results). */
  kindLoader?: KindLoadResult[];
  memory?: MemoryResult[];
  sync?: SyncResult[];
  throughput?: ThroughputResult[];
  relist?: RelistResult[];
  fanout?: FanoutResult[];
  indexes?: IndexesResult[];
  context?: ContextResult;
  scale?: ScaleResult[];
  controller?: ControllerResult;
  sharding?: ShardingResult;
  /** When scenarios come from runs with different repetition counts (merged runs): what each had. */
  repsNote?: string;
}

const f0 = (x: number) => (Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : '–');
const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : '–');
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '–');
const times = (x: number) => (Number.isFinite(x) ? `${x.toFixed(2)}×` : '–');
const range = (s: Stat, fmt: (x: number) => string) => `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
const kib = (x: number) => x / 1024;
const table = (head: string[], rows: string[][]) =>
  [`| ${head.join(' | ')} |`, `| ${head.map((_h, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');

const LABEL: Record<string, string> = {
  'client-node': '@kubernetes/client-node informer',
  'kubereflect:full': 'kubereflect, full objects',
  'kubereflect:lazy': 'kubereflect, full objects, `lazyManagedFields`',
  'kubereflect:metadata': 'kubereflect, metadata-only',
  'kubereflect:metadata-strip': 'kubereflect, metadata-only, `stripManagedFields`',
  'kubereflect:prune': 'kubereflect, `prune` (managedFields + status)',
  'kubereflect:keep': 'kubereflect, `keep` (nodeName, phase)',
  json: '*reference: `JSON.parse`d list items in a Map*',
  'kubereflect:pages': 'kubereflect, list + watch, pages of 500',
  'kubereflect:pages+prune': 'kubereflect, pages of 500, `prune` (managedFields cut before parsing)',
  'kubereflect:streaming': 'kubereflect, streaming list',
  'pages+JSON.parse': '*floor: pages of 500, GET + `JSON.parse`, no store*',
  kubereflect: 'kubereflect',
  'kubereflect:no-reuse': 'kubereflect, `reuseUnchanged: false`',
  'JSON.parse': '*limit: `JSON.parse` of the same lines*',
  'HTTPS+JSON.parse+Map': '*reference: the same watch over HTTPS, parsed into a `Map`*',
};
const label = (c: string) => LABEL[c] ?? c;

interface Target {
  what: string;
  goal: string;
  values: { n: number; value: number }[];
  /** Absent for rows shown for information (other kinds). */
  met?: (v: number) => boolean;
  fmt: (v: number) => string;
}

function targets(r: Results): Target[] {
  const out: Target[] = [];
  // The goals are the pods' (the issue's); other kinds are shown for the range, without a goal of their own.
  const mem = (contender: string, what: string, goal: number, kind = 'pods') => {
    const of = r.memory?.filter((m) => (m.kind ?? 'pods') === kind);
    if (!of?.length) return;
    out.push({
      what,
      goal: kind === 'pods' ? `≤ ${goal}× client-node` : 'none (range)',
      met: kind === 'pods' ? (v) => v <= goal : undefined,
      fmt: (v) => (Number.isFinite(v) ? `${f2(v)}×` : '–'),
      values: of.map((m) => ({ n: m.n, value: m.rows.find((x) => x.contender === contender)?.ratioToPeer ?? NaN })),
    });
  };
  mem('kubereflect:full', 'memory, full objects', 0.8);
  mem('kubereflect:lazy', 'memory, full objects, `lazyManagedFields`', 0.4);
  mem('kubereflect:prune', 'memory, `prune`', 0.4);
  mem('kubereflect:metadata', 'memory, metadata-only', 0.3);
  mem('kubereflect:keep', 'memory, `keep`', 0.15);
  for (const kind of new Set((r.memory ?? []).map((m) => m.kind ?? 'pods'))) {
    if (kind === 'pods') continue;
    mem('kubereflect:full', `memory, full objects, ${kind}`, 0.8, kind);
    mem('kubereflect:lazy', `memory, full objects, \`lazyManagedFields\`, ${kind}`, 0.4, kind);
    mem('kubereflect:metadata', `memory, metadata-only, ${kind}`, 0.3, kind);
  }
  if (r.throughput) {
    const kinds = [...new Set(r.throughput.map((t) => t.kind ?? 'pods'))];
    for (const kind of kinds) {
      const of = r.throughput.filter((t) => (t.kind ?? 'pods') === kind);
      const suffix = kind === 'pods' ? '' : `, ${kind}`;
      for (const [contender, what] of [
        ['kubereflect', 'full objects'],
        ['kubereflect:lazy', 'full objects, `lazyManagedFields`'],
        ['kubereflect:prune', '`prune`'],
      ] as const) {
        const row = (t: ThroughputResult) => t.rows.find((x) => x.contender === contender);
        if (!of.some(row)) continue;
        out.push({
          what: `event throughput vs client-node, ${what}${suffix}`,
          goal: kind === 'pods' ? '≥ 1.5×' : 'none (range)',
          met: kind === 'pods' ? (v) => v >= 1.5 : undefined,
          fmt: (v) => (Number.isFinite(v) ? `${f2(v)}×` : '–'),
          values: of.map((t) => ({ n: t.n, value: row(t)?.ratioToPeer ?? NaN })),
        });
        if (kind === 'pods')
          out.push({
            what: `event throughput vs \`JSON.parse\`, ${what}`,
            goal: '≥ 0.6×',
            met: (v) => v >= 0.6,
            fmt: times,
            values: of.map((t) => ({ n: t.n, value: row(t)?.ratioToLimit ?? NaN })),
          });
      }
    }
  }
  if (r.relist) {
    for (const [contender, what] of [
      ['kubereflect', 'pages of 500, reuse on'],
      ['kubereflect:lazy', 'pages of 500, `lazyManagedFields`'],
      ['kubereflect:streaming', 'streaming list'],
    ] as const) {
      if (!r.relist.some((x) => x.rows.some((y) => y.contender === contender))) continue;
      out.push({
        what: `relist peak (${what})`,
        goal: '≤ 1.2× steady',
        met: (v) => v <= 1.2,
        fmt: times,
        values: [
          ...r.relist.map((x) => ({ n: x.n, value: x.rows.find((y) => y.contender === contender)?.peakToSteady.median ?? NaN })),
          // The scale scenario's relist (same measure, larger N).
          ...(r.scale ?? []).map((x) => ({ n: x.n, value: x.rows.find((y) => y.measure === 'relist' && y.contender === contender)?.value?.median ?? NaN })),
        ],
      });
    }
  }
  return out;
}

/** The markdown of RESULTS.md. `findings` (hand-written analysis) is appended as is. */
export function renderReport(r: Results, opts: { findings?: string; chartDir?: string } = {}): string {
  const chartDir = opts.chartDir ?? 'charts';
  const s: string[] = [];
  s.push('# Benchmarks: kubereflect and @kubernetes/client-node, side by side');
  s.push('');
  s.push(
    'Generated by `bench/run.ts` from the run below; `bench/results.json` holds every sample. Medians of ' +
      `${r.repsNote ?? `${r.reps} repetitions`} with (min–max); each repetition runs every contender once, in rotated order, each in its own Node process.`,
  );
  s.push('');
  s.push('## Headline');
  s.push('');
  const t = targets(r);
  // The scale scenario's sizes as further columns, where a target has a value there.
  const columns = [
    ...r.sizes,
    ...(r.scale ?? []).map((x) => x.n).filter((n) => !r.sizes.includes(n) && t.some((x) => x.values.some((v) => v.n === n && Number.isFinite(v.value)))),
  ];
  s.push(
    table(
      ['target', 'goal', ...columns.map((n) => `N = ${f0(n)}`), 'met?'],
      t.map((x) => [
        x.what,
        x.goal,
        ...columns.map((n) => x.fmt(x.values.find((v) => v.n === n)?.value ?? NaN)),
        !x.met
          ? '–'
          : x.values.filter((v) => Number.isFinite(v.value)).every((v) => x.met!(v.value))
            ? 'met'
            : x.values.some((v) => x.met!(v.value))
              ? 'partly'
              : 'missed',
      ]),
    ),
  );
  s.push('');
  s.push(`![memory per cached pod](${chartDir}/memory.svg)`);
  s.push('');
  s.push(`![event throughput against the JSON.parse limit](${chartDir}/throughput.svg)`);
  s.push('');
  s.push('## The run');
  s.push('');
  s.push(`- Command: \`${r.command}\``);
  s.push(`- Started ${r.startedAt}, finished ${r.finishedAt}.`);
  s.push(
    `- Machine: ${Object.entries(r.machine)
      .map(([k, v]) => `${k} ${v}`)
      .join(', ')}.`,
  );
  s.push(`- Server: ${r.server} (the local control plane: \`npm run cluster -- up\`), etcd on the same machine.`);
  s.push(
    `- Load average (1, 5, 15 min) at the start and end of each scenario — other work shared this 2-core machine, so times are noisier than memory: ${r.load.map((l) => `${l.scenario} ${l.start.join('/')} → ${l.end.join('/')}`).join('; ')}.`,
  );
  s.push(
    "- Memory is the live heap after forced full GCs (`--expose-gc`), minus the same process's baseline before the client started; it does not depend on load.",
  );
  s.push('');
  s.push('### Data and loader');
  s.push('');
  s.push(
    'Realistic pods (`bench/data.ts`): 7 labels, 6 annotations, an owner reference, 2–3 containers with env (literals, fieldRef, secretKeyRef, configMapKeyRef, resourceFieldRef), resources, liveness/readiness/startup probes, ports, security contexts and volume mounts, the projected service-account volume, affinity and topology spread, a node name; status with 5 conditions and one container status per container; two `managedFields` entries written by the server (spec applied as `kube-controller-manager`, status through the `status` subresource as `kubelet`). About 14 KB of JSON per pod, 6 KB of it `managedFields`.',
  );
  s.push('');
  s.push(
    table(
      ['namespace', 'pods', 'load time', 'pods/s', 'server-side applies/s', 'in flight', 'loaded'],
      r.loader.map((l) => [
        `\`${l.namespace}\``,
        f0(l.pods),
        `${f1(l.seconds)} s`,
        f0(l.podsPerSecond),
        f0(2 * l.podsPerSecond),
        String(l.concurrency),
        l.loaded ? `by this run, ${l.at}` : `by an earlier run, ${l.at} (reused: complete at this data version)`,
      ]),
    ),
  );
  s.push('');
  s.push(
    'Each pod is two server-side applies (spec, then status) with 48 in flight; the apiserver and etcd on the same 2 cores are the bottleneck (the loader process itself uses about a third of one core).',
  );

  if (r.memory) {
    s.push('');
    s.push('## 1. Store memory per cached object');
    s.push('');
    s.push(
      'Live heap retained with the store full and the watch open, per object (`bench/memory.ts`); real apiserver. Pods, and where listed ConfigMaps, Secrets and Workflows (`bench/kinds.ts`).',
    );
    s.push('');
    s.push(
      table(
        ['contender', 'kind', 'N', 'KiB per object', 'retained MiB', '× client-node'],
        r.memory.flatMap((m) =>
          m.rows.map((x) => [
            label(x.contender),
            m.kind ?? 'pods',
            f0(m.n),
            range(x.bytesPerObject, (v) => f1(kib(v))),
            f1(x.retainedMiB.median),
            `${f2(x.ratioToPeer)}×`,
          ]),
        ),
      ),
    );
    s.push('');
    s.push(
      '`prune` and `keep` are the generated `Pod.prune({ status: true, metadata: { managedFields: true } })` and `Pod.keep({ spec: { nodeName: true }, status: { phase: true } })` (`generated/core/v1/pod.ts`), applied through `modify` before the store. Metadata-only is `metadataWatcher` (the server sends `PartialObjectMetadata`, `managedFields` included).',
    );
  }

  if (r.sync) {
    s.push('');
    s.push('## 2. Initial sync time');
    s.push('');
    s.push(
      'From creating the client to a ready store holding all N pods, cold process each time (`bench/sync.ts`); real apiserver. A ratio above 1 is faster than client-node.',
    );
    s.push('');
    s.push(
      table(
        ['contender', 'N', 'ms', 'pods/s', 'speed × client-node'],
        r.sync.flatMap((m) => m.rows.map((x) => [label(x.contender), f0(m.n), range(x.ms, f0), f0(x.podsPerSecond), `${f2(x.ratioToPeer)}×`])),
      ),
    );
    s.push('');
    s.push('client-node lists without pages (one response with every pod) and has no streaming list; its `start()` resolves once its watch is open.');
  }

  if (r.throughput) {
    s.push('');
    s.push('## 3. Event throughput');
    s.push('');
    s.push(
      `\`MODIFIED\` events for the N pods — rounds of one per pod, ${r.throughput.map((m) => `${f0(m.events)} events for N = ${f0(m.n)}`).join(', ')} — into a synced store (\`bench/throughput.ts\`). **Replay server**: the events and the list are recorded from the real apiserver and served over HTTPS from a separate process at full speed (\`bench/replay.ts\`), because kube-apiserver on this machine cannot emit events as fast as a client consumes them — it would measure the apiserver. Both clients read identical bytes. \`kubereflect, prune\` stores \`Pod.prune({ status: true, metadata: { managedFields: true } })\` objects, with \`managedFields\` cut before parsing as a generated kind's \`cache()\` does for that transform. The limit is \`JSON.parse\` of the same lines, already split and in memory, results dropped. The reference between them is what any cache of full objects must do at least: the same watch received over HTTPS by kubereflect's client, each line parsed and put into a \`Map\` that already holds the N listed pods — no watcher, no store.`,
    );
    s.push('');
    s.push(
      table(
        ['contender', 'kind', 'N', 'events/s', 'MiB/s', '× client-node', '× JSON.parse'],
        r.throughput.flatMap((m) =>
          m.rows.map((x) => [
            label(x.contender),
            m.kind ?? 'pods',
            f0(m.n),
            range(x.eventsPerSecond, f0),
            f1(x.mibPerSecond),
            `${f2(x.ratioToPeer)}×`,
            `${f2(x.ratioToLimit)}×`,
          ]),
        ),
      ),
    );
    s.push('');
    s.push(
      `Events average ${[...new Map(r.throughput.map((t) => [t.kind ?? 'pods', t])).values()].map((t) => `${f1(t.eventBytes / t.events / 1024)} KiB (${t.kind ?? 'pods'})`).join(', ')}. For ConfigMaps the update is a changed data value, for Secrets a changed annotation, for Workflows a status time, each with its manager's managedFields time.`,
    );
  }

  if (r.relist) {
    s.push('');
    s.push('## 4. Relist peak');
    s.push('');
    s.push(
      'A forced relist: the watch gets an in-stream 410 and the client lists the same (unchanged) N pods again, from the replay server (`bench/relist.ts`). Live heap + Buffers after forced GCs, sampled after every large `JSON.parse`, every N/20 relisted objects and before the swap (kubereflect), and after the list is parsed and deserialised (client-node).',
    );
    s.push('');
    s.push(
      table(
        ['contender', 'N', 'steady MiB', 'peak MiB', 'peak / steady', 'after MiB', 'samples'],
        r.relist.flatMap((m) =>
          m.rows.map((x) => [
            label(x.contender),
            f0(m.n),
            f1(x.steadyMiB.median),
            f1(x.peakMiB.median),
            `${range(x.peakToSteady, f2)}×`,
            f1(x.afterMiB.median),
            String(x.samples),
          ]),
        ),
      ),
    );
  }

  if (r.fanout) {
    s.push('');
    s.push('## 5. Dispatcher fan-out');
    s.push('');
    s.push(
      `One watch, 1 / 4 / 16 subscribers (\`bench/fanout.ts\`). kubereflect: \`storeShared()\` + \`reflectShared\`, each subscriber a \`for await\` over \`reader.subscribe()\` (a work queue of keys: an update overtaken before it is read is skipped); client-node: one \`update\` handler per subscriber on its informer. **End to end**: the events of scenario 3 from the replay server; the clock stops when every subscriber has every event (client-node) or the last version of every updated pod (kubereflect). **Dispatch alone**: the same events already parsed, in memory, through kubereflect's \`reflectShared\` (store + subscribers) and through client-node's \`addOrUpdateObject\` with its callbacks (what its informer runs per event) — no network, no parsing.`,
    );
    s.push('');
    s.push(
      table(
        ['measurement', 'contender', 'subscribers', 'N', 'events/s', '× client-node'],
        r.fanout.flatMap((m) =>
          m.rows.map((x) => [
            x.mode === 'replay' ? 'end to end' : 'dispatch alone',
            label(x.contender),
            String(x.subscribers),
            f0(m.n),
            range(x.eventsPerSecond, f0),
            `${f2(x.ratioToPeer)}×`,
          ]),
        ),
      ),
    );
    s.push('');
    s.push('Cost of each subscriber beyond the first, µs per event, from the medians at 1 and 16 subscribers:');
    s.push('');
    s.push(
      table(
        ['measurement', 'N', ...Object.keys(r.fanout[0]!.costPerSubscriberMicros.dispatch)],
        r.fanout.flatMap((m) =>
          (['dispatch', 'replay'] as const).map((mode) => [
            mode === 'replay' ? 'end to end' : 'dispatch alone',
            f0(m.n),
            ...Object.values(m.costPerSubscriberMicros[mode]).map((v) => f2(v)),
          ]),
        ),
      ),
    );
  }

  if (r.indexes) {
    s.push('');
    s.push('## 6. Secondary indexes');
    s.push('');
    s.push(
      "Finding the pods of one node in a store of N pods spread over N/100 nodes (`bench/indexes.ts`, in memory, one process per repetition): `reader.byIndex('byNode', node)` against a scan, `reader.filter((p) => p.spec?.nodeName === node)`; µs per lookup, median over every node. Heap an index adds per stored pod, after forced GCs: `byNode` (one value per pod) and the built-in `owner` (one owner per pod). client-node's cache has no secondary indexes, so there is no peer row.",
    );
    s.push('');
    s.push(
      table(
        ['N', 'nodes', 'scan µs', 'index µs', 'scan / index', 'byNode B/pod', 'owner B/pod'],
        r.indexes.map((x) => [
          f0(x.n),
          f0(x.nodes),
          range(x.scanMicros, f0),
          range(x.indexMicros, f1),
          `${f0(x.scanMicros.median / x.indexMicros.median)}×`,
          f0(x.byNodeBytesPerPod.median),
          f0(x.ownerBytesPerPod.median),
        ]),
      ),
    );
  }

  if (r.scale) {
    s.push('');
    s.push('## 7. Scale');
    s.push('');
    const measured = [...new Set(r.scale.flatMap((x) => x.rows.map((row) => row.measure)))];
    const names: Record<string, string> = { memory: 'memory', sync: 'initial sync', relist: 'relist peak', throughput: 'steady event throughput' };
    s.push(
      `${measured
        .map((m) => names[m])
        .join(', ')
        .replace(/^./, (c) =>
          c.toUpperCase(),
        )} at N = ${r.scale.map((x) => f0(x.n)).join(' and ')} pods (\`bench/scale.ts\`), each measurement as in scenarios 1–4, in its own process. All of them read from the replay server: the larger N is the 10,000 pods recorded from the real apiserver, copied with new names and uids (the loader gets only tens of pods per second into kube-apiserver on this shared machine). A contender that fails is shown with its error. Ratios: memory and relist as a fraction of client-node, sync and throughput as a speed-up over it.`,
    );
    s.push('');
    const unit: Record<string, string> = { memory: 'KiB per pod', sync: 'ms to a ready store', relist: 'peak / steady', throughput: 'events/s' };
    const fmt: Record<string, (v: number) => string> = { memory: f1, sync: f0, relist: f2, throughput: f0 };
    s.push(
      table(
        ['measure', 'contender', 'N', 'value', '× client-node', 'note'],
        r.scale.flatMap((x) =>
          x.rows.map((row) => [
            `${row.measure} (${unit[row.measure]})`,
            label(row.contender),
            f0(x.n),
            row.value ? range(row.value, fmt[row.measure]!) : '–',
            row.ratioToPeer !== undefined && Number.isFinite(row.ratioToPeer) ? `${f2(row.ratioToPeer)}×` : '–',
            [
              row.steadyMiB !== undefined ? `steady ${f0(row.steadyMiB)} MiB, peak ${f0(row.peakMiB ?? NaN)} MiB` : '',
              row.failed ? `failed: ${row.failed.replace(/\|/g, '/')}` : '',
            ]
              .filter(Boolean)
              .join('; '),
          ]),
        ),
      ),
    );
  }

  if (r.sharding) {
    const x = r.sharding;
    s.push('');
    s.push('## 8. Sharding');
    s.push('');
    s.push(
      `Per replica of a sharded cache (\`bench/sharding.ts\`, docs/scale-out.md): ${f0(x.objects)} ConfigMaps with ${f0(x.dataBytes)} bytes of data each; for N replicas, replica i holds \`ConfigMap.cache(api, { shard: ShardRange.of(i, N) })\`, each in a fresh Node process, one after another, behind a pass-through proxy that counts the body bytes it receives; heap is the retained heap after forced GCs with the cache minus before it; medians over the N replicas. Server-side: ${x.server}. The goal: per replica, memory and (server-side) bytes ≤ 1.1 ÷ N of one replica, i.e. × N ≤ 1.10; client-side sharding receives every byte on every replica by design.`,
    );
    s.push('');
    s.push(
      table(
        [
          'sharding',
          'N',
          'heap per replica, KiB',
          'bytes received per replica, KiB',
          'objects parsed per replica',
          'heap × N ÷ one replica',
          'bytes × N ÷ one replica',
          'memory goal',
        ],
        x.rows.map((row) => [
          row.mode,
          String(row.n),
          f0(row.heapKiB),
          f0(row.bytesKiB),
          f0(row.objects),
          f2(row.heapTimesN),
          f2(row.bytesTimesN),
          row.n === 1 ? '–' : row.heapTimesN <= 1.1 ? 'met' : 'missed',
        ]),
      ),
    );
  }

  if (r.context) {
    s.push('');
    s.push('## Context: client-go and kube-rs');
    s.push('');
    s.push(r.context.note);
    if (r.context.rows.length > 0) {
      s.push('');
      s.push(
        table(
          ['reflector', 'N', 'RSS after sync, MiB', 'RSS − baseline, MiB', 'heap retained, KiB per pod'],
          r.context.rows.map((x) => [
            x.who,
            f0(x.n),
            f1(x.rssMiB.median),
            f1(x.rssDeltaMiB.median),
            Number.isFinite(x.heapKiBPerObject.median) ? f1(x.heapKiBPerObject.median) : '–',
          ]),
        ),
      );
    }
  }

  if (r.controller) {
    s.push('');
    s.push('## Controller');
    s.push('');
    s.push('`bench/controller.ts` (its own ConfigMaps and owned pods; what dominates is in `bench/CONTROLLER.md`).');
    s.push('');
    s.push(...renderController(r.controller));
  }

  s.push('');
  s.push('## How to reproduce');
  s.push('');
  s.push('```sh');
  s.push('npm ci');
  s.push('npm run bench            # starts or reuses the local control plane, loads the pods once, runs every scenario');
  s.push('npm run bench -- --sizes 2000 --reps 5 --only memory,throughput   # a subset');
  s.push('BENCH_CHILD_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof" npm run bench -- --only throughput --reps 1 --out /tmp/b   # profile the measured processes');
  s.push('npm run bench -- --only sharding --shard-objects 10000 --merge   # scenario 8 alone (its own ConfigMaps, a second apiserver with the gate)');
  s.push('npm run bench -- --only scale --sizes 10000 --scale-sizes 50000 --merge   # scenario 7 (replay server; not in the default run)');
  s.push('npm run bench -- --report  # render RESULTS.md and the charts again from bench/results.json');
  s.push('```');
  s.push('');
  s.push(
    'The benchmark namespaces (`kubereflect-bench-v<data version>-n<N>`) are kept and reused; a fresh control plane loads them again. A tiny run of the scenarios but context, scale and controller (N = 20, one repetition; sharding over 20 ConfigMaps) is part of `npm test` (`test/bench/bench.test.ts`).',
  );
  if (opts.findings) {
    s.push('');
    s.push(opts.findings.trim());
  }
  s.push('');
  return s.join('\n');
}

// ---- charts ----

const COLORS: Record<string, string> = {
  'client-node': '#9aa0a6',
  'kubereflect:full': '#1a73e8',
  'kubereflect:lazy': '#174ea6',
  kubereflect: '#1a73e8',
  'kubereflect:metadata': '#4285f4',
  'kubereflect:metadata-strip': '#8ab4f8',
  'kubereflect:prune': '#34a853',
  'kubereflect:keep': '#0f9d58',
  json: '#fbbc04',
  'JSON.parse': '#fbbc04',
  'HTTPS+JSON.parse+Map': '#f29900',
};

const esc = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

interface Bar {
  label: string;
  value: number;
  text: string;
  color: string;
}

/** A horizontal bar chart: one group per size, one bar per contender. */
function barChart(title: string, unit: string, groups: { name: string; bars: Bar[] }[]): string {
  const width = 760;
  const left = 300;
  const barH = 18;
  const gap = 6;
  const groupGap = 22;
  const top = 48;
  const max = Math.max(...groups.flatMap((g) => g.bars.map((b) => b.value)).filter(Number.isFinite), 1);
  const scale = (width - left - 170) / max;
  const parts: string[] = [];
  let y = top;
  for (const g of groups) {
    parts.push(`<text x="10" y="${y + 12}" font-weight="bold">${esc(g.name)}</text>`);
    y += 20;
    for (const b of g.bars) {
      const w = Number.isFinite(b.value) ? Math.max(1, b.value * scale) : 0;
      parts.push(`<text x="${left - 8}" y="${y + barH - 5}" text-anchor="end">${esc(b.label)}</text>`);
      parts.push(`<rect x="${left}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${b.color}"/>`);
      parts.push(`<text x="${(left + w + 6).toFixed(1)}" y="${y + barH - 5}">${esc(b.text)}</text>`);
      y += barH + gap;
    }
    y += groupGap;
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<text x="10" y="38" fill="#555">${esc(unit)}</text>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}

const CHART_LABEL: Record<string, string> = {
  'client-node': 'client-node informer',
  'kubereflect:full': 'kubereflect full',
  'kubereflect:lazy': 'kubereflect full, lazy managedFields',
  'kubereflect:metadata': 'kubereflect metadata-only',
  'kubereflect:metadata-strip': 'kubereflect metadata-only, no managedFields',
  'kubereflect:prune': 'kubereflect prune',
  'kubereflect:keep': 'kubereflect keep',
  json: 'JSON.parse reference',
  kubereflect: 'kubereflect',
  'JSON.parse': 'limit: JSON.parse alone',
  'HTTPS+JSON.parse+Map': 'reference: HTTPS, parse, Map',
};

/** The SVG charts of a run: `memory.svg` and `throughput.svg`. */
export function renderCharts(r: Results): { name: string; svg: string }[] {
  const charts: { name: string; svg: string }[] = [];
  if (r.memory) {
    charts.push({
      name: 'memory.svg',
      svg: barChart(
        'Memory per cached pod',
        'retained heap, KiB per pod (median; lower is better); × = ratio to client-node',
        r.memory.map((m) => ({
          name: `N = ${f0(m.n)} ${m.kind ?? 'pods'}`,
          bars: m.rows.map((x) => ({
            label: CHART_LABEL[x.contender] ?? x.contender,
            value: kib(x.bytesPerObject.median),
            text: `${f1(kib(x.bytesPerObject.median))} KiB · ${f2(x.ratioToPeer)}×`,
            color: COLORS[x.contender] ?? '#888',
          })),
        })),
      ),
    });
  }
  if (r.throughput) {
    charts.push({
      name: 'throughput.svg',
      svg: barChart(
        'Event throughput against the limit',
        'MODIFIED events per second into the store (median; higher is better); × = share of JSON.parse alone',
        r.throughput.map((m) => ({
          name: `N = ${f0(m.n)} ${m.kind ?? 'pods'}`,
          bars: m.rows.map((x) => ({
            label: CHART_LABEL[x.contender] ?? x.contender,
            value: x.eventsPerSecond.median,
            text: `${f0(x.eventsPerSecond.median)}/s · ${f2(x.ratioToLimit)}×`,
            color: COLORS[x.contender] ?? '#888',
          })),
        })),
      ),
    });
  }
  return charts;
}

/** The hand-written findings to append, if the file exists. */
export function readFindings(path: string): string | undefined {
  return existsSync(path) ? readFileSync(path, 'utf8') : undefined;
}
