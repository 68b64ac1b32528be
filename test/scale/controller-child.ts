/**
 * One replica for leader-controller.test.ts, in its own process: a
 * `Controller` of the namespace's ConfigMaps with `leaderElection`. Its
 * reconcile acts on the cluster — a merge patch marking the ConfigMap with
 * the replica's id, sent with `ctx.signal` — and prints the reconcile with
 * its time window once the patch succeeded while the signal still stood, so
 * the parent can audit that only the leader reconciled and that no two
 * replicas' reconciles overlapped. SIGTERM shuts the controller down
 * (releasing the Lease); SIGKILL is the crash. With `manager` as the fifth
 * argument the same controller runs on a `Manager` with `leaderElection`,
 * as an operator's main (`manager.run()`: SIGTERM drains, then releases).
 *
 * Prints one JSON line per event: {t, id, event: 'ready'|'synced'|'start'|'stop'|'reconcile'|'exit', size?, key?, t0?, reason?}.
 */
import { Client } from '../../runtime/client/client.ts';
import { Action, Controller, Manager, type ReconcileContext, silentLogger, type Stored } from '../../runtime/index.ts';
import { LeaderElection } from '../../runtime/scale.ts';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';

const [kubeconfig, namespace, lease, id, mode = 'controller'] = process.argv.slice(2) as [string, string, string, string, string?];
const print = (event: string, extra: object = {}) => process.stdout.write(`${JSON.stringify({ t: Date.now(), id, event, ...extra })}\n`);
const client = Client.fromFile(kubeconfig, { context: 'admin' });
const api = ConfigMap.api(client, namespace);
const electionOptions = {
  namespace,
  name: lease,
  identity: id,
  leaseDuration: 3000,
  renewDeadline: 2000,
  retryPeriod: 500,
  onStartedLeading: () => print('start'),
  onStoppedLeading: () => print('stop'),
};
const reconcile = async (cm: Stored<ConfigMap>, ctx: ReconcileContext) => {
  const t0 = Date.now();
  await api.patch(cm.metadata.name, { type: 'merge', body: { metadata: { annotations: { 'kubereflect.test/reconciled-by': id } } } }, { signal: ctx.signal });
  if (ctx.signal.aborted) throw ctx.signal.reason; // the term ended during the write: not counted as done
  print('reconcile', { key: ctx.key, t0, reason: ctx.reason });
  return Action.requeue(500);
};
// Exit once stdout has taken every line (a pipe that is full takes them asynchronously).
const exit = (code: number) => {
  client.close();
  process.stdout.write(`${JSON.stringify({ t: Date.now(), id, event: 'exit', code })}\n`, () => process.exit(code));
};

if (mode === 'manager') {
  const manager = new Manager(client, { name: 'replica', leaderElection: electionOptions, shutdownDeadlineMs: 2000, logger: silentLogger });
  manager.controller(api, { concurrency: 4, reconcile });
  print('ready');
  const running = manager.run();
  // A standby's start() resolves once its caches have synced and it campaigns.
  void until(() => manager.status().state === 'running').then(() => print('synced', { size: manager.cacheInfo()[0]?.size }));
  running.then(
    (report) => exit(report.exitCode),
    () => exit(1),
  );
} else {
  const ctl = new Controller(api, { leaderElection: new LeaderElection(client, electionOptions), concurrency: 4, logger: silentLogger });
  void ctl.reader.waitUntilReady().then(() => print('synced', { size: ctl.reader.size }));
  process.on('SIGTERM', () => void ctl.shutdown({ deadlineMs: 2000 }).then(() => exit(0)));
  print('ready');
  await ctl.run(reconcile);
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((r) => setTimeout(r, 20));
}
