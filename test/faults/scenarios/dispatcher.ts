/**
 * Scenario 7: slow subscribers of the shared dispatcher, under churn.
 *
 * One subscriber reads 40 items a second (slower than the churn and its
 * echoes), one reads nothing until the churn is over, one reads at once. The
 * contract (`runtime/cache/shared-store.ts`): the root, and so the store, keeps up
 * with the server whatever the subscribers do; each subscriber's queue holds
 * at most one entry per key; and once writes stop, every subscriber's view —
 * built only from what it received (`Apply` sets an object, `Delete` removes
 * it) — equals a quorum list: the latest version of every live object, and a
 * delete for every object it had seen that went away.
 */
import { Api } from '../../../runtime/client/api.ts';
import { sleep } from '../../../runtime/core/backoff.ts';
import { reflectShared, storeShared } from '../../../runtime/cache/shared-store.ts';
import type { KubeObject } from '../../../runtime/core/types.ts';
import { Churn, configMaps, converges, Subject, SubscriberView, type ConfigMap } from '../harness.ts';
import type { Lab, ScenarioReport } from '../lab.ts';
import { fastBackoff, report, scenarioNamespace } from './common.ts';

export async function slowSubscribers(lab: Lab, o: { fixedNamespace?: string; seconds?: number } = {}): Promise<ScenarioReport> {
  const ns = await scenarioNamespace(lab, o.fixedNamespace ?? 'faults-subscribers', !!o.fixedNamespace);
  const truth = new Api<ConfigMap>(lab.admin, configMaps, ns);
  const { reader, writer } = storeShared<ConfigMap>();
  const views = { fast: new SubscriberView(), slow: new SubscriberView(), stuck: new SubscriberView() };
  const subs = { fast: reader.subscribe(), slow: reader.subscribe(), stuck: reader.subscribe() };
  let stuckMayRead = false;
  const reading = [
    (async () => {
      for await (const e of subs.fast) views.fast.take(e);
    })(),
    (async () => {
      for await (const e of subs.slow) {
        views.slow.take(e);
        await sleep(25);
      }
    })(),
    (async () => {
      while (!stuckMayRead) await sleep(50);
      for await (const e of subs.stuck) views.stuck.take(e);
    })(),
  ];
  const churn = new Churn(truth as Api<KubeObject>, { perSecond: 40, target: 80, payloadBytes: 2_000 }).start();
  const subject = new Subject<ConfigMap>(new Api<ConfigMap>(lab.admin, configMaps, ns), { pageSize: 50, timeoutSeconds: 5, backoff: fastBackoff }, undefined, {
    reader,
    reflect: (events) => reflectShared(writer, events),
  });
  const details: Record<string, unknown> = {};
  let invariant: Awaited<ReturnType<typeof converges>> | undefined;
  try {
    await subject.waitUntil(() => reader.isReady(), 30_000, 'the first list');
    await sleep((o.seconds ?? 4) * 1000);
  } finally {
    await churn.stop();
  }
  try {
    // While the stuck subscriber has read nothing, the store must have kept up.
    invariant = await converges(reader, truth);
    details.rootEventsWhileStuck = subject.objectEvents;
    stuckMayRead = true;
    // The store equals the quorum list (above); each subscriber must reach the store.
    const same = (v: SubscriberView) => v.matches(reader);
    await subject.waitUntil(() => Object.values(views).every(same), 30_000, 'every subscriber to reach the quorum list');
    for (const [name, v] of Object.entries(views)) {
      details[`${name}Received`] = v.received;
      details[`${name}Deletes`] = v.deletes;
      details[`${name}MatchesQuorum`] = same(v);
    }
    details.churnDeletes = churn.stats.deletes;
  } finally {
    await subject.stop();
    await Promise.all(reading);
  }
  return report('7. slow subscribers', lab, subject, {
    faults: { 'subscriber at 40 objects/s': 1, 'subscriber that reads only after the churn': 1 },
    requests: 0,
    writes: churn.writes,
    invariant,
    details,
  });
}
