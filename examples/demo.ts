/**
 * The demo (`npm start`): brings up the local control plane (or reuses it),
 * applies the sample Widget CRD, regenerates its types with the CLI into a
 * temp folder, and runs typed reflectors — Pods pruned, Widgets whole — while
 * a churn driver creates, updates and deletes objects, and the example
 * operator (`examples/support/widget-operator.ts`) reconciles the Widgets. A
 * live view shows what each store holds, events per second, relists, the last
 * error and the heap, and the operator's reconciles per second, queue depth
 * and last error.
 *
 *   npm start                         the local control plane, with churn
 *   npm start -- --context NAME       your cluster, read-only: pods (pruned) and nodes (metadata only)
 *   npm start -- --seconds N          stop by itself after N seconds
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { Node } from '../generated/core/v1/node.ts';
import { Pod } from '../generated/core/v1/pod.ts';
import { allNamespaces, silentLogger } from '../runtime/index.ts';
import type { Client, WatcherEvent } from '../runtime/index.ts';
import { startChurn, type ChurnTarget } from './support/churn.ts';
import { widgetOperator } from './support/widget-operator.ts';
import { connect, freshNamespace, parseArgs, untilDone } from './support/cluster.ts';
import { applyWidgetCrd, samplePod } from './support/seed.ts';
import { newStats, type StreamStats } from './support/stats.ts';
import { LiveView, type Watched } from './support/view.ts';

type WidgetModule = typeof import('./generated/demo.kubereflect.dev/v1/widget.ts');
const repo = resolve(import.meta.dirname, '..');

/** Drives a cache, counting its events into stats. */
function drive<K>(stream: AsyncIterable<WatcherEvent<K>>, stats: StreamStats): Promise<void> {
  return (async () => {
    for await (const e of stream) {
      if (e.type === 'Init') stats.inits++;
      else if (e.type === 'Error') {
        stats.errors++;
        stats.lastError = e.error.message;
      } else if (e.type !== 'InitDone') stats.events++;
    }
  })();
}

/** Runs `kubereflect generate` for the sample CRD into a temp folder and imports the Widget module it wrote. */
async function regenerateWidget(): Promise<{ module: WidgetModule; summary: string; cleanup: () => void }> {
  const out = mkdtempSync(join(tmpdir(), 'kubereflect-demo-'));
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [
      join(repo, 'bin', 'kubereflect.mjs'),
      'generate',
      '--quiet',
      '--crd',
      join(repo, 'examples', 'crds', 'widget.yaml'),
      '--out',
      out,
      '--runtime',
      join(repo, 'runtime', 'index.ts'),
    ],
    { cwd: repo },
  );
  const module = (await import(join(out, 'demo.kubereflect.dev', 'v1', 'widget.ts'))) as WidgetModule;
  return { module, summary: stdout.trim().replace(/^kubereflect: /, ''), cleanup: () => rmSync(out, { recursive: true, force: true }) };
}

/** Runs the example operator on the demo's Widgets; `line()` is its row of the live view. */
function runOperator(client: Client, namespace: string): { line: () => string; stop: () => Promise<void> } {
  // Its own warnings (a conflict with the churn, retried) would scroll the view: the view shows the last error instead.
  const op = widgetOperator(client, namespace, { logger: silentLogger });
  const running = op.controller.run(op.reconcile);
  let last = { reconciles: 0, at: Date.now() };
  return {
    line() {
      const s = op.controller.stats();
      const now = Date.now();
      const rate = (s.reconciles - last.reconciles) / Math.max(0.001, (now - last.at) / 1000);
      last = { reconciles: s.reconciles, at: now };
      return `operator: ${s.reconciles} reconciles (${rate.toFixed(1)}/s), queue depth ${s.queueDepth}, in flight ${s.inFlight}, ${s.failures} failed; last error: ${s.lastError ? s.lastError.message.slice(0, 70) : '-'}`;
    },
    async stop() {
      await op.controller.shutdown({ deadlineMs: 5_000 });
      await running;
      op.recorder.close();
    },
  };
}

async function main(): Promise<void> {
  const args = parseArgs();
  const { client, local, close } = await connect(args);
  const watched: Watched[] = [];
  const stops: (() => void)[] = [];
  const runs: Promise<void>[] = [];
  const watch = <K>(label: string, r: { reader: { size: number }; stop(): void } & AsyncIterable<WatcherEvent<K>>) => {
    const stats = newStats(label);
    watched.push({ stats, size: () => r.reader.size });
    stops.push(() => r.stop());
    runs.push(drive(r, stats));
  };

  let churn: ReturnType<typeof startChurn> | undefined;
  let operator: { line: () => string; stop: () => Promise<void> } | undefined;
  let cleanup = () => {};
  let where: string;
  if (local) {
    await applyWidgetCrd(client);
    const generated = await regenerateWidget();
    cleanup = generated.cleanup;
    console.log(`generated the Widget types with the CLI: ${generated.summary}`);
    const { Widget } = generated.module;
    const namespace = await freshNamespace(client, 'demo');
    where = `local control plane ${client.server}, namespace ${namespace}`;
    const pods = Pod.api(client, namespace);
    const widgets = Widget.api(client, namespace);
    watch('pods (pruned)', Pod.cache(pods, { transform: Pod.prune({ status: true, metadata: { managedFields: true, annotations: true } }) }));
    watch('widgets', Widget.cache(widgets));
    const targets: ChurnTarget[] = [
      {
        label: 'pod',
        create: (name) => pods.create(samplePod(name)),
        update: (name, step) => pods.patch(name, { type: 'merge', body: { metadata: { labels: { step: String(step) } } } }),
        remove: (name) => pods.delete(name, { gracePeriodSeconds: 0 }),
      },
      {
        label: 'widget',
        create: (name) => widgets.create({ metadata: { name }, spec: { color: 'red', size: 1 } }),
        update: (name, step) => widgets.patch(name, { type: 'merge', body: { spec: { size: step, color: (['red', 'green', 'blue'] as const)[step % 3]! } } }),
        remove: (name) => widgets.delete(name),
      },
    ];
    churn = startChurn(targets, { intervalMs: 100, population: 25 });
    operator = runOperator(client, namespace);
  } else {
    where = `context ${args.context} (${client.server}), read-only`;
    watch(
      'pods (pruned)',
      Pod.cache(Pod.api(client, allNamespaces), { transform: Pod.prune({ status: true, metadata: { managedFields: true, annotations: true } }) }),
    );
    watch('nodes (metadata only)', Node.metadataCache(Node.api(client)));
  }

  const footer = () =>
    [
      churn
        ? `churn: ${churn.stats.creates} creates, ${churn.stats.updates} updates, ${churn.stats.deletes} deletes, ${churn.stats.failures} failures${churn.stats.lastFailure ? ` (last: ${churn.stats.lastFailure.slice(0, 60)})` : ''}`
        : '',
      operator?.line() ?? '',
    ]
      .filter(Boolean)
      .join('\n');
  const view = new LiveView(`kubereflect demo — ${where}`, watched, footer);
  view.start();
  await untilDone(args.once ? { ...args, once: false, seconds: 5 } : args);
  await churn?.stop();
  await operator?.stop();
  for (const stop of stops) stop();
  await Promise.all(runs);
  view.stop();
  cleanup();
  await close();
  console.log('stopped: every watch closed, the control plane keeps running (npm run cluster -- down stops it)');
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(`error: ${err.message}`);
    process.exit(1);
  },
);
