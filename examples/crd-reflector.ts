/**
 * A reflector for a custom resource, from types generated for its CRD
 * (`npm run generate:examples` writes `examples/generated/` from
 * `examples/crds/widget.yaml`). The spec is fully typed: `color` is
 * `'red' | 'green' | 'blue'`, `size` is `number | string`.
 */
import { Widget } from './generated/demo.kubereflect.dev/v1/widget.ts';
import { connect, freshNamespace, untilDone, type ExampleArgs } from './support/cluster.ts';
import { applyWidgetCrd } from './support/seed.ts';

export default async function crdReflector(args: ExampleArgs): Promise<void> {
  const { client, local, close } = await connect(args);
  const namespace = local ? await freshNamespace(client, 'crd-reflector') : 'default';
  if (local) {
    await applyWidgetCrd(client);
    const api = Widget.api(client, namespace);
    await api.create({ metadata: { name: 'sprocket' }, spec: { color: 'blue', size: '2Gi', parts: [{ name: 'tooth', count: 24 }] } });
    await api.create({ metadata: { name: 'gear' }, spec: { color: 'red', size: 3 } });
  }
  const widgets = Widget.cache(Widget.api(client, namespace));
  const running = widgets.run();
  await widgets.reader.waitUntilReady();
  for (const w of widgets.reader.state()) {
    const parts = w.spec?.parts?.map((p) => `${p.count ?? 1}× ${p.name}`).join(', ') || 'no parts';
    console.log(`${w.metadata?.name}: ${w.spec?.color}, size ${w.spec?.size ?? '?'}, ${parts}`);
  }
  await untilDone(args);
  widgets.stop();
  await running;
  await close();
}
