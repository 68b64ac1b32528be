/**
 * The adapter from the controller's metrics seam (`ControllerMetrics`) to
 * prom-client, the Node ecosystem's Prometheus library, under the metric
 * names and labels of controller-runtime (and of client-go's work queue and
 * leader election, as controller-runtime registers them), so that the
 * dashboards and alerts written for Go operators read a kubereflect
 * controller unchanged. What only kubereflect has keeps a `kubereflect_`
 * name.
 *
 * prom-client is not a dependency: the adapter is handed the module
 * (`import * as prom from 'prom-client'`), so a program without it never
 * loads it, and the types below describe only the parts of prom-client it
 * uses.
 *
 * Cost on the controller's path: a reconcile observes two histograms (the
 * reconcile's time and the work queue's work duration, both its duration)
 * and a take one (the queue wait); everything else is counted in plain
 * numbers, or read from the queue's view, when prom-client collects the
 * metrics (each metric's `collect`, run at a scrape).
 */
import { KubeError } from '../core/errors.ts';
import type { ControllerMetrics, ControllerView, ReconcileResult } from './metrics.ts';

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
  /** Called by prom-client each time it reads the metric (a scrape), before reading it: sets what is read at that moment. */
  collect?: () => void;
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
  /**
   * The controller's name (its `name` option): the `controller` label of its
   * series, and the `name` label of its work queue's, as controller-runtime
   * names a controller's queue after it.
   */
  controller: string;
  /** Where to register (default prom-client's default registry). */
  registry?: R;
  /**
   * Prefix of the names of the metrics only kubereflect has (the watches'
   * relists and errors; default `kubereflect_controller_`). The metrics
   * named as controller-runtime names them take no prefix.
   */
  prefix?: string;
}

/**
 * The buckets of `controller_runtime_reconcile_time_seconds`, as
 * controller-runtime declares them.
 */
const RECONCILE_BUCKETS = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5, 6, 7, 8,
  9, 10, 15, 20, 25, 30, 40, 50, 60,
];

/**
 * The buckets of the work queue's histograms: 10 ns, ×10 each, 12 of them
 * (to 1,000 s). Multiplied out one after the other, as Prometheus's Go
 * client does, so that each bound is the very same number (the same `le`).
 */
const QUEUE_BUCKETS: number[] = [];
for (let bound = 10e-9; QUEUE_BUCKETS.length < 12; bound *= 10) QUEUE_BUCKETS.push(bound);

/**
 * Where the collect-time updates of a metric made by this adapter are
 * kept, one per controller name: on the metric itself, under a key shared
 * by every copy of this module, so that a second copy (or a reloaded one)
 * registering the same names in the same registry joins the first.
 */
const UPDATES = Symbol.for('kubereflect.prometheusMetrics.updates');

type Updates = Map<string, () => void>;

/** A metric this adapter made: its collect-time updates, by series. */
interface Collected {
  [UPDATES]: Updates;
}

/**
 * `ControllerMetrics` recorded in prom-client under the names and labels of
 * controller-runtime v0.24 (its controller metrics, and client-go's work
 * queue and leader election metrics as it registers them), so that
 * dashboards and alerts built for Go operators read the controller
 * unchanged; what only kubereflect has keeps a `kubereflect_` name.
 *
 * - `controller_runtime_reconcile_total{controller,result}` (counter;
 *   `result`: `success`, `error`, `requeue`, `requeue_after`),
 *   `controller_runtime_reconcile_errors_total{controller}`,
 *   `controller_runtime_terminal_reconcile_errors_total{controller}` (an
 *   error the error policy does not retry, or a `TerminalError`),
 *   `controller_runtime_reconcile_timeouts_total{controller}` (reconciles
 *   that outlived `reconcileTimeoutMs`),
 *   `controller_runtime_reconcile_time_seconds{controller}` (histogram),
 *   `controller_runtime_max_concurrent_reconciles{controller}` (gauge: the
 *   `concurrency`), `controller_runtime_active_workers{controller}` (gauge:
 *   reconciles running);
 * - `workqueue_depth{name,controller,priority}` (gauge: keys due and
 *   waiting; `priority` is empty, as for a queue without priorities),
 *   `workqueue_adds_total{name,controller}`,
 *   `workqueue_retries_total{name,controller}` (adds with a delay),
 *   `workqueue_queue_duration_seconds{name,controller}` and
 *   `workqueue_work_duration_seconds{name,controller}` (histograms),
 *   `workqueue_unfinished_work_seconds{name,controller}` and
 *   `workqueue_longest_running_processor_seconds{name,controller}` (gauges,
 *   computed at each scrape); `name` and `controller` are both the
 *   controller's name;
 * - `leader_election_master_status{name}` (gauge: 1 while this replica
 *   leads, 0 while it does not; `name` is the Lease's name; only for a
 *   controller with `leaderElection`);
 * - kubereflect's own: `<prefix>watch_relists_total{controller,resource}`,
 *   `<prefix>watch_errors_total{controller,resource}` and
 *   `<prefix>writes_not_seen_total{controller}` (reconciles that waited
 *   `readYourWritesMs` in vain; prefix
 *   `kubereflect_controller_` by default).
 *
 * Not emitted, for want of the thing they count: controller-runtime's
 * reconcile panics, client-go's leader election slow path. Several controllers can share a registry: each metric is
 * registered once and the series are told apart by label; hand each
 * controller its own adapter (a second adapter of the same controller name
 * in a registry takes over the first's scrape-time values).
 *
 * @throws KubeError when the registry already holds a metric of one of
 * these names that this adapter did not register.
 *
 * @example
 * import * as prom from 'prom-client';
 * const metrics = prometheusMetrics(prom, { controller: 'widgets' });
 * new Controller(widgets, { name: 'widgets', metrics });
 * // serve: res.end(await prom.register.metrics());
 */
export function prometheusMetrics<R extends RegistryLike>(prom: PromClientLike<R>, opts: PrometheusMetricsOptions<R>): ControllerMetrics {
  const registry = opts.registry ?? prom.register;
  const controller = opts.controller;
  const prefix = opts.prefix ?? 'kubereflect_controller_';

  /** The metric `name` of this registry: made, unless an adapter made it already. */
  function metric<M>(Kind: PromMetricClass<M, R>, name: string, help: string, labelNames: string[], buckets?: number[]): M & Collected {
    const made = registry.getSingleMetric(name) as (M & Partial<Collected>) | undefined;
    if (made?.[UPDATES]) return made as M & Collected;
    if (made)
      throw new KubeError(
        `kubereflect: prometheusMetrics(${controller}): the registry already holds a metric named ${name} that prometheusMetrics did not register; give the controllers' metrics a registry of their own`,
      );
    const updates: Updates = new Map();
    const collect = () => {
      for (const update of updates.values()) update();
    };
    const m = new Kind({ name, help, labelNames, ...(buckets ? { buckets } : {}), registers: [registry], collect });
    Object.defineProperty(m, UPDATES, { value: updates });
    return m as M & Collected;
  }
  /** The key of a series among a metric's collect-time updates: its label values. */
  const seriesKey = (labels: Record<string, string>) => Object.values(labels).join('\u0000');
  /** Counters whose series (`labels`) each count up to the running total `read()` (undefined: none yet) at every collect. */
  function counter(name: string, help: string, labelNames: string[], series: [Record<string, string>, () => number | undefined][]): void {
    const c = metric(prom.Counter, name, help, labelNames);
    for (const [labels, read] of series) {
      let added = 0;
      c[UPDATES].set(seriesKey(labels), () => {
        const total = read();
        if (total === undefined) return;
        c.inc(labels, total - added);
        added = total;
      });
    }
  }
  /** A gauge whose series `labels` is set to `read()` (undefined: none yet) at every collect. */
  function gauge(name: string, help: string, labelNames: string[], labels: Record<string, string>, read: () => number | undefined): void {
    const g = metric(prom.Gauge, name, help, labelNames);
    g[UPDATES].set(seriesKey(labels), () => {
      const value = read();
      if (value !== undefined) g.set(labels, value);
    });
  }

  const ctl = { controller };
  const queue = { name: controller, controller };
  // What happens on the controller's path is counted in plain numbers here; the counters catch up when collected.
  const results: Record<ReconcileResult, number> = { success: 0, error: 0, requeue: 0, requeue_after: 0 };
  let terminal = 0;
  let timeouts = 0;
  let notSeen = 0;
  // The queue's view (from `attach`), and the totals of the views it replaced.
  let view: ControllerView | undefined;
  const replaced = { adds: 0, retries: 0 };

  counter(
    'controller_runtime_reconcile_total',
    'Reconciles ended, per controller and result (success, error, requeue, requeue_after).',
    ['controller', 'result'],
    (Object.keys(results) as ReconcileResult[]).map((result) => [{ controller, result }, () => results[result]]),
  );
  counter('controller_runtime_reconcile_errors_total', 'Reconciles that threw, per controller.', ['controller'], [[ctl, () => results.error]]);
  counter(
    'controller_runtime_terminal_reconcile_errors_total',
    'Reconciles that threw and that the error policy does not retry, per controller.',
    ['controller'],
    [[ctl, () => terminal]],
  );
  counter(
    'controller_runtime_reconcile_timeouts_total',
    "Reconciles that outlived the controller's reconcile timeout, per controller.",
    ['controller'],
    [[ctl, () => timeouts]],
  );
  counter(
    `${prefix}writes_not_seen_total`,
    "Reconciles started after waiting the read-your-writes bound for the caches to hold the last reconcile's writes (a slow or stalled watch).",
    ['controller'],
    [[ctl, () => notSeen]],
  );
  const reconcileTime = metric(
    prom.Histogram,
    'controller_runtime_reconcile_time_seconds',
    'How long reconciles took, seconds, per controller.',
    ['controller'],
    RECONCILE_BUCKETS,
  );
  gauge(
    'controller_runtime_max_concurrent_reconciles',
    'The most reconciles the controller runs at once: its concurrency.',
    ['controller'],
    ctl,
    () => view?.concurrency,
  );
  gauge('controller_runtime_active_workers', 'Reconciles running now, per controller.', ['controller'], ctl, () => view?.inFlight);

  gauge(
    'workqueue_depth',
    'Keys due and waiting for a worker, per work queue (no priorities: priority is empty).',
    ['name', 'controller', 'priority'],
    { ...queue, priority: '' },
    () => view?.dueDepth(),
  );
  counter(
    'workqueue_adds_total',
    'Adds to the work queue that queued a key (an add merged into a key already waiting is not counted).',
    ['name', 'controller'],
    [[queue, () => view && replaced.adds + view.adds]],
  );
  counter(
    'workqueue_retries_total',
    'Adds to the work queue with a delay: requeues after a while and retries after errors.',
    ['name', 'controller'],
    [[queue, () => view && replaced.retries + view.retries]],
  );
  const queueDuration = metric(
    prom.Histogram,
    'workqueue_queue_duration_seconds',
    'How long keys waited in the work queue, from falling due to being taken, seconds.',
    ['name', 'controller'],
    QUEUE_BUCKETS,
  );
  const workDuration = metric(
    prom.Histogram,
    'workqueue_work_duration_seconds',
    'How long the work on a key took once taken (its reconcile), seconds.',
    ['name', 'controller'],
    QUEUE_BUCKETS,
  );
  gauge(
    'workqueue_unfinished_work_seconds',
    'Seconds of work in flight so far, summed over the keys in flight (not yet in the work duration); a steady climb means stuck reconciles.',
    ['name', 'controller'],
    queue,
    () => view?.inFlightSeconds().total,
  );
  gauge(
    'workqueue_longest_running_processor_seconds',
    'Seconds the longest-running key in flight has been in flight.',
    ['name', 'controller'],
    queue,
    () => view?.inFlightSeconds().longest,
  );

  const leader = metric(prom.Gauge, 'leader_election_master_status', '1 while this replica holds the Lease of the name label, 0 while it does not.', ['name']);
  const relists = metric(prom.Counter, `${prefix}watch_relists_total`, 'Relists of the watches the controller runs.', ['controller', 'resource']);
  const watchErrors = metric(prom.Counter, `${prefix}watch_errors_total`, 'Errors of the watches the controller runs (each recovered by the watcher).', [
    'controller',
    'resource',
  ]);

  return {
    reconciled(result, seconds) {
      results[result]++;
      reconcileTime.observe(ctl, seconds);
      workDuration.observe(queue, seconds);
    },
    queueWait: (seconds) => queueDuration.observe(queue, seconds),
    // The depth is the view's (the keys due), read when collected.
    queueDepth: () => {},
    watchRelist: (resource) => relists.inc({ controller, resource }),
    watchError: (resource) => watchErrors.inc({ controller, resource }),
    leader: (leading, lease) => leader.set({ name: lease }, leading ? 1 : 0),
    terminalError: () => void terminal++,
    reconcileTimedOut: () => void timeouts++,
    writesNotSeen: () => void notSeen++,
    attach(next) {
      if (view) {
        replaced.adds += view.adds;
        replaced.retries += view.retries;
      }
      view = next;
    },
  };
}
