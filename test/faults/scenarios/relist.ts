/**
 * Relists under faults, against the real kube-apiserver.
 *
 * - `failingRelists`: every request answered 503 for a while, first before
 *   the first list, then during a relist a 410 asked for. `health().stale`
 *   must turn true in both (only progress counts), and `Init` must count
 *   lists, not attempts. The real server does not answer 503 on demand: the
 *   proxy does, and sends the in-stream 410.
 * - `laggingWatchCache`: with `listSemantic: 'Any'`, the relist after a 410
 *   meets a watch cache that lags behind the reflector (another apiserver
 *   behind a load balancer). A lagging cache is a condition the one local
 *   apiserver cannot be put into on demand, so the proxy fakes one: it
 *   answers a list at resourceVersion 0 with a list recorded earlier (a
 *   deleted object still in it), and a list at a newer version with what the
 *   real watch cache answers for a version it has not reached ("Too large
 *   resource version", pinned in `relist.test.ts`). Or, as a server that
 *   ignores `NotOlderThan`, with the old list for any version.
 * - `streamingIgnored`: a streaming list through a proxy that forwards only
 *   the parameters of a plain watch (it drops `sendInitialEvents`,
 *   `resourceVersionMatch` and `allowWatchBookmarks`; the server's answer,
 *   the current objects as ADDED and no bookmark, is real), or one that
 *   leaves out the initial-events-end bookmark. Dropping `sendInitialEvents`
 *   alone is no fault on kube-apiserver 1.37: it defaults a watch from `""`
 *   to a streaming list by itself (pinned in `relist.test.ts`).
 * - `slowConsumer`: a paginated list whose consumer awaits work on every
 *   event, while etcd is compacted a second after each list began (a
 *   compaction interval of minutes, scaled down), so that its continue token
 *   lives that long: the real server answers 410 for an expired one.
 */
import { Api } from '../../../runtime/client/api.ts';
import { sleep } from '../../../runtime/core/backoff.ts';
import { compareResourceVersions } from '../../../runtime/core/resource-version.ts';
import { reflector } from '../../../runtime/cache/reflector.ts';
import { store, type Store } from '../../../runtime/cache/store.ts';
import { watcher } from '../../../runtime/cache/watcher.ts';
import type { KubeObject, Stored } from '../../../runtime/core/types.ts';
import { capturingLogger, Churn, configMaps, converges, openClient, podTemplates, type ConfigMap } from '../harness.ts';
import type { Lab, ScenarioReport } from '../lab.ts';
import type { Fault } from '../../../testing/proxy.ts';
import { compactPast, seedTemplates } from './apiserver.ts';
import { fastBackoff, report, scenarioNamespace, seed, subjectThrough } from './common.ts';

const statusBody = (code: number, reason: string, message: string, details?: object) =>
  JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code, ...(details ? { details } : {}) });
const unavailable: Fault = {
  type: 'respond',
  status: 503,
  body: statusBody(503, 'ServiceUnavailable', 'the server is currently unable to handle the request'),
};
const expiredInStream = `${JSON.stringify({
  type: 'ERROR',
  object: JSON.parse(statusBody(410, 'Expired', 'too old resource version: 1 (2)')),
})}\n`;

/**
 * Samples `reader.health()` every 20 ms during an outage: when it first said
 * stale (ms after the outage began), and how often it went back to not stale
 * before the outage ended (a store that counts a failed attempt as progress
 * flickers).
 */
function staleness(reader: Store<KubeObject>) {
  let from = performance.now();
  let open = true;
  let seen: number | undefined;
  let cleared = 0;
  let was = false;
  const timer = setInterval(() => {
    if (!open) return;
    const stale = reader.health().stale;
    if (stale && seen === undefined) seen = Math.round(performance.now() - from);
    if (was && !stale) cleared++;
    was = stale;
  }, 20);
  return {
    /** An outage begins. */
    begin: () => {
      from = performance.now();
      open = true;
      seen = undefined;
      cleared = 0;
      was = false;
    },
    /** The outage is over: what recovery does is not counted. */
    end: () => void (open = false),
    firstStaleAfterMs: () => seen,
    clearedDuringOutage: () => cleared,
    stop: () => clearInterval(timer),
  };
}

export interface FailingRelistOptions {
  initialList?: 'ListWatch' | 'StreamingList';
  /** How long each outage lasts (default 1.5 s). */
  outageMs?: number;
  /** The store's `staleAfterMs` (default 300). */
  staleAfterMs?: number;
}

export async function failingRelists(lab: Lab, o: FailingRelistOptions = {}): Promise<ScenarioReport> {
  const outageMs = o.outageMs ?? 1_500;
  const ns = await scenarioNamespace(lab, 'faults-stale', false, 30);
  const truth = new Api<ConfigMap>(lab.admin, configMaps, ns);
  const proxy = await lab.proxy();
  let outage: 'none' | 'everything' | 'relist' = 'everything';
  let goneSent = false;
  proxy.rule = (r) => {
    if (outage === 'everything') return unavailable;
    if (outage !== 'relist') return undefined;
    // The re-watch after the cut learns its position is gone; the relist it asks for then meets 503s.
    if (r.watch && !goneSent) {
      goneSent = true;
      return { type: 'respond', status: 200, body: expiredInStream };
    }
    return unavailable;
  };
  const { reader, writer } = store<ConfigMap>({ staleAfterMs: o.staleAfterMs ?? 300 });
  const watch = staleness(reader as unknown as Store<KubeObject>);
  const subject = subjectThrough(lab, proxy, ns, { initialList: o.initialList }, { sink: { reader, reflect: (events) => reflector(writer, events) } });
  const phases: Record<string, unknown>[] = [];
  try {
    // 1. Before the first list: everything 503.
    await sleep(outageMs);
    watch.end();
    const unavailableCold = proxy.count((r) => r.status === 503);
    outage = 'none';
    await subject.waitUntil(() => reader.isReady(), 20_000, 'the first list after the outage');
    const cold = { firstStaleAfterMs: watch.firstStaleAfterMs(), clearedDuringOutage: watch.clearedDuringOutage() };
    phases.push({ phase: 'cold start', ...cold, unavailable: unavailableCold, inits: subject.counts.Init });
    await sleep(500);
    // 2. A relist (asked for by a 410) that meets 503s.
    watch.begin();
    const before = proxy.count((r) => r.status === 503);
    outage = 'relist';
    proxy.cutAll();
    await sleep(outageMs);
    watch.end();
    const unavailableRelist = proxy.count((r) => r.status === 503) - before;
    outage = 'none';
    await subject.waitUntil(() => reader.health().lists >= 2, 20_000, 'the relist after the outage');
    const relist = { firstStaleAfterMs: watch.firstStaleAfterMs(), clearedDuringOutage: watch.clearedDuringOutage() };
    phases.push({ phase: 'relist', ...relist, unavailable: unavailableRelist, inits: subject.counts.Init, goneSent });
    await subject.waitUntil(() => !reader.health().stale, 5_000, 'stale to clear');
  } finally {
    watch.stop();
  }
  const invariant = await converges(subject.reader, truth);
  const health = reader.health();
  await subject.stop();
  await lab.dropProxy(proxy);
  return report(`relists that keep failing (${o.initialList ?? 'ListWatch'})`, lab, subject, {
    faults: { '503 on every request': proxy.count((r) => r.status === 503), 'in-stream 410': goneSent ? 1 : 0 },
    requests: proxy.requests.length,
    writes: 0,
    invariant,
    details: { phases, staleAtEnd: health.stale, lists: health.lists, listsStarted: health.listsStarted },
  });
}

export interface LaggingOptions {
  /** The fake server answers the old list for any resourceVersion (it ignores `NotOlderThan`), not only for 0. */
  ignoresNotOlderThan?: boolean;
}

/** The newest resourceVersion among `objects` (those of one resource are ordered). */
function newest(objects: readonly Stored<KubeObject>[]): string | undefined {
  let best: string | undefined;
  for (const o of objects) if (best === undefined || compareResourceVersions(o.metadata.resourceVersion, best) > 0) best = o.metadata.resourceVersion;
  return best;
}

export async function laggingWatchCache(lab: Lab, o: LaggingOptions = {}): Promise<ScenarioReport> {
  const ns = await scenarioNamespace(lab, 'faults-lag', false, 0);
  const truth = new Api<ConfigMap>(lab.admin, configMaps, ns);
  await seed(truth, 12);
  // What the lagging watch cache still holds: the list as it was before a delete and an update.
  const old = await truth.list({});
  const snapshotRv = old.metadata.resourceVersion!;
  const snapshot = JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: snapshotRv }, items: old.items });
  const deleted = 'seed-0003';
  await truth.delete(deleted);
  await truth.patch('seed-0001', { type: 'merge', body: { data: { v: '1' } } });
  const proxy = await lab.proxy();
  let lagging = false;
  let goneSent = false;
  const asked: string[] = [];
  proxy.rule = (r) => {
    if (!lagging) return undefined;
    if (r.watch) {
      if (goneSent) return undefined;
      goneSent = true;
      return { type: 'respond', status: 200, body: expiredInStream };
    }
    if (r.continued) return undefined;
    const rv = r.query.get('resourceVersion') ?? '';
    asked.push(rv === '' ? 'quorum' : `${rv} ${r.query.get('resourceVersionMatch') ?? ''}`.trim());
    if (rv === '') return undefined; // a quorum read goes to etcd: nothing lags there
    if (rv === '0' || o.ignoresNotOlderThan || compareResourceVersions(rv, snapshotRv) <= 0) return { type: 'respond', status: 200, body: snapshot };
    // A version the lagging cache has not reached: what the real watch cache answers after its 3 s wait, at once.
    return {
      type: 'respond',
      status: 504,
      body: statusBody(504, 'Timeout', `Too large resource version: ${rv}, current: ${snapshotRv}`, {
        causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
        retryAfterSeconds: 1,
      }),
    };
  };
  const at: { relistInitDone?: { deletedBack: boolean; newest: string | undefined } } = {};
  let initDones = 0;
  const subject = subjectThrough(
    lab,
    proxy,
    ns,
    { listSemantic: 'Any' },
    {
      onEvent: (e) => {
        if (e.type === 'InitDone' && ++initDones === 2) {
          at.relistInitDone = { deletedBack: subject.reader.get(`${ns}/${deleted}`) !== undefined, newest: newest(subject.reader.state()) };
        }
      },
    },
  );
  let before: string | undefined;
  try {
    await subject.waitUntil(() => subject.reader.isReady(), 20_000, 'the first list');
    before = newest(subject.reader.state());
    lagging = true;
    proxy.cutAll();
    await subject.waitUntil(() => initDones >= 2, 20_000, 'the relist after the 410');
  } finally {
    lagging = false;
  }
  const invariant = await converges(subject.reader, truth);
  await subject.stop();
  await lab.dropProxy(proxy);
  return report(`a lagging watch cache behind the relist (listSemantic Any${o.ignoresNotOlderThan ? ', NotOlderThan ignored' : ''})`, lab, subject, {
    faults: { 'in-stream 410': goneSent ? 1 : 0, 'lagging list answers': asked.length },
    requests: proxy.requests.length,
    writes: 2,
    invariant,
    details: {
      snapshotRv,
      newestBeforeRelist: before,
      newestAtRelist: at.relistInitDone?.newest,
      deletedBackAtRelist: at.relistInitDone?.deletedBack,
      relistAsked: asked,
      olderListWarned: subject.logger.lines.filter((l) => l.includes('older than')).length,
      rolledBack: before !== undefined && at.relistInitDone?.newest !== undefined && compareResourceVersions(at.relistInitDone.newest, before) < 0,
    },
  });
}

export interface StreamingIgnoredOptions {
  /** `strip`: the proxy drops `sendInitialEvents`, `resourceVersionMatch` and `allowWatchBookmarks`; `dropBookmark`: it leaves out the initial-events-end bookmark. */
  how: 'strip' | 'dropBookmark';
  /** Writes while it runs (default: none, so that only the timeout can tell). */
  churn?: boolean;
  initialEventsTimeoutMs?: number;
}

export async function streamingIgnored(lab: Lab, o: StreamingIgnoredOptions): Promise<ScenarioReport> {
  const ns = await scenarioNamespace(lab, `faults-nostream-${o.how === 'strip' ? 's' : 'b'}`, false, 30);
  const truth = new Api<ConfigMap>(lab.admin, configMaps, ns);
  const proxy = await lab.proxy();
  proxy.rule = (r) => {
    if (!r.watch || r.query.get('sendInitialEvents') !== 'true') return undefined;
    if (o.how === 'dropBookmark') return { type: 'dropLines', drop: (line) => line.includes('"k8s.io/initial-events-end":"true"') };
    return {
      type: 'rewrite',
      edit: (q) => {
        for (const name of ['sendInitialEvents', 'resourceVersionMatch', 'allowWatchBookmarks']) q.delete(name);
      },
    };
  };
  const churn = o.churn ? new Churn(truth as Api<KubeObject>, { perSecond: 20, target: 40, payloadBytes: 100 }).start() : undefined;
  const started = performance.now();
  const subject = subjectThrough(lab, proxy, ns, { initialList: 'StreamingList', initialEventsTimeoutMs: o.initialEventsTimeoutMs ?? 1_000 });
  let readyAfterMs: number | undefined;
  try {
    await subject.waitUntil(() => subject.reader.isReady(), 10_000, 'the cache to be ready');
    readyAfterMs = Math.round(performance.now() - started);
    await sleep(1_000);
  } catch {
    // Never ready: the report says so.
  } finally {
    await churn?.stop();
  }
  const invariant = await converges(subject.reader, truth, readyAfterMs === undefined ? 1_000 : 20_000);
  await subject.stop();
  await lab.dropProxy(proxy);
  return report(`a streaming list the server does not stream (${o.how}${o.churn ? ', churn' : ''})`, lab, subject, {
    faults: { [o.how === 'strip' ? 'sendInitialEvents dropped' : 'end bookmark dropped']: proxy.count((r) => r.fault !== undefined) },
    requests: proxy.requests.length,
    writes: churn?.writes ?? 0,
    invariant,
    details: {
      readyAfterMs,
      streamingRequests: proxy.count((r) => r.watch && r.query.get('sendInitialEvents') === 'true'),
      listRequests: proxy.count((r) => !r.watch),
      fallbackLogged: subject.logger.lines.filter((l) => l.includes('no initial-events-end bookmark')).length,
    },
  });
}

export interface SlowConsumerOptions {
  objects?: number;
  pageSize?: number;
  /** The consumer's work per event, ms (default 50). */
  perEventMs?: number;
  /** How long a list's continue token lives: etcd is compacted this long after each list's first page, until the cache is ready, ms (default 3,000). */
  tokenMs?: number;
  /** Give up waiting for ready after this long, ms (default 20,000). */
  readyWithinMs?: number;
}

/** The result of `slowConsumer`. */
export interface SlowConsumerReport {
  readyAfterMs: number | undefined;
  /** Lists started (first pages the server was asked for) and 410s on continued pages (expired tokens). */
  firstPages: number;
  expiredContinues: number;
  compactions: number;
  size: number;
  truth: number;
  /** InitApply events the consumer was handed. */
  handedOver: number;
  /** For each list started: ms from its first page to its last page asked for. */
  listSpansMs: number[];
  invariantOk: boolean;
}

export async function slowConsumer(lab: Lab, o: SlowConsumerOptions = {}): Promise<SlowConsumerReport> {
  const n = o.objects ?? 100;
  const ns = await scenarioNamespace(lab, 'faults-slowconsumer', false, 0);
  const truth = new Api<KubeObject>(lab.admin, podTemplates, ns);
  await seedTemplates(truth, n);
  const proxy = await lab.proxy();
  // Each list's token lives tokenMs: etcd is compacted that long after its first page was asked for.
  let compacting = true;
  let compactions = 0;
  const pending: Promise<void>[] = [];
  proxy.rule = (r) => {
    if (compacting && !r.watch && !r.continued) {
      pending.push(sleep(o.tokenMs ?? 3_000).then(() => (compacting ? compactPast(lab, ns).then(() => void compactions++) : undefined)));
    }
    return undefined;
  };
  const client = openClient(proxy.kubeconfig(lab.plane.kubeconfig), 'admin', { requestTimeoutMs: 10_000 });
  const api = new Api<KubeObject>(client, podTemplates, ns);
  const { reader, writer } = store<KubeObject>();
  const ac = new AbortController();
  let handedOver = 0;
  const consuming = (async () => {
    const events = watcher(api, { pageSize: o.pageSize ?? 10, timeoutSeconds: 5, backoff: fastBackoff, logger: capturingLogger(), signal: ac.signal });
    for await (const e of reflector(writer, events)) {
      if (e.type === 'InitApply') handedOver++;
      await sleep(o.perEventMs ?? 50); // work on each event
    }
  })();
  const started = performance.now();
  let readyAfterMs: number | undefined;
  try {
    await reader.waitUntilReady(AbortSignal.timeout(o.readyWithinMs ?? 20_000));
    readyAfterMs = Math.round(performance.now() - started);
  } catch {
    // Never ready: the report says so.
  } finally {
    compacting = false;
    await Promise.all(pending);
  }
  const invariant = readyAfterMs === undefined ? undefined : await converges(reader, truth);
  ac.abort();
  await consuming.catch(() => {});
  await lab.dropProxy(proxy);
  const listSpansMs: number[] = [];
  let startAt: number | undefined;
  let lastAt = 0;
  for (const r of proxy.requests.filter((q) => !q.watch)) {
    if (!r.continued) {
      if (startAt !== undefined) listSpansMs.push(Math.round(lastAt - startAt));
      startAt = r.at;
    }
    lastAt = r.at;
  }
  if (startAt !== undefined) listSpansMs.push(Math.round(lastAt - startAt));
  return {
    readyAfterMs,
    listSpansMs,
    firstPages: proxy.count((r) => !r.watch && !r.continued),
    expiredContinues: proxy.count((r) => r.continued && r.status === 410),
    compactions,
    size: reader.size,
    truth: n,
    handedOver,
    invariantOk: invariant?.ok ?? false,
  };
}
