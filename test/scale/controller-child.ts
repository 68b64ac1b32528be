/**
 * One replica for leader-controller.test.ts, in its own process: a
 * `Controller` of the namespace's ConfigMaps with `leaderElection`. Its
 * reconcile acts on the cluster — a merge patch marking the ConfigMap with
 * the replica's id, sent with `ctx.signal` — and prints the reconcile with
 * its time window once the patch succeeded while the signal still stood, so
 * the parent can audit that only the leader reconciled and that no two
 * replicas' reconciles overlapped. SIGTERM shuts the controller down
 * (releasing the Lease); SIGKILL is the crash.
 *
 * Prints one JSON line per event: {t, id, event: 'ready'|'synced'|'start'|'stop'|'reconcile'|'exit', size?, key?, t0?, reason?}.
 */
import { Client } from '../../runtime/client/client.ts';
import { Action, Controller, silentLogger } from '../../runtime/index.ts';
import { LeaderElection } from '../../runtime/scale.ts';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';

const [kubeconfig, namespace, lease, id] = process.argv.slice(2) as [string, string, string, string];
const print = (event: string, extra: object = {}) => process.stdout.write(`${JSON.stringify({ t: Date.now(), id, event, ...extra })}\n`);
const client = Client.fromFile(kubeconfig, { context: 'admin' });
const api = ConfigMap.api(client, namespace);
const election = new LeaderElection(client, {
  namespace,
  name: lease,
  identity: id,
  leaseDuration: 3000,
  renewDeadline: 2000,
  retryPeriod: 500,
  onStartedLeading: () => print('start'),
  onStoppedLeading: () => print('stop'),
});
const ctl = new Controller(api, { leaderElection: election, concurrency: 4, logger: silentLogger });
void ctl.reader.waitUntilReady().then(() => print('synced', { size: ctl.reader.size }));

process.on('SIGTERM', () => {
  void ctl.shutdown({ deadlineMs: 2000 }).then(() => {
    client.close();
    // Exit once stdout has taken every line (a pipe that is full takes them asynchronously).
    process.stdout.write(`${JSON.stringify({ t: Date.now(), id, event: 'exit' })}\n`, () => process.exit(0));
  });
});

print('ready');
await ctl.run(async (cm, ctx) => {
  const t0 = Date.now();
  await api.patch(cm.metadata.name, { type: 'merge', body: { metadata: { annotations: { 'kubereflect.test/reconciled-by': id } } } }, { signal: ctx.signal });
  if (ctx.signal.aborted) throw ctx.signal.reason; // the term ended during the write: not counted as done
  print('reconcile', { key: ctx.key, t0, reason: ctx.reason });
  return Action.requeue(500);
});
