/**
 * An operator's main on the Manager, for manager-signals.test.ts: leader
 * election on a Lease of the namespace, a controller of its ConfigMaps whose
 * reconciles take 1.5 s and ignore their signal, `manager.run()` handling
 * SIGTERM. Prints one JSON line per event: {t, event: 'begin'|'end'|'exit', name?, report?}.
 */
import { ConfigMap } from '../../generated/core/v1/configmap.ts';
import { Action, Client, Manager, silentLogger } from '../../runtime/index.ts';

const [kubeconfig, namespace, deadline] = process.argv.slice(2) as [string, string, string];
const print = (event: string, extra: object = {}) => process.stdout.write(`${JSON.stringify({ t: Date.now(), event, ...extra })}\n`);
const client = Client.fromFile(kubeconfig, { context: 'admin' });
const manager = new Manager(client, {
  name: 'signals',
  leaderElection: { namespace, name: 'signals', identity: 'child', leaseDuration: 3000, renewDeadline: 2000, retryPeriod: 500 },
  shutdownDeadlineMs: Number(deadline),
  logger: silentLogger,
});
manager.controller(ConfigMap.api(client, namespace), {
  reconcile: async (cm) => {
    print('begin', { name: cm.metadata.name });
    await new Promise((r) => setTimeout(r, 1500));
    print('end', { name: cm.metadata.name });
    return Action.awaitChange();
  },
});
manager.run().then(
  (report) => print('exit', { report: { ...report, error: report.error?.message } }),
  (error: Error) => print('exit', { error: error.message }),
);
