/**
 * `watchObject`: follow one object by name and wait for a condition, without
 * polling. Here: wait until a Widget reports `status.phase: Ready` (on the
 * local control plane the example sets the status itself after a moment).
 */
import { watchObject } from '../runtime/cache.ts';
import { Widget } from './generated/demo.kubereflect.dev/v1/widget.ts';
import { connect, freshNamespace, type ExampleArgs } from './support/cluster.ts';
import { applyWidgetCrd } from './support/seed.ts';

export default async function waitForCondition(args: ExampleArgs): Promise<void> {
  const { client, local, close } = await connect(args);
  if (!local) {
    console.log('this example writes a Widget; run it against the local control plane');
    await close();
    return;
  }
  await applyWidgetCrd(client);
  const namespace = await freshNamespace(client, 'wait');
  const api = Widget.api(client, namespace);
  await api.create({ metadata: { name: 'slowpoke' }, spec: { color: 'green' } });
  setTimeout(() => void api.patchStatus('slowpoke', { type: 'merge', body: { status: { phase: 'Ready' } } }), 500);

  const timeout = AbortSignal.timeout(30_000);
  for await (const w of watchObject(api, 'slowpoke', { signal: timeout })) {
    console.log(`slowpoke: ${w ? (w.status?.phase ?? 'no status yet') : 'absent'}`);
    if (w?.status?.phase === 'Ready') break;
  }
  if (timeout.aborted) throw new Error('slowpoke did not become Ready within 30 s');
  console.log('slowpoke is Ready');
  await close();
}
