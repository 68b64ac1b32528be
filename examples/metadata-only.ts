/**
 * A metadata-only reflector: the server sends `PartialObjectMetadata`
 * (names, labels, annotations, owners) instead of whole objects, so the cache
 * holds a fraction of the bytes. Enough for controllers that only need to
 * know what exists.
 */
import { Pod } from '../generated/core/v1/pod.ts';
import { connect, freshNamespace, untilDone, type ExampleArgs } from './support/cluster.ts';
import { seedPods } from './support/seed.ts';

export default async function metadataOnly(args: ExampleArgs): Promise<void> {
  const { client, local, close } = await connect(args);
  const namespace = local ? await freshNamespace(client, 'metadata-only') : 'default';
  if (local) await seedPods(client, namespace, 5);
  const metas = Pod.metadataCache(Pod.api(client, namespace));
  const running = metas.run();
  await metas.reader.waitUntilReady();
  for (const m of metas.reader.state()) {
    // `m.spec` does not exist on PodMeta: only metadata is typed (and stored).
    console.log(`${m.kind} ${m.metadata.name} labels=${JSON.stringify(m.metadata.labels ?? {})}`);
  }
  const bytes = JSON.stringify(metas.reader.state()).length;
  console.log(`${metas.reader.size} pods cached as ${bytes} bytes of JSON`);
  await untilDone(args);
  metas.stop();
  await running;
  await close();
}
