/**
 * One watch feeding two consumers through the shared dispatcher: a single
 * store and a single connection, however many subscribers. Each subscriber
 * receives every stored object, then the latest version of each object that
 * changes and a Delete for each that goes away.
 */
import { reflectShared, storeShared, watcher } from '../runtime/cache.ts';
import { Pod } from '../generated/core/v1/pod.ts';
import { connect, freshNamespace, untilDone, type ExampleArgs } from './support/cluster.ts';
import { samplePod, seedPods } from './support/seed.ts';

export default async function sharedStream(args: ExampleArgs): Promise<void> {
  const { client, local, close } = await connect(args);
  const namespace = local ? await freshNamespace(client, 'shared') : 'default';
  if (local) await seedPods(client, namespace, 2);
  const api = Pod.api(client, namespace);

  const { reader, writer } = storeShared<Pod>();
  const stop = new AbortController();
  const root = (async () => {
    for await (const _ of reflectShared(writer, watcher(api, { signal: stop.signal }))) {
      /* drives the watch */
    }
  })();

  const seen = { auditor: 0, counter: 0 };
  const names = new Set<string>();
  const auditor = (async () => {
    for await (const { type, object: pod } of reader.subscribe()) {
      seen.auditor++;
      if (type === 'Delete') {
        console.log(`auditor: ${pod.metadata.name} is gone`);
        continue;
      }
      names.add(pod.metadata.name);
      console.log(`auditor: ${pod.metadata.name} has ${pod.spec?.containers.length ?? 0} containers`);
    }
  })();
  const counter = (async () => {
    for await (const _ of reader.subscribe()) seen.counter++;
  })();

  await reader.waitUntilReady();
  if (local) {
    await api.create(samplePod('late-arrival'));
    for (let i = 0; i < 100 && !names.has('late-arrival'); i++) await new Promise((r) => setTimeout(r, 50));
  }
  await untilDone(args);
  stop.abort();
  await Promise.all([root, auditor, counter]);
  console.log(`one watch, two consumers: auditor saw ${seen.auditor} objects, counter saw ${seen.counter}; store holds ${reader.size}`);
  await close();
}
