/**
 * `kubereflect/metrics`: what a controller reports about itself
 * (`ControllerMetrics`, a small seam any metrics library can sit behind)
 * and the adapter to prom-client, which is an optional peer: the adapter is
 * handed the module, so a program without it never loads it.
 *
 * @module
 */
import './core/node-version.ts';
export type { ControllerMetrics, ReconcileOutcome } from './controller/metrics.ts';
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
