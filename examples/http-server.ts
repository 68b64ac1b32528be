/**
 * A small HTTP server that serves a store's contents as JSON. The store's
 * reader is the server's state: handlers read it synchronously, always seeing
 * a whole list (a relist swaps in at once), while the reflector keeps it
 * current in the background.
 *
 *   GET /pods            every cached pod (pruned)
 *   GET /pods/<name>     one pod, or 404
 *   GET /healthz         200 once the cache is ready, 503 before
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { InNamespace } from '../runtime/kind.ts';
import type { Store } from '../runtime/index.ts';
import { Pod } from '../generated/core/v1/pod.ts';
import { connect, freshNamespace, untilDone, type ExampleArgs } from './support/cluster.ts';
import { seedPods } from './support/seed.ts';

const slim = Pod.prune({ metadata: { managedFields: true } });
// What the cache of a namespaced kind stores: the projection, with its namespace always present.
type SlimPod = ReturnType<typeof slim> & InNamespace;

/** The server: its only state is the store reader. */
export function podServer(pods: Store<SlimPod>, namespace: string): Server {
  return createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.pathname === '/healthz') return send(pods.isReady() ? 200 : 503, { ready: pods.isReady(), objects: pods.size });
    if (url.pathname === '/pods') return send(200, pods.state());
    const name = /^\/pods\/([^/]+)$/.exec(url.pathname)?.[1];
    const pod = name && pods.get({ name: decodeURIComponent(name), namespace });
    return pod ? send(200, pod) : send(404, { error: 'not found' });
  });
}

export default async function httpServer(args: ExampleArgs): Promise<void> {
  const { client, local, close } = await connect(args);
  const namespace = local ? await freshNamespace(client, 'http') : 'default';
  if (local) await seedPods(client, namespace, 3);
  const pods = Pod.cache(Pod.api(client, namespace), { transform: slim });
  const running = pods.run();
  const server = podServer(pods.reader, namespace).listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  console.log(`serving ${namespace}'s pods at ${base}/pods`);
  await pods.reader.waitUntilReady();
  const health = await (await fetch(`${base}/healthz`)).json();
  const listed = (await (await fetch(`${base}/pods`)).json()) as SlimPod[];
  console.log(
    `GET /healthz → ${JSON.stringify(health)}; GET /pods → ${listed.length} pods: ${listed
      .map((p) => p.metadata?.name)
      .sort()
      .join(', ')}`,
  );
  await untilDone(args);
  server.close();
  pods.stop();
  await running;
  await close();
}
