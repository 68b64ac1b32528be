/**
 * The adapter from the controller's metrics seam (`ControllerMetrics`) to
 * prom-client, the Node ecosystem's Prometheus library. prom-client is not a
 * dependency: the adapter is handed the module (`import * as prom from
 * 'prom-client'`), so a program without it never loads it, and the types
 * below describe only the parts of prom-client it uses.
 */
import type { ControllerMetrics } from './metrics.ts';

/** The part of a prom-client metric configuration the adapter passes. */
export interface PromMetricConfig<R = RegistryLike> {
  /** The metric's name. */
  name: string;
  /** Its description. */
  help: string;
  /** Its label names. */
  labelNames: readonly string[];
  /** A histogram's buckets, seconds. */
  buckets?: number[];
  /** The registries to register it in. */
  registers?: R[];
}

/** A prom-client metric class (`Counter`, `Histogram`, `Gauge`), as the adapter uses it. */
export interface PromMetricClass<M, R = RegistryLike> {
  /** Makes the metric and registers it in `config.registers`. */
  new (config: PromMetricConfig<R>): M;
}

/** A prom-client `Counter`, as the adapter uses it. */
export interface PromCounter {
  /** Adds `value` (default 1) to the series of `labels`. */
  inc(labels: Record<string, string>, value?: number): void;
}

/** A prom-client `Histogram`, as the adapter uses it. */
export interface PromHistogram {
  /** Records `value` in the series of `labels`. */
  observe(labels: Record<string, string>, value: number): void;
}

/** A prom-client `Gauge`, as the adapter uses it. */
export interface PromGauge {
  /** Sets the series of `labels` to `value`. */
  set(labels: Record<string, string>, value: number): void;
}

/** The parts of the prom-client module the adapter uses (its `Counter`, `Histogram`, `Gauge` and `register`). */
export interface PromClientLike<R extends RegistryLike = RegistryLike> {
  /** prom-client's `Counter` class. */
  Counter: PromMetricClass<PromCounter, R>;
  /** prom-client's `Histogram` class. */
  Histogram: PromMetricClass<PromHistogram, R>;
  /** prom-client's `Gauge` class. */
  Gauge: PromMetricClass<PromGauge, R>;
  /** prom-client's default registry. */
  register: R;
}

/** The parts of a prom-client `Registry` the adapter uses. */
export interface RegistryLike {
  /** The metric registered under `name`, if any. */
  getSingleMetric(name: string): unknown;
}

/** Options of `prometheusMetrics`. */
export interface PrometheusMetricsOptions<R extends RegistryLike = RegistryLike> {
  /** The controller's name: the `controller` label of every series. */
  controller: string;
  /** Where to register (default prom-client's default registry). */
  registry?: R;
  /** Prefix of every metric name (default `kubereflect_controller_`). */
  prefix?: string;
}

/**
 * `ControllerMetrics` recorded in prom-client: `<prefix>reconciles_total{controller,result}`,
 * `<prefix>reconcile_duration_seconds{controller}`, `<prefix>queue_depth{controller}`,
 * `<prefix>queue_wait_seconds{controller}`, `<prefix>watch_relists_total{controller,resource}`,
 * `<prefix>watch_errors_total{controller,resource}`, `<prefix>leader{controller}`
 * (1 while the replica leads, 0 while it does not; only for a controller with
 * `leaderElection`). Several controllers can
 * share a registry: the metrics are registered once and told apart by the
 * `controller` label.
 *
 * @example
 * import * as prom from 'prom-client';
 * const metrics = prometheusMetrics(prom, { controller: 'widgets' });
 * new Controller(widgets, { metrics });
 * // serve: res.end(await prom.register.metrics());
 */
export function prometheusMetrics<R extends RegistryLike>(prom: PromClientLike<R>, opts: PrometheusMetricsOptions<R>): ControllerMetrics {
  const registry = opts.registry ?? prom.register;
  const prefix = opts.prefix ?? 'kubereflect_controller_';
  const labels = { controller: opts.controller };
  function metric<M>(Kind: PromMetricClass<M, R>, name: string, help: string, labelNames: string[], buckets?: number[]): M {
    const full = prefix + name;
    const existing = registry.getSingleMetric(full);
    if (existing) return existing as M;
    return new Kind({ name: full, help, labelNames, ...(buckets ? { buckets } : {}), registers: [registry] });
  }
  const seconds = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
  const reconciles = metric(prom.Counter, 'reconciles_total', 'Reconciles ended, by result.', ['controller', 'result']);
  const duration = metric(prom.Histogram, 'reconcile_duration_seconds', 'How long reconciles took.', ['controller'], seconds);
  const depth = metric(prom.Gauge, 'queue_depth', 'Keys waiting in the work queue (not in flight).', ['controller']);
  const wait = metric(prom.Histogram, 'queue_wait_seconds', 'How long a due key waited for a worker.', ['controller'], seconds);
  const relists = metric(prom.Counter, 'watch_relists_total', 'Relists of the watches the controller runs.', ['controller', 'resource']);
  const errors = metric(prom.Counter, 'watch_errors_total', 'Errors of the watches the controller runs (each recovered by the watcher).', [
    'controller',
    'resource',
  ]);
  const leader = metric(prom.Gauge, 'leader', '1 while this replica leads (leader election), 0 while it does not.', ['controller']);
  return {
    reconciled(result, s) {
      reconciles.inc({ ...labels, result });
      duration.observe(labels, s);
    },
    queueWait: (s) => wait.observe(labels, s),
    queueDepth: (d) => depth.set(labels, d),
    watchRelist: (resource) => relists.inc({ ...labels, resource }),
    watchError: (resource) => errors.inc({ ...labels, resource }),
    leader: (leading) => leader.set(labels, leading ? 1 : 0),
  };
}
