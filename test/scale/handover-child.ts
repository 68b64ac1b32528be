/**
 * One ring member for handover.test.ts, in its own process: a `Controller`
 * of the namespace's ConfigMaps for each term of the ring, as
 * docs/scale-out.md shows it (`shard: term`) — or, with `manager` as the
 * fifth argument, a `Manager` with `shardRing` and that controller, run as
 * an operator's main (`manager.run()`: SIGTERM drains and leaves). Every reconcile takes 600 ms and ignores its
 * signal (the worst case), then requeues the object; each prints a `begin`
 * line when it starts and an `end` line when it returns, with the object's
 * uid, so the parent can audit that no object is ever in a reconcile on two
 * members at once. SIGTERM leaves the ring; SIGKILL is the crash.
 *
 * Prints one JSON line per event: {t, id, event: 'ready'|'acquire'|'release'|'begin'|'end'|'exit', range?, uid?, t0?}.
 */
import { Client } from '../../runtime/client/client.ts';
import { Action, Controller, Manager, silentLogger } from '../../runtime/index.ts';
import { ShardRing } from '../../runtime/scale.ts';
import { ConfigMap } from '../../generated/core/v1/configmap.ts';

const [kubeconfig, namespace, ring, id, mode = 'controller'] = process.argv.slice(2) as [string, string, string, string, string?];
const print = (event: string, extra: object = {}) => process.stdout.write(`${JSON.stringify({ t: Date.now(), id, event, ...extra })}\n`);
const client = Client.fromFile(kubeconfig, { context: 'admin' });
const api = ConfigMap.api(client, namespace);
const ringOptions = { namespace, ring, identity: id, leaseDuration: 3000, renewDeadline: 2000, retryPeriod: 500 };

const reconcile = async (cm: { metadata: { uid: string } }) => {
  const t0 = Date.now();
  print('begin', { uid: cm.metadata.uid, t0 });
  await new Promise((r) => setTimeout(r, 600));
  print('end', { uid: cm.metadata.uid, t0 });
  return Action.requeue(100);
};

const exit = (code: number) => {
  client.close();
  process.stdout.write(`${JSON.stringify({ t: Date.now(), id, event: 'exit', code })}\n`, () => process.exit(code));
};

if (mode === 'manager') {
  // The operator's main on the Manager: it runs the ring, a controller per term, and drains on SIGTERM.
  const manager = new Manager(client, {
    name: 'handover',
    shardRing: ringOptions,
    logger: silentLogger,
    onTerm: ({ phase, range }) => print(phase === 'begin' ? 'acquire' : 'release', { range: range?.toJSON() }),
  });
  manager.controller(api, { reconcile, concurrency: 20 });
  print('ready');
  manager.run().then(
    (report) => exit(report.exitCode),
    () => exit(1),
  );
} else {
  const member = new ShardRing(client, ringOptions);
  process.on('SIGTERM', () => void member.stop().then(() => exit(0)));
  print('ready');
  // The pattern of docs/scale-out.md: the controller follows the term and resolves once its last reconcile has returned; only then does the ring let the range go.
  void member.run(async (term) => {
    print('acquire', { range: term.range.toJSON() });
    await new Controller(api, { shard: term, concurrency: 20, logger: silentLogger }).run(reconcile);
    print('release', { range: term.range.toJSON() });
  });
}
