/**
 * Scenario 4: the server pushes back. The proxy answers
 *
 * 1. the first list page with 500 (an HTML error page, not a Status) three
 *    times, then 429 with `Retry-After: 1` twice: the client waits out each
 *    Retry-After itself and the third try succeeds;
 * 2. every watch with 429 `Retry-After: 1` for a while: the watcher waits at
 *    least the Retry-After between tries;
 * 3. every watch with 500 (a Status) for a while: the watcher backs off
 *    exponentially.
 *
 * The request counts stay bounded: one try per wait, never a hot loop.
 */
import { Api } from '../../../runtime/client/api.ts';
import { sleep } from '../../../runtime/core/backoff.ts';
import type { KubeObject } from '../../../runtime/core/types.ts';
import { Churn, configMaps, converges, type ConfigMap } from '../harness.ts';
import type { Lab, ScenarioReport } from '../lab.ts';
import type { Fault, ProxiedRequest } from '../../../testing/proxy.ts';
import { report, scenarioNamespace, subjectThrough } from './common.ts';

const status = (code: number, reason: string, message: string) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
const tooMany: Fault = {
  type: 'respond',
  status: 429,
  headers: { 'retry-after': '1' },
  body: status(429, 'TooManyRequests', 'too many requests, please try again later'),
};
const errorPage: Fault = { type: 'respond', status: 500, headers: { 'content-type': 'text/html' }, body: '<html><body>upstream exploded</body></html>' };
const internal: Fault = { type: 'respond', status: 500, body: status(500, 'InternalError', 'etcdserver: leader changed') };

/** Gaps between consecutive requests, ms. */
const gaps = (rs: ProxiedRequest[]) => rs.slice(1).map((r, i) => r.at - rs[i]!.at);

export async function throttling(lab: Lab, o: { fixedNamespace?: string; seconds?: number } = {}): Promise<ScenarioReport> {
  const seconds = o.seconds ?? 3;
  const ns = await scenarioNamespace(lab, o.fixedNamespace ?? 'faults-throttle', !!o.fixedNamespace);
  const truth = new Api<ConfigMap>(lab.admin, configMaps, ns);
  const proxy = await lab.proxy();
  const firstPage: Fault[] = [errorPage, errorPage, errorPage, tooMany, tooMany];
  let watchFault: Fault | undefined;
  proxy.rule = (r) => (r.watch ? watchFault : r.continued ? undefined : firstPage.shift());
  const churn = new Churn(truth as Api<KubeObject>, { perSecond: 30, target: 80, payloadBytes: 200 }).start();
  const subject = subjectThrough(lab, proxy, ns);
  const phase = { start: 0, end: 0 };
  const watchesIn = (from: number, to: number) => proxy.requests.filter((r) => r.watch && r.at >= from && r.at <= to);
  let w429: ProxiedRequest[] = [];
  let w500: ProxiedRequest[] = [];
  try {
    await subject.waitUntil(() => subject.reader.isReady(), 30_000, 'the first list through 500s and 429s');
    watchFault = tooMany;
    phase.start = performance.now();
    proxy.cutAll();
    await sleep(seconds * 1000);
    w429 = watchesIn(phase.start, performance.now());
    watchFault = internal;
    phase.start = performance.now();
    proxy.cutAll();
    await sleep(seconds * 1000);
    w500 = watchesIn(phase.start, performance.now());
    watchFault = undefined;
  } finally {
    await churn.stop();
  }
  const invariant = await converges(subject.reader, truth);
  await subject.stop();
  await lab.dropProxy(proxy);
  const firstPages = proxy.requests.filter((r) => !r.watch && !r.continued);
  return report('4. 429 Retry-After and 500s', lab, subject, {
    faults: {
      '500 error page on a list': proxy.count((r) => !r.watch && r.status === 500),
      '429 Retry-After: 1 on a list': proxy.count((r) => !r.watch && r.status === 429),
      '429 Retry-After: 1 on a watch': w429.length,
      '500 Status on a watch': w500.length,
    },
    requests: proxy.requests.length,
    writes: churn.writes,
    invariant,
    details: {
      seconds,
      firstPageRequests: firstPages.length,
      /** Gaps before the 2nd and 3rd try of the page after each 429 (ms). */
      gapsAfterListRetryAfter: gaps(firstPages).slice(-2).map(Math.round),
      watchRequestsUnder429: w429.length,
      minGapUnder429: Math.round(Math.min(...gaps(w429))),
      watchRequestsUnder500: w500.length,
      retryAfterSeen: subject.errors.filter((e) => e.retryAfterSeconds === 1).length,
    },
  });
}

/**
 * Every watch answered with an in-stream 410 for a while — what a lagging
 * watch cache, or one behind an etcd restored from backup, can do. The
 * watcher relists at once after the first 410, then waits its backoff before
 * each further relist: a bounded number of full lists, not a hot loop.
 */
export async function persistentGone(lab: Lab, o: { fixedNamespace?: string; seconds?: number } = {}): Promise<ScenarioReport> {
  const seconds = o.seconds ?? 3;
  const ns = await scenarioNamespace(lab, o.fixedNamespace ?? 'faults-gone', !!o.fixedNamespace);
  const truth = new Api<ConfigMap>(lab.admin, configMaps, ns);
  const proxy = await lab.proxy();
  const expired = JSON.stringify({
    type: 'ERROR',
    object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version: 1 (2)', reason: 'Expired', code: 410 },
  });
  let on = false;
  proxy.rule = (r) => (on && r.watch ? { type: 'respond', status: 200, body: `${expired}\n` } : undefined);
  const churn = new Churn(truth as Api<KubeObject>, { perSecond: 30, target: 80, payloadBytes: 200 }).start();
  const subject = subjectThrough(lab, proxy, ns, { pageSize: 50 });
  let firstPages = 0;
  try {
    await subject.waitUntil(() => subject.reader.isReady(), 30_000, 'the first list');
    const from = proxy.requests.length;
    on = true;
    proxy.cutAll();
    await sleep(seconds * 1000);
    on = false;
    firstPages = proxy.requests.slice(from).filter((r) => !r.watch && !r.continued).length;
  } finally {
    await churn.stop();
  }
  const invariant = await converges(subject.reader, truth);
  await subject.stop();
  await lab.dropProxy(proxy);
  return report('4b. every watch answered 410', lab, subject, {
    faults: { 'watch answered with an in-stream 410': proxy.count((r) => r.fault === 'respond') },
    requests: proxy.requests.length,
    writes: churn.writes,
    invariant,
    details: { seconds, relistsUnderGone: firstPages },
  });
}
