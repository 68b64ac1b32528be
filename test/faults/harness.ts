/**
 * The fault harness around the proxy: the reflector under test (`Subject`),
 * which records and audits what it sees, the clients it talks through, and
 * the plane it runs against. With `testing/converged.ts`, `churn.ts` and
 * `secrets.ts` it is free of vitest, so the soak (`soak.ts`) drives the same
 * pieces as the tests. Re-exports those three, so scenarios import one module.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { ListWatch } from '../../runtime/client/api.ts';
import { sleep } from '../../runtime/core/backoff.ts';
import { Client, type ClientOptions } from '../../runtime/client/client.ts';
import type { KubeError } from '../../runtime/core/errors.ts';
import { reflector } from '../../runtime/cache/reflector.ts';
import { store, type Store } from '../../runtime/cache/store.ts';
import { reflectShared, storeShared, type SubscriberEvent } from '../../runtime/cache/shared-store.ts';
import type { KubeObject, ResourceDescriptor, Stored, WatcherEvent } from '../../runtime/core/types.ts';
import { watcher, type WatcherConfig } from '../../runtime/cache/watcher.ts';
import { currentState, type PlaneState } from '../controlplane/plane.ts';
import { capturingLogger, errorTexts } from './secrets.ts';

export interface ConfigMap extends KubeObject {
  data?: Record<string, string>;
}
export const configMaps: ResourceDescriptor = { group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true };
/** Not in the apiserver's watch cache (see the plane's flags): lists and watches go to etcd, so compaction bites. */
export const podTemplates: ResourceDescriptor = { group: '', version: 'v1', kind: 'PodTemplate', plural: 'podtemplates', namespaced: true };

/** The local plane, which the fault tests need (they restart and compact it). */
export function plane(): PlaneState & { pkiDir: string } {
  const state = currentState();
  if (!state) throw new Error('the fault tests need the local control plane (npm run cluster -- up)');
  return { ...state, pkiDir: dirname(state.caCert) };
}

/** Clients opened through `openClient`, closed together by `closeClients`. */
const clients = new Set<Client>();
export function openClient(kubeconfig: string, context = 'admin', opts: ClientOptions = {}): Client {
  const c = Client.fromFile(kubeconfig, { ...opts, context });
  clients.add(c);
  return c;
}
export function closeClients(keep: Client[] = []): void {
  for (const c of clients) {
    if (keep.includes(c)) continue;
    c.close();
    clients.delete(c);
  }
}

/** A `ListWatch` that counts list and watch calls (what the watcher asked for, before any transport). */
export function counted<K>(api: ListWatch<K>): ListWatch<K> & { calls: { list: number; watch: number } } {
  const calls = { list: 0, watch: 0 };
  return {
    resource: api.resource,
    namespace: api.namespace,
    calls,
    list: (o) => (calls.list++, api.list(o)),
    watch: (o) => (calls.watch++, api.watch(o)),
  };
}

/**
 * watcher → audit → reflector → store, driven in the background. The audit
 * looks at each event before the store applies it and counts replays: an
 * `Apply` of the very version the store already holds, or a `Delete` of an
 * object the store does not have. A correct watcher produces neither.
 */
/**
 * What a consumer of a reflector's stream knows from its events alone:
 * `InitApply` and `Apply` set an object, `Delete` removes it (including the
 * `finalStateUnknown` deletes a reflector adds after a relist). The cache
 * contract says it ends equal to the store, and so to a quorum list.
 */
export class StreamView {
  readonly objects = new Map<string, string>();
  deletes = 0;
  finalStateUnknown = 0;

  take(e: WatcherEvent<Stored<KubeObject>>): void {
    if (e.type !== 'InitApply' && e.type !== 'Apply' && e.type !== 'Delete') return;
    const m = e.object.metadata;
    const key = `${m.namespace ?? ''}/${m.name}`;
    if (e.type !== 'Delete') return void this.objects.set(key, `${m.uid}@${m.resourceVersion}`);
    this.deletes++;
    if (e.finalStateUnknown) this.finalStateUnknown++;
    if (this.objects.get(key)?.startsWith(`${m.uid}@`)) this.objects.delete(key);
  }

  /** True when the view holds exactly what `reader` holds. */
  matches<K extends KubeObject>(reader: Store<K>): boolean {
    return viewMatches(this.objects, reader);
  }
}

/**
 * What a subscriber of a shared store knows from what it received: `Apply`
 * sets an object, `Delete` removes it. The dispatcher's contract says it ends
 * equal to the store.
 */
export class SubscriberView {
  readonly objects = new Map<string, string>();
  received = 0;
  deletes = 0;

  take(e: SubscriberEvent<KubeObject>): void {
    this.received++;
    const m = e.object.metadata;
    const key = `${m.namespace ?? ''}/${m.name}`;
    if (e.type === 'Apply') return void this.objects.set(key, `${m.uid}@${m.resourceVersion}`);
    this.deletes++;
    if (this.objects.get(key)?.startsWith(`${m.uid}@`)) this.objects.delete(key);
  }

  /** True when the view holds exactly what `reader` holds. */
  matches<K extends KubeObject>(reader: Store<K>): boolean {
    return viewMatches(this.objects, reader);
  }
}

/**
 * For a scenario run through a shared store: the store, one subscriber that
 * reads everything into a `SubscriberView`, and the sink that makes a
 * `Subject` reflect into it. Undefined when `enabled` is not set.
 */
export function sharedSubscriber<K extends KubeObject>(enabled: boolean | undefined) {
  if (!enabled) return undefined;
  const { reader, writer } = storeShared<K>();
  const view = new SubscriberView();
  const subscription = reader.subscribe();
  const reading = (async () => {
    for await (const e of subscription) view.take(e as unknown as SubscriberEvent<KubeObject>);
  })();
  return {
    view,
    /** Ends once the subject has stopped (the subscription ends with the root). */
    reading,
    sink: { reader, reflect: (events: AsyncIterable<WatcherEvent<K>>) => reflectShared(writer, events) },
    /** What a report records of the subscriber. */
    details: (store: Store<K>) => ({ subscriberViewMatchesStore: view.matches(store), subscriberDeletes: view.deletes }),
  };
}

function viewMatches<K extends KubeObject>(objects: ReadonlyMap<string, string>, reader: Store<K>): boolean {
  const held = reader.state();
  return (
    held.length === objects.size &&
    held.every((o) => objects.get(`${o.metadata.namespace ?? ''}/${o.metadata.name}`) === `${o.metadata.uid}@${o.metadata.resourceVersion}`)
  );
}

export class Subject<K extends KubeObject> {
  /** Every subject not yet stopped (the soak stops the leftovers of a failed run). */
  static readonly live = new Set<Subject<KubeObject>>();
  readonly reader: Store<K>;
  readonly counts: Record<WatcherEvent<K>['type'], number> = { Init: 0, InitApply: 0, InitDone: 0, Apply: 0, Bookmark: 0, Delete: 0, Error: 0 };
  readonly errors: KubeError[] = [];
  /** What a consumer of this reflector's stream would know (see `StreamView`). */
  readonly view = new StreamView();
  /** Replayed or impossible events (see the class doc). */
  duplicates = 0;
  readonly logger = capturingLogger();
  private readonly ac = new AbortController();
  private readonly done: Promise<void>;
  private failure: unknown;

  /**
   * `sink` replaces the plain store and `reflector` (the dispatcher scenario
   * passes a shared store and `reflectShared`).
   */
  constructor(
    readonly api: ListWatch<K>,
    config: WatcherConfig = {},
    private readonly onEvent?: (e: WatcherEvent<Stored<K>>) => void,
    sink?: { reader: Store<K>; reflect: (events: AsyncIterable<WatcherEvent<K>>) => AsyncIterable<WatcherEvent<Stored<K>>> },
  ) {
    const plain = sink ? undefined : store<K>();
    this.reader = sink?.reader ?? plain!.reader;
    const reflect = sink?.reflect ?? ((events: AsyncIterable<WatcherEvent<K>>) => reflector(plain!.writer, events));
    Subject.live.add(this as unknown as Subject<KubeObject>);
    const events = watcher(api, { logger: this.logger, ...config, signal: this.ac.signal });
    this.done = (async () => {
      for await (const e of reflect(this.audit(events))) {
        this.counts[e.type]++;
        this.view.take(e as WatcherEvent<Stored<KubeObject>>);
        if (e.type === 'Error') this.errors.push(e.error);
        this.onEvent?.(e);
      }
    })().catch((err) => void (this.failure = err));
  }

  /** InitApply + Apply + Delete so far. */
  get objectEvents(): number {
    return this.counts.InitApply + this.counts.Apply + this.counts.Delete;
  }

  /** Relists the watcher was told to make by a 410 (each logs one line). */
  get expiredLogLines(): number {
    return this.expiredDrained + this.logger.lines.filter((l) => l.includes('expired')).length;
  }
  private expiredDrained = 0;

  errorsOf(pred: (e: KubeError) => boolean): KubeError[] {
    return this.errors.filter(pred);
  }

  /** Texts to scan for leaked secrets: log lines and every error's message, stack and causes. */
  texts(): string[] {
    return [...this.logger.lines, ...this.errors.flatMap((e) => errorTexts(e))];
  }

  async waitUntil(pred: () => boolean, timeoutMs = 20_000, what = 'condition'): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred()) {
      if (this.failure) throw this.failure;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; events ${JSON.stringify(this.counts)}`);
      await sleep(25);
    }
  }

  /**
   * Hands over and forgets the texts and errors gathered so far (a
   * long-running subject keeps only its counters).
   */
  drain(): { texts: string[]; errors: KubeError[] } {
    const out = { texts: this.texts(), errors: this.errors.splice(0) };
    this.expiredDrained = this.expiredLogLines;
    this.logger.lines.splice(0);
    return out;
  }

  /** Stops the watcher and waits for the loop to end; rethrows anything the loop threw. */
  async stop(): Promise<void> {
    this.ac.abort();
    Subject.live.delete(this as unknown as Subject<KubeObject>);
    await this.done;
    if (this.failure) throw this.failure;
  }

  private async *audit(events: AsyncIterable<WatcherEvent<K>>): AsyncGenerator<WatcherEvent<K>> {
    for await (const e of events) {
      if (e.type === 'Apply' || e.type === 'Delete') {
        const m = e.object.metadata;
        const held = this.reader.get({ name: m?.name ?? '', namespace: m?.namespace });
        if (e.type === 'Delete' && !held) this.duplicates++;
        if (e.type === 'Apply' && held && held.metadata?.uid === m?.uid && held.metadata?.resourceVersion === m?.resourceVersion) this.duplicates++;
      }
      yield e;
    }
  }
}

// ---------------------------------------------------------------- processes

/** SIGKILLs the kube-apiserver serving `port` (found through /proc); returns its pid. */
export function killApiserverOnPort(port: number): number {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (argv[0]?.endsWith('kube-apiserver') && argv.includes(`--secure-port=${port}`)) {
      process.kill(Number(entry), 'SIGKILL');
      return Number(entry);
    }
  }
  throw new Error(`no kube-apiserver found on port ${port}`);
}

export * from './churn.ts';
export * from '../../testing/converged.ts';
export * from './secrets.ts';
