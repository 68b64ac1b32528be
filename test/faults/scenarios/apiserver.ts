/**
 * Scenario 2: the server side fails under churn.
 *
 * - `apiserverKill`: the kube-apiserver the reflector talks to is SIGKILLed
 *   and started again (a second apiserver on the plane's etcd, so other tests
 *   keep theirs), while the churn writes through the main one.
 * - `watchCompacted`: etcd is compacted past the reflector's resourceVersion,
 *   so its next watch gets 410 and it must relist. Podtemplates are not in
 *   the apiserver's watch cache (see the plane's flags), so the watch goes to
 *   etcd. The proxy holds the open watch silent meanwhile, so the position
 *   really falls behind while the churn goes on.
 * - `continueExpired`: etcd is compacted between two pages of a list, so the
 *   continue token has expired (410) and the list must start over.
 */
import { Api } from '../../../runtime/client/api.ts';
import { sleep } from '../../../runtime/core/backoff.ts';
import type { KubeObject } from '../../../runtime/core/types.ts';
import { compactEtcd, type ExtraApiserver } from '../../controlplane/plane.ts';
import { Churn, configMaps, converges, counted, killApiserverOnPort, openClient, podTemplates, sharedSubscriber, Subject, type ConfigMap } from '../harness.ts';
import type { Lab, ScenarioReport } from '../lab.ts';
import { fastBackoff, report, scenarioNamespace } from './common.ts';

export interface ServerOptions {
  fixedNamespace?: string;
  /** Through a shared store with a subscriber (`storeShared`/`reflectShared`), whose view must end equal to the store. */
  shared?: boolean;
}

export async function apiserverKill(lab: Lab, extra: ExtraApiserver, o: ServerOptions & { downSeconds?: number } = {}): Promise<ScenarioReport> {
  const ns = await scenarioNamespace(lab, o.fixedNamespace ?? 'faults-kill', !!o.fixedNamespace);
  const truth = new Api<ConfigMap>(lab.admin, configMaps, ns);
  const api = counted(new Api<ConfigMap>(openClient(extra.kubeconfig, 'admin', { requestTimeoutMs: 5_000 }), configMaps, ns));
  const churn = new Churn(truth as Api<KubeObject>, { perSecond: 40, target: 80, payloadBytes: 200 }).start();
  const shared = sharedSubscriber<ConfigMap>(o.shared);
  const subject = new Subject<ConfigMap>(api, { pageSize: 10, timeoutSeconds: 5, backoff: fastBackoff }, undefined, shared?.sink);
  let requestsWhileDown = 0;
  try {
    await subject.waitUntil(() => subject.reader.isReady(), 30_000, 'the first list');
    await sleep(1_000);
    const before = api.calls.list + api.calls.watch;
    killApiserverOnPort(extra.port);
    await sleep((o.downSeconds ?? 1.5) * 1000);
    await extra.restart(); // returns once /readyz answers
    requestsWhileDown = api.calls.list + api.calls.watch - before;
    await sleep(1_500);
  } finally {
    await churn.stop();
  }
  const invariant = await converges(subject.reader, truth, 30_000);
  if (shared) await subject.waitUntil(() => shared.view.matches(subject.reader), 10_000, 'the subscriber to catch up');
  await subject.stop();
  await shared?.reading;
  return report(`2a. kube-apiserver SIGKILL + restart${shared ? ' (shared store)' : ''}`, lab, subject, {
    faults: { 'apiserver killed and restarted': 1 },
    requests: api.calls.list + api.calls.watch,
    writes: churn.writes,
    invariant,
    details: { requestsWhileDown, ...shared?.details(subject.reader) },
  });
}

/** A pod template named `name`, with `payload` in an annotation. */
export const template = (name: string, payload = '') =>
  ({ metadata: { name, annotations: { payload } }, template: { spec: { containers: [{ name: 'c', image: 'busybox' }] } } }) as KubeObject;

function templateChurn(api: Api<KubeObject>): Churn {
  return new Churn(api, {
    perSecond: 30,
    target: 40,
    prefix: 'tpl',
    make: (name) => template(name),
    update: (a, name, n) => a.patch(name, { type: 'merge', body: { metadata: { annotations: { n: String(n) } } } }),
  });
}

/** Creates `n` pod templates in `api`'s namespace, unless it has some already. */
export async function seedTemplates(api: Api<KubeObject>, n: number): Promise<void> {
  if ((await api.list({ limit: 1 })).items.length > 0) return;
  for (let i = 0; i < n; i += 10) {
    await Promise.all(Array.from({ length: Math.min(10, n - i) }, (_, j) => api.create(template(`seed-${String(i + j).padStart(4, '0')}`))));
  }
}

/** Two writes elsewhere (a watch from revision R starts at R+1), then a physical compaction at the head revision. */
export async function compactPast(lab: Lab, elsewhere: string): Promise<void> {
  const other = new Api<ConfigMap>(lab.admin, configMaps, elsewhere);
  for (let i = 0; i < 2; i++) {
    const name = `bump-${Date.now().toString(36)}-${i}`;
    await other.create({ metadata: { name } });
    await other.delete(name);
  }
  await compactEtcd(lab.plane);
}

export async function watchCompacted(lab: Lab, o: ServerOptions = {}): Promise<ScenarioReport> {
  const ns = await scenarioNamespace(lab, o.fixedNamespace ?? 'faults-compact', !!o.fixedNamespace, 0);
  const truth = new Api<KubeObject>(lab.admin, podTemplates, ns);
  await seedTemplates(truth, 20);
  const proxy = await lab.proxy();
  const api = new Api<KubeObject>(openClient(proxy.kubeconfig(lab.plane.kubeconfig), 'admin', { requestTimeoutMs: 5_000 }), podTemplates, ns);
  const churn = templateChurn(truth).start();
  const shared = sharedSubscriber<KubeObject>(o.shared);
  const subject = new Subject<KubeObject>(api, { pageSize: 10, timeoutSeconds: 5, backoff: fastBackoff }, undefined, shared?.sink);
  let held = 0;
  try {
    await subject.waitUntil(() => subject.reader.isReady(), 30_000, 'the first list');
    await sleep(1_000);
    held = await proxy.stallOpenWatches(); // the open watch goes silent; the churn goes on
    await sleep(500);
    await compactPast(lab, ns);
    proxy.cutAll(); // held events are dropped with it: the re-watch starts from where the silence began
    await subject.waitUntil(() => subject.counts.Init >= 2 && subject.counts.InitDone >= 2, 20_000, 'a relist after the 410');
    await sleep(1_000);
  } finally {
    await churn.stop();
  }
  const invariant = await converges(subject.reader, truth);
  if (shared) await subject.waitUntil(() => shared.view.matches(subject.reader), 10_000, 'the subscriber to catch up');
  await subject.stop();
  await shared?.reading;
  await lab.dropProxy(proxy);
  return report(`2b. etcd compacted: watch gets 410${shared ? ' (shared store)' : ''}`, lab, subject, {
    faults: { 'etcd compacted past the watch position': 1, 'watch held silent, then cut': held },
    requests: proxy.requests.length,
    writes: churn.writes,
    invariant,
    details: { ...shared?.details(subject.reader) },
  });
}

export async function continueExpired(lab: Lab, o: ServerOptions = {}): Promise<ScenarioReport> {
  const ns = await scenarioNamespace(lab, o.fixedNamespace ?? 'faults-continue', !!o.fixedNamespace, 0);
  const truth = new Api<KubeObject>(lab.admin, podTemplates, ns);
  await seedTemplates(truth, 30);
  const proxy = await lab.proxy();
  let compactions = 0;
  // The first second page waits until etcd has been compacted past the list's snapshot.
  proxy.rule = (r) => (r.continued && compactions === 0 ? { type: 'hold', until: (compactions++, compactPast(lab, ns)) } : undefined);
  const api = new Api<KubeObject>(openClient(proxy.kubeconfig(lab.plane.kubeconfig), 'admin', { requestTimeoutMs: 10_000 }), podTemplates, ns);
  const churn = templateChurn(truth).start();
  const subject = new Subject<KubeObject>(api, { pageSize: 5, timeoutSeconds: 5, backoff: fastBackoff });
  try {
    await subject.waitUntil(() => subject.reader.isReady(), 30_000, 'a complete list');
    await sleep(1_000);
  } finally {
    await churn.stop();
  }
  const invariant = await converges(subject.reader, truth);
  await subject.stop();
  await lab.dropProxy(proxy);
  return report('2c. list continue token expired', lab, subject, {
    faults: { 'etcd compacted between list pages': compactions },
    requests: proxy.requests.length,
    writes: churn.writes,
    invariant,
    details: {
      status410: proxy.count((r) => r.status === 410 && r.continued),
      continueExpiredLogged: subject.logger.lines.filter((l) => l.includes('continue token')).length,
    },
  });
}
