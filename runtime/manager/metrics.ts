/**
 * The manager's own metrics, computed when scraped from its status: what
 * controller-runtime has no name for, so kubereflect-prefixed.
 *
 * - `kubereflect_cache_objects{cache}`: objects stored;
 * - `kubereflect_cache_synced{cache}`: 1 once the cache has listed;
 * - `kubereflect_cache_stale{cache}`: 1 while its watch has failed for longer than the manager's `staleAfterMs`;
 * - `kubereflect_cache_lists_total{cache}`: lists completed (the first, then each relist);
 * - `kubereflect_cache_last_event_age_seconds{cache}`: since the watch last made progress;
 * - `kubereflect_shard_range_info{identity,range}`: 1 for the range this ring member reconciles now.
 *
 * (With `leaderElection`, client-go's `leader_election_master_status{name}`
 * comes from the controllers' adapter: the manager sets it at each term.)
 */
import type { RegistryLike } from '../controller/prometheus.ts';
import type { MetricsRegistryLike } from './endpoints.ts';
import type { ManagerStatus } from './manager.ts';

/** A prom-client registry the manager can record in and serve. */
export type MetricsRegistry = RegistryLike & MetricsRegistryLike;

/** A prom-client metric class, as the manager takes it (any class fits; the manager calls it as prom-client's). */
export interface PromClass {
  /** Makes a metric from its configuration (prom-client's constructor). */
  new (...args: never[]): unknown;
}

/**
 * The prom-client module, as the manager takes it (`import * as prom from
 * 'prom-client'`): its metric classes and default registry.
 */
export interface PromModule {
  /** prom-client's `Counter`. */
  readonly Counter: PromClass;
  /** prom-client's `Histogram`. */
  readonly Histogram: PromClass;
  /** prom-client's `Gauge`. */
  readonly Gauge: PromClass;
  /** prom-client's default registry. */
  readonly register: MetricsRegistry;
}

/** What a metric's `collect` can call on itself (prom-client passes the metric as `this`). */
interface Collected {
  set(labels: Record<string, string>, value: number): void;
  reset(): void;
}

/** Registers the manager's metrics in `registry` (default prom-client's default registry), read from `status` at each scrape; registers nothing twice. */
export function cacheMetrics(prom: PromModule, registry: MetricsRegistry | undefined, status: () => ManagerStatus): void {
  const into = registry ?? prom.register;
  const Gauge = prom.Gauge as unknown as new (config: {
    name: string;
    help: string;
    labelNames: string[];
    registers: MetricsRegistry[];
    collect(this: Collected): void;
  }) => unknown;
  const gauge = (
    name: string,
    help: string,
    labelNames: string[],
    value: (s: ManagerStatus, set: (labels: Record<string, string>, v: number) => void) => void,
  ) => {
    if (into.getSingleMetric(name)) return;
    new Gauge({
      name,
      help,
      labelNames,
      registers: [into],
      collect(this: Collected) {
        this.reset();
        value(status(), (labels, v) => this.set(labels, v));
      },
    });
  };
  const each = (f: (c: ManagerStatus['caches'][number]) => number) => (s: ManagerStatus, set: (labels: Record<string, string>, v: number) => void) => {
    for (const c of s.caches) set({ cache: c.name }, f(c));
  };
  gauge(
    'kubereflect_cache_objects',
    'Objects in each cache of the manager.',
    ['cache'],
    each((c) => c.size),
  );
  gauge(
    'kubereflect_cache_synced',
    '1 once the cache has listed.',
    ['cache'],
    each((c) => (c.health.ready ? 1 : 0)),
  );
  gauge(
    'kubereflect_cache_stale',
    "1 while the cache's watch has been failing for longer than the manager's staleAfterMs.",
    ['cache'],
    each((c) => (c.health.stale ? 1 : 0)),
  );
  gauge(
    'kubereflect_cache_lists_total',
    'Lists the cache completed: the first, then each relist.',
    ['cache'],
    each((c) => c.health.lists),
  );
  gauge(
    'kubereflect_cache_last_event_age_seconds',
    "Seconds since the cache's watch last made progress (a list, an event, a bookmark).",
    ['cache'],
    each((c) => (c.health.lastEventAt === undefined ? -1 : (Date.now() - c.health.lastEventAt) / 1000)),
  );
  gauge('kubereflect_shard_range_info', 'The shard range this ring member reconciles now (1 per range).', ['identity', 'range'], (s, set) => {
    if (s.role.kind === 'shard' && s.role.range) set({ identity: s.role.identity, range: s.role.range }, 1);
  });
}
