/**
 * Scenario 3: stalled and slow connections. The proxy
 *
 * 1. never answers the first list page (open, silent): the request timeout
 *    fires and the page is asked again;
 * 2. silences the open watch mid-stream while the churn goes on: the idle
 *    timeout fires and the watch resumes from its resourceVersion;
 * 3. never sends the head of the next watch response: the same idle limit
 *    bounds the wait for headers;
 * 4. trickles the next watch response (100 bytes every 25 ms): events still
 *    arrive, slowly.
 *
 * None of it may cause a relist (only a 410 may) or lose an event.
 */
import { Api } from '../../../runtime/client/api.ts';
import { sleep } from '../../../runtime/core/backoff.ts';
import { RequestTimeoutError } from '../../../runtime/core/errors.ts';
import type { KubeObject } from '../../../runtime/core/types.ts';
import { Churn, configMaps, converges, type ConfigMap } from '../harness.ts';
import type { Lab, ScenarioReport } from '../lab.ts';
import type { Fault } from '../../../testing/proxy.ts';
import { report, scenarioNamespace, subjectThrough } from './common.ts';

export async function stalls(lab: Lab, o: { fixedNamespace?: string; slowSeconds?: number } = {}): Promise<ScenarioReport> {
  const ns = await scenarioNamespace(lab, o.fixedNamespace ?? 'faults-stall', !!o.fixedNamespace);
  const truth = new Api<ConfigMap>(lab.admin, configMaps, ns);
  const proxy = await lab.proxy();
  const plan: { list: Fault[]; watch: Fault[] } = { list: [{ type: 'stall' }], watch: [] };
  proxy.rule = (r) => (r.watch ? plan.watch.shift() : plan.list.shift());
  const churn = new Churn(truth as Api<KubeObject>, { perSecond: 40, target: 80, payloadBytes: 200 }).start();
  // The server would end each watch after 60 s: every end of a watch here is the client's doing.
  const subject = subjectThrough(lab, proxy, ns, { timeoutSeconds: 60, idleTimeoutMs: 1_500 }, { requestTimeoutMs: 1_500 });
  const timeouts = (what: string) => subject.errorsOf((e) => e instanceof RequestTimeoutError && e.message.includes(what)).length;
  let appliedWhileSlow = 0;
  let silenced = 0;
  try {
    await subject.waitUntil(() => subject.reader.isReady(), 30_000, 'the first list after a stalled page');
    await sleep(500);
    // Queued first: the re-watch after the idle timeout gets no head at all, the one after that a trickle.
    plan.watch.push({ type: 'stall' }, { type: 'slow', bytes: 100, everyMs: 25 });
    silenced = await proxy.stallOpenWatches();
    await subject.waitUntil(() => timeouts('no data') >= 1, 10_000, 'the idle timeout of a silenced watch');
    await subject.waitUntil(() => timeouts('no response headers') >= 1, 10_000, 'the header timeout of a stalled watch');
    await subject.waitUntil(() => proxy.count((r) => r.fault === 'slow') >= 1, 10_000, 'the slow watch');
    const applied = subject.counts.Apply + subject.counts.Delete;
    await sleep((o.slowSeconds ?? 2) * 1000);
    appliedWhileSlow = subject.counts.Apply + subject.counts.Delete - applied;
    proxy.cutAll(); // ends the trickle: the slow watch would lag the churn for ever
  } finally {
    await churn.stop();
  }
  const invariant = await converges(subject.reader, truth);
  await subject.stop();
  await lab.dropProxy(proxy);
  return report('3. stalled and slow connections', lab, subject, {
    faults: { 'list page never answered': 1, 'open watch silenced': silenced, 'watch head never sent': 1, 'watch trickled': 1 },
    requests: proxy.requests.length,
    writes: churn.writes,
    invariant,
    details: {
      listTimeouts: timeouts('no response within'),
      idleTimeouts: timeouts('no data'),
      headerTimeouts: timeouts('no response headers'),
      appliedWhileSlow,
    },
  });
}
