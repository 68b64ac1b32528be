/**
 * Scenario 7: a slow subscriber of the shared dispatcher, under churn.
 *
 * - `'backpressure'` (the default): the documented policy is that nothing is
 *   dropped and every subscriber sees every broadcast object in order, and
 *   the slowest subscriber sets the pace: a fast one is never more than
 *   `bufferSize` (+1 in hand) objects ahead of it.
 * - `'snapshot'` (opt-in): a subscriber that never reads does not hold up
 *   the root, the store or a fast subscriber; its queue never exceeds
 *   `bufferSize` — when it finally reads, it gets one fresh snapshot of the
 *   store (the stored instances), not a backlog.
 */
import { Api } from '../../../runtime/api.ts';
import { sleep } from '../../../runtime/backoff.ts';
import { reflectShared, storeShared, type LagPolicy } from '../../../runtime/dispatcher.ts';
import type { DeepReadonly, KubeObject, WatcherEvent } from '../../../runtime/types.ts';
import { Churn, configMaps, converges, Subject, type ConfigMap } from '../harness.ts';
import type { Lab, ScenarioReport } from '../lab.ts';
import { fastBackoff, report, scenarioNamespace } from './common.ts';

const BUFFER = 16;
const keyOf = (o: DeepReadonly<ConfigMap> | ConfigMap) => `${o.metadata?.name}@${o.metadata?.resourceVersion}`;

export async function slowSubscriber(lab: Lab, policy: LagPolicy, o: { fixedNamespace?: string; seconds?: number } = {}): Promise<ScenarioReport> {
  const ns = await scenarioNamespace(lab, o.fixedNamespace ?? `faults-lag-${policy}`, !!o.fixedNamespace);
  const truth = new Api<ConfigMap>(lab.admin, configMaps, ns);
  const { reader, writer } = storeShared<ConfigMap>({ bufferSize: BUFFER, lagPolicy: policy });
  // What the root broadcast, in order: each Apply's object, and the whole store at each InitDone.
  const broadcast: string[] = [];
  const onEvent = (e: WatcherEvent<ConfigMap>) => {
    if (e.type === 'Apply') broadcast.push(keyOf(e.object));
    if (e.type === 'InitDone') broadcast.push(...reader.state().map(keyOf));
  };
  const fast: string[] = [];
  const slow: string[] = [];
  let maxLead = 0;
  const fastSub = reader.subscribe();
  const otherSub = reader.subscribe(); // slow (backpressure) or stuck (snapshot)
  const reading = [
    (async () => {
      for await (const obj of fastSub) {
        fast.push(keyOf(obj));
        maxLead = Math.max(maxLead, fast.length - slow.length);
      }
    })(),
    policy === 'backpressure' ? (async () => {
      for await (const obj of otherSub) {
        slow.push(keyOf(obj));
        await sleep(25); // 40 objects a second: slower than churn plus its echoes
      }
    })() : Promise.resolve(),
  ];
  const churn = new Churn(truth as Api<KubeObject>, { perSecond: 40, target: 80, payloadBytes: 2_000 }).start();
  const subject = new Subject<ConfigMap>(new Api<ConfigMap>(lab.admin, configMaps, ns), { pageSize: 50, timeoutSeconds: 5, backoff: fastBackoff }, onEvent,
    { reader, reflect: (events) => reflectShared(writer, events) });
  const details: Record<string, unknown> = { policy, bufferSize: BUFFER };
  let invariant;
  try {
    await subject.waitUntil(() => reader.isReady(), 30_000, 'the first list');
    await sleep((o.seconds ?? 4) * 1000);
  } finally {
    await churn.stop();
  }
  if (policy === 'backpressure') {
    await subject.waitUntil(() => slow.length === broadcast.length && fast.length === broadcast.length, 30_000, 'the slow subscriber to catch up');
    invariant = await converges(reader, truth);
    details.inOrderAndComplete = fast.join() === broadcast.join() && slow.join() === broadcast.join();
    details.maxLeadOfFast = maxLead;
  } else {
    // The stuck subscriber has read nothing: the store must still have kept up.
    invariant = await converges(reader, truth);
    const latest = new Map(fast.map((k) => [k.split('@')[0], k]));
    details.fastSawLatest = reader.state().every((obj) => latest.get(obj.metadata?.name) === keyOf(obj));
    const got: DeepReadonly<ConfigMap>[] = [];
    for (let i = 0; i < reader.size; i++) got.push((await otherSub.next()).value!);
    details.stuckGotSnapshot = new Set(got.map((x) => x.metadata?.name)).size === reader.size
      && got.every((x) => reader.get({ name: x.metadata!.name!, namespace: ns }) === x);
    const more = await Promise.race([otherSub.next().then(() => 'more'), sleep(200).then(() => 'nothing')]);
    details.stuckBacklogAfterSnapshot = more === 'nothing' ? 0 : 'some';
    details.broadcast = broadcast.length;
  }
  await subject.stop();
  await Promise.all(reading);
  details.fastReceived = fast.length;
  details.slowReceived = slow.length;
  return report(`7. slow subscriber (${policy})`, lab, subject, { faults: { [policy === 'backpressure' ? 'subscriber at 40 objects/s' : 'subscriber that never reads']: 1 }, requests: 0, writes: churn.writes, invariant, details });
}
