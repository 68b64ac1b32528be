/**
 * An operator built on the controller runtime (`examples/support/widget-operator.ts`):
 * for each Widget a ConfigMap owned by it and built from its spec, the
 * Widget's status (a Ready condition and observedGeneration), a record in an
 * external system that a finalizer removes before the Widget goes, and
 * events. It serves its metrics (prom-client) on `/metrics`.
 *
 * It creates Widgets, changes one, deletes another's ConfigMap and deletes a
 * third, printing what the operator did each time; then keeps running (or
 * stops with `--once`). Local control plane only: it writes.
 */
import { createServer } from 'node:http';
import * as prom from 'prom-client';
import { ConfigMap } from '../generated/core/v1/configmap.ts';
import { Api, type KubeObject } from '../runtime/index.ts';
import { prometheusMetrics } from '../runtime/metrics.ts';
import { Widget } from './generated/demo.kubereflect.dev/v1/widget.ts';
import { connect, freshNamespace, untilDone, type ExampleArgs } from './support/cluster.ts';
import { applyWidgetCrd } from './support/seed.ts';
import { ExternalRecords, OPERATOR, widgetOperator } from './support/widget-operator.ts';

/** Polls `check` until it returns a value, for up to `ms`. */
async function until<T>(what: string, check: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export default async function operator(args: ExampleArgs): Promise<void> {
  if (args.context) throw new Error('the operator example writes Widgets and ConfigMaps: run it against the local control plane (without --context)');
  const { client, close } = await connect(args);
  await applyWidgetCrd(client);
  const namespace = await freshNamespace(client, 'operator');
  const registry = new prom.Registry();
  const records = new ExternalRecords();
  const op = widgetOperator(client, namespace, { records, metrics: prometheusMetrics(prom, { controller: 'widget-operator', registry }) });
  const server = createServer((req, res) => {
    if (req.url !== '/metrics') return void res.writeHead(404).end();
    registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (err: Error) => res.writeHead(500).end(err.message),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const metricsUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}/metrics`;
  console.log(`operator for Widgets in ${namespace}; metrics on ${metricsUrl}`);
  const running = op.controller.run(op.reconcile);

  const widgets = Widget.api(client, namespace);
  const configMaps = ConfigMap.api(client, namespace);
  /** The Widget once the operator is done with its current generation: ConfigMap in line, Ready. */
  const settled = (name: string) =>
    until(`${name} to be reconciled`, async () => {
      const w = await widgets.get(name);
      const cm = await configMaps.getIfExists(`${name}-widget`);
      const ready = w.status?.conditions?.find((c) => c.type === 'Ready' && c.status === 'True');
      if (!cm || !ready || w.status?.observedGeneration !== w.metadata?.generation || cm.data?.color !== w.spec?.color) return undefined;
      return `ConfigMap ${cm.metadata?.name} {${Object.entries(cm.data ?? {})
        .map(([k, v]) => `${k}=${v}`)
        .join(', ')}}, Ready at generation ${w.metadata?.generation}`;
    });

  await widgets.create({ metadata: { name: 'gear' }, spec: { color: 'red', size: 3, parts: [{ name: 'tooth', count: 12 }] } });
  await widgets.create({ metadata: { name: 'sprocket' }, spec: { color: 'blue', size: '2Gi' } });
  await widgets.create({ metadata: { name: 'cog' }, spec: { color: 'green', size: 1 } });
  for (const name of ['gear', 'sprocket', 'cog']) console.log(`${name}: ${await settled(name)}`);

  await widgets.patch('gear', { type: 'merge', body: { spec: { color: 'green', size: 4 } } });
  console.log(`gear updated: ${await settled('gear')}`);

  const old = await configMaps.get('sprocket-widget');
  await configMaps.delete('sprocket-widget');
  await until('the ConfigMap to come back', async () => {
    const again = await configMaps.getIfExists('sprocket-widget');
    return again && again.metadata?.uid !== old.metadata?.uid ? again : undefined;
  });
  console.log(`sprocket-widget deleted → re-created by the operator`);

  const cog = await widgets.get('cog');
  await widgets.delete('cog');
  await until('cog to go', async () => ((await widgets.getIfExists('cog')) ? undefined : true));
  const cleaned = records.removals.filter((r) => r.endsWith(`@${cog.metadata?.uid}`)).length;
  console.log(`cog deleted: cleanup ran ${cleaned === 1 ? 'once' : `${cleaned} times`}, the Widget is gone, ${records.records.size} external records left`);

  const text = await (await fetch(metricsUrl)).text();
  console.log(`GET /metrics → ${text.split('\n').find((l) => l.startsWith('controller_runtime_reconcile_total{') && l.includes('result="success"'))}`);
  const events = new Api<KubeObject & { reason?: string; reportingController?: string }>(
    client,
    { group: 'events.k8s.io', version: 'v1', kind: 'Event', plural: 'events', namespaced: true },
    namespace,
  );
  const reasons = new Map<string, number>();
  for (const e of (await events.list()).items) if (e.reportingController === OPERATOR) reasons.set(e.reason!, (reasons.get(e.reason!) ?? 0) + 1);
  console.log(
    `events: ${[...reasons]
      .sort()
      .map(([r, n]) => `${r} ×${n}`)
      .join(', ')}`,
  );

  await untilDone(args);
  const report = await op.controller.shutdown({ deadlineMs: 10_000 });
  await running;
  await op.recorder.flush();
  op.recorder.close();
  server.close();
  await close();
  const stats = op.controller.stats();
  console.log(`stopped: ${report.abandoned} reconciles abandoned, ${stats.reconciles} reconciles in all, ${stats.failures} failed`);
}
