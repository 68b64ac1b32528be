/**
 * One ring member for sharding.test.ts, in its own process: joins the ring,
 * caches the namespace's ConfigMaps, and while it acts on a range
 * "reconciles" the objects whose uid hashes into it, pass after pass (every
 * 100 ms), printing each pass with its time window and the uids it covered —
 * so the parent can audit that no object is reconciled by two members at once
 * and that none is left out. SIGTERM leaves the ring; SIGKILL is the crash.
 *
 * The caches talk to the server through a pass-through proxy in this
 * process that counts the response body bytes they receive; each pass
 * carries the bytes received by its range's cache (list and watch) so far.
 * The ring's Leases go straight to the server.
 *
 * Prints one JSON line per event: {t, id, event: 'ready'|'acquire'|'release'|'pass'|'exit', range?, t0?, uids?, bytes?}.
 */
import { readFileSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { Client } from '../../runtime/client/client.ts';
import { ShardRing } from '../../runtime/scale/shard-ring.ts';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { FaultProxy } from '../../testing/proxy.ts';

const [kubeconfig, namespace, ring, id, pkiDir] = process.argv.slice(2) as [string, string, string, string, string];
const print = (event: string, extra: object = {}) => process.stdout.write(`${JSON.stringify({ t: Date.now(), id, event, ...extra })}\n`);
const client = Client.fromFile(kubeconfig, { context: 'admin' });
const server = client.kubeConfig.getCurrentCluster()!.server;
const proxy = await FaultProxy.start({ upstreamPort: Number(new URL(server).port), pkiDir });
const proxied = new KubeConfig();
proxied.loadFromString(readFileSync(kubeconfig, 'utf8').replaceAll(server, proxy.url));
const api = ConfigMap.api(Client.fromKubeConfig(proxied, { context: 'admin' }), namespace);
/** Body bytes of the responses to the requests made since `since` (`performance.now()`). */
const bytesSince = (since: number) => proxy.requests.reduce((n, r) => (r.at >= since ? n + r.bytes : n), 0);
const member = new ShardRing(client, { namespace, ring, identity: id, leaseDuration: 3000, renewDeadline: 2000, retryPeriod: 500 });
process.on('SIGTERM', () => {
  void member.stop().then(() => {
    client.close();
    // Exit once stdout has taken every line: a pass line of a thousand uids is written to the pipe asynchronously, and exiting at once would cut it.
    process.stdout.write(`${JSON.stringify({ t: Date.now(), id, event: 'exit' })}\n`, () => process.exit(0));
  });
});

print('ready');
void member.run(async ({ range, signal: acting }) => {
  const since = performance.now();
  const cache = ConfigMap.cache(api, { transform: ConfigMap.keep({}), shard: range, signal: acting });
  void cache.run();
  await Promise.race([cache.reader.waitUntilReady(), new Promise((r) => acting.addEventListener('abort', r))]);
  print('acquire', { range: range.toJSON() });
  while (!acting.aborted) {
    const t0 = Date.now();
    const uids = cache.reader.state().map((o) => o.metadata.uid);
    await new Promise((r) => setTimeout(r, 250));
    if (acting.aborted) break; // the pass did not finish inside the term: not counted as done
    print('pass', { range: range.toJSON(), t0, uids, bytes: bytesSince(since) });
  }
  cache.stop();
  print('release', { range: range.toJSON() });
});
