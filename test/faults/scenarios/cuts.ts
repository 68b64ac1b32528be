/**
 * Scenario 1: connections cut every few seconds under churn, at random points
 * of list pages and watch streams. Each response may be cut at a random byte
 * (most cuts fall inside an event or a page), and every 0.3–1.5 s every open
 * connection is dropped, whatever it is doing. The reflector starts under the
 * faults, so its first list is cut too.
 */
import { Api } from '../../../runtime/client/api.ts';
import { sleep } from '../../../runtime/core/backoff.ts';
import type { KubeObject } from '../../../runtime/core/types.ts';
import { Churn, configMaps, converges, sharedSubscriber, type ConfigMap } from '../harness.ts';
import type { Lab, ScenarioReport } from '../lab.ts';
import type { ListWatch } from '../../../runtime/client/api.ts';
import type { Store } from '../../../runtime/cache/store.ts';
import type { Subject } from '../harness.ts';
import { every, metadataSubjectThrough, rand, report, scenarioNamespace, subjectThrough } from './common.ts';

export interface CutsOptions {
  /** How long the faults go on after the first list completed. */
  seconds?: number;
  /** Chance that the proxy cuts any one response at a random byte. */
  cutChance?: number;
  /** The reflector's first list: pages (default) or a streaming list. */
  initialList?: 'ListWatch' | 'StreamingList';
  /** Watch metadata only (`PartialObjectMetadata`) instead of whole objects. */
  metadataOnly?: boolean;
  /** Through a shared store with a subscriber, whose view must end equal to the store. */
  shared?: boolean;
  /** Reuse the fixed namespace of that name (the soak). */
  fixedNamespace?: string;
}

export async function connectionCuts(lab: Lab, o: CutsOptions = {}): Promise<ScenarioReport> {
  const { seconds = 6, cutChance = 0.35 } = o;
  const ns = await scenarioNamespace(lab, o.fixedNamespace ?? 'faults-cuts', !!o.fixedNamespace);
  const truth = new Api<ConfigMap>(lab.admin, configMaps, ns);
  const proxy = await lab.proxy();
  let cutting = true;
  // The first second page is always cut, and every watch inside an event until one such cut has happened
  // (a connection-wide drop can end a watch before its cut point); the rest at random.
  const sure = { page: true };
  const cutMidEvent = () => proxy.requests.some((q) => q.watch && q.fault === 'cut' && q.midLine);
  proxy.rule = (r) => {
    if (!cutting) return undefined;
    if (r.continued && sure.page) return ((sure.page = false), { type: 'cut', afterBytes: rand(100, 2_000) });
    if (r.watch && !cutMidEvent()) return { type: 'cut', afterBytes: rand(1_000, 1_500) };
    return Math.random() < cutChance ? { type: 'cut', afterBytes: rand(0, r.watch ? 3_000 : 8_000) } : undefined;
  };
  const churn = new Churn(truth as Api<KubeObject>, { perSecond: 40, target: 80, payloadBytes: 200 }).start();
  let dropAlls = 0;
  const stopDropping = every(300, 1_500, () => void (dropAlls += proxy.cutAll() > 0 ? 1 : 0));
  const shared = sharedSubscriber<ConfigMap>(o.shared);
  const subject = o.metadataOnly
    ? metadataSubjectThrough(lab, proxy, ns, { initialList: o.initialList })
    : subjectThrough(lab, proxy, ns, { initialList: o.initialList }, { sink: shared?.sink });
  try {
    await subject.waitUntil(() => subject.reader.isReady(), 30_000, 'the first list under cuts');
    await sleep(seconds * 1000);
  } finally {
    cutting = false;
    stopDropping();
    await churn.stop();
  }
  // A metadata-only store holds the same identities and versions as the objects.
  const invariant = await converges(subject.reader as Store<KubeObject>, truth as ListWatch<KubeObject>);
  if (shared) await subject.waitUntil(() => shared.view.matches(subject.reader as Store<KubeObject>), 10_000, 'the subscriber to catch up');
  await subject.stop();
  await lab.dropProxy(proxy);
  const cuts = proxy.requests.filter((r) => r.fault === 'cut');
  await shared?.reading;
  const mode = [o.initialList === 'StreamingList' ? 'streaming list' : '', o.metadataOnly ? 'metadata only' : '', shared ? 'shared store' : '']
    .filter(Boolean)
    .join(', ');
  return report(`1. connection cuts${mode ? ` (${mode})` : ''}`, lab, subject as Subject<KubeObject>, {
    faults: {
      'list page cut at a random byte': cuts.filter((r) => !r.watch).length,
      'watch cut at a random byte': cuts.filter((r) => r.watch).length,
      'every connection dropped': dropAlls,
    },
    requests: proxy.requests.length,
    writes: churn.writes,
    invariant,
    details: {
      watchCutMidEvent: cuts.filter((r) => r.watch && r.midLine).length,
      ...shared?.details(subject.reader as Store<ConfigMap>),
      listRequests: proxy.count((r) => !r.watch),
      watchRequests: proxy.count((r) => r.watch),
    },
  });
}
