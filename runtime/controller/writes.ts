/**
 * Read your own writes: what a reconcile wrote — to its primary object or to
 * a child the controller watches — is remembered for its key, and the next
 * reconcile of that key starts only once the controller's caches hold it,
 * so it never acts on the state from before its own last write (a counter
 * incremented twice, a child created twice, a condition flapping).
 *
 * A write is remembered through `ctx.track(api)` (the Api's writes) or
 * `ctx.wrote(obj)` (the object a write returned). The cache has caught up
 * with a write when it holds that object at the written resourceVersion or
 * a newer one (ordered since Kubernetes 1.35, KEP-5504; where versions are
 * not ordered, at a version other than the one before the write); with a
 * delete, when it holds no object of that name with the deleted uid. The
 * worker checks before each reconcile; a key whose writes are not there
 * yet is put back and checked again every `RECHECK_MS`, and after the
 * bound (`readYourWritesMs`) it runs anyway — counted, and logged once.
 *
 * Writes to a kind the controller does not watch are made as usual and
 * not waited for: no cache of the controller could be behind on them.
 */
import { keyFor } from '../core/object-ref.ts';
import type { Logger } from '../core/logger.ts';
import { holdsAtLeast } from '../core/resource-version.ts';
import type { KubeObject } from '../core/types.ts';
import type { Store } from '../cache/store.ts';
import type { Clock } from '../core/clock.ts';
import type { ControllerMetrics } from './metrics.ts';

/** How often a key waiting for its writes to reach the caches is checked again, ms. */
export const RECHECK_MS = 10;

/** One write to wait for. */
interface Write {
  readonly store: Store<KubeObject>;
  /** The written object's store key. */
  readonly key: string;
  /** Its resourceVersion as the write returned it; undefined for a delete. */
  readonly rv: string | undefined;
  /** The version the cache held before the write. */
  readonly before: string | undefined;
  /** For a delete: the uid of the object deleted. */
  readonly uid: string | undefined;
}

/** The writes each key waits for, and since when. */
interface Waiting {
  writes: Write[];
  since: number | undefined;
}

/** Finds the store the controller keeps of a kind (by API group and kind), if it watches that kind. */
export type StoreOfKind = (group: string, kind: string) => Store<KubeObject> | undefined;

const WRITES = new Set(['create', 'replace', 'patch', 'patchStatus', 'replaceStatus', 'delete']);

/** The writes of one controller's reconciles. */
export class Writes {
  private readonly waiting = new Map<string, Waiting>();
  private warned = false;

  constructor(
    private readonly name: string,
    private readonly storeOf: StoreOfKind,
    /** How long a key waits for its writes, ms; 0 remembers nothing. */
    private readonly boundMs: number,
    private readonly clock: Clock,
    private readonly metrics: ControllerMetrics,
    private readonly logger: Logger,
  ) {}

  /** Keys waiting for writes (the worker skips the check while none is). */
  get size(): number {
    return this.waiting.size;
  }

  /**
   * True when `key` may be reconciled now: its writes are in the caches, or
   * it has waited past the bound (then they are forgotten, counted and
   * logged once); false while it must wait.
   */
  caughtUp(key: string): boolean {
    const w = this.waiting.get(key);
    if (!w) return true;
    const writes = w.writes;
    let left = 0;
    for (let i = 0; i < writes.length; i++) if (!inCache(writes[i]!)) writes[left++] = writes[i]!;
    writes.length = left;
    if (left === 0) {
      this.waiting.delete(key);
      return true;
    }
    const now = this.clock.now();
    w.since ??= now;
    if (now - w.since < this.boundMs) return false;
    this.waiting.delete(key);
    this.metrics.writesNotSeen?.();
    const what = `${w.writes.length} of its writes (${w.writes.map((x) => x.key).join(', ')})`;
    const message = `${this.name}: reconciling ${key} though the caches do not hold ${what} after ${this.boundMs} ms: a watch is slow or stalled`;
    if (!this.warned) this.logger.warn(`${message} (said once; counted in kubereflect_controller_writes_not_seen_total)`, { controller: this.name, key });
    else this.logger.debug(message, { controller: this.name, key });
    this.warned = true;
    return true;
  }

  /** Forgets what `key` waits for (the object is gone). */
  forget(key: string): void {
    this.waiting.delete(key);
  }

  /** Remembers `written`, as a write returned it, for the next reconcile of `key`. */
  wrote(key: string, written: KubeObject | undefined, before?: string): void {
    if (this.boundMs <= 0 || !written?.metadata?.name || typeof written.apiVersion !== 'string' || typeof written.kind !== 'string') return;
    const slash = written.apiVersion.indexOf('/');
    const store = this.storeOf(slash < 0 ? '' : written.apiVersion.slice(0, slash), written.kind);
    if (store) this.remember(key, store, keyFor(written.metadata.name, written.metadata.namespace), written.metadata.resourceVersion, before);
  }

  /**
   * `api` with its writes remembered for the next reconcile of `key` (and
   * `within(namespace)` too); every other member as it is.
   */
  track<A extends object>(key: string, api: A): A {
    const resource = (api as { resource?: { group: string; kind: string } }).resource;
    const store = resource && this.boundMs > 0 ? this.storeOf(resource.group, resource.kind) : undefined;
    if (!store) return api;
    return new Proxy(api, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== 'function') return value;
        if (prop === 'within') return (namespace: string) => this.track(key, (value as (ns: string) => object).call(target, namespace));
        if (typeof prop !== 'string' || !WRITES.has(prop)) return value.bind(target);
        return async (...args: unknown[]) => {
          // The object's key and what the cache holds of it, before the write.
          const objKey = targetOf(prop, args, (api as { namespace?: string | undefined }).namespace);
          const cached = objKey ? store.get(objKey) : undefined;
          const result = (await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args)) as KubeObject | undefined;
          const returned = result && typeof result === 'object' && (result as KubeObject).metadata?.name ? (result as KubeObject) : undefined;
          if (prop === 'delete' && !returned?.metadata?.deletionTimestamp) {
            // Gone (or going without finalizers): wait until the cache no longer holds the object deleted.
            if (objKey && cached) this.remember(key, store, objKey, undefined, undefined, cached.metadata.uid);
          } else if (returned?.metadata?.name) {
            const k = keyFor(returned.metadata.name, returned.metadata.namespace);
            this.remember(key, store, k, returned.metadata.resourceVersion, (k === objKey ? cached : store.get(k))?.metadata.resourceVersion);
          }
          return result;
        };
      },
    });
  }

  private remember(key: string, store: Store<KubeObject>, objKey: string, rv: string | undefined, before: string | undefined, uid?: string): void {
    if (rv === undefined && uid === undefined) return;
    const write = { store, key: objKey, rv, before, uid };
    const w = this.waiting.get(key);
    if (!w) {
      this.waiting.set(key, { writes: [write], since: undefined });
      return;
    }
    // A later write of the same object replaces the earlier one: the later version is the one to wait for.
    const same = w.writes.findIndex((x) => x.store === store && x.key === objKey);
    if (same >= 0) w.writes[same] = write;
    else w.writes.push(write);
  }
}

/**
 * The store key of the object a write names: `create(obj)` and
 * `replace(name, obj)` name its namespace in the object, `patch(name, p,
 * { namespace })` and `delete(name, { namespace })` in their options (an
 * Api of all namespaces), else it is the Api's.
 */
function targetOf(method: string, args: unknown[], apiNamespace: string | undefined): string | undefined {
  if (method === 'create') {
    const obj = args[0] as KubeObject | undefined;
    return obj?.metadata?.name ? keyFor(obj.metadata.name, obj.metadata.namespace ?? apiNamespace) : undefined;
  }
  const name = args[0];
  if (typeof name !== 'string') return undefined;
  const options = (method === 'delete' ? args[1] : method.startsWith('patch') ? args[2] : undefined) as { namespace?: string } | undefined;
  const body = method.startsWith('replace') ? (args[1] as KubeObject | undefined) : undefined;
  return keyFor(name, options?.namespace ?? body?.metadata?.namespace ?? apiNamespace);
}

/** True when the write's store holds it (or, for a delete, no longer holds what was deleted). */
function inCache(w: Write): boolean {
  const current = w.store.get(w.key);
  if (w.rv === undefined) return current === undefined || current.metadata.uid !== w.uid;
  return holdsAtLeast(current?.metadata.resourceVersion, w.rv, w.before);
}
