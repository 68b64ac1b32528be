/**
 * The reflector and the stream helpers around it. A reflector sits on a
 * watcher's event stream, applies every event to a store's writer and passes
 * the event on, so one loop both keeps the cache current and drives whatever
 * reacts to the events. The helpers shape such streams: reduce events to
 * objects (`appliedObjects`, `touchedObjects`), transform objects before they
 * reach the store (`modify`, where pruning plugs in), drop objects whose
 * interesting part did not change (`predicateFilter` with `predicates`), and
 * slow down after errors (`streamBackoff`, for streams other than a
 * watcher's: the watcher backs off by itself).
 *
 * Errors are never swallowed: the helpers that drop `Error` events hand each
 * one to an `onError` callback, which by default logs `error.message` at warn
 * level through `consoleLogger`.
 *
 * A typical pipeline:
 *
 * ```ts
 * const { reader, writer } = store<PodMeta>();
 * const events = reflector(writer, modify(watcher(pods), prunePod)); // the watcher backs off after its own failures
 * for await (const pod of predicateFilter(appliedObjects(events), predicates.generation)) reconcile(pod);
 * ```
 */
import { defaultBackoff, sleep } from '../core/backoff.ts';
import type { BackoffPolicy } from '../core/backoff.ts';
import type { KubeError } from '../core/errors.ts';
import { consoleLogger } from '../core/logger.ts';
import type { Writer } from './store.ts';
import type { HasMetadata, KubeObject, Stored, WatcherEvent } from '../core/types.ts';

/** Receives the errors a helper takes out of the stream. */
export type ErrorHandler = (error: KubeError) => void;

const warnError: ErrorHandler = (error) => consoleLogger.warn(error.message);

/**
 * Applies each event of `stream` to `writer`, then yields it;
 * after an `InitDone` it also yields a `Delete` marked `finalStateUnknown`
 * for each object the relist found gone, so every consumer of the stream
 * hears of every delete. Claims the writer at once (a second reflector on
 * the same writer throws) and closes it when the stream ends, throws, or the
 * consumer stops.
 *
 * A (re)list is read into the store ahead of the consumer: from its `Init`
 * to its `InitDone` the reflector pulls the stream as fast as the server
 * answers, and hands the list's events over after the store has the whole
 * list. A consumer that takes its time over each event therefore cannot make
 * a paginated list outlive its continue token (which would start the list
 * over, again and again). `Init` and `Error` events are passed on at once;
 * each `InitApply` carries the instance the store keeps (with
 * `reuseUnchanged`, the one it already had), so holding the list's events
 * costs no second copy of the objects. A list the stream abandons (it starts
 * over with a new `Init`, or the stream ends before `InitDone`) is never
 * handed over. Watch events are applied and passed on one at a time: the
 * watch waits for the consumer (a shared store's root does not).
 *
 * @example
 * const { reader, writer } = store<Pod>();
 * for await (const event of reflector(writer, watcher(podApi))) {
 *   if (event.type === 'InitDone') console.log(`listed ${reader.size} pods`);
 * }
 */
export function reflector<K extends KubeObject>(
  writer: Writer<K>,
  stream: AsyncIterable<WatcherEvent<K>>,
): AsyncGenerator<WatcherEvent<Stored<K>>, void, undefined> {
  // Claimed here rather than in the generator body, so misuse throws at the call site.
  writer.claim('reflector()');
  return reflectInto(writer, stream);
}

/**
 * The loop of `reflector` and `reflectShared`; `onEnd` runs before the writer
 * closes, with what the loop threw, if it threw.
 * @internal
 */
export async function* reflectInto<K extends KubeObject>(
  writer: Writer<K>,
  stream: AsyncIterable<WatcherEvent<K>>,
  onEnd?: (thrown?: { error: unknown }) => void,
): AsyncGenerator<WatcherEvent<Stored<K>>, void, undefined> {
  const events = stream[Symbol.asyncIterator]();
  let ended = false;
  let thrown: { error: unknown } | undefined;
  try {
    for (;;) {
      const r = await events.next();
      if (r.done) break;
      const event = r.value;
      const vanished = writer.applyEvent(event);
      // Read-only from here on: the store owns (and has frozen) what it keeps.
      yield event as WatcherEvent<Stored<K>>;
      if (event.type === 'Init') {
        const listed = yield* readAhead(writer, events);
        if (listed === 'ended') break;
        continue;
      }
      for (const object of vanished) yield { type: 'Delete', object, finalStateUnknown: true };
    }
    ended = true;
  } catch (error) {
    thrown = { error };
    throw error;
  } finally {
    try {
      // The consumer stopped (or the writer threw): stop the source too.
      if (!ended) await events.return?.();
    } finally {
      onEnd?.(thrown);
      writer.close();
    }
  }
}

/**
 * After an `Init`: applies the list's events up to its `InitDone` without
 * waiting for the consumer, then yields them (see `reflector`). `Init` and
 * `Error` are yielded at once. Returns `'ended'` when the stream ended first.
 */
async function* readAhead<K extends KubeObject>(
  writer: Writer<K>,
  events: AsyncIterator<WatcherEvent<K>>,
): AsyncGenerator<WatcherEvent<Stored<K>>, 'listed' | 'ended', undefined> {
  let held: (WatcherEvent<Stored<K>> | undefined)[] = [];
  for (;;) {
    const r = await events.next();
    if (r.done) return 'ended'; // no InitDone: what was listed is not the truth, and never reached the live store
    const event = r.value;
    const vanished = writer.applyEvent(event);
    switch (event.type) {
      case 'InitApply': {
        // The instance the store keeps: with reuseUnchanged, the one it already had (the incoming copy can go).
        const kept = writer.listed(event.object);
        held.push((kept === undefined || kept === event.object ? event : { type: 'InitApply', object: kept }) as WatcherEvent<Stored<K>>);
        break;
      }
      case 'Init':
        // The list starts over: the store dropped what the last attempt listed, and so does the consumer's share.
        held = [];
        yield event;
        break;
      case 'Error':
        yield event;
        break;
      case 'InitDone': {
        for (let i = 0; i < held.length; i++) {
          const e = held[i]!;
          held[i] = undefined; // the store holds the objects; the list's events go as they are handed over
          yield e;
        }
        held = [];
        yield event as WatcherEvent<Stored<K>>;
        for (const object of vanished) yield { type: 'Delete', object, finalStateUnknown: true };
        return 'listed';
      }
      default:
        // Not from a watcher (it sends no watch events inside a list): keep the order.
        held.push(event as WatcherEvent<Stored<K>>);
    }
  }
}

/**
 * The objects that were added or changed: those of `InitApply` and `Apply`.
 * `Error` events go to `onError` (default: logged as a warning).
 *
 * @example
 * for await (const pod of appliedObjects(reflector(writer, watcher(podApi)))) reconcile(pod);
 */
export async function* appliedObjects<K>(stream: AsyncIterable<WatcherEvent<K>>, onError: ErrorHandler = warnError): AsyncGenerator<K, void, undefined> {
  for await (const event of stream) {
    if (event.type === 'InitApply' || event.type === 'Apply') yield event.object;
    else if (event.type === 'Error') onError(event.error);
  }
}

/**
 * The objects that were added, changed or deleted: those of `InitApply`,
 * `Apply` and `Delete`. `Error` events go to `onError` (default: logged as a warning).
 *
 * @example
 * for await (const pod of touchedObjects(watcher(podApi))) queue.add(ObjectRef.fromObject(pod, pods));
 */
export async function* touchedObjects<K>(stream: AsyncIterable<WatcherEvent<K>>, onError: ErrorHandler = warnError): AsyncGenerator<K, void, undefined> {
  for await (const event of stream) {
    if (event.type === 'InitApply' || event.type === 'Apply' || event.type === 'Delete') yield event.object;
    else if (event.type === 'Error') onError(event.error);
  }
}

/**
 * Maps the object of every `InitApply`, `Apply` and `Delete` event through
 * `fn`; other events pass unchanged, and a `Delete` keeps its
 * `finalStateUnknown` (after a reflector, those are the deletes a relist
 * found). Put it between the watcher and the reflector to prune objects
 * before they are stored.
 *
 * @example
 * const slim = modify(watcher(podApi), (pod) => ({ metadata: pod.metadata, status: { phase: pod.status?.phase } }));
 * for await (const event of reflector(writer, slim)) {}
 */
export async function* modify<K, R>(stream: AsyncIterable<WatcherEvent<K>>, fn: (obj: K) => R): AsyncGenerator<WatcherEvent<R>, void, undefined> {
  for await (const event of stream) {
    switch (event.type) {
      case 'InitApply':
      case 'Apply':
        yield { type: event.type, object: fn(event.object) };
        break;
      case 'Delete':
        yield event.finalStateUnknown ? { type: 'Delete', object: fn(event.object), finalStateUnknown: true } : { type: 'Delete', object: fn(event.object) };
        break;
      default:
        yield event;
    }
  }
}

/**
 * A fingerprint of the part of an object one cares about. `undefined` means
 * "cannot tell", and lets the object through.
 */
export type Predicate<K> = (obj: K) => string | number | undefined;

// Sorted so that the same map in a different key order gives the same fingerprint.
function sortedEntries(map: { readonly [key: string]: string } | undefined): string {
  return JSON.stringify(Object.entries(map ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Ready-made predicates for `predicateFilter`.
 *
 * - `generation`: the spec changed (`metadata.generation`); objects without a
 *   generation (e.g. ConfigMaps) fall back to `resourceVersion`, i.e. any change.
 * - `resourceVersion`: anything changed.
 * - `labels`, `annotations`, `finalizers`: that map or list changed (order of
 *   keys does not matter; order of finalizers does, as on the server).
 *
 * @example
 * predicateFilter(appliedObjects(events), predicates.generation);
 */
export const predicates = {
  /** `metadata.generation` (spec changes), or the resourceVersion when the kind has no generation. */
  generation: (obj: HasMetadata) => {
    const meta = obj.metadata;
    if (meta?.generation !== undefined) return `g:${meta.generation}`;
    return meta?.resourceVersion === undefined ? undefined : `rv:${meta.resourceVersion}`;
  },
  /** Any change at all. */
  resourceVersion: (obj: HasMetadata) => obj.metadata?.resourceVersion,
  /** Label changes. */
  labels: (obj: HasMetadata) => sortedEntries(obj.metadata?.labels),
  /** Annotation changes. */
  annotations: (obj: HasMetadata) => sortedEntries(obj.metadata?.annotations),
  /** Finalizer changes. */
  finalizers: (obj: HasMetadata) => JSON.stringify(obj.metadata?.finalizers ?? []),
} satisfies Record<string, Predicate<HasMetadata>>;

/** Options of `predicateFilter`. */
export interface PredicateFilterOptions {
  /** Forget an object not seen for this long, ms (default one hour). */
  ttlMs?: number;
  /** Source of time, for tests (default `Date.now`). */
  now?: () => number;
}

/**
 * Yields an object only when `predicate` gives a different fingerprint than
 * it did for the last object seen with the same namespace, name and uid —
 * so a deleted and recreated object (new uid) always passes. An identity not
 * seen for `ttlMs` is forgotten, which bounds the memory used.
 *
 * @example
 * // reconcile only when the spec changes, not on every status update
 * for await (const d of predicateFilter(appliedObjects(events), predicates.generation)) reconcile(d);
 */
export async function* predicateFilter<K extends HasMetadata>(
  objects: AsyncIterable<K>,
  predicate: Predicate<K>,
  opts: PredicateFilterOptions = {},
): AsyncGenerator<K, void, undefined> {
  const ttlMs = opts.ttlMs ?? 3_600_000;
  const now = opts.now ?? Date.now;
  const seen = new Map<string, { fingerprint: string | number; lastSeen: number }>();
  let lastSweep = now();
  for await (const obj of objects) {
    const fingerprint = predicate(obj);
    if (fingerprint === undefined) {
      yield obj;
      continue;
    }
    const t = now();
    if (t - lastSweep >= ttlMs) {
      for (const [key, entry] of seen) if (t - entry.lastSeen >= ttlMs) seen.delete(key);
      lastSweep = t;
    }
    const meta = obj.metadata;
    const key = `${meta?.namespace ?? ''}\u0000${meta?.name ?? ''}\u0000${meta?.uid ?? ''}`;
    const previous = seen.get(key);
    // An entry past its TTL counts as absent even if the periodic sweep has not removed it yet.
    const changed = previous === undefined || t - previous.lastSeen >= ttlMs || previous.fingerprint !== fingerprint;
    seen.set(key, { fingerprint, lastSeen: t });
    if (changed) yield obj;
  }
}

/** Options of `streamBackoff`. */
export interface StreamBackoffOptions {
  /** Cuts a wait short when aborted. */
  signal?: AbortSignal;
}

/**
 * After each `Error` event, waits before pulling the next item from `stream`:
 * the policy's next delay, and at least the error's `retryAfterSeconds` when
 * the server asked for one. Any other event resets the policy. The wait
 * happens only when the consumer asks for the next item, so stopping after an
 * error does not wait.
 *
 * For event streams that do not back off by themselves. A `watcher` already
 * does (its `backoff` option): wrapping one would wait twice after each failure.
 *
 * @example
 * for await (const event of streamBackoff(eventsFromMyQueue(), exponentialBackoff({ maxMs: 10_000 }))) handle(event);
 */
export async function* streamBackoff<E extends { type: string; error?: unknown }>(
  stream: AsyncIterable<E>,
  policy: BackoffPolicy = defaultBackoff,
  opts: StreamBackoffOptions = {},
): AsyncGenerator<E, void, undefined> {
  const delays = policy();
  for await (const event of stream) {
    if (event.type !== 'Error') {
      delays.reset();
      yield event;
      continue;
    }
    yield event;
    const retryAfter = (event.error as Partial<KubeError> | undefined)?.retryAfterSeconds;
    const wait = Math.max(delays.next(), typeof retryAfter === 'number' ? retryAfter * 1000 : 0);
    await sleep(wait, opts.signal);
  }
}
