/**
 * The watcher: a paginated list (or a streaming list) followed by a watch,
 * kept going for as long as it is iterated.
 *
 * It is an explicit state machine, one `step` per transition:
 *
 *     Empty ─┬─▶ InitPage ─(Init with page 1, InitApply…, InitDone)──────▶ Watching(rv) ─┐
 *       ▲    └─▶ InitStreaming ─(Init with event 1, InitApply…, end bookmark: InitDone) ─┤
 *       │          └─ no end bookmark: back to Empty, and InitPage for this cycle         │
 *       └──────────── 410 Gone (HTTP or in-stream), expired continue token ◀─────────────┘
 *
 * - `Init` is emitted with a list's first answer (its first page, or the
 *   first event of a streaming list), never for an attempt that failed
 *   before it: a store counts only a list that completes as progress, and a
 *   consumer that counts `Init`s counts lists, not retries.
 * - Relists never go below the last synced resourceVersion (the list's, or
 *   the latest watch event's or bookmark's). With `listSemantic: 'Any'` the
 *   first list asks for resourceVersion 0 (any version, from the watch
 *   cache) and every later one for the last synced version with
 *   `NotOlderThan`, as client-go's reflector does: a watch cache behind a
 *   load balancer that lags answers at that version or later, or refuses
 *   (410 Expired, or 504 "Too large resource version"), and then the
 *   watcher reads at quorum (no resourceVersion) at once. A list that comes
 *   back older than asked for (a server that ignored `NotOlderThan`) is
 *   never emitted: the watcher reads at quorum instead. With `MostRecent`
 *   every list is a quorum read, which is never older.
 * - Pages are requested one at a time and emitted as they arrive; the whole
 *   list is never held at once, and a page is never held parsed at once:
 *   its items are parsed one by one as they are handed over (a page of 500
 *   parsed pods is a quarter of a 2,000-pod store). An item that does not
 *   parse fails the list, which starts again after the backoff.
 * - The watch starts at the list's resourceVersion; every event and bookmark
 *   moves it. A watch the server ends normally, or one that falls silent
 *   (idle timeout), is reopened from there without a relist.
 * - 410 Gone relists from scratch, starting with `Init`: at once, but after
 *   its backoff when the previous relist also ended in 410 before any event.
 * - A streaming list asks for initial events only once; reconnects resume
 *   from the bookmark's resourceVersion. A server that refuses streaming lists
 *   makes the watcher fall back to list + watch, once, with a log line. A
 *   server that accepts the watch but does not stream a list (it ignores
 *   `sendInitialEvents`: no initial-events-end bookmark within
 *   `initialEventsTimeoutMs` of waiting, an object event other than ADDED
 *   before it, or the stream ending without it) makes that cycle a paginated
 *   list, with a log line; the next relist tries a streaming list again.
 * - Failures are emitted as `Error` events and the watcher carries on after
 *   its backoff (default: exponential 800 ms → 30 s, jitter, reset after
 *   120 s healthy), honouring `Retry-After`. A persistent failure such as 403
 *   never becomes a hot loop.
 * - A kind the server does not serve (a 404 of its list or watch: a
 *   CustomResourceDefinition not installed yet, or removed) is asked again
 *   after the backoff, capped at 4–5 s, so that the cache lists within a few
 *   seconds of the kind being served. The first 404 of a run is emitted as an
 *   `Error`; the next ones, while nothing else happens, are retried without
 *   one (a consumer that logs errors says it once, not every few seconds,
 *   however long the CRD takes). A watch answered 404 lists again. When a
 *   cache that had listed the kind finds it unserved for 10 s
 *   (`UNSERVED_CONFIRM_MS`: not the moment's 404 of a kube-apiserver that
 *   restarts and has not loaded its CRDs yet), the kind is gone and so are its
 *   objects: the watcher emits an empty list (`Init`, `InitDone`), which
 *   empties the store like any relist (a `Delete` marked `finalStateUnknown`
 *   for each object still held), then the 404 again as an `Error` saying the
 *   cache is empty until the kind is served again.
 */
import type { ListWatch } from '../client/api.ts';
import { parseListItem } from '../wire/decode.ts';
import { defaultBackoff, sleep, type BackoffPolicy } from '../core/backoff.ts';
import { jitter } from '../core/jitter.ts';
import { ApiError, KubeError } from '../core/errors.ts';
import { compareResourceVersions, isComparableResourceVersion } from '../core/resource-version.ts';
import { consoleLogger, type Logger } from '../core/logger.ts';
import type { KubeObject, PartialObjectMeta, WatcherEvent, WatchEvent } from '../core/types.ts';
import type { Api } from '../client/api.ts';
import type { LabelSelector } from '../core/labels.ts';

/** How a watcher lists and watches; every field has a default. */
export interface WatcherConfig {
  /** Only objects whose labels match: the string syntax, or the struct objects hold (`{ matchLabels, matchExpressions }`). */
  labelSelector?: string | LabelSelector;
  /** Only objects whose fields match, e.g. `spec.nodeName=worker-1`. */
  fieldSelector?: string;
  /** Only the objects of a hash range, where the server shards (see `SelectorOptions.shardSelector`; others send everything). */
  shardSelector?: string;
  /**
   * Seconds after which the server ends each watch request (default 290).
   * Each request asks for this plus up to a quarter more, at random, so that
   * watchers started together do not all reconnect together.
   */
  timeoutSeconds?: number;
  /** A watch with no bytes for this long is treated as dead (default: the request's timeout + 5 s). */
  idleTimeoutMs?: number;
  /** Objects per list page (default 500). */
  pageSize?: number;
  /**
   * `MostRecent` (default): consistent reads from etcd. `Any`: the first list
   * at any version, from the apiserver's watch cache — cheaper, possibly a
   * little stale, and the server then ignores `pageSize`; every relist asks
   * for the last synced version or newer, and reads at quorum when the
   * server cannot answer that, so a relist never goes back in time.
   */
  listSemantic?: 'MostRecent' | 'Any';
  /** `ListWatch` (default): paginated list, then watch. `StreamingList`: one watch that starts with the current state. */
  initialList?: 'ListWatch' | 'StreamingList';
  /**
   * With `StreamingList`: how long the watcher waits for the server's next
   * event before the initial-events-end bookmark, ms (default 10,000). Past
   * it, the server is taken not to stream lists (it ignored
   * `sendInitialEvents`) and this cycle lists page by page instead. Only
   * time spent waiting on the server counts, not the consumer's.
   */
  initialEventsTimeoutMs?: number;
  /** Ask for bookmarks (default true): they keep the resourceVersion fresh on quiet resources. */
  bookmarks?: boolean;
  /**
   * Objects arrive without `metadata.managedFields` (default false): it is
   * cut from the bytes before parsing, so it is never built — about half the
   * parse time of a typical pod. Kinds' caches turn this on by themselves
   * when their `transform` drops `managedFields`.
   */
  stripManagedFields?: boolean;
  /**
   * Objects carry `metadata.managedFields` unparsed (default false): it is cut
   * from the bytes and kept as text, and parsed the first time it is read —
   * most controllers never read it, so full objects parse nearly as fast as
   * with `stripManagedFields`, and nothing is lost. Reads, `JSON.stringify`,
   * spread, `structuredClone`, `editable()` and deep equality see the same
   * object; until the first read, `Object.getOwnPropertyDescriptor` shows an
   * accessor and `util.inspect` prints `[Getter/Setter]` (which is why this is
   * not the default). `stripManagedFields` wins when both are set.
   */
  lazyManagedFields?: boolean;
  /** Delay policy after failures (default `defaultBackoff`). */
  backoff?: BackoffPolicy;
  logger?: Logger;
  /** Stops the watcher: the iteration ends. */
  signal?: AbortSignal;
}

type State<K> =
  | { phase: 'Empty' }
  | { phase: 'InitPage'; continueToken: string | undefined }
  | {
      phase: 'InitStreaming';
      /** The resourceVersion asked for (`''`: a consistent read). */
      at: string;
      stream: AsyncIterator<WatchEvent<K>> | undefined;
      /** Aborts this stream's request. */
      abort: AbortController;
      /** `Init` was emitted: the server has begun to answer. */
      started: boolean;
    }
  | {
      phase: 'Watching';
      resourceVersion: string;
      stream: AsyncIterator<WatchEvent<K>> | undefined;
      opened: number;
      events: number;
      /** The stream's first `next()`, taken while waiting for the watch to open (see `watchNext`). */
      pending?: Promise<IteratorResult<WatchEvent<K>>> | undefined;
    };

/** An event, or an item of a list page still to be parsed into one. */
type Emitted<K> = WatcherEvent<K> | (() => WatcherEvent<K>);

interface Step<K> {
  emit: Emitted<K>[];
  next: State<K>;
  /** Something useful arrived: forget earlier failures. */
  progress?: boolean;
  /** Emit as `Error`, then back off. */
  failure?: KubeError;
  /** A 410 asked for this relist. */
  gone?: boolean;
}

interface Context<K> {
  api: ListWatch<K>;
  cfg: Required<Omit<WatcherConfig, 'labelSelector' | 'fieldSelector' | 'shardSelector' | 'signal' | 'idleTimeoutMs'>> & WatcherConfig;
  signal: AbortSignal;
  /** Cleared after the server refused a streaming list. */
  streaming: boolean;
  /** This cycle lists page by page: the server accepted a streaming list but did not stream one. Cleared when the list completes. */
  listThisCycle: boolean;
  /** The resourceVersion the cache last synced to: of the last completed list, watch event or bookmark. */
  lastSynced: string | undefined;
  /** The server refused `lastSynced` (410, or too large): the next list reads at quorum (client-go's isLastSyncResourceVersionUnavailable). */
  lastSyncedUnavailable: boolean;
  /** Whether the first list's namespace was checked for existence (once, when that list came back empty). */
  namespaceChecked?: boolean;
  /** A run of 404s (the server does not serve the resource) in progress: when its first came. Ended by any event or another failure. */
  unserved: { since: number } | undefined;
  /** A list completed since the start, or since the watcher emptied the cache of a kind no longer served: the cache may hold objects. */
  holds: boolean;
  /** An error was reported and nothing has worked since: a watch that opens then says so (`watchNext`). */
  failing: boolean;
}

/** The longest wait before asking again for a kind the server does not serve (404), ms; each wait is 80–100 % of it. */
export const UNSERVED_RETRY_MAX_MS = 5_000;
/**
 * How long a kind that was listed must stay unserved (nothing but 404s)
 * before the watcher takes it as removed and empties the cache, ms. A
 * kube-apiserver that restarts answers 404 for custom resources until it has
 * loaded its CRDs; that must not look like every object being deleted.
 */
export const UNSERVED_CONFIRM_MS = 10_000;

const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';
/**
 * Answers that mean "this server does not do streaming lists", as opposed to a
 * passing failure. Not 404: that is the resource not being served (yet: a CRD
 * not established), which a later attempt may find.
 */
const REFUSES_STREAMING = new Set([400, 406, 415, 422, 501]);

/**
 * Watches the objects of `api`: see the module documentation for the events
 * and the guarantees.
 *
 * @example
 * for await (const event of watcher(pods, { labelSelector: 'app=web' })) {
 *   if (event.type === 'Apply') console.log('changed', event.object.metadata?.name);
 *   if (event.type === 'Error') console.warn(event.error.message); // the watcher carries on
 * }
 */
export async function* watcher<K extends KubeObject>(api: ListWatch<K>, config: WatcherConfig = {}): AsyncGenerator<WatcherEvent<K>> {
  const timeoutSeconds = config.timeoutSeconds ?? 290;
  const ctx: Context<K> = {
    api,
    cfg: {
      ...config,
      timeoutSeconds,
      pageSize: config.pageSize ?? 500,
      listSemantic: config.listSemantic ?? 'MostRecent',
      initialList: config.initialList ?? 'ListWatch',
      initialEventsTimeoutMs: config.initialEventsTimeoutMs ?? 10_000,
      bookmarks: config.bookmarks ?? true,
      stripManagedFields: config.stripManagedFields ?? false,
      lazyManagedFields: config.lazyManagedFields ?? false,
      backoff: config.backoff ?? defaultBackoff,
      logger: config.logger ?? consoleLogger,
    },
    signal: config.signal ?? new AbortController().signal,
    streaming: (config.initialList ?? 'ListWatch') === 'StreamingList',
    listThisCycle: false,
    lastSynced: undefined,
    lastSyncedUnavailable: false,
    unserved: undefined,
    holds: false,
    failing: false,
  };
  const backoff = ctx.cfg.backoff();
  let state: State<K> = { phase: 'Empty' };
  // 410s with no watch event between them: the first relists at once, the next ones wait the backoff
  // (a server that answers every watch with 410 would otherwise get a full list in a hot loop).
  let goneInARow = 0;
  try {
    while (!ctx.signal.aborted) {
      const watched = state.phase === 'Watching';
      const s: Step<K> = await step(state, ctx);
      state = s.next;
      // Drop the step's hold on each event as it is handed over: this frame
      // keeps `s` while it awaits the next step — for a quiet watch, until the
      // first event — and the last list page must not stay alive behind the
      // store (with `modify`, its full objects would outlive their projections).
      const emit: (Emitted<K> | undefined)[] = s.emit;
      let failure = s.failure;
      // A 404 of the resource: reported once per run, and past UNSERVED_CONFIRM_MS the cache is emptied (see `unservedAgain`).
      let unserved: Unserved<K> | undefined;
      if (failure && isNotServed(failure)) {
        unserved = unservedAgain(failure as ApiError, ctx);
        emit.push(...unserved.emit);
        failure = unserved.report;
        // A kind that vanishes mid-list is listed from the start when it is back.
        state = { phase: 'Empty' };
      } else if (failure || emit.length > 0) {
        ctx.unserved = undefined;
      }
      for (let i = 0; i < emit.length; i++) {
        const e = emit[i]!;
        emit[i] = undefined;
        if (typeof e !== 'function') {
          yield e;
          continue;
        }
        let event: WatcherEvent<K>;
        try {
          event = e();
        } catch (err) {
          // A list item that does not parse: the list is bad; start it again after the backoff.
          failure = asKubeError(err);
          state = { phase: 'Empty' };
          break;
        }
        yield event;
      }
      if (ctx.signal.aborted) break;
      if (failure) ctx.failing = true;
      else if (s.progress) ctx.failing = false;
      if (unserved) {
        if (failure) yield { type: 'Error', error: failure };
        // Capped: the cache lists within a few seconds of the kind being served (jittered, so that caches started together spread out).
        const capped = Math.min(backoff.next(), jitter(UNSERVED_RETRY_MAX_MS, { below: 0.2 }));
        await sleep(Math.max(capped, (unserved.retryAfterSeconds ?? 0) * 1000), ctx.signal);
      } else if (failure) {
        yield { type: 'Error', error: explained(failure, ctx) };
        const wait = Math.max(backoff.next(), (failure.retryAfterSeconds ?? 0) * 1000);
        await sleep(wait, ctx.signal);
      } else if (s.gone) {
        if (goneInARow++ > 0) await sleep(backoff.next(), ctx.signal);
      } else if (s.progress) {
        if (watched) goneInARow = 0;
        // The pages of a relist that a 410 asked for do not reset it: the backoff grows while the 410s go on.
        if (goneInARow === 0) backoff.reset();
      }
    }
  } finally {
    await closeStream(state);
  }
}

/**
 * A watcher of the metadata only (`PartialObjectMeta<K>`): far smaller
 * objects, for controllers that need names, labels and owners but not specs.
 *
 * @example
 * for await (const e of metadataWatcher(podsApi)) if (e.type === 'Apply') console.log(e.object.metadata.labels);
 */
export function metadataWatcher<K extends KubeObject>(api: Api<K>, config: WatcherConfig = {}): AsyncGenerator<WatcherEvent<PartialObjectMeta<K>>> {
  return watcher(api.metadata(), config);
}

/**
 * Follows one object by name: yields it whenever it changes, and `undefined`
 * when it is deleted or absent after a (re)list. `Error` events go to
 * `onError` (default: logged as warnings); the watch carries on.
 *
 * @example
 * for await (const pod of watchObject(pods, 'web-0')) {
 *   if (pod?.status?.phase === 'Running') break;
 * }
 */
export async function* watchObject<K extends KubeObject>(
  api: ListWatch<K>,
  name: string,
  config: Omit<WatcherConfig, 'fieldSelector'> & { onError?: (error: KubeError) => void } = {},
): AsyncGenerator<K | undefined> {
  const onError = config.onError ?? ((e: KubeError) => (config.logger ?? consoleLogger).warn(e.message));
  let seen: K | undefined;
  for await (const e of watcher(api, { ...config, fieldSelector: `metadata.name=${name}` })) {
    switch (e.type) {
      case 'Init':
        seen = undefined;
        break;
      case 'InitApply':
        seen = e.object;
        break;
      case 'InitDone':
        yield seen;
        break;
      case 'Apply':
        yield e.object;
        break;
      case 'Delete':
        yield undefined;
        break;
      case 'Error':
        onError(e.error);
        break;
    }
  }
}

/** One transition. Never throws: failures come back in `failure`. */
async function step<K extends KubeObject>(state: State<K>, ctx: Context<K>): Promise<Step<K>> {
  switch (state.phase) {
    case 'Empty':
      // Nothing to emit yet: `Init` comes with the server's first answer.
      return ctx.streaming && !ctx.listThisCycle
        ? { emit: [], next: { phase: 'InitStreaming', at: listResourceVersion(ctx) ?? '', stream: undefined, abort: new AbortController(), started: false } }
        : { emit: [], next: { phase: 'InitPage', continueToken: undefined } };
    case 'InitPage':
      return listPage(state.continueToken, ctx);
    case 'InitStreaming':
      return streamInitial(state, ctx);
    case 'Watching':
      return watchNext(state, ctx);
  }
}

async function listPage<K extends KubeObject>(continueToken: string | undefined, ctx: Context<K>): Promise<Step<K>> {
  const { cfg } = ctx;
  const first = continueToken === undefined;
  // Only the first page chooses the snapshot; later pages continue it.
  const at = first ? listResourceVersion(ctx) : undefined;
  try {
    const page = await ctx.api.list({
      labelSelector: cfg.labelSelector,
      fieldSelector: cfg.fieldSelector,
      shardSelector: cfg.shardSelector,
      limit: cfg.pageSize,
      continue: continueToken,
      resourceVersion: at,
      resourceVersionMatch: at === undefined ? undefined : 'NotOlderThan',
      stripManagedFields: cfg.stripManagedFields,
      lazyManagedFields: cfg.lazyManagedFields,
      deferItems: true,
      signal: ctx.signal,
    });
    const decode = { stripManagedFields: cfg.stripManagedFields, lazyManagedFields: cfg.lazyManagedFields };
    // Items come as bytes from an Api (parsed one by one as handed over); a ListWatch that ignores deferItems gives objects.
    // An empty PartialObjectMetadataList comes as `"items": null` (a nil Go slice).
    const emit: Emitted<K>[] = (page.items ?? []).map(
      (item: K | Buffer): Emitted<K> =>
        Buffer.isBuffer(item)
          ? () => ({ type: 'InitApply', object: parseListItem<K>(item, `LIST ${describeApi(ctx)}`, decode) })
          : { type: 'InitApply', object: item },
    );
    const next = page.metadata?.continue;
    const rv = page.metadata?.resourceVersion;
    if (first) {
      if (at !== undefined && olderThanAsked(rv, at, ctx)) return { emit: [], next: { phase: 'Empty' } };
      emit.unshift({ type: 'Init' });
    }
    if (next) return { emit, next: { phase: 'InitPage', continueToken: next }, progress: true };
    if (!rv) {
      return {
        emit,
        next: { phase: 'Empty' },
        failure: new KubeError(`list of ${describeApi(ctx)} returned neither a resourceVersion nor a continue token`),
      };
    }
    emit.push({ type: 'InitDone' });
    if (first && emit.length === 2) checkNamespace(ctx);
    synced(ctx, rv);
    ctx.holds = true;
    ctx.listThisCycle = false;
    return { emit, next: watching(rv), progress: true };
  } catch (err) {
    const error = asKubeError(err);
    if (error instanceof ApiError && error.isGone && !first) {
      ctx.cfg.logger.info(`continue token of ${describeApi(ctx)} expired; listing again from the start`);
      return { emit: [], next: { phase: 'Empty' }, gone: true };
    }
    if (at !== undefined && at !== '0' && refusesResourceVersion(error)) return quorumNext(ctx, at, error);
    // Retry the same page after the backoff.
    return { emit: [], next: { phase: 'InitPage', continueToken }, failure: error };
  }
}

/**
 * The resourceVersion a (re)list asks for, never below the last synced one:
 * `undefined` is a quorum read (the newest); `'0'` is any version, for the
 * first list with `Any`; later lists with `Any` ask for the last synced
 * version, at least (`NotOlderThan`), unless the server refused it.
 */
function listResourceVersion<K>(ctx: Context<K>): string | undefined {
  if (ctx.cfg.listSemantic !== 'Any' || ctx.lastSyncedUnavailable) return undefined;
  return ctx.lastSynced ?? '0';
}

/** The cache is now at `rv`: later relists ask for no older version. */
/**
 * A first list of one namespace that came back empty: says so when the
 * namespace does not exist (a typo, or not created yet), which the list
 * itself cannot tell (it answers an empty list). Once per watcher; needs the
 * Api's client and `get` on the namespace (without it, nothing is said).
 */
function checkNamespace<K>(ctx: Context<K>): void {
  const namespace = ctx.api.namespace;
  const client = (ctx.api as { client?: { request(opts: { path: string; signal?: AbortSignal }): Promise<unknown> } }).client;
  if (ctx.namespaceChecked || !ctx.api.resource.namespaced || namespace === undefined || !client) return;
  ctx.namespaceChecked = true;
  client.request({ path: `/api/v1/namespaces/${encodeURIComponent(namespace)}`, signal: ctx.signal }).then(
    () => undefined,
    (err: unknown) => {
      if (err instanceof ApiError && err.statusCode === 404) {
        ctx.cfg.logger.warn(`namespace ${namespace} does not exist: the cache of ${describeApi(ctx)} stays empty until it is created`, {
          resource: ctx.api.resource.plural,
          namespace,
        });
      }
    },
  );
}

function synced<K>(ctx: Context<K>, rv: string): void {
  ctx.lastSynced = rv;
  ctx.lastSyncedUnavailable = false;
}

/**
 * 410 Expired, or "Too large resource version" (504 with cause
 * `ResourceVersionTooLarge`, from a watch cache that has not reached the
 * version within its wait): the server cannot answer at the version asked for.
 */
function refusesResourceVersion(error: KubeError): boolean {
  if (!(error instanceof ApiError)) return false;
  if (error.isGone) return true;
  if (error.status.details?.causes?.some((c) => c.reason === 'ResourceVersionTooLarge')) return true;
  return error.statusCode === 504 && /too large resource version/i.test(error.status.message ?? '');
}

/** The server refused the last synced version: read at quorum, at once (client-go does the same). */
function quorumNext<K>(ctx: Context<K>, at: string, error: ApiError | KubeError): Step<K> {
  ctx.lastSyncedUnavailable = true;
  ctx.cfg.logger.info(`the server cannot list ${describeApi(ctx)} at resourceVersion ${at} (${error.message}); reading at quorum`);
  return { emit: [], next: { phase: 'Empty' } };
}

/**
 * True when the server answered a list asked at `at` or later with an older
 * one: it did not honour `NotOlderThan`, and emitting the list would roll
 * the cache back. The watcher then reads at quorum. Versions that cannot be
 * ordered (a non-standard server) are taken as they come.
 */
function olderThanAsked<K>(rv: string | undefined, at: string, ctx: Context<K>): boolean {
  if (rv === undefined || !isComparableResourceVersion(rv) || !isComparableResourceVersion(at)) return false;
  if (compareResourceVersions(rv, at) >= 0) return false;
  ctx.lastSyncedUnavailable = true;
  ctx.cfg.logger.warn(`list of ${describeApi(ctx)} came back at resourceVersion ${rv}, older than the ${at} asked for; reading at quorum instead`);
  return true;
}

async function streamInitial<K extends KubeObject>(state: Extract<State<K>, { phase: 'InitStreaming' }>, ctx: Context<K>): Promise<Step<K>> {
  const { at, abort, started } = state;
  let stream = state.stream;
  try {
    // `''` with NotOlderThan is a consistent (quorum) read.
    stream ??= openWatch(ctx, { resourceVersion: at, resourceVersionMatch: 'NotOlderThan', sendInitialEvents: true, allowWatchBookmarks: true }, abort.signal);
    const here: Extract<State<K>, { phase: 'InitStreaming' }> = { ...state, stream };
    const r = await nextWithin(stream, ctx.cfg.initialEventsTimeoutMs, abort);
    if (r === 'timeout') return listInstead(here, ctx, `none within ${ctx.cfg.initialEventsTimeoutMs} ms of waiting`);
    if (r.done) return listInstead(here, ctx, 'the stream ended without it');
    const ev = r.value;
    // The server's first answer opens the list.
    const open = (e: Emitted<K>[]): Emitted<K>[] => (started ? e : [{ type: 'Init' }, ...e]);
    switch (ev.type) {
      case 'ADDED':
        return { emit: open([{ type: 'InitApply', object: ev.object }]), next: { ...here, started: true } };
      case 'BOOKMARK': {
        const meta = ev.object.metadata;
        if (meta?.annotations?.[INITIAL_EVENTS_END] !== 'true' || !meta.resourceVersion) return { emit: [], next: here };
        if (at !== '' && at !== '0' && olderThanAsked(meta.resourceVersion, at, ctx)) {
          await closeStream(here);
          return { emit: [], next: { phase: 'Empty' } };
        }
        synced(ctx, meta.resourceVersion);
        ctx.holds = true;
        const next: State<K> = { phase: 'Watching', resourceVersion: meta.resourceVersion, stream, opened: Date.now(), events: 0 };
        return { emit: open([{ type: 'InitDone' }]), next, progress: true };
      }
      case 'MODIFIED':
      case 'DELETED':
        // A streaming list sends the current state as ADDED, then the end bookmark: this is a plain watch.
        return listInstead(here, ctx, `${ev.type} came first`);
      case 'ERROR': {
        await closeStream(here);
        return refusedOrFailed(inStreamError(ev, ctx), at, ctx);
      }
    }
  } catch (err) {
    await closeStream({ ...state, stream });
    return refusedOrFailed(asKubeError(err), at, ctx);
  }
}

/**
 * The stream's next event, or `'timeout'` when the server sends nothing for
 * `ms`; then the request is aborted. Only this wait counts: the consumer's
 * time between events is not the server's.
 */
async function nextWithin<T>(stream: AsyncIterator<T>, ms: number, abort: AbortController): Promise<IteratorResult<T> | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  const next = stream.next();
  try {
    const r = await Promise.race([next, timeout]);
    if (r === 'timeout') {
      abort.abort();
      next.catch(() => {}); // the aborted request settles by itself
    }
    return r;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The server accepted the streaming list but does not stream one (it
 * ignored `sendInitialEvents`, as some proxies and aggregated servers do):
 * list page by page for this cycle. The list emits its own `Init`.
 */
function listInstead<K>(state: Extract<State<K>, { phase: 'InitStreaming' }>, ctx: Context<K>, why: string): Step<K> {
  state.abort.abort();
  void closeStream(state);
  ctx.listThisCycle = true;
  ctx.cfg.logger.warn(`streaming list of ${describeApi(ctx)}: no initial-events-end bookmark (${why}); listing page by page for this cycle`);
  return { emit: [], next: { phase: 'Empty' } };
}

/** After a failed streaming list: fall back to list + watch if the server refuses them, else start over. */
function refusedOrFailed<K>(error: KubeError, at: string, ctx: Context<K>): Step<K> {
  if (error instanceof ApiError && REFUSES_STREAMING.has(error.statusCode)) {
    ctx.streaming = false;
    ctx.cfg.logger.warn(`the server refused a streaming list of ${describeApi(ctx)} (${error.message}); falling back to list + watch`);
    return { emit: [], next: { phase: 'Empty' } };
  }
  if (at !== '' && at !== '0' && refusesResourceVersion(error)) return quorumNext(ctx, at, error);
  if (error instanceof ApiError && error.isGone) return { emit: [], next: { phase: 'Empty' }, gone: true };
  return { emit: [], next: { phase: 'Empty' }, failure: error };
}

async function watchNext<K extends KubeObject>(state: Extract<State<K>, { phase: 'Watching' }>, ctx: Context<K>): Promise<Step<K>> {
  let { stream, opened, events } = state;
  const rv = state.resourceVersion;
  try {
    if (!stream) {
      // After a failure, a watch the server accepts is progress even if it stays quiet: say so with a bookmark at
      // the version the cache is at (the server has just accepted it), so the cache is no longer counted as failing.
      let open: (() => void) | undefined;
      const accepted = ctx.failing ? new Promise<'open'>((resolve) => (open = () => resolve('open'))) : undefined;
      stream = openWatch(ctx, { resourceVersion: rv, allowWatchBookmarks: ctx.cfg.bookmarks, ...(open ? { onOpen: open } : {}) });
      opened = Date.now();
      events = 0;
      if (accepted) {
        const first = stream.next();
        first.catch(() => {}); // awaited below or in the next step; not an unhandled rejection meanwhile
        if ((await Promise.race([first, accepted])) === 'open') {
          return {
            emit: [{ type: 'Bookmark', resourceVersion: rv }],
            next: { phase: 'Watching', resourceVersion: rv, stream, opened, events, pending: first },
          };
        }
        state = { ...state, pending: first };
      }
    }
    const pending = state.pending;
    const r = await (pending ?? stream.next());
    if (r.done) {
      const early = events === 0 && Date.now() - opened < (ctx.cfg.timeoutSeconds * 1000) / 2;
      return early
        ? { emit: [], next: watching(rv), failure: new KubeError(`watch of ${describeApi(ctx)} ended after ${Date.now() - opened} ms without any event`) }
        : { emit: [], next: watching(rv) };
    }
    const ev = r.value;
    const next = (resourceVersion: string): State<K> => {
      synced(ctx, resourceVersion);
      return { phase: 'Watching', resourceVersion, stream, opened, events: events + 1 };
    };
    const newRv = ev.object.metadata?.resourceVersion || rv;
    switch (ev.type) {
      case 'ADDED':
      case 'MODIFIED':
        return { emit: [{ type: 'Apply', object: ev.object }], next: next(newRv), progress: true };
      case 'DELETED':
        return { emit: [{ type: 'Delete', object: ev.object }], next: next(newRv), progress: true };
      case 'BOOKMARK':
        return { emit: [{ type: 'Bookmark', resourceVersion: newRv }], next: next(newRv), progress: true };
      case 'ERROR': {
        await closeStream({ phase: 'Watching', resourceVersion: rv, stream, opened, events });
        const error = inStreamError(ev, ctx);
        if (error.isGone) return relist(ctx, error);
        // Not served (the CRD was removed): only a list can tell whether the objects went with it.
        return { emit: [], next: isNotServed(error) ? { phase: 'Empty' } : watching(rv), failure: error };
      }
    }
  } catch (err) {
    await closeStream({ phase: 'Watching', resourceVersion: rv, stream, opened, events });
    const error = asKubeError(err);
    if (error instanceof ApiError && error.isGone) return relist(ctx, error);
    return { emit: [], next: isNotServed(error) ? { phase: 'Empty' } : watching(rv), failure: error };
  }
}

function relist<K>(ctx: Context<K>, error: ApiError): Step<K> {
  ctx.cfg.logger.info(`watch of ${describeApi(ctx)} expired (${error.message}); listing again`);
  return { emit: [], next: { phase: 'Empty' }, gone: true };
}

/**
 * The timeout to ask of one watch request: `seconds` plus up to a quarter
 * more, whole seconds, each equally likely, so that watchers started together
 * do not all reconnect together (0 stays 0: the server's own default).
 * @internal
 */
export function watchTimeoutSeconds(seconds: number, random: () => number = Math.random): number {
  return seconds > 0 ? seconds + Math.floor(jitter(Math.floor(seconds / 4) + 1, { below: 1 }, random)) : seconds;
}

function watching<K>(resourceVersion: string): State<K> {
  return { phase: 'Watching', resourceVersion, stream: undefined, opened: 0, events: 0 };
}

function openWatch<K>(
  ctx: Context<K>,
  o: { resourceVersion: string; resourceVersionMatch?: 'NotOlderThan'; sendInitialEvents?: boolean; allowWatchBookmarks: boolean },
  signal?: AbortSignal,
): AsyncIterator<WatchEvent<K>> {
  const timeoutSeconds = watchTimeoutSeconds(ctx.cfg.timeoutSeconds);
  return ctx.api
    .watch({
      ...o,
      labelSelector: ctx.cfg.labelSelector,
      fieldSelector: ctx.cfg.fieldSelector,
      shardSelector: ctx.cfg.shardSelector,
      timeoutSeconds,
      idleTimeoutMs: ctx.cfg.idleTimeoutMs ?? (timeoutSeconds + 5) * 1000,
      stripManagedFields: ctx.cfg.stripManagedFields,
      lazyManagedFields: ctx.cfg.lazyManagedFields,
      signal: signal ? AbortSignal.any([ctx.signal, signal]) : ctx.signal,
    })
    [Symbol.asyncIterator]();
}

async function closeStream<K>(state: State<K>): Promise<void> {
  if ((state.phase === 'Watching' || state.phase === 'InitStreaming') && state.stream) {
    try {
      await state.stream.return?.();
    } catch {
      /* closing a broken stream: its failure was already reported */
    }
  }
}

function inStreamError<K>(ev: WatchEvent<K>, ctx: Context<K>): ApiError {
  const status = ev.object as unknown as import('../core/errors.ts').Status;
  return new ApiError(`WATCH ${describeApi(ctx)}`, status, { code: typeof status.code === 'number' ? status.code : 0, inStream: true });
}

/**
 * True for a 404 that names no object: the server does not serve the
 * resource itself (a CustomResourceDefinition not installed, not established
 * yet, or removed), as opposed to one object not existing (a 404 whose
 * Status names it). A store's `health().unserved` follows it.
 * @internal
 */
export function isNotServed(error: KubeError): boolean {
  return error instanceof ApiError && error.statusCode === 404 && !error.status.details?.name;
}

/** What the watcher does with a 404 of the resource: what to emit, what to report (nothing: asked again quietly), how long the server asked it to wait. */
interface Unserved<K> {
  emit: Emitted<K>[];
  report: KubeError | undefined;
  retryAfterSeconds: number | undefined;
}

/**
 * A 404 of the resource (see the module documentation). The first of a run
 * is reported; later ones are not, unless the cache had listed the kind and
 * the run has lasted `UNSERVED_CONFIRM_MS`: then the kind is gone, the cache
 * is emptied by an empty list, and the 404 is reported again, saying so.
 */
function unservedAgain<K>(error: ApiError, ctx: Context<K>): Unserved<K> {
  const retryAfterSeconds = error.retryAfterSeconds;
  const now = Date.now();
  const run = ctx.unserved;
  if (run === undefined) {
    ctx.unserved = { since: now };
    return { emit: [], report: explained(error, ctx, ctx.holds ? 'no longer' : 'not yet'), retryAfterSeconds };
  }
  if (ctx.holds && now - run.since >= UNSERVED_CONFIRM_MS) {
    ctx.holds = false;
    return { emit: [{ type: 'Init' }, { type: 'InitDone' }], report: explained(error, ctx, 'emptied'), retryAfterSeconds };
  }
  ctx.cfg.logger.debug(`${describeApi(ctx)} still not served after ${now - run.since} ms; asking again`, { resource: ctx.api.resource.plural });
  return { emit: [], report: undefined, retryAfterSeconds };
}

const hinted = new WeakSet<KubeError>();

/**
 * A list or watch refused for a reason the user must fix, said with what to
 * do: 404 (the server does not serve the kind: a CRD not installed, or
 * removed; `unserved` says which, as far as the watcher knows) and 403
 * (RBAC). The message grows once; the error stays the same object, with its
 * `statusCode`.
 */
function explained<K>(err: KubeError, ctx: Context<K>, unserved: 'not yet' | 'no longer' | 'emptied' = 'not yet'): KubeError {
  if (!(err instanceof ApiError) || hinted.has(err)) return err;
  const r = ctx.api.resource;
  const scope = !r.namespaced
    ? 'cluster-wide (a ClusterRole)'
    : ctx.api.namespace === undefined
      ? 'in all namespaces (a ClusterRole)'
      : `in namespace ${ctx.api.namespace}`;
  const what = r.group ? `${r.group}/${r.version} ${r.plural}` : `${r.version} ${r.plural}`;
  const crd = `the CustomResourceDefinition ${r.plural}.${r.group}`;
  const retrying = `asking again every ${UNSERVED_RETRY_MAX_MS / 1000} s at most`;
  let hint: string | undefined;
  if (isNotServed(err)) {
    if (unserved === 'not yet') {
      hint = r.group ? `the server does not serve ${what}: is ${crd} installed? (${retrying})` : `the server does not serve ${what} (${retrying})`;
    } else if (unserved === 'no longer') {
      hint = `the server no longer serves ${what}${r.group ? ` (was ${crd} removed?)` : ''}; ${retrying}, the cache keeps its objects unless this lasts ${UNSERVED_CONFIRM_MS / 1000} s`;
    } else {
      hint = `the server has not served ${what} for ${UNSERVED_CONFIRM_MS / 1000} s${r.group ? ` (${crd} was removed)` : ''}: the cache of ${describeApi(ctx)} is now empty until the kind is served again (${retrying})`;
    }
  } else if (err.statusCode === 403) {
    hint = `missing RBAC: grant list and watch on ${r.plural} (apiGroups: ["${r.group}"]) ${scope}`;
  }
  if (hint) {
    err.message = `${err.message} — ${hint}`;
    hinted.add(err);
  }
  return err;
}

function asKubeError(err: unknown): KubeError {
  if (err instanceof KubeError) return err;
  return new KubeError(err instanceof Error ? err.message : String(err), { cause: err });
}

function describeApi<K>(ctx: Context<K>): string {
  return describeSource(ctx.api);
}

/** What a list and watch reads, for messages: `pods in shop`, `widgets.demo.kubereflect.dev in all namespaces`, `nodes`. */
export function describeSource(api: Pick<ListWatch<unknown>, 'resource' | 'namespace'>): string {
  const r = api.resource;
  const where = r.namespaced ? (api.namespace === undefined ? ' in all namespaces' : ` in ${api.namespace}`) : '';
  return `${r.plural}${r.group ? `.${r.group}` : ''}${where}`;
}
