/**
 * What the fault scenarios share: the fast backoff they run with, reports,
 * timers, seeding, and a reflector under test wired through a fault proxy.
 *
 * Each scenario is a function that sets up a namespace, a churn driver and a
 * reflector under test, injects its faults, stops them, checks the invariant
 * and returns a `ScenarioReport`. The tests run each once, short; the soak
 * (`soak.ts`) runs them over and over. Where a scenario injects something the
 * real kube-apiserver will not produce on demand (a 429, a 500, a malformed
 * or 10 MB watch line, a cut at a chosen byte), the fault proxy answers or
 * splices it in; everything else — every list page, every event, every 410,
 * 401 and 403 — comes from the real server.
 */
import { Api } from '../../../runtime/client/api.ts';
import { exponentialBackoff } from '../../../runtime/core/backoff.ts';
import { ApiError, type KubeError } from '../../../runtime/core/errors.ts';
import type { KubeObject, PartialObjectMeta, Stored, WatcherEvent } from '../../../runtime/core/types.ts';
import type { WatcherConfig } from '../../../runtime/cache/watcher.ts';
import { configMaps, openClient, Subject, type ConfigMap } from '../harness.ts';
import type { Lab, ScenarioReport } from '../lab.ts';
import type { FaultProxy } from '../../../testing/proxy.ts';

/** Small waits so that a scenario takes seconds: the policy under test is the same at any scale. */
export const fastBackoff = exponentialBackoff({ initialMs: 50, maxMs: 500 });

export const rand = (lo: number, hi: number): number => lo + Math.floor(Math.random() * (hi - lo + 1));

export function errorKind(e: KubeError): string {
  return e instanceof ApiError ? `${e.name} ${e.statusCode}` : e.name;
}

export function tally(errors: KubeError[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const e of errors) out[errorKind(e)] = (out[errorKind(e)] ?? 0) + 1;
  return out;
}

/** A report with the parts every scenario fills the same way taken from `subject`. */
export function report<K extends KubeObject>(
  scenario: string,
  lab: Lab,
  subject: Subject<K>,
  rest: Pick<ScenarioReport, 'faults' | 'requests' | 'writes' | 'invariant'> & { details?: Record<string, unknown>; texts?: string[] },
): ScenarioReport {
  return {
    scenario,
    faults: rest.faults,
    events: subject.objectEvents,
    errors: tally(subject.errors),
    requests: rest.requests,
    writes: rest.writes,
    relists: subject.counts.Init - 1,
    expired: subject.expiredLogLines,
    duplicates: subject.duplicates,
    invariant: rest.invariant,
    leaks: lab.secrets.leaks([...subject.texts(), ...(rest.texts ?? [])]),
    details: {
      ...rest.details,
      // The cache contract for a consumer that follows the stream: its view ends equal to the store.
      streamViewMatchesStore: subject.view.matches(subject.reader),
      finalStateUnknownDeletes: subject.view.finalStateUnknown,
    },
  };
}

/** Runs `fn` every `lo`–`hi` ms until the returned function is called. */
export function every(lo: number, hi: number, fn: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  let on = true;
  const arm = () => {
    timer = setTimeout(
      () => {
        if (!on) return;
        fn();
        arm();
      },
      rand(lo, hi),
    );
  };
  arm();
  return () => {
    on = false;
    clearTimeout(timer);
  };
}

/** Creates `n` configmaps (a few hundred bytes each), 20 at a time. */
export async function seed(api: Api<ConfigMap>, n: number, prefix = 'seed'): Promise<void> {
  for (let i = 0; i < n; i += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, n - i) }, (_, j) =>
        api.create({ metadata: { name: `${prefix}-${String(i + j).padStart(4, '0')}` }, data: { v: '0', pad: 'p'.repeat(200) } }),
      ),
    );
  }
}

/** A namespace of the scenario: fixed (and seeded once) in the soak, fresh and seeded in a test. */
export async function scenarioNamespace(lab: Lab, prefix: string, fixed: boolean, seedCount = 60): Promise<string> {
  const ns = await lab.namespace(prefix, fixed);
  const api = new Api<ConfigMap>(lab.admin, configMaps, ns);
  if (seedCount > 0 && (await api.list({ limit: 1 })).items.length === 0) await seed(api, seedCount);
  return ns;
}

export interface ThroughOptions {
  context?: string;
  onEvent?: (e: WatcherEvent<Stored<ConfigMap>>) => void;
  requestTimeoutMs?: number;
  kubeconfig?: string;
  /** Replaces the plain store and reflector (e.g. a shared store and `reflectShared`). */
  sink?: ConstructorParameters<typeof Subject<ConfigMap>>[3];
}

/** A metadata-only reflector on the configmaps of `ns`, through `proxy`, configured as `subjectThrough`'s. */
export function metadataSubjectThrough(lab: Lab, proxy: FaultProxy, ns: string, config: WatcherConfig = {}): Subject<PartialObjectMeta<ConfigMap>> {
  const client = openClient(proxy.kubeconfig(lab.plane.kubeconfig), 'admin', { requestTimeoutMs: 5_000 });
  return new Subject(new Api<ConfigMap>(client, configMaps, ns).metadata(), { pageSize: 10, timeoutSeconds: 5, backoff: fastBackoff, ...config });
}

/** A reflector on the configmaps of `ns`, through `proxy`: small pages, short watches, fast backoff. */
export function subjectThrough(lab: Lab, proxy: FaultProxy, ns: string, config: WatcherConfig = {}, o: ThroughOptions = {}): Subject<ConfigMap> {
  const kubeconfig = o.kubeconfig ?? proxy.kubeconfig(lab.plane.kubeconfig);
  const client = openClient(kubeconfig, o.context ?? 'admin', { requestTimeoutMs: o.requestTimeoutMs ?? 5_000 });
  return new Subject<ConfigMap>(
    new Api<ConfigMap>(client, configMaps, ns),
    { pageSize: 10, timeoutSeconds: 5, backoff: fastBackoff, ...config },
    o.onEvent,
    o.sink,
  );
}
