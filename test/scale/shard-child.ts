/**
 * One ring member for sharding.test.ts, in its own process: joins the ring,
 * caches the namespace's ConfigMaps, and while it acts on a range
 * "reconciles" the objects whose uid hashes into it, pass after pass (every
 * 100 ms), printing each pass with its time window and the uids it covered —
 * so the parent can audit that no object is reconciled by two members at once
 * and that none is left out. SIGTERM leaves the ring; SIGKILL is the crash.
 *
 * Prints one JSON line per event: {t, id, event: 'ready'|'acquire'|'release'|'pass'|'exit', range?, t0?, uids?}.
 */
import { Client } from '../../runtime/client.ts';
import { ShardRing } from '../../runtime/shard.ts';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';

const [kubeconfig, namespace, ring, id] = process.argv.slice(2) as [string, string, string, string];
const print = (event: string, extra: object = {}) => process.stdout.write(`${JSON.stringify({ t: Date.now(), id, event, ...extra })}\n`);
const client = Client.fromFile(kubeconfig, { context: 'admin' });
const api = ConfigMap.api(client, namespace);
const member = new ShardRing(client, { namespace, ring, identity: id, leaseDuration: 3000, renewDeadline: 2000, retryPeriod: 500 });
void member.run();
print('ready');

process.on('SIGTERM', () => {
  void member.stop().then(() => {
    print('exit');
    client.close();
    process.exit(0);
  });
});

for (;;) {
  const { range, acting } = await member.acquired();
  const cache = ConfigMap.cache(api, { transform: ConfigMap.keep({}), shard: range, signal: acting });
  void cache.run();
  await Promise.race([cache.reader.waitUntilReady(), new Promise((r) => acting.addEventListener('abort', r))]);
  print('acquire', { range: range.toJSON() });
  while (!acting.aborted) {
    const t0 = Date.now();
    const uids = cache.reader.state().map((o) => o.metadata.uid);
    await new Promise((r) => setTimeout(r, 250));
    if (acting.aborted) break; // the pass did not finish inside the term: not counted as done
    print('pass', { range: range.toJSON(), t0, uids });
  }
  cache.stop();
  print('release', { range: range.toJSON() });
}
