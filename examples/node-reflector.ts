/**
 * A Node reflector with a label selector: a cluster-scoped kind (its Api takes
 * no namespace) and a server-side filter. On the local control plane, which
 * runs no kubelet, the example registers a few Node objects itself.
 */
import { Node } from '../generated/core/v1/node.ts';
import { connect, untilDone, type ExampleArgs } from './support/cluster.ts';

const selector = 'kubereflect.dev/pool=blue';

export default async function nodeReflector(args: ExampleArgs): Promise<void> {
  const { client, local, close } = await connect(args);
  const api = Node.api(client);
  if (local) {
    for (const [name, pool] of [
      ['example-blue-1', 'blue'],
      ['example-blue-2', 'blue'],
      ['example-green-1', 'green'],
    ] as const) {
      await api.patch(
        name,
        { type: 'apply', body: { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'kubereflect.dev/pool': pool } } } },
        { fieldManager: 'kubereflect-examples' },
      );
    }
  }
  const nodes = Node.cache(api, { watcher: { labelSelector: selector } });
  const running = nodes.run();
  await nodes.reader.waitUntilReady();
  console.log(
    `nodes matching ${selector}: ${
      nodes.reader
        .state()
        .map((n) => n.metadata?.name)
        .sort()
        .join(', ') || '(none)'
    }`,
  );
  // The store can also filter locally, with the same selector syntax.
  console.log(`of those, named *-1: ${nodes.reader.filter((n) => n.metadata?.name?.endsWith('-1') ?? false).length}`);
  await untilDone(args);
  nodes.stop();
  await running;
  await close();
}
