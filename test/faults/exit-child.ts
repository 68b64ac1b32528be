/**
 * Run by `security.test.ts` in a child process: starts reflectors caught in
 * every state a stop can find them in — a healthy open watch, a list whose
 * response never comes, a watch gone silent, a backoff sleep after a refused
 * connection — stops them all (without closing any client), prints STOPPED
 * and returns. The parent checks that the process then exits by itself: no
 * socket, timer or child process may keep it alive.
 */
import { writeFileSync } from 'node:fs';
import { Api } from '../../runtime/client/api.ts';
import { constantBackoff } from '../../runtime/core/backoff.ts';
import { configMaps, openClient, Subject, type ConfigMap } from './harness.ts';

const env = (k: string) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set`);
  return v;
};
const ns = env('KR_NS');
let unhandled = 0;
process.on('unhandledRejection', (reason) => {
  unhandled++;
  console.error('unhandled rejection:', reason);
});

const subject = (kubeconfig: string, config: Parameters<typeof constantBackoff>[0] | undefined = undefined) =>
  new Subject<ConfigMap>(new Api<ConfigMap>(openClient(kubeconfig), configMaps, ns), {
    timeoutSeconds: 60,
    backoff: constantBackoff(config ?? 30_000),
  });

const healthy = subject(env('KR_OK'));
const listStalled = subject(env('KR_STALL'));
const watchSilent = subject(env('KR_SILENT'));
writeFileSync(
  env('KR_REFUSED'),
  (await import('node:fs')).readFileSync(env('KR_OK'), 'utf8').replace(/server: .*/, `server: https://127.0.0.1:${env('KR_REFUSED_PORT')}`),
);
const refused = subject(env('KR_REFUSED'));

await healthy.waitUntil(() => healthy.reader.isReady() && watchSilent.reader.isReady() && refused.counts.Error >= 1, 20_000, 'everything in place');
await new Api<ConfigMap>(openClient(env('KR_ADMIN')), configMaps, ns).create({ metadata: { name: 'ping' } });
await healthy.waitUntil(() => healthy.counts.Apply >= 1, 10_000, 'an event on the healthy watch');

await Promise.all([healthy, listStalled, watchSilent, refused].map((s) => s.stop()));
console.log(`STOPPED ${JSON.stringify({ unhandled, states: [healthy, listStalled, watchSilent, refused].map((s) => s.counts) })}`);
// Printed only if something keeps the process alive for 5 s: what it is.
setTimeout(() => console.log(`STILL ALIVE ${JSON.stringify(process.getActiveResourcesInfo())}`), 5_000).unref();
process.exitCode = unhandled === 0 ? 0 : 3;
