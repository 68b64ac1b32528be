/**
 * One ring member for handover.test.ts, in its own process: a `Controller`
 * of the namespace's ConfigMaps for each term of the ring, as
 * docs/scale-out.md shows it (`shard: term`). Every reconcile takes 600 ms and ignores its
 * signal (the worst case), then requeues the object; each prints a `begin`
 * line when it starts and an `end` line when it returns, with the object's
 * uid, so the parent can audit that no object is ever in a reconcile on two
 * members at once. SIGTERM leaves the ring; SIGKILL is the crash.
 *
 * Prints one JSON line per event: {t, id, event: 'ready'|'acquire'|'release'|'begin'|'end'|'exit', range?, uid?, t0?}.
 */
import { Client } from '../../runtime/client/client.ts';
import { Action, Controller, silentLogger } from '../../runtime/index.ts';
import { ShardRing } from '../../runtime/scale.ts';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';

const [kubeconfig, namespace, ring, id] = process.argv.slice(2) as [string, string, string, string];
const print = (event: string, extra: object = {}) => process.stdout.write(`${JSON.stringify({ t: Date.now(), id, event, ...extra })}\n`);
const client = Client.fromFile(kubeconfig, { context: 'admin' });
const api = ConfigMap.api(client, namespace);
const member = new ShardRing(client, { namespace, ring, identity: id, leaseDuration: 3000, renewDeadline: 2000, retryPeriod: 500 });

const reconcile = async (cm: { metadata: { uid: string } }) => {
  const t0 = Date.now();
  print('begin', { uid: cm.metadata.uid, t0 });
  await new Promise((r) => setTimeout(r, 600));
  print('end', { uid: cm.metadata.uid, t0 });
  return Action.requeue(100);
};

process.on('SIGTERM', () => {
  void member.stop().then(() => {
    client.close();
    process.stdout.write(`${JSON.stringify({ t: Date.now(), id, event: 'exit' })}\n`, () => process.exit(0));
  });
});

print('ready');
// The pattern of docs/scale-out.md: the controller follows the term and resolves once its last reconcile has returned; only then does the ring let the range go.
void member.run(async (term) => {
  print('acquire', { range: term.range.toJSON() });
  await new Controller(api, { shard: term, concurrency: 20, logger: silentLogger }).run(reconcile);
  print('release', { range: term.range.toJSON() });
});
