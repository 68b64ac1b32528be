/**
 * Scenario 8: many reflectors through an apiserver restart — does their
 * reconnection storm the server?
 *
 * `reflectors` watchers of one namespace's configmaps (default 200), with the
 * default backoff (exponential from 800 ms, ±20% jitter) and one shared
 * client, talk to a second kube-apiserver. It is SIGKILLed, kept down for
 * `downSeconds` and started again, while writes go on through the main one.
 * Every list and watch request is timestamped at the client: the spread is
 * the most requests in any one-second window from the kill on, against the
 * number of reflectors (all of them at once would be a storm), and every
 * reflector must end equal to a quorum list.
 */
import type { ListWatch } from '../../../runtime/client/api.ts';
import { Api } from '../../../runtime/client/api.ts';
import { sleep } from '../../../runtime/core/backoff.ts';
import type { KubeObject } from '../../../runtime/core/types.ts';
import type { ExtraApiserver } from '../../controlplane/plane.ts';
import { Churn, configMaps, killApiserverOnPort, openClient, quorumList, Subject, type ConfigMap } from '../harness.ts';
import type { Lab } from '../lab.ts';
import { scenarioNamespace } from './common.ts';

export interface StormReport {
  reflectors: number;
  /** Requests from the kill until every reflector watched again. */
  requests: number;
  /** The most requests in any one-second window from the kill on. */
  peakPerSecond: number;
  /** Requests per second, by whole second from the kill. */
  perSecond: number[];
  /** From the kill until every reflector worked again (listed, or received events), ms. */
  recoveredMs: number;
  /** From the kill until the restarted apiserver answered /readyz, ms. */
  downMs: number;
  /** Reflectors whose store equals a quorum list at the end. */
  converged: number;
  relists: number;
}

export async function reconnectStorm(
  lab: Lab,
  extra: ExtraApiserver,
  o: { reflectors?: number; downSeconds?: number; fixedNamespace?: string } = {},
): Promise<StormReport> {
  const reflectors = o.reflectors ?? 200;
  const ns = await scenarioNamespace(lab, o.fixedNamespace ?? 'faults-storm', !!o.fixedNamespace, 20);
  const truth = new Api<ConfigMap>(lab.admin, configMaps, ns);
  const client = openClient(extra.kubeconfig, 'admin', { requestTimeoutMs: 5_000 });
  const api = new Api<ConfigMap>(client, configMaps, ns);
  const stamps: number[] = [];
  const stamped: ListWatch<ConfigMap> = {
    resource: api.resource,
    namespace: api.namespace,
    list: (opts) => (stamps.push(Date.now()), api.list(opts)),
    watch: (opts) => (stamps.push(Date.now()), api.watch(opts)),
  };
  const subjects = Array.from({ length: reflectors }, () => new Subject<ConfigMap>(stamped, { pageSize: 50 }));
  const churn = new Churn(truth as Api<KubeObject>, { perSecond: 10, target: 30, payloadBytes: 100 });
  let killedAt = 0;
  let readyAt = 0;
  let recoveredAt = 0;
  try {
    await Promise.all(subjects.map((s) => s.waitUntil(() => s.reader.isReady(), 60_000, 'the first list')));
    churn.start();
    await sleep(1_000);
    const listsBefore = subjects.map((s) => s.counts.InitDone);
    killedAt = Date.now();
    killApiserverOnPort(extra.port);
    await sleep((o.downSeconds ?? 2) * 1000);
    await extra.restart();
    readyAt = Date.now();
    const appliesAtReady = subjects.map((s) => s.counts.Apply);
    // Recovered: listed again (the new server's watch cache may not reach back), or watching events again.
    await Promise.all(
      subjects.map((s, i) => s.waitUntil(() => s.counts.InitDone > listsBefore[i]! || s.counts.Apply > appliesAtReady[i]!, 120_000, 'a reflector to recover')),
    );
    recoveredAt = Date.now();
  } finally {
    await churn.stop();
  }
  const after = stamps.filter((t) => t >= killedAt && t <= recoveredAt);
  const seconds = Math.ceil((recoveredAt - killedAt) / 1000) + 1;
  const perSecond = Array.from({ length: seconds }, (_, k) => after.filter((t) => t >= killedAt + k * 1000 && t < killedAt + (k + 1) * 1000).length);
  let peakPerSecond = 0;
  for (let i = 0, j = 0; j < after.length; j++) {
    while (after[j]! - after[i]! >= 1000) i++;
    peakPerSecond = Math.max(peakPerSecond, j - i + 1);
  }
  // Writes stopped: every reflector must reach the quorum list (one list, compared with every store).
  let converged = 0;
  for (const deadline = Date.now() + 60_000; ; await sleep(250)) {
    const want = new Map((await quorumList(truth)).map((c) => [c.metadata!.name!, `${c.metadata!.uid}@${c.metadata!.resourceVersion}`]));
    converged = subjects.filter(
      (s) => s.reader.size === want.size && s.reader.state().every((c) => want.get(c.metadata.name) === `${c.metadata.uid}@${c.metadata.resourceVersion}`),
    ).length;
    if (converged === reflectors || Date.now() > deadline) break;
  }
  const relists = subjects.reduce((n, s) => n + s.counts.Init, 0) - reflectors;
  await Promise.all(subjects.map((s) => s.stop()));
  client.close();
  return { reflectors, requests: after.length, peakPerSecond, perSecond, recoveredMs: recoveredAt - killedAt, downMs: readyAt - killedAt, converged, relists };
}
