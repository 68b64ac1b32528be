/**
 * The demo (`npm start`): brings up the local control plane (or reuses it),
 * applies the sample Widget CRD, regenerates its types with the CLI into a
 * temp folder, and runs typed reflectors — Pods pruned, Widgets whole — while
 * a churn driver creates, updates and deletes objects. A live view shows what
 * each store holds, events per second, relists, the last error and the heap.
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
import { allNamespaces } from '../runtime/index.ts';
import type { KubeObject, WatcherEvent } from '../runtime/index.ts';
import { startChurn, type ChurnTarget } from './support/churn.ts';
import { connect, freshNamespace, parseArgs, untilDone } from './support/cluster.ts';
import { applyWidgetCrd, samplePod } from './support/seed.ts';
import { newStats, type StreamStats } from './support/stats.ts';
import { LiveView, type Watched } from './support/view.ts';

type WidgetModule = typeof import('./generated/demo.kubereflect.dev/v1/widget.ts');
const repo = resolve(import.meta.dirname, '..');

/** Drives a reflection, counting its events into stats. */
function drive<K>(reflection: AsyncIterable<WatcherEvent<K>>, stats: StreamStats): Promise<void> {
  return (async () => {
    for await (const e of reflection) {
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
  const { stdout } = await promisify(execFile)(process.execPath, [
    join(repo, 'bin', 'kubereflect.mjs'), 'generate', '--quiet',
    '--crd', join(repo, 'examples', 'crds', 'widget.yaml'), '--out', out, '--runtime', join(repo, 'runtime', 'index.ts'),
  ], { cwd: repo });
  const module = (await import(join(out, 'demo.kubereflect.dev', 'v1', 'widget.ts'))) as WidgetModule;
  return { module, summary: stdout.trim().replace(/^kubereflect: /, ''), cleanup: () => rmSync(out, { recursive: true, force: true }) };
}

async function main(): Promise<void> {
  const args = parseArgs();
  const { client, local, close } = await connect(args);
  const watched: Watched[] = [];
  const stops: (() => void)[] = [];
  const runs: Promise<void>[] = [];
  const watch = <K,>(label: string, r: { reader: { size: number }; stop(): void } & AsyncIterable<WatcherEvent<K>>) => {
    const stats = newStats(label);
    watched.push({ stats, size: () => r.reader.size });
    stops.push(() => r.stop());
    runs.push(drive(r, stats));
  };

  let churn: ReturnType<typeof startChurn> | undefined;
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
  } else {
    where = `context ${args.context} (${client.server}), read-only`;
    watch('pods (pruned)', Pod.cache(Pod.api(client, allNamespaces), { transform: Pod.prune({ status: true, metadata: { managedFields: true, annotations: true } }) }));
    watch('nodes (metadata only)', Node.metadataCache(Node.api(client)));
  }

  const footer = () => (churn
    ? `churn: ${churn.stats.creates} creates, ${churn.stats.updates} updates, ${churn.stats.deletes} deletes, ${churn.stats.failures} failures${churn.stats.lastFailure ? ` (last: ${churn.stats.lastFailure.slice(0, 60)})` : ''}`
    : '');
  const view = new LiveView(`kubereflect demo — ${where}`, watched, footer);
  view.start();
  await untilDone(args.once ? { ...args, once: false, seconds: 5 } : args);
  await churn?.stop();
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
