/**
 * One replica for leader-election.test.ts, run in its own process: campaigns
 * for a Lease and, while it leads, "acts" every 20 ms — each act checked
 * against the `leading` signal first and printed with its wall-clock time,
 * so the parent can audit that no two replicas ever acted at once. SIGTERM
 * stops it gracefully (the work returns, then the Lease is released);
 * SIGKILL is the crash.
 *
 * Prints one JSON line per event: {t, id, event: 'ready'|'start'|'act'|'stop'|'exit'}.
 */
import { Client } from '../../runtime/client/client.ts';
import { LeaderElection } from '../../runtime/scale/leader-election.ts';

const [kubeconfig, namespace, name, id] = process.argv.slice(2) as [string, string, string, string];
const print = (event: string) => process.stdout.write(`${JSON.stringify({ t: Date.now(), id, event })}\n`);
const client = Client.fromFile(kubeconfig, { context: 'admin' });
const election = new LeaderElection(client, {
  namespace,
  name,
  identity: id,
  leaseDuration: Number(process.env.KR_LEASE_MS ?? 3000),
  renewDeadline: Number(process.env.KR_RENEW_MS ?? 2000),
  retryPeriod: Number(process.env.KR_RETRY_MS ?? 500),
  onStoppedLeading: () => print('stop'),
});
process.on('SIGTERM', () => {
  void election.stop().then(() => {
    print('exit');
    client.close();
    process.exit(0);
  });
});

print('ready');
void election.run(async (leading) => {
  print('start');
  while (!leading.aborted) {
    print('act');
    await new Promise((r) => setTimeout(r, 20));
  }
});
