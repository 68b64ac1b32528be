/**
 * The manager's caches: one shared store per (resource, namespace scope,
 * selectors, projection), whatever number of controllers and readers use
 * it, each driven by one watch for the manager's life.
 *
 * Projection is part of the key, and sharing never hands a user fewer
 * fields than its type promises: whole objects are shared between whoever
 * asks for whole objects; a controller's `transform` gets a cache of its
 * own unless the same function was asked for before; a metadata-only need
 * (a controller's `owns()`) is served by a whole-object cache of the same
 * scope when there is one — owner references are all it reads — and
 * otherwise by one metadata-only watch. Other watcher settings (page size,
 * backoff, …) are those of the first request of a key.
 */
import type { ListWatch } from '../client/api.ts';
import { type SharedStore, type SharedWriter, reflectShared, storeShared } from '../cache/shared-store.ts';
import { modify } from '../cache/reflector.ts';
import type { StoreHealth } from '../cache/store.ts';
import { describeSource, watcher, type WatcherConfig } from '../cache/watcher.ts';
import { KubeError } from '../core/errors.ts';
import type { Logger } from '../core/logger.ts';
import type { KubeObject } from '../core/types.ts';
import { dropsManagedFields } from '../kinds/kind.ts';

/** What a cache holds of each object. */
export type Projection = 'whole' | 'metadata' | ((obj: never) => unknown);

/** One cache of the manager, as `Manager.caches()` reports it. */
export interface CacheInfo {
  /** What it reads: `configmaps in shop`, `widgets.demo.kubereflect.dev in all namespaces`, with its selectors and projection. */
  readonly name: string;
  /** Who uses it: `cache()`, `widget-operator (primary)`, `widget-operator (owns)`, … */
  readonly users: readonly string[];
  /** Its store's health. */
  readonly health: StoreHealth;
  /** Objects stored. */
  readonly size: number;
  /** Set when its watch ended for good (the manager then stops with it). */
  readonly failed: KubeError | undefined;
}

/** The manager's own record of a cache. */
export interface CacheEntry {
  readonly key: string;
  readonly name: string;
  readonly api: ListWatch<KubeObject>;
  readonly projection: Projection;
  readonly reader: SharedStore<KubeObject>;
  readonly writer: SharedWriter<KubeObject>;
  readonly config: WatcherConfig | undefined;
  readonly users: string[];
  /** The watch loop, once started. */
  running?: Promise<void>;
  failed?: KubeError;
}

/** The shared caches of one manager. */
export class Caches {
  private readonly entries = new Map<string, CacheEntry>();
  private readonly ids = new WeakMap<object, number>();
  private nextId = 1;

  constructor(
    private readonly logger: Logger,
    /** `health().stale` of every cache turns true after its watch has failed this long, ms (the store's default when undefined). */
    private readonly staleAfterMs: number | undefined,
    /** Told once when a cache's watch ends for good while running. */
    private readonly onFailure: (entry: CacheEntry, error: KubeError) => void,
  ) {}

  /** Every cache, in the order first asked for. */
  get all(): readonly CacheEntry[] {
    return [...this.entries.values()];
  }

  /**
   * The cache of `api`'s objects under `config`'s selectors, projected by
   * `projection`: the existing one of that key, or a new one. A metadata
   * need takes a whole-object cache of the same scope when one exists.
   */
  get(api: ListWatch<KubeObject>, projection: Projection, config: WatcherConfig | undefined, user: string): CacheEntry {
    const scope = scopeKey(api, config);
    if (projection === 'metadata') {
      const whole = this.entries.get(`${scope}|whole`);
      if (whole) return used(whole, user);
    }
    const key = `${scope}|${this.projectionKey(projection)}`;
    const existing = this.entries.get(key);
    if (existing) return used(existing, user);
    const { reader, writer } = storeShared<KubeObject>({
      name: describeSource(api),
      ...(this.staleAfterMs !== undefined ? { staleAfterMs: this.staleAfterMs } : {}),
    });
    const entry: CacheEntry = {
      key,
      name: `${describeSource(api)}${selectorsOf(config)}${projection === 'whole' ? '' : projection === 'metadata' ? ' (metadata)' : ' (projected)'}`,
      api,
      projection,
      reader,
      writer,
      config,
      users: [user],
    };
    this.entries.set(key, entry);
    return entry;
  }

  /** Starts the watch of every cache not yet started, until `stop` aborts. */
  start(stop: AbortSignal): void {
    for (const entry of this.entries.values()) if (!entry.running) entry.running = this.drive(entry, stop);
  }

  /** Resolves once every started cache's watch loop has ended. */
  async ended(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => e.running));
  }

  private projectionKey(projection: Projection): string {
    if (typeof projection === 'string') return projection;
    let id = this.ids.get(projection);
    if (id === undefined) this.ids.set(projection, (id = this.nextId++));
    return `fn${id}`;
  }

  /** Drives one cache's watch into its shared store, logging its errors; a throw is for good. */
  private async drive(entry: CacheEntry, stop: AbortSignal): Promise<void> {
    const { api, config, projection, writer } = entry;
    const transform = typeof projection === 'function' ? (projection as (obj: KubeObject) => KubeObject) : undefined;
    const strip = projection === 'metadata' || (transform !== undefined && dropsManagedFields(transform));
    const signal = config?.signal ? AbortSignal.any([config.signal, stop]) : stop;
    const logger = config?.logger ?? this.logger;
    try {
      const events = watcher(api, { logger, ...config, ...(strip ? { stripManagedFields: config?.stripManagedFields ?? true } : {}), signal });
      for await (const e of reflectShared(writer, transform ? modify(events, transform) : events)) {
        if (e.type === 'Error') logger.warn(`cache of ${entry.name}: ${e.error.message}`, { cache: entry.name, error: e.error.message });
      }
    } catch (error) {
      if (stop.aborted) return;
      // What ended the stream, as it was: the manager says which cache (`onFailure`).
      const failure = error instanceof KubeError ? error : new KubeError((error as Error)?.message ?? String(error), { cause: error });
      entry.failed = failure;
      this.onFailure(entry, failure);
    }
  }
}

function used(entry: CacheEntry, user: string): CacheEntry {
  if (!entry.users.includes(user)) entry.users.push(user);
  return entry;
}

/** The part of a cache's key that is not its projection: resource, version, namespace, selectors. */
function scopeKey(api: ListWatch<unknown>, config: WatcherConfig | undefined): string {
  const r = api.resource;
  return `${r.group}/${r.version}/${r.plural}|${api.namespace ?? '*'}${selectorsOf(config)}`;
}

function selectorsOf(config: WatcherConfig | undefined): string {
  const label =
    config?.labelSelector === undefined ? '' : typeof config.labelSelector === 'string' ? config.labelSelector : JSON.stringify(config.labelSelector);
  const parts = [
    label && `labels ${label}`,
    config?.fieldSelector && `fields ${config.fieldSelector}`,
    config?.shardSelector && `shard ${config.shardSelector}`,
  ];
  const said = parts.filter(Boolean).join(', ');
  return said ? ` (${said})` : '';
}

/** What one cache is doing, in one word: only `synced` counts as ready. */
export function cacheState(c: Pick<CacheInfo, 'health' | 'failed'>): 'synced' | 'stale' | 'failed' | 'not served' | 'syncing' {
  if (c.failed) return 'failed';
  if (c.health.unserved) return 'not served';
  if (!c.health.ready) return 'syncing';
  return c.health.stale ? 'stale' : 'synced';
}
