/**
 * The example operator (`examples/support/widget-operator.ts`) as a ring of
 * three replicas, each a `Manager` with `shardRing` (docs/scale-out.md): every replica active, each
 * reconciling only the Widgets whose uid hashes into its range, with ranges
 * handed over through Kubernetes Leases. Here the three replicas share one
 * process (each with its own client, as separate processes would); the
 * multi-process tests are `test/scale/`.
 *
 * It creates 30 Widgets, shows which replica reconciled which (every Widget
 * by exactly one), stops one replica and shows the other two take over its
 * Widgets; then keeps running (or stops with `--once`). Local control plane
 * only: it writes. Short Lease timings (3 s / 2 s / 0.5 s) keep it quick.
 */
import { Client, Manager, silentLogger } from '../runtime/index.ts';
import type { ShardRange } from '../runtime/scale.ts';
import { Widget } from './generated/demo.kubereflect.dev/v1/widget.ts';
import { connect, freshNamespace, untilDone, type ExampleArgs } from './support/cluster.ts';
import { applyWidgetCrd } from './support/seed.ts';
import { ExternalRecords, widgetOperatorOn } from './support/widget-operator.ts';

const TIMINGS = { leaseDuration: 3000, renewDeadline: 2000, retryPeriod: 500 };

/**
 * One replica: a manager whose ring hands it a range at a time; for each
 * term it runs the operator's controller on that range (its caches of the
 * ConfigMaps stay warm across terms). A term's controller returns only once
 * its last reconcile has, and only then does the ring let the range go: no
 * Widget is reconciled by two replicas at once.
 */
function replica(kubeconfig: string, namespace: string, identity: string, records: ExternalRecords, reconciledBy: Map<string, string>) {
  const client = Client.fromFile(kubeconfig, { context: 'admin' });
  const manager = new Manager(client, {
    name: 'widget-operator',
    shardRing: { namespace, ring: 'widget-operator', identity, ...TIMINGS },
    logger: silentLogger,
  });
  const op = widgetOperatorOn(manager, client, namespace, { records, logger: silentLogger, observe: (w) => reconciledBy.set(w.metadata.name, identity) });
  const started = manager.start();
  return {
    identity,
    /** The range this replica reconciles now. */
    get range(): ShardRange | undefined {
      return manager.ring?.range;
    },
    /** Stops the manager: the term ends, the operator's reconciles return, then the range goes to the others. */
    async stop() {
      await started;
      await manager.stop();
      op.recorder.close();
      client.close();
    },
  };
}

async function until<T>(what: string, check: () => Promise<T | undefined> | T | undefined, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

export default async function shardedOperator(args: ExampleArgs): Promise<void> {
  if (args.context) throw new Error('the sharded operator example writes Widgets and Leases: run it against the local control plane (without --context)');
  const { client, kubeconfig, close } = await connect(args);
  if (!kubeconfig) throw new Error('the sharded operator example needs the local control plane');
  await applyWidgetCrd(client);
  const namespace = await freshNamespace(client, 'sharded');
  const widgets = Widget.api(client, namespace);
  for (let i = 0; i < 30; i++) await widgets.create({ metadata: { name: `w-${String(i).padStart(2, '0')}` }, spec: { color: 'red', size: i } });
  const records = new ExternalRecords();
  const reconciledBy = new Map<string, string>();
  const replicas = ['replica-a', 'replica-b', 'replica-c'].map((id) => replica(kubeconfig, namespace, id, records, reconciledBy));

  const settled = () =>
    until('every Widget to be Ready', async () => {
      const items = (await widgets.list()).items;
      return items.every(
        (w) => w.status?.observedGeneration === w.metadata?.generation && w.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
      )
        ? items
        : undefined;
    });
  const report = (live: typeof replicas, items: Awaited<ReturnType<typeof settled>>) => {
    for (const r of live) {
      const mine = items.filter((w) => r.range?.has(w.metadata!.uid!));
      console.log(
        `  ${r.identity} ${r.range ?? '(no range)'}: ${mine.length} Widgets, reconciled by ${[...new Set(mine.map((w) => reconciledBy.get(w.metadata!.name!)))].join(', ') || 'nobody yet'}`,
      );
    }
  };

  await until('three replicas to hold a range each', () => (replicas.every((r) => r.range) ? true : undefined));
  let items = await settled();
  // A replica that held a wider range before the others joined reconciled some first: wait for each range's own term to reach them.
  const byOwner = (live: typeof replicas) =>
    until('each Widget reconciled by the replica whose range holds it', () =>
      items.every((w) => reconciledBy.get(w.metadata!.name!) === live.find((r) => r.range?.has(w.metadata!.uid!))?.identity) ? true : undefined,
    );
  await byOwner(replicas);
  console.log(`${items.length} Widgets, each reconciled by the one replica whose range holds its uid:`);
  report(replicas, items);

  const [gone, ...rest] = replicas as [(typeof replicas)[number], ...typeof replicas];
  await gone.stop();
  await until('two replicas to split the space', () => (rest.every((r) => r.range && r.range.end - r.range.start > (1n << 64n) / 3n + 1n) ? true : undefined));
  for (const w of items) await widgets.patch(w.metadata!.name!, { type: 'merge', body: { spec: { color: 'blue' } } });
  items = await settled();
  const movedTo = new Set(items.map((w) => reconciledBy.get(w.metadata!.name!)));
  console.log(`${gone.identity} left the ring; after a change to every Widget, reconciled by ${[...movedTo].sort().join(' and ')}:`);
  report(rest, items);

  await untilDone(args);
  for (const r of rest) await r.stop();
  await close();
  console.log(`stopped: ${records.records.size} external records (one per Widget)`);
}
