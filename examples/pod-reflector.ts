/**
 * A Pod reflector: a typed cache of the pods of one namespace, kept current
 * by a watch. Prints the cache when it is ready, then every change.
 */
import { Pod } from '../generated/core/v1/pod.ts';
import { connect, freshNamespace, untilDone, type ExampleArgs } from './support/cluster.ts';
import { samplePod, seedPods } from './support/seed.ts';

export default async function podReflector(args: ExampleArgs): Promise<void> {
  const { client, local, close } = await connect(args);
  const namespace = local ? await freshNamespace(client, 'pod-reflector') : 'default';
  if (local) await seedPods(client, namespace, 3);

  const api = Pod.api(client, namespace);
  const pods = Pod.cache(api);
  const changes = (async () => {
    for await (const e of pods) {
      if (e.type === 'InitDone')
        console.log(
          `ready: ${pods.reader.size} pods in ${namespace}: ${pods.reader
            .state()
            .map((p) => p.metadata?.name)
            .sort()
            .join(', ')}`,
        );
      if (e.type === 'Apply') console.log(`changed: ${e.object.metadata?.name} (${e.object.spec?.containers.length} containers)`);
      if (e.type === 'Delete') console.log(`deleted: ${e.object.metadata?.name}`);
      if (e.type === 'Error') console.warn(`error (the watch carries on): ${e.error.message}`);
    }
  })();
  await pods.reader.waitUntilReady();
  if (local) {
    await api.create(samplePod('added-later'));
    for (let i = 0; i < 100 && !pods.reader.get({ name: 'added-later', namespace }); i++) await new Promise((r) => setTimeout(r, 50));
    console.log(`the cache now holds ${pods.reader.size} pods`);
  }
  await untilDone(args);
  pods.stop();
  await changes;
  await close();
}
