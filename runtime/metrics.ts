/**
 * `kubereflect/metrics`: what a controller reports about itself
 * (`ControllerMetrics`, a small seam any metrics library can sit behind,
 * and the `ControllerView` of its queue read at collection time) and the
 * adapter to prom-client, under controller-runtime's metric names; prom-client
 * is an optional peer: the adapter is handed the module, so a program
 * without it never loads it.
 *
 * @module
 */
import './core/node-version.ts';
export type { ControllerMetrics, ControllerView, ReconcileResult, ReconcileOutcome } from './controller/metrics.ts';
export type {
  PromClientLike,
  PromMetricConfig,
  PromMetricClass,
  PromCounter,
  PromHistogram,
  PromGauge,
  RegistryLike,
  PrometheusMetricsOptions,
} from './controller/prometheus.ts';
export { prometheusMetrics } from './controller/prometheus.ts';
export { noMetrics } from './controller/metrics.ts';
